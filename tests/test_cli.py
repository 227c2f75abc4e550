"""`connector validate`: output, exit codes 0/1/2, and never a traceback."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from connector import cli
from connector.commandline import COMMANDS_GROUP, Subparsers
from tests.strategies import protocol_minimal_document, protocol_yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    path = tmp_path / "protocol.yaml"
    path.write_text(protocol_yaml(protocol_minimal_document()), encoding="utf-8")
    return path


@pytest.fixture
def invalid(tmp_path: Path) -> Path:
    document = protocol_minimal_document()
    document["params"][3]["id"] = 64000  # reserved for DataMiner
    document["groups"][1]["type"] = "pol"  # no such group type
    path = tmp_path / "broken.yaml"
    path.write_text(protocol_yaml(document), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_valid_file_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str], valid: Path) -> None:
    code, out, err = run(capsys, "validate", str(valid))
    assert (code, err) == (0, "")
    assert out == (
        f"{valid}: valid (9 params, 1 table, 1 session, 2 groups, 1 timer, 2 triggers, 3 actions, 2 handlers)\n"
    )


def test_invalid_file_exits_1_with_every_problem_on_stderr(capsys: pytest.CaptureFixture[str], invalid: Path) -> None:
    code, out, err = run(capsys, "validate", str(invalid))
    lines = err.splitlines()
    assert code == 1 and out == ""
    assert len(lines) == 3
    assert lines[0].startswith(f"{invalid}:") and "param id 64000 is reserved for DataMiner" in lines[0]
    assert lines[1].startswith(f"{invalid}:") and "type: 'pol' is not one of" in lines[1]
    assert lines[2] == f"{invalid}: invalid (2 problems)"


def test_syntax_error_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("protocol: {name: T\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and err.startswith(f"{path}:2:1: YAML syntax error: ")


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert (code, out, err) == (2, "", f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory\n")


def test_directory_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and err == f"{tmp_path}: cannot read: Is a directory\n"


def test_every_file_is_checked_and_the_worst_code_wins(
    capsys: pytest.CaptureFixture[str], valid: Path, invalid: Path, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.yaml"), str(invalid), str(valid))
    assert code == 2
    assert out.startswith(f"{valid}: valid")
    assert "cannot read" in err and f"{invalid}: invalid (2 problems)" in err
    assert run(capsys, "validate", str(invalid), str(valid))[0] == 1


def test_handler_imports_are_checked_unless_told_not_to(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = protocol_minimal_document()
    document["handlers"][0]["entry"] = "no_such_module_4711:run"
    path = tmp_path / "p.yaml"
    path.write_text(protocol_yaml(document))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "ModuleNotFoundError" in err
    assert run(capsys, "validate", "--no-imports", str(path))[0] == 0


def test_unexpected_error_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], valid: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(path: object, *, check_imports: bool) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr("connector.protocol.loader.load_protocol", explode)
    code, _, err = run(capsys, "validate", str(valid))
    assert (code, err) == (1, "connector validate: unexpected error: RuntimeError: disk on fire second line\n")


def test_usage_errors_exit_2_and_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys)[0] == 2  # no subcommand: the help goes to stderr
    assert run(capsys, "validate")[0] == 2  # FILE is required
    assert run(capsys, "frobnicate")[0] == 2
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "validate" in out


def test_a_subcommand_is_one_function_in_one_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def _add_hello(subparsers: Subparsers) -> None:
        parser = subparsers.add_parser("hello")
        parser.set_defaults(run=lambda args: print("hi") or 0)

    monkeypatch.setattr(cli, "SUBCOMMANDS", [*cli.SUBCOMMANDS, _add_hello])
    assert run(capsys, "hello") == (0, "hi\n", "")
    assert isinstance(cli.build_parser(), argparse.ArgumentParser)


@pytest.mark.slow
def test_python_m_connector(valid: Path, invalid: Path) -> None:
    for path, code, stream in ((valid, 0, "stdout"), (invalid, 1, "stderr")):
        done = subprocess.run(
            [sys.executable, "-m", "connector", "validate", str(path)],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == code
        assert str(path) in getattr(done, stream)
        assert "Traceback" not in done.stdout + done.stderr


# Imported by no command that does not need them: the web server, the HTTP client, the scheduler,
# the console UI, and the fake platform (the demo and `connector platform` import them when run).
HEAVY = ("uvicorn", "starlette", "httpx", "apscheduler", "rich", "connector.ticketing.fake")
REPORT_HEAVY = """
import json, sys
from connector.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
print("\\nheavy:" + json.dumps([code, heavy]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("validate", str(REPO / "protocol.yaml")),  # imports the Ticketing BE handlers, too
        ("params", "--help"),
        ("demo", "--help"),
        ("platform", "--help"),
    ],
    ids=" ".join,
)
def test_a_command_imports_only_what_it_needs(argv: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{REPORT_HEAVY}", *argv],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    code, heavy = json.loads(done.stdout.rpartition("\nheavy:")[2])
    assert (code, heavy) == (0, [])


def test_connectors_register_their_own_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "demo" in out and "platform" in out
    assert cli.connector_commands()  # Ticketing BE's, from the `connector.commands` entry point group


def test_a_connector_that_cannot_load_leaves_the_other_commands_working(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, valid: Path
) -> None:
    broken = EntryPoint("broken", "connector.no_such_module:register", COMMANDS_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [broken] if group == COMMANDS_GROUP else [])
    code, out, err = run(capsys, "validate", str(valid))
    assert code == 0 and out.startswith(f"{valid}: valid")
    assert err == (
        "connector: leaving out the 'broken' subcommands (connector.no_such_module:register): "
        "ModuleNotFoundError: No module named 'connector.no_such_module'\n"
    )


def test_warnings_alone_leave_a_file_valid_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Regression (issue 15): a one-parameter protocol was refused for lacking the after-startup
    # chain (validator rule 5.7); it is a warning, with the reason.
    path = tmp_path / "protocol.yaml"
    path.write_text("protocol: {name: One, version: 1.0.0.1}\nparams:\n  - {id: 10, name: V, type: read}\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0 and out.startswith(f"{path}: valid (1 param,")
    (warning,) = err.splitlines()
    assert warning.startswith(f"{path}:1:1: warning: no after-startup trigger")
    assert "nothing runs at startup until a timer or a set starts it" in warning
