"""The Ticketing WM handlers (DataMiner's QActions), bound in protocol.yaml.

Glue between the element and `outbox` (the table and its delivery states), `intake` (tickets
coming in) and `drop_folder`. The one rule that makes delivery exactly once: a row is Sent in
the step that sends its message, and the element commits a step before its messages leave;
what is in flight is kept in `memory` only, so after a restart every Sent row is sent again and
BE answers for it (a ticket it has is a duplicate, acknowledged here).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from connector.contracts.ticket_answers import batch_message, read_answers
from connector.contracts.ticket_batch import BatchRead, parse_batches, reply_to
from connector.engine.context import HandlerContext
from connector.engine.interapp import DEFAULT_MAX_BYTES, InterAppError, ReturnAddress, serialize_call
from connector.protocol.model import INTERAPP_RECEIVE, INTERAPP_RETURN
from connector.ticketing_wm import drop_folder, intake, outbox

ENABLED = 1
SEND_NOW = 3  # trigger: queue the Send group (at the front, once)
TAKEN_FILES_COMMITTED = 5  # trigger, deferred: move the drop files taken in
_IN_FLIGHT = "wm_in_flight"  # memory: message guid -> (monotonic time sent, its ticket ids)
_TAKEN_FILES = "wm_taken_files"  # memory: drop files taken in, to move once committed


# -- start-up and buttons -----------------------------------------------------------------------


def after_startup(protocol: HandlerContext) -> None:
    table = protocol.table(outbox.TABLE)
    sent = len(table.find(outbox.STATE, outbox.SENT))
    _refresh_counts(protocol)
    if not protocol.get("Destination Element"):
        protocol.log("not configured yet: Destination Element; tickets are taken in but not sent", "warning")
    protocol.log(
        f"started as element {protocol.element_id} with {len(table)} tickets"
        + (f"; {sent} sent before the restart go again, BE answers for each" if sent else "")
    )
    protocol.check_trigger(SEND_NOW)


def sending_changed(protocol: HandlerContext) -> None:
    if protocol.get("Sending") == ENABLED:
        protocol.check_trigger(SEND_NOW)


def send_again(protocol: HandlerContext) -> None:
    """Forget the messages in flight: their tickets go again now."""
    _in_flight(protocol).clear()
    protocol.check_trigger(SEND_NOW)


def retry_rejected(protocol: HandlerContext) -> None:
    count = outbox.retry_rejected(protocol.table(outbox.TABLE))
    protocol.log(f"Retry Rejected: {count} tickets go back to Pending")
    _refresh_counts(protocol)
    protocol.check_trigger(SEND_NOW)


def clear_acknowledged(protocol: HandlerContext) -> None:
    count = outbox.clear_acknowledged(protocol.table(outbox.TABLE))
    protocol.log(f"Clear Acknowledged: {count} tickets removed")
    _refresh_counts(protocol)


def clean_up(protocol: HandlerContext) -> None:
    """Acknowledged tickets older than the retention go (a re-send of one is BE's duplicate)."""
    days = float(protocol.get("Acknowledged Retention") or 0)
    if days <= 0:
        return
    count = outbox.clear_acknowledged(protocol.table(outbox.TABLE), answered_before=protocol.now() - days * 86400)
    if count:
        protocol.log(f"removed {count} Acknowledged tickets older than {days:g} days")
        _refresh_counts(protocol)


def _refresh_counts(protocol: HandlerContext) -> dict[str, int]:
    """Set the count parameters (one pass over the table: once a step, not once a batch)."""
    counts = outbox.counts(protocol.table(outbox.TABLE))
    for state in outbox.STATES:
        name = f"Tickets {state}"
        if protocol.get(name) != counts[state]:  # a set always fires: set what changed
            protocol.set(name, counts[state])
    return counts


# -- intake -------------------------------------------------------------------------------------


def interapp_receive(protocol: HandlerContext) -> None:
    """Tickets sent to this element: take them in and answer as BE answers WM."""
    raw = protocol.get(INTERAPP_RECEIVE) or ""
    for batch in parse_batches(raw, max_bytes=DEFAULT_MAX_BYTES):
        if batch.error is not None:
            protocol.log(f"InterApp message {batch.guid or '(no guid)'} refused: {batch.error}", "warning")
            reply_to(protocol, batch.return_address, serialize_call([batch.reply()]))
            continue
        taken = _take(protocol, batch, "InterApp")
        reply = batch.reply(accepted=taken.accepted, duplicates=taken.duplicates)
        reply_to(protocol, batch.return_address, serialize_call([reply]))


def new_tickets(protocol: HandlerContext) -> None:
    """A set of New Tickets: JSON tickets; the read param shows what became of them."""
    results = []
    for batch in intake.read_json(protocol.get(31) or ""):
        if batch.error is not None:
            results.append(f"refused: {batch.error}")
            protocol.log(f"New Tickets refused: {batch.error}", "warning")
        else:
            results.append(_take(protocol, batch, "New Tickets").summary())
    protocol.set(30, "; ".join(results))


def _take(protocol: HandlerContext, batch: BatchRead, source: str) -> intake.Intake:
    taken = intake.take_batch(protocol.table(outbox.TABLE), batch, source, protocol.now())
    if taken.rejected:
        protocol.log(f"{source}: {taken.summary()}", "warning")
    if taken.accepted:
        protocol.set("Tickets Taken In Total", int(protocol.get("Tickets Taken In Total") or 0) + len(taken.accepted))
        protocol.check_trigger(SEND_NOW)
    if taken.accepted or taken.rejected:
        _refresh_counts(protocol)
    return taken


def scan_drop_folder(protocol: HandlerContext) -> None:
    folder_name = protocol.get("Drop Folder")
    if not folder_name:
        return
    folder = Path(folder_name)
    taken: list[tuple[str, str, str]] = protocol.memory.setdefault(_TAKEN_FILES, [])
    try:
        files = drop_folder.waiting_files(folder, skip={Path(path).name for path, _, _ in taken})
    except OSError as exc:
        _drop_state(protocol, f"cannot read {folder}: {exc.strerror or exc}", "warning")
        return
    for path in files:
        try:
            batches = intake.read_json(drop_folder.read_file(path))
        except (OSError, ValueError) as exc:
            taken.append((str(path), drop_folder.REJECTED, f"cannot read it: {exc}"))
            continue
        refusals = [batch.error for batch in batches if batch.error is not None]
        for batch in batches:
            if batch.error is None:
                _take(protocol, batch, f"Drop Folder: {path.name}")
        if refusals and len(refusals) == len(batches):
            taken.append((str(path), drop_folder.REJECTED, refusals[0]))
        else:
            taken.append((str(path), drop_folder.PROCESSED, ""))
    if files:
        _drop_state(protocol, f"{len(files)} files taken in from {folder}")
        protocol.defer(TAKEN_FILES_COMMITTED)  # moved once this step is committed


def move_taken_files(protocol: HandlerContext) -> None:
    taken: list[tuple[str, str, str]] = protocol.memory.get(_TAKEN_FILES, [])
    for path, where, reason in taken:
        try:
            drop_folder.move_out(Path(path), where, reason)
        except OSError as exc:
            protocol.log(f"Drop Folder: cannot move {path} to {where}/: {exc.strerror or exc}", "warning")
        if reason:
            protocol.log(f"Drop Folder: {Path(path).name} moved to {where}/: {reason}", "warning")
    taken.clear()


def _drop_state(protocol: HandlerContext, state: str, level: str = "info") -> None:
    if protocol.get("Drop Folder State") != state:
        protocol.set("Drop Folder State", state)
        if level != "info":
            protocol.log(f"Drop Folder: {state}", level)


# -- sending ------------------------------------------------------------------------------------


def send_tickets(protocol: HandlerContext) -> None:
    """Send what waits, in messages of Max Tickets Per Batch, while places are free: first the
    tickets whose message went unanswered, then the Pending ones."""
    destination = protocol.get("Destination Element")
    if protocol.get("Sending") != ENABLED or not destination:
        return
    table = protocol.table(outbox.TABLE)
    in_flight = _in_flight(protocol)
    _forget_timed_out(protocol, in_flight)
    again = outbox.unanswered(table, in_flight)
    waiting = again + outbox.pending(table)
    size = int(protocol.get("Max Tickets Per Batch") or 50)
    places = int(protocol.get("Max Batches In Flight") or 1) - len(in_flight)
    sent_again = 0
    again_keys = set(again)
    start = 0
    while start < len(waiting) and places > 0:
        keys = waiting[start : start + size]
        _send_batch(protocol, str(destination), keys)
        sent_again += sum(1 for key in keys if key in again_keys)
        start += size
        places -= 1
    if start:
        _refresh_counts(protocol)
    if sent_again:
        protocol.set("Tickets Sent Again", int(protocol.get("Tickets Sent Again") or 0) + sent_again)
        protocol.log(f"sent {sent_again} tickets again: their message went unanswered", "warning")


def _send_batch(protocol: HandlerContext, destination: str, keys: list[str]) -> None:
    table = protocol.table(outbox.TABLE)
    guid = str(uuid.uuid4())
    address = ReturnAddress(
        agent_id=protocol.dataminer_id, element_id=protocol.element_number, parameter_id=INTERAPP_RETURN
    )
    raw = serialize_call([batch_message(guid, address, outbox.wire_tickets(table, keys))])
    # The rows are Sent in this step's commit, before the message leaves (effects' order).
    outbox.mark_sent(table, keys, guid, protocol.now())
    _in_flight(protocol)[guid] = (protocol.monotonic(), keys)
    protocol.set("Batches Sent", int(protocol.get("Batches Sent") or 0) + 1)
    protocol.send_interapp(destination, raw, INTERAPP_RECEIVE)


def _forget_timed_out(protocol: HandlerContext, in_flight: dict[str, tuple[float, list[str]]]) -> None:
    timeout = float(protocol.get("Acknowledge Timeout") or 30)
    now = protocol.monotonic()
    late = [guid for guid, (sent, _) in in_flight.items() if now - sent >= timeout]
    for guid in late:
        del in_flight[guid]
    if late:
        protocol.log(f"{len(late)} messages unanswered after {timeout:g} s: their tickets go again", "warning")


def _in_flight(protocol: HandlerContext) -> dict[str, tuple[float, list[str]]]:
    flights: dict[str, tuple[float, list[str]]] = protocol.memory.setdefault(_IN_FLIGHT, {})
    return flights


# -- answers ------------------------------------------------------------------------------------


def interapp_return(protocol: HandlerContext) -> None:
    """BE's answers to the messages this element sent."""
    raw = protocol.get(INTERAPP_RETURN) or ""
    try:
        read = read_answers(raw)
    except InterAppError as exc:
        protocol.log(f"an answer that cannot be read: {exc.reason}; its tickets go again", "warning")
        return
    for problem in read.problems:
        protocol.log(f"an answer not of the contract: {problem}", "warning")
    table = protocol.table(outbox.TABLE)
    in_flight = _in_flight(protocol)
    for answer in read.answers:
        _sent, keys = in_flight.pop(answer.guid or "", (0.0, []))
        if answer.error is not None and not keys:
            keys = table.find(outbox.BATCH, answer.guid) if answer.guid else []
        done = outbox.apply_answer(table, answer, keys, protocol.now())
        result = (
            f"{answer.guid}: {len(answer.accepted)} accepted, {len(answer.duplicates)} duplicates, "
            f"{len(answer.rejected)} rejected"
            if answer.error is None
            else f"{answer.guid}: refused: {answer.error}"
        )
        protocol.set("Last Answer", protocol.now())
        protocol.set("Last Answer Result", result)
        if done[outbox.REJECTED]:
            protocol.log(f"BE answered {result}", "warning")
    if _refresh_counts(protocol)[outbox.PENDING]:
        protocol.check_trigger(SEND_NOW)
