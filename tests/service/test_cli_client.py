"""`connector params|get|set|table|send` against the API served by a real uvicorn on loopback.

The commands run in process through `connector.cli.main` (what the console script runs), except
one that runs the real `python -m connector` to check the process's own exit code.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import attrs
import pytest
import uvicorn

from connector.cli import main
from connector.engine.element import Element, ElementView
from connector.engine.testing import FakeClock
from connector.engine.values import MASK
from connector.protocol import model as m
from connector.protocol.loader import load_protocol
from connector.protocol.model import Column as ColumnModel
from connector.service.api import create_app
from connector.service.client_commands import operator_order
from connector.service.client_table import choose_columns, column_widths
from connector.service.cluster.leases import Owner
from tests.conftest import REPO, sample_text
from tests.engine import toy
from tests.service.test_api import (
    BE,
    NEW_SECRET,
    SECRET,
    FakeHost,
    FakeRuntime,
    batch,
    ticket,
    ticket_receive,
    toy_element,
)

TOKEN = "cli-t0ken"


class Served:
    """The API served by uvicorn in a background thread on a free loopback port.

    One server serves a whole module; each test puts a fresh runtime behind it (`serve`),
    because starting and stopping uvicorn costs more than most of these tests.
    """

    def __init__(self, token: str | None = None) -> None:
        self.app = create_app(FakeRuntime(), token=token)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api server", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def serve(self, runtime: FakeRuntime) -> Served:
        self.app.state.runtime = runtime
        return self

    @property
    def runtime(self) -> FakeRuntime:
        return self.app.state.runtime

    @property
    def be(self) -> ElementView:
        return self.runtime.elements[BE].view


def fresh_runtime() -> FakeRuntime:
    return FakeRuntime(FakeHost(toy_element(BE, ticket_receive)))


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with Served() as served:
        yield served


@pytest.fixture(scope="module")
def guarded_server() -> Iterator[Served]:
    with Served(token=TOKEN) as served:
        yield served


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich: wide enough that no cell wraps
    monkeypatch.delenv("CONNECTOR_API", raising=False)
    monkeypatch.delenv("CONNECTOR_API_TOKEN", raising=False)


@pytest.fixture
def api(server: Served) -> Served:
    return server.serve(fresh_runtime())


@pytest.fixture
def guarded_api(guarded_server: Served) -> Served:
    return guarded_server.serve(fresh_runtime())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- params, get, set ----------------------------------------------------------------------


def test_params_prints_id_name_and_value_of_every_parameter(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "params", BE, "--all", "--api", api.url)  # the toy's are on no page
    assert code == 0 and err == ""
    assert BE in out  # the title
    for words in ("ID", "Name", "Value", "Level", "Disabled", "Status Line", "InterApp Receive", MASK):
        assert words in out
    assert out.count("Level") == 2  # the read and the write parameter


def test_get_prints_one_parameter_by_name_or_id(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "get", BE, "mode", "--api", api.url)
    assert code == 0 and "Mode" in out and "Disabled" in out
    code, out, _ = run(capsys, "get", BE, "23", "--api", api.url)
    assert code == 0 and "Token" in out and MASK in out


def test_set_prints_the_new_value(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "set", BE, "Level", "42", "--api", api.url)
    assert code == 0 and err == "" and "42" in out
    assert api.be.values[10] == 42
    code, out, _ = run(capsys, "set", BE, "Mode", "Enabled", "--api", api.url)
    assert code == 0 and "Enabled" in out and api.be.values[12] == 1


@pytest.mark.parametrize(
    "value, reason",
    [
        ("500", "refused: Level: must be at most 100, got 500 (HTTP 422)"),
        ("lots", "refused: Level: must be a number, got 'lots' (HTTP 422)"),
    ],
)
def test_a_refused_set_exits_1_with_the_reason_and_changes_nothing(
    api: Served, capsys: pytest.CaptureFixture[str], value: str, reason: str
) -> None:
    code, out, err = run(capsys, "set", BE, "Level", value, "--api", api.url)
    assert code == 1 and out == ""
    assert err.strip() == f"connector set: {reason}"
    assert api.be.values[10] == 5


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("get", BE, "Nope"), "has no parameter 'Nope' (HTTP 404)"),
        (("set", BE, "Nope", "1"), "has no parameter 'Nope' (HTTP 404)"),
        (("params", "Nobody"), "no element named 'Nobody' (HTTP 404)"),
        (("table", BE, "Nope"), "has no table 'Nope' (HTTP 404)"),
    ],
)
def test_an_unknown_name_exits_1_with_the_apis_reason(
    api: Served, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], reason: str
) -> None:
    code, out, err = run(capsys, *argv, "--api", api.url)
    assert code == 1 and out == ""
    assert err.startswith(f"connector {argv[0]}: ") and err.strip().endswith(reason)


def test_a_value_is_printed_as_text_not_as_markup(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "set", BE, "Echo", "[bold]x[/bold] [/]", "--api", api.url)
    assert code == 0 and "[bold]x[/bold] [/]" in out


def test_a_listing_shows_a_long_value_on_one_line_and_get_shows_it_whole(
    api: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    long_value = "x" * 200 + "\nsecond line"
    assert run(capsys, "set", BE, "Echo", long_value, "--api", api.url)[0] == 0
    _, listed, _ = run(capsys, "params", BE, "--all", "--api", api.url)
    assert "x" * 60 + "\u2026" in listed and "x" * 61 not in listed and "second line" not in listed
    _, whole, _ = run(capsys, "get", BE, "Echo", "--api", api.url)
    assert "second line" in whole


# -- table ---------------------------------------------------------------------------------


def test_table_prints_its_visible_columns_and_rows(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    _send(api, batch(ticket("T-1"), ticket("T-2"), ticket("T-3")))
    code, out, err = run(capsys, "table", BE, "Things", "--api", api.url)
    assert code == 0 and err == ""
    assert "Things [table 1000]: 3 of 3 rows" in out
    assert "Key" in out and "Value" in out and "about T-2" in out
    assert "2026-11-26T00:00:00Z" in out  # a datetime cell as a date, not seconds since the epoch
    assert "Scratch" not in out and "NODE-1" not in out  # hidden
    code, out, _ = run(capsys, "table", BE, "1000", "--all", "--api", api.url)
    assert code == 0 and "Scratch" in out and "NODE-1" in out


def test_table_limit_shows_the_first_rows_and_says_how_many_there_are(
    api: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(api, batch(ticket("T-1"), ticket("T-2"), ticket("T-3")))
    code, out, _ = run(capsys, "table", BE, "things", "--limit", "1", "--api", api.url)
    assert code == 0 and "T-1" in out and "T-2" not in out and "[table 1000]: 1 of 3 rows" in out


def test_table_limit_must_be_a_count(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "table", BE, "Things", "--limit", "-3", "--api", api.url)
    assert code == 2 and "whole number" in err


def _send(api: Served, raw: str) -> None:
    from connector.service.client import ApiClient

    with ApiClient(api.url) as client:
        client.send(BE, raw.encode())


# -- send ----------------------------------------------------------------------------------


def test_send_a_file_prints_what_was_accepted(api: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = tmp_path / "batch.json"
    message.write_text(sample_text("ticket-batch.json"), encoding="utf-8")
    code, out, err = run(capsys, "send", BE, str(message), "--api", api.url)
    assert code == 0 and err == ""
    assert "accepted 3, duplicates 0, rejected 0" in out
    assert api.be.tables[1000].keys() == ["WM-20261126-000101", "WM-20261126-000102", "WM-20261126-000103"]


def test_send_from_stdin_lists_duplicates_and_rejected_with_reasons(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(sample_text("ticket-batch-mixed.json").encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = run(capsys, "send", BE, "-", "--api", api.url)
    assert code == 1 and err == "connector send: 2 rejected (--allow-rejects to accept that)\n"
    assert "accepted 2, duplicates 1, rejected 2" in out
    assert "WM-20261126-000202" in out and "category: must be 'Falla de Linea' or 'SNR'" in out
    assert "node: required" in out


def test_send_an_unreadable_message_exits_1_with_the_elements_reason(
    api: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    message = tmp_path / "bad.json"
    message.write_text("{not json", encoding="utf-8")
    code, out, err = run(capsys, "send", BE, str(message), "--api", api.url)
    assert code == 1 and out == ""
    # The API answers 202 with the element's ErrorResponse; the command says it and fails.
    assert err.startswith("connector send: not JSON")


def test_send_a_missing_file_exits_2(api: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "send", BE, str(tmp_path / "missing.json"), "--api", api.url)
    assert code == 2 and "cannot read" in err and "missing.json" in err


# -- where the API is, and the token -------------------------------------------------------


def test_nothing_listening_exits_2_and_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (
        ("params", BE),
        ("get", BE, "Level"),
        ("set", BE, "Level", "1"),
        ("table", BE, "Things"),
        ("send", BE, str(REPO / "setup.cfg")),
    ):
        code, out, err = run(capsys, *argv, "--api", url)
        assert code == 2 and out == ""
        assert err.startswith(f"connector {argv[0]}: cannot reach the management API at {url}: ")
        assert "is `connector run` running?" in err


@pytest.mark.parametrize("url", ["http://host:notaport", "ftp://127.0.0.1:21"])
def test_a_url_that_is_no_api_url_exits_2(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "params", BE, "--api", url)
    assert code == 2 and out == "" and "is not the URL of a management API" in err


def test_the_api_url_comes_from_the_environment_and_may_be_host_port(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_API", api.url)
    assert run(capsys, "get", BE, "Level")[0] == 0
    host_port = api.url.removeprefix("http://")
    monkeypatch.setenv("CONNECTOR_API", "http://127.0.0.1:1")  # --api wins over the environment
    assert run(capsys, "get", BE, "Level", "--api", host_port + "/")[0] == 0


def test_with_a_token_the_commands_need_it(
    guarded_api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "params", BE, "--api", guarded_api.url)
    assert code == 1 and "token" in err and "(HTTP 401)" in err
    code, _, err = run(capsys, "params", BE, "--api", guarded_api.url, "--token", "wrong")
    assert code == 1 and "(HTTP 401)" in err
    assert run(capsys, "params", BE, "--api", guarded_api.url, "--token", TOKEN)[0] == 0
    monkeypatch.setenv("CONNECTOR_API_TOKEN", TOKEN)
    assert run(capsys, "set", BE, "Level", "7", "--api", guarded_api.url)[0] == 0
    assert guarded_api.be.values[10] == 7


@pytest.mark.slow
def test_the_connector_command_exits_with_the_same_codes(api: Served) -> None:
    def connector(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connector", *argv],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        )

    done = connector("get", BE, "Level", "--api", api.url)
    assert done.returncode == 0 and "Level" in done.stdout
    refused = connector("set", BE, "Level", "500", "--api", api.url)
    assert refused.returncode == 1 and "must be at most 100" in refused.stderr
    unreachable = connector("params", BE, "--api", f"127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2 and "cannot reach the management API" in unreachable.stderr
    assert "Traceback" not in done.stderr + refused.stderr + unreachable.stderr


# -- issue 12: a command line for operators --------------------------------------------------

RESET = 30  # a button the operator element adds to the toy protocol


def operator_element(name: str = BE) -> Element:
    """The toy protocol as a connector lays out its parameters: pages, a summary, a button."""
    protocol = toy.toy_protocol()
    params = dict(protocol.params)
    for pid in (10, 11, 12, 13, 20, 23):
        params[pid] = attrs.evolve(params[pid], page="General", summary=pid in (10, 20))
    params[RESET] = m.Param(
        id=RESET,
        name="Reset Counters",
        type=m.ParamType.WRITE,
        kind=m.ValueKind.BUTTON,
        discreets=(m.Discreet(display="Reset", value=1), m.Discreet(display="Reset All", value=2)),
        page="General",
    )
    element = Element(attrs.evolve(protocol, params=params), name=name, handlers=toy.HANDLERS, now=FakeClock().now)
    element.start(always={23: SECRET})
    return element


@pytest.fixture
def operator_api(server: Served) -> Served:
    return server.serve(FakeRuntime(FakeHost(operator_element()), FakeHost(toy_element("Other"))))


def json_out(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "-o", "json")
    assert code == 0 and err == "", err
    return json.loads(out)


def test_version_comes_from_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"connector {importlib.metadata.version('connector')}\n")


def test_elements_shows_state_and_the_summary_parameters_as_columns(
    operator_api: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("elements", "status"):
        code, out, err = run(capsys, command, "--api", operator_api.url)
        assert code == 0 and err == ""
        header = next(line for line in out.splitlines() if "Name" in line)
        assert all(word in header for word in ("Protocol", "State", "Level", "Status Line"))
        row = next(line for line in out.splitlines() if BE in line)
        assert "Toy" in row and "running" in row and " 5 " in row
    listed = json_out(capsys, "elements", "--api", operator_api.url)
    assert [e["name"] for e in listed] == [BE, "Other"]
    assert listed[0] == {
        "name": BE,
        "protocol": "Toy",
        "version": "1.0.0.1",
        "state": "running",
        "summary": {"Level": "5", "Status Line": ""},
    }
    assert listed[1]["summary"] == {}


def test_an_elements_card_in_80_columns_shows_a_timeout_reason_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen in an 80-column tmux pane (issue 12's note): on the card a value was cut after 60
    # characters and then wrapped, "Login failed: Cherwell invalid_grant: Could not log…".
    reason = "Timeout: Login failed: Cherwell invalid_grant: Could not login to system with the provided user ID"
    summary = {f"Tickets {n}": "0" for n in ("Received Total", "Waiting", "Pending", "Completed", "Error")}
    element = {"name": BE, "protocol": "Ticketing BE", "state": "timeout", "summary": {**summary, "Last": reason}}
    monkeypatch.setattr("connector.service.client.ApiClient.elements", lambda self: [element])
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: True))
    code, out, _ = run(capsys, "elements")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    assert "\u2026" not in out and "provided user ID" in out


def test_the_ticketing_protocol_marks_what_summarises_an_element() -> None:
    protocol = load_protocol(REPO / "protocol.yaml")
    assert [p.name for p in protocol.params.values() if p.summary] == [
        "Tickets Received Total",
        "Tickets Waiting",
        "Tickets Pending",
        "Tickets Completed",
        "Tickets Error",
        "Last Cycle Start",
        "Last Cycle Result",
        "Communication State",
        "Platform Login State",
    ]


def test_params_shows_settings_then_status_then_buttons_and_the_rest_only_with_all(
    operator_api: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = json_out(capsys, "params", BE, "--api", operator_api.url)
    assert [(p["id"], p["name"]) for p in listed] == [
        (10, "Level"),  # settings: read parameters with a write twin
        (12, "Mode"),
        (20, "Status Line"),  # status
        (23, "Token"),
        (RESET, "Reset Counters"),  # buttons
    ]
    assert {"id", "name", "type", "value", "display", "kind", "password", "discreets", "page"} == set(listed[0])
    everything = json_out(capsys, "params", BE, "--all", "--api", operator_api.url)
    assert [p["id"] for p in everything[:7]] == [10, 12, 20, 23, RESET, 11, 13]  # then the write twins
    assert {p["id"] for p in everything} > {21, 22, 9000000}  # and those on no page
    code, out, _ = run(capsys, "params", BE, "--api", operator_api.url)
    assert code == 0 and "Reset Counters" in out and "InterApp Receive" not in out and "--all" in out


def test_the_ticketing_protocol_lists_settings_first_and_hides_its_internals() -> None:
    protocol = load_protocol(REPO / "protocol.yaml")
    listing = [
        {"id": p.id, "name": p.name, "type": p.type.value, "page": p.page}
        for p in protocol.params.values()
        if p.type is not m.ParamType.ARRAY
    ]
    shown = [p["name"] for p in operator_order(listing)]
    assert shown[:3] == ["Ticketing Processing", "Max Retries", "Max Tickets Per Request"]
    assert "Max Concurrent Requests" in shown and "Tickets Error" in shown and shown[-1] == "Clear Completed"
    assert not {"Request Path", "In Flight", "InterApp Receive", "Process Tickets"} & set(shown)
    assert len(shown) == len(set(shown))  # a write twin is not listed beside its read parameter


def test_get_and_set_print_json(operator_api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert json_out(capsys, "get", BE, "Level", "--api", operator_api.url)["value"] == 5
    assert json_out(capsys, "set", BE, "Level", "9", "--api", operator_api.url)["display"] == "9"


def test_press_sets_a_buttons_value(operator_api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "press", BE, "Reset Counters", "--api", operator_api.url)
    assert (code, err) == (0, "") and out.strip() == f"pressed 'Reset Counters' (Reset) on '{BE}'"
    host = operator_api.runtime.elements[BE]
    assert host.sets == [(RESET, 1)]
    assert run(capsys, "press", BE, "30", "reset all", "--api", operator_api.url)[0] == 0
    assert host.sets[-1] == (RESET, 2)


@pytest.mark.parametrize(
    "argv, reason",
    [
        (("Level",), "'Level' is not a button (it is a number parameter): use `connector set`"),
        (("Reset Counters", "Explode"), "'Reset Counters' has no value 'Explode' (its values: 'Reset', 'Reset All')"),
    ],
)
def test_press_refuses_what_is_not_a_button_and_changes_nothing(
    operator_api: Served, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], reason: str
) -> None:
    code, out, err = run(capsys, "press", BE, *argv, "--api", operator_api.url)
    assert (code, out, err) == (1, "", f"connector press: {reason}\n")
    assert operator_api.runtime.elements[BE].sets == []


# -- secrets stay off argv -------------------------------------------------------------------


def test_a_password_on_the_command_line_is_refused_and_not_sent(
    api: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "set", BE, "Token", NEW_SECRET, "--api", api.url)
    assert code == 2 and out == ""
    assert err.startswith("connector set: 'Token' is a password: it is not taken from the command line")
    assert NEW_SECRET not in err and api.runtime.elements[BE].sets == []


def test_a_password_is_read_from_stdin(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_SECRET + "\n"))
    code, out, err = run(capsys, "set", BE, "Token", "-", "--api", api.url)
    assert (code, err) == (0, "") and MASK in out and NEW_SECRET not in out
    assert api.runtime.elements[BE].sets == [(23, NEW_SECRET)]


def test_a_password_is_asked_for_at_a_terminal(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []
    terminal = io.StringIO("")
    terminal.isatty = lambda: True  # type: ignore[method-assign]  # stdin as a terminal
    monkeypatch.setattr(sys, "stdin", terminal)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or NEW_SECRET)
    assert run(capsys, "set", BE, "Token", "--api", api.url)[0] == 0
    assert prompts == ["Token: "] and api.runtime.elements[BE].sets == [(23, NEW_SECRET)]
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "")
    code, _, err = run(capsys, "set", BE, "Token", "--api", api.url)
    assert code == 2 and "nothing changed" in err and len(api.runtime.elements[BE].sets) == 1


def test_a_value_is_still_needed_for_other_parameters(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "set", BE, "Level", "--api", api.url)
    assert code == 2 and err == "connector set: give the new value of 'Level' (or - to read it from stdin)\n"


def test_the_token_from_a_file_or_the_environment_and_a_warning_on_argv(
    guarded_api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    code, _, err = run(capsys, "params", BE, "--api", guarded_api.url, "--token-file", str(token_file))
    assert (code, err) == (0, "")
    code, _, err = run(capsys, "params", BE, "--api", guarded_api.url, "--token", TOKEN)
    assert code == 0
    assert err == (
        "connector params: warning: --token on the command line can be read by every local user "
        "(/proc/PID/cmdline); use --token-file or $CONNECTOR_API_TOKEN\n"
    )
    monkeypatch.setenv("CONNECTOR_API_TOKEN", TOKEN)
    assert run(capsys, "params", BE, "--api", guarded_api.url) == (0, ANY, "")
    code, _, err = run(capsys, "params", BE, "--api", guarded_api.url, "--token-file", str(tmp_path / "none"))
    assert (
        code == 2
        and err == f"connector params: --token-file: cannot read {tmp_path / 'none'}: No such file or directory\n"
    )


# -- table -----------------------------------------------------------------------------------


def test_table_shows_50_rows_by_default_and_the_total(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    for start in range(0, 1203, 300):  # the toy's InterApp limit is 64 KiB a message
        _send(api, batch(*(ticket(f"T-{i:04}") for i in range(start, min(start + 300, 1203)))))
    code, out, _ = run(capsys, "table", BE, "Things", "--api", api.url)
    assert code == 0 and "Things [table 1000]: 50 of 1,203 rows" in out
    assert "T-0049" in out and "T-0050" not in out
    _, out, _ = run(capsys, "table", BE, "Things", "--limit", "0", "--api", api.url)
    assert "1,203 of 1,203 rows" in out and "T-1202" in out
    _, out, _ = run(capsys, "table", BE, "Things", "--offset", "1200", "--api", api.url)
    assert "1,201-1,203 of 1,203 rows" in out and "T-1201" in out


def test_table_filters_and_sorts(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    _send(api, batch(ticket("T-1"), ticket("T-2"), ticket("T-3", node="NODE-9")))
    code, out, _ = run(capsys, "table", BE, "Things", "--where", "Value=about t-2", "--api", api.url)
    assert code == 0 and "1 of 1 row where Value=about t-2 (3 in the table)" in out and "T-1" not in out
    listed = json_out(capsys, "table", BE, "Things", "--sort", "Key", "--desc", "--api", api.url)
    assert [row["Key"] for row in listed["rows"]] == ["T-3", "T-2", "T-1"]
    listed = json_out(capsys, "table", BE, "Things", "--sort=-Key", "--where", "Scratch=node-1", "--api", api.url)
    assert [row["Key"] for row in listed["rows"]] == ["T-2", "T-1"]
    code, out, err = run(capsys, "table", BE, "Things", "--status", "Error", "--api", api.url)
    assert (code, out) == (1, "") and "table 'Things' has no column 'Status' (HTTP 400)" in err


def test_table_json_has_stable_keys_and_the_stored_values(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    _send(api, batch(ticket("T-1")))
    listed = json_out(capsys, "table", BE, "Things", "--api", api.url)
    assert listed == {
        "id": 1000,
        "name": "Things",
        "total": 1,
        "rows_in_table": 1,
        "offset": 0,
        "columns": ["Key", "Value", "Seen"],  # not the hidden Scratch
        "rows": [{"Key": "T-1", "Value": "about T-1", "Seen": FakeClock().now()}],
    }
    chosen = json_out(capsys, "table", BE, "Things", "--columns", "scratch,Key", "--api", api.url)
    assert chosen["columns"] == ["Scratch", "Key"] and chosen["rows"] == [{"Scratch": "NODE-1", "Key": "T-1"}]
    code, _, err = run(capsys, "table", BE, "Things", "--columns", "Nope", "--api", api.url)
    assert code == 1 and "has no column 'Nope' (its columns: Key, Value, Scratch, Seen)" in err


def ticket_overview_cells(count: int) -> tuple[list[ColumnModel], list[dict[str, str]]]:
    """The real Ticket Overview's visible columns and rows as the demo fills them."""
    model = load_protocol(REPO / "protocol.yaml").tables[1000]
    columns = [c for c in model.columns if not c.hidden]
    row = {
        "Ticket ID": "WM-20261126-000101",
        "Category": "Falla de Linea",
        "Node": "GDL-ZAP-SG-DS-0412",
        "Summary": "Falla de linea en GDL-ZAP-SG-DS-0412",
        "Priority": "3",
        "Status": "In Progress",
        "Operation": "Update Ticket OT",
        "Platform Ticket": "102345",
        "OT Number": "OT-000123",
        "Retries": "1",
        "Last Error": "Cherwell: HTTP 503 Service Unavailable (try 2 of 5)",
        "Received": "2026-11-26T09:42:00Z",
        "Last Update": "2026-11-26T09:42:07Z",
    }
    return columns, [row] * count


@pytest.mark.parametrize("width", [80, 120])
def test_ticket_overview_fits_the_terminal_with_the_key_and_status_first(width: int) -> None:
    columns, cells = ticket_overview_cells(3)
    chosen = [c.name for c in choose_columns(columns, cells, width)]
    assert chosen[0] == "Ticket ID" and {"Status", "Operation", "Retries"} <= set(chosen)
    assert chosen == [c.name for c in columns if c.name in chosen]  # in the protocol's order
    if width == 120:
        assert len(chosen) > 6


def test_error_rows_show_their_reason_in_80_columns() -> None:
    # Seen in an 80-column tmux pane (issue 12's note): `connector table BE "Ticket Overview"
    # --status Error` showed Category and Priority, and left out Last Error, the why.
    columns, cells = ticket_overview_cells(3)
    reason = "Create OT: SFyC ERROR_OPERACION: el nodo no existe en el inventario de la red"
    errors = [dict(row, Status="Error", Operation="Create OT", **{"Last Error": reason}) for row in cells]
    chosen = choose_columns(columns, errors, 80)
    names = [c.name for c in chosen]
    assert names[0] == "Ticket ID" and {"Status", "Operation", "Last Error"} <= set(names)
    assert names == [c.name for c in columns if c.name in names]  # in the protocol's order
    widths = column_widths(chosen, errors, 80)
    assert sum(w + 3 for w in widths) + 1 == 80, "the reason, cut short, takes the room that is left"
    assert widths[names.index("Last Error")] >= 27 and widths[0] == len("WM-20261126-000101")


def test_a_column_empty_in_every_row_gives_way(capsys: pytest.CaptureFixture[str]) -> None:
    columns, cells = ticket_overview_cells(3)
    done = [dict(row, Status="Completed", Operation="None", Retries="0", **{"Last Error": ""}) for row in cells]
    names = [c.name for c in choose_columns(columns, done, 80)]
    assert "Last Error" not in names and names[:3] == ["Ticket ID", "Summary", "Status"]


@pytest.mark.parametrize("width", [80, 120])
def test_table_lines_fit_an_80_and_a_120_column_terminal(
    width: int, api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: True))
    _send(api, batch(*(ticket(f"WM-20261126-{i:06}", summary="x" * 90) for i in range(3))))
    code, out, _ = run(capsys, "table", BE, "Things", "--api", api.url)
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # a terminal gets colours
    assert code == 0 and max(len(line) for line in out.splitlines()) <= width
    assert "WM-20261126-000002" in out  # the key whole
    assert sum("WM-20261126-" in line for line in out.splitlines()) == 3  # one line a row


# -- send: rejects fail ----------------------------------------------------------------------


def test_send_rejects_exit_1_unless_allowed(
    api: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = sample_text("ticket-batch-mixed.json")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(mixed.encode())))
    code, out, err = run(capsys, "send", BE, "-", "--allow-rejects", "--api", api.url)
    assert (code, err) == (0, "") and "rejected 2" in out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(mixed.encode())))
    code, out, _ = run(capsys, "send", BE, "-", "-o", "json", "--api", api.url)
    answer = json.loads(out)
    assert code == 1 and list(answer) == ["accepted", "duplicates", "rejected", "errors", "replies"]
    assert len(answer["duplicates"]) == 3 and len(answer["rejected"]) == 2  # the second time: duplicates


def test_send_a_message_refused_whole_fails_even_with_allow_rejects(
    api: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    message = tmp_path / "bad.json"
    message.write_text("{not json", encoding="utf-8")
    code, out, err = run(capsys, "send", BE, str(message), "--allow-rejects", "--api", api.url)
    assert code == 1 and out == "" and err.startswith("connector send: not JSON")
    code, out, _ = run(capsys, "send", BE, str(message), "-o", "json", "--allow-rejects", "--api", api.url)
    assert code == 1 and json.loads(out)["errors"][0].startswith("not JSON")


class FakeAgentRuntime(FakeRuntime):
    """An agent's view (connector.service.cluster.views reads these): one element here, one elsewhere."""

    def __init__(self, here: FakeHost, elsewhere: str) -> None:
        super().__init__(here)
        self.configs = {here.name: None, elsewhere: None}
        self.protocols = {elsewhere: here.view.protocol}
        self.database_problem = ""

    def owner_of(self, name: str) -> Owner | None:
        return (
            Owner(agent="agent-a", url="http://a/api")
            if name in self.elements
            else Owner(agent="agent-b", url="http://b/api")
        )


def test_elements_shows_the_owner_of_each_element_on_an_agent(
    server: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    api = server.serve(FakeAgentRuntime(FakeHost(operator_element()), "BE 02"))
    code, out, err = run(capsys, "elements", "--api", api.url)
    assert code == 0 and err == ""
    assert "Owner" in next(line for line in out.splitlines() if "Name" in line)
    assert "agent-a" in next(line for line in out.splitlines() if BE in line)
    assert "standby" in (other := next(line for line in out.splitlines() if "BE 02" in line)) and "agent-b" in other
