"""`connector validate`: output, exit codes 0/1/2, and never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from connector import cli
from connector.commandline import COMMANDS_GROUP, Subparsers
from connector.engine.http import httpx
from tests.conftest import sample_text
from tests.strategies import protocol_minimal_document, protocol_yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


# -- issue 12: version, completion ----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"connector {cli.version()}\n") and cli.version() != "unknown"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_a_script_that_knows_every_subcommand(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    code, out, err = run(capsys, "completion", shell)
    assert (code, err) == (0, "")
    for command in ("validate", "run", "elements", "status", "params", "press", "table", "send", "demo", "platform"):
        assert command in out
    assert ("_shtab_compgen_files" if shell == "bash" else "_files") in out  # ELEMENT.yaml completes files
    assert "--all-columns" in out and "--token-file" in out


def test_completion_of_another_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "completion", "fish")
    assert code == 2 and "invalid choice: 'fish'" in err


# -- issue 11: the API token never needs argv -----------------------------------------------


def test_run_warns_when_the_token_is_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", str(tmp_path / "none.yaml"), "--api", "0.0.0.0:1", "--api-token", "t0k3n")
    assert code == 2  # the missing file; the public address was accepted with the token
    assert err.splitlines() == [
        "connector run: warning: --api-token on the command line can be read by every local user "
        "(/proc/PID/cmdline); use --api-token-file or $CONNECTOR_API_TOKEN",
        f"{tmp_path / 'none.yaml'}: cannot read: no such file",
    ]
    assert "t0k3n" not in err


def test_run_reads_the_token_from_a_file_or_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    argv = ("run", str(tmp_path / "none.yaml"), "--api", "0.0.0.0:1")
    monkeypatch.delenv("CONNECTOR_API_TOKEN", raising=False)
    code, _, err = run(capsys, *argv)
    assert code == 2 and "unless --api-token is given" in err  # no token: a public address is refused
    code, _, err = run(capsys, *argv, "--api-token-file", str(token))
    assert code == 2 and err == f"{tmp_path / 'none.yaml'}: cannot read: no such file\n"
    monkeypatch.setenv("CONNECTOR_API_TOKEN", "t0k3n")
    assert run(capsys, *argv)[2] == err


@pytest.mark.parametrize("kind", ["missing", "fifo", "empty", "directory"])
def test_a_token_file_that_cannot_be_used_is_one_line_and_never_blocks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "token"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: a blocking open would hang the start
    elif kind == "empty":
        path.write_text("\n")
    elif kind == "directory":
        path.mkdir()
    code, out, err = run(capsys, "run", str(tmp_path / "e.yaml"), "--api-token-file", str(path))
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("connector run: --api-token-file: ") and str(path) in err


# -- issue 12: an address in use, signals ---------------------------------------------------


def connector_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *argv],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def element_yaml(tmp_path: Path, platform_port: int, processing: str = "Disabled") -> Path:
    path = tmp_path / "be.yaml"
    path.write_text(
        f"name: Ticketing BE 01\nprotocol: {REPO / 'protocol.yaml'}\n"
        f"connection: {{host: 127.0.0.1, port: {platform_port}}}\n"
        f"params:\n  Ticketing Processing: {processing}\n  Cherwell Client ID: c\n  Cherwell Username: u\n"
        "  Cherwell Password: env:TEST_PASSWORD\n  SFyC API Key: env:TEST_PASSWORD\nstore: state/be.sqlite\n"
    )
    return path


@pytest.mark.slow
def test_run_on_a_taken_port_is_one_line_and_starts_nothing(tmp_path: Path, taken_port: int) -> None:
    proc = connector_process(
        "run", str(element_yaml(tmp_path, 9)), "--api", f"127.0.0.1:{taken_port}", env={"TEST_PASSWORD": "p"}
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err == f"connector run: cannot listen on 127.0.0.1:{taken_port}: Address already in use\n"
    assert not (tmp_path / "state").exists()  # no store created


@pytest.mark.slow
def test_demo_on_a_taken_port_is_one_line_and_creates_nothing(tmp_path: Path, taken_port: int) -> None:
    proc = connector_process("demo", "--api", f"127.0.0.1:{taken_port}", env={"TMPDIR": str(tmp_path)})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err == f"connector demo: cannot listen on 127.0.0.1:{taken_port}: Address already in use\n"
    assert list(tmp_path.iterdir()) == []  # no state folder


@pytest.mark.slow
def test_platform_on_a_taken_port_is_one_line(taken_port: int) -> None:
    proc = connector_process("platform", "--port", str(taken_port))
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (2, "")
    assert err == f"connector platform: cannot listen on 127.0.0.1:{taken_port}: Address already in use\n"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda sig: sig.name)
def test_platform_stops_the_same_way_on_sigint_and_sigterm(sig: signal.Signals) -> None:
    port = free_port()
    proc = connector_process("platform", "--port", str(port), "--log-level", "warning")
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/_fake/state", timeout=1).status_code == 200, "the platform")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    assert err.splitlines() == [
        f"fake platform on http://127.0.0.1:{port} (seed 0, 0 incidents); accepts client_id "
        "ticketing-be-fake-client, username dataminer, password fake-password, X-Api-Key fake-sfyc-api-key",
        f"fake platform stopped ({sig.name})",
    ]


def test_platform_help_names_the_credentials_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from connector.ticketing import commands
    from connector.ticketing.fake import data

    code, out, _ = run(capsys, "platform", "--help")
    assert code == 0
    for credential in (data.DEFAULT_CLIENT_ID, data.DEFAULT_USERNAME, data.DEFAULT_PASSWORD, data.DEFAULT_API_KEY):
        assert credential in " ".join(out.replace("-\n", "-").split())
    assert (commands.FAKE_CLIENT_ID, commands.FAKE_USERNAME, commands.FAKE_PASSWORD, commands.FAKE_API_KEY) == (
        data.DEFAULT_CLIENT_ID,
        data.DEFAULT_USERNAME,
        data.DEFAULT_PASSWORD,
        data.DEFAULT_API_KEY,
    )


def demo_state_folders(tmp_path: Path) -> list[Path]:
    return [path for path in tmp_path.iterdir() if path.name.startswith("connector-demo-")]


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_demo_interrupted_prints_the_summary_so_far_exits_130_and_cleans_up(tmp_path: Path, keep: bool) -> None:
    port = free_port()
    argv = ["demo", "--tickets", "3000", "--faults", "0", "--api", f"127.0.0.1:{port}", *(["--keep"] if keep else [])]
    proc = connector_process(*argv, env={"TMPDIR": str(tmp_path)})
    table = f"http://127.0.0.1:{port}/api/elements/Ticketing%20BE%2001/tables/1000?limit=0"
    wait_for(lambda: httpx.get(table, timeout=1).json()["total"] > 0, "the first tickets")
    assert len(demo_state_folders(tmp_path)) == 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in out and "Summary" in out and "received" in out
    assert "Traceback" not in out + err
    assert len(demo_state_folders(tmp_path)) == (1 if keep else 0)
    assert ("state kept in" in out) is keep


@pytest.mark.slow
def test_a_second_ctrl_c_gives_up_on_the_requests_on_the_wire(tmp_path: Path) -> None:
    with socket.socket() as black_hole:  # a platform that takes the connection and never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen()
        black_hole.settimeout(30)
        port = free_port()
        yaml_path = element_yaml(tmp_path, black_hole.getsockname()[1], processing="Enabled")
        proc = connector_process("run", str(yaml_path), "--api", f"127.0.0.1:{port}", env={"TEST_PASSWORD": "p"})
        api = f"http://127.0.0.1:{port}/api"
        wait_for(lambda: httpx.get(f"{api}/health", timeout=1).status_code == 200, "connector run")
        tickets = httpx.post(f"{api}/elements/Ticketing%20BE%2001/interapp", content=sample_text("ticket-batch.json"))
        assert tickets.status_code == 202
        connection, _ = black_hole.accept()  # the login is on the wire
        with connection:
            proc.send_signal(signal.SIGINT)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(1.0)  # the first waits for the running group
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            assert time.monotonic() - started < 5
    assert proc.returncode == 130
    assert "SIGINT again: giving up on the requests on the wire" in err and "Traceback" not in err
