"""`connector params|get|set|table|send` against the API served by a real uvicorn on loopback.

The commands run in process through `connector.cli.main` (what the console script runs), except
one that runs the real `python -m connector` to check the process's own exit code.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from connector.cli import main
from connector.engine.element import ElementView
from connector.engine.values import MASK
from connector.service.api import create_app
from tests.conftest import REPO, sample_text
from tests.service.test_api import BE, SECRET, FakeHost, FakeRuntime, batch, ticket, ticket_receive, toy_element

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
    code, out, err = run(capsys, "params", BE, "--api", api.url)
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
    _, listed, _ = run(capsys, "params", BE, "--api", api.url)
    assert "x" * 60 + "\u2026" in listed and "x" * 61 not in listed and "second line" not in listed
    _, whole, _ = run(capsys, "get", BE, "Echo", "--api", api.url)
    assert "second line" in whole


# -- table ---------------------------------------------------------------------------------


def test_table_prints_its_visible_columns_and_rows(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    _send(api, batch(ticket("T-1"), ticket("T-2"), ticket("T-3")))
    code, out, err = run(capsys, "table", BE, "Things", "--api", api.url)
    assert code == 0 and err == ""
    assert "Things (1000)" in out and "3 rows" in out
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
    assert code == 0 and "T-1" in out and "T-2" not in out and "1 of 3 rows" in out


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
    assert code == 0 and err == ""
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
