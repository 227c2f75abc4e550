"""Engine speed: parameter sets per second, and set_row cost as the table grows.

    .venv/bin/python -m tools.bench_engine [--json FILE]

Prints one table. Targets (issue 2): >= 100,000 plain sets/s, >= 20,000 sets/s through a
trigger and a handler, set_row at 100,000 rows within 1.5x of its cost at 1,000.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from connector.engine.context import HandlerContext
from connector.engine.element import Element, internals
from connector.engine.table import Table
from connector.engine.testing import FakeClock, Harness
from connector.protocol import model as m
from connector.protocol.loader import parse_protocol
from connector.ticketing import PROTOCOL_YAML


def protocol() -> m.Protocol:
    params = [
        m.Param(id=1, name="Plain", kind=m.ValueKind.NUMBER),
        m.Param(id=2, name="Watched", kind=m.ValueKind.NUMBER),
        m.Param(id=3, name="Seen", kind=m.ValueKind.NUMBER),
        m.Param(id=4, name="Fire", type=m.ParamType.DUMMY),
    ]
    trigger = m.Trigger(
        id=1, name="On Watched", on=m.TriggerOn.PARAMETER, on_id=2, time=m.TriggerTime.CHANGE, actions=(1,)
    )
    action = m.Action(id=1, name="Run", on=m.ActionOn.PARAMETER, on_ids=(4,), type=m.ActionType.RUN_HANDLERS)
    handler = m.Handler(id=1, name="Count", entry="tools.bench_engine:count", triggers=(4,))
    table = m.Table(
        id=1000, name="Rows", key_column=1001, columns=tuple(m.Column(id=1001 + i, name=f"C{i}") for i in range(12))
    )
    return m.Protocol(
        name="Bench",
        version="1",
        params={p.id: p for p in params},
        triggers={1: trigger},
        actions={1: action},
        handlers={1: handler},
        tables={1000: table},
    )


def count(protocol: HandlerContext) -> None:
    protocol.set(3, protocol.get(2))


def rate(n: int, fn: Callable[[int], None]) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def set_row_cost(rows: int, repeats: int = 20_000, step: int = 50, scattered: bool = False) -> float:
    """Microseconds per set_row; changes are taken every `step` rows, as the element does per step.

    In order (the flow updates batches of tickets in table order) or scattered over the whole
    table. Scattered access to 100,000 rows pays CPU cache misses that no data structure in
    Python avoids: a bare dict of lists shows the same growth (see bare_dict_cost).
    """
    table = Table(protocol().tables[1000])
    for i in range(rows):
        table.add_row(f"k{i:07d}", {"C1": "x", "C2": i})
    table.changes.take()
    keys = [f"k{((i * 7919) if scattered else i) % rows:07d}" for i in range(repeats)]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i, key in enumerate(keys):
            table.set_row(key, {"C2": i, "C3": "y"})
            if i % step == 0:
                table.changes.take()
        best = min(best, time.perf_counter() - start)
    return best / repeats * 1e6


def bare_dict_cost(rows: int, repeats: int = 20_000) -> float:
    """The floor for scattered access: a dict of lists, two cells written, nothing else."""
    data: dict[str, list[object]] = {f"k{i:07d}": [None] * 12 for i in range(rows)}
    keys = [f"k{(i * 7919) % rows:07d}" for i in range(repeats)]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i, key in enumerate(keys):
            row = data[key]
            row[2] = i
            row[3] = "y"
        best = min(best, time.perf_counter() - start)
    return best / repeats * 1e6


def protocol_load_ms(params: int = 300) -> float:
    """The best of 5 loads of Ticketing BE's protocol with `params` more ranged, saved number
    parameters (ms): what a start or `connector validate` pays for a large protocol."""
    added = "".join(
        f"  - {{id: {3000 + i}, name: Param {i}, type: read, kind: number, range: {{low: 0, high: 100}}, "
        'default: 3, save: true, description: "some words here", page: General}\n'
        for i in range(params)
    )
    text = PROTOCOL_YAML.read_text(encoding="utf-8").replace("\nparams:\n", "\nparams:\n" + added, 1)
    parse_protocol(text, "bench.yaml", check_imports=False)  # warm up
    best = min(_timed(lambda: parse_protocol(text, "bench.yaml", check_imports=False)) for _ in range(5))
    return best * 1000


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_engine", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clock = FakeClock()
    element = Element(protocol(), name="Bench", handlers={1: count}, now=clock.now)
    Harness(element, clock).start()
    machine = internals(element)  # the state machine's own set: what a handler's set costs, minus the API

    def plain(n: int) -> None:
        for i in range(n):
            machine.change(1, i, always=True)

    def through_handler(n: int) -> None:
        for i in range(n):
            machine.change(2, i, always=True)

    results = {
        "sets_per_s_plain": rate(300_000, plain),
        "sets_per_s_trigger_handler": rate(100_000, through_handler),
        "set_row_us_1000": set_row_cost(1_000),
        "set_row_us_100000": set_row_cost(100_000),
        "set_row_scattered_us_1000": set_row_cost(1_000, scattered=True),
        "set_row_scattered_us_100000": set_row_cost(100_000, scattered=True),
        "bare_dict_scattered_us_1000": bare_dict_cost(1_000),
        "bare_dict_scattered_us_100000": bare_dict_cost(100_000),
    }
    results["protocol_load_ms_300_params"] = protocol_load_ms()
    results["set_row_ratio"] = results["set_row_us_100000"] / results["set_row_us_1000"]
    results["set_row_scattered_ratio"] = results["set_row_scattered_us_100000"] / results["set_row_scattered_us_1000"]
    results["bare_dict_scattered_ratio"] = (
        results["bare_dict_scattered_us_100000"] / results["bare_dict_scattered_us_1000"]
    )
    print(f"{'measure':<36}{'value':>14}{'target':>14}")
    print(f"{'parameter sets/s, plain':<36}{results['sets_per_s_plain']:>14,.0f}{'>= 100,000':>14}")
    print(f"{'sets/s through trigger + handler':<36}{results['sets_per_s_trigger_handler']:>14,.0f}{'>= 20,000':>14}")
    print(f"{'set_row at 1,000 rows (us)':<36}{results['set_row_us_1000']:>14.2f}")
    print(f"{'set_row at 100,000 rows (us)':<36}{results['set_row_us_100000']:>14.2f}")
    print(f"{'ratio 100,000 / 1,000':<36}{results['set_row_ratio']:>14.2f}{'<= 1.5':>14}")
    print(f"{'scattered set_row ratio':<36}{results['set_row_scattered_ratio']:>14.2f}")
    print(f"{'  (bare dict, same access) ratio':<36}{results['bare_dict_scattered_ratio']:>14.2f}")
    print(f"{'protocol load, 300 params (ms)':<36}{results['protocol_load_ms_300_params']:>14.1f}{'<= 100':>14}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
