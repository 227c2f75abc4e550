"""Handler modules beside the protocol file: found there first, under a private name per folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connector.engine.loading import resolve_handlers
from connector.protocol.entries import entry_problem, load_entry, local_module_name
from connector.protocol.errors import ProtocolError
from connector.protocol.loader import load_protocol

ONE_PARAM = """\
protocol: {name: Beside, version: 1.0.0.1}
params:
  - {id: 10, name: Value, type: read, kind: number}
handlers:
  - {id: 1, name: On Value, entry: "MODULE:on_value", triggers: [10]}
"""


def connector_folder(folder: Path, module: str, returns: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(f"def on_value(protocol):\n    return {returns!r}\n", encoding="utf-8")
    path = folder / "protocol.yaml"
    path.write_text(ONE_PARAM.replace("MODULE", module), encoding="utf-8")
    return path


def test_a_handler_module_beside_the_protocol_is_found_without_pythonpath(tmp_path: Path) -> None:
    path_before = list(sys.path)
    protocol = load_protocol(connector_folder(tmp_path / "weather", "weather_handlers", "here"))
    handlers = resolve_handlers(protocol)
    assert handlers[1](None) == "here"  # type: ignore[arg-type]  # the toy handler ignores its context
    assert sys.path == path_before, "the process-wide import path must not change"
    assert "weather_handlers" not in sys.modules


def test_two_connectors_each_with_a_handlers_module_do_not_collide(tmp_path: Path) -> None:
    first = load_protocol(connector_folder(tmp_path / "one", "handlers", "one"))
    second = load_protocol(connector_folder(tmp_path / "two", "handlers", "two"))
    assert resolve_handlers(first)[1](None) == "one"  # type: ignore[arg-type]
    assert resolve_handlers(second)[1](None) == "two"  # type: ignore[arg-type]
    assert local_module_name((tmp_path / "one").resolve(), "handlers") in sys.modules


def test_a_dotted_entry_is_an_ordinary_import(tmp_path: Path) -> None:
    from connector.ticketing import handlers

    assert (
        load_entry("connector.ticketing.handlers:after_startup", tmp_path / "protocol.yaml") is handlers.after_startup
    )


def test_a_missing_module_says_where_it_was_looked_for(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text(ONE_PARAM.replace("MODULE", "nowhere_handlers"), encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    (problem,) = caught.value.errors
    assert problem.mark is not None and problem.mark.line == 5
    assert "cannot load handler entry 'nowhere_handlers:on_value': ModuleNotFoundError" in problem.message
    assert "looked beside protocol.yaml, then in the installed packages" in problem.message


def test_a_module_that_fails_on_import_is_left_out_of_sys_modules(tmp_path: Path) -> None:
    (tmp_path / "broken_handlers.py").write_text("raise RuntimeError('no')\n", encoding="utf-8")
    problem = entry_problem("broken_handlers:on_value", tmp_path / "protocol.yaml")
    assert problem is not None and "RuntimeError: no" in problem
    assert local_module_name(tmp_path.resolve(), "broken_handlers") not in sys.modules
