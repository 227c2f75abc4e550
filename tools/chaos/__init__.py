"""Chaos runs: prove that no ticket is lost or duplicated, whatever fails around the element.

    .venv/bin/python -m tools.chaos [--tickets 2000] [--kills 20] [--seed N] [--faults all]
                                    [--fault-rate 0.03] [--fail-operation ot_create] [--json FILE]
                                    [--faults all,late --late-delay N --settle-time S]

Two scenarios, one table:

*crash* -- the fake platform runs as its own server process (`connector platform`), seeded with
open incidents; a real `connector run` subprocess hosts one Ticketing BE element. A WM stand-in
sends the tickets in InterApp batches of 100 through the management API (re-sending a batch whose
202 it did not get, as WM does), while a killer SIGKILLs the runtime at random moments and
restarts it, and the platform fails as `--faults` says: while WM sends, and on through the
drain until every ticket is done (or `drain_timeout`); then a settle phase on a healthy platform
(held late writes land, Retry Errors for what ended in Error) before the checks. The table says
how many faults of each kind the platform injected, and for how long. The `late` fault holds a
write, loses its answer and applies it `--late-delay` s later: below the element's Settle Time
nothing may be duplicated; above it every duplicate must be in the element's Duplicates Detected. When every
ticket is Completed or Error the runtime gets a SIGTERM (exit code 0 expected) and both sides
are checked: on the platform, exactly one incident per created ticket, one OT per incident
with its number written back, one note per noted ticket; on the element, an intact SQLite
store holding every ticket.

*fail for good* -- one platform operation fails every time (`fail_operation`): its tickets must
end in Error after exactly Max Retries + 1 tries with the platform's reason in Last Error while
the others complete; then the fault goes away, Retry Errors is pressed, and they complete too.

Every piece is a function or a small class of its own module, so that tests/test_chaos.py and
tests/test_security.py run the same code in short variants, and tools/bench.py starts its
processes the same way:

- `element`: the element's names, settings and YAML;
- `processes`: the fake platform and `connector run` as subprocesses, and their controls;
- `plan`: the tickets WM sends and what each must become;
- `actors`: WM's stand-in, the killer, the fault injector, the operator (threads);
- `checks`: the platform, the store, the log and the table against the plan;
- `rig`: the set-up every scenario starts from and the checks it ends with;
- `scenarios`: *crash* and *fail for good*;
- `report`: a run's figures, the table and the JSON;
- `__main__`: the command.

Only loopback traffic; every wait has a deadline.
"""
