"""Credentials stay secret, TLS stays verified, the management API stays closed.

The run tests drive a real `connector run` (the pieces of tools/chaos) against the fake platform
as its own process, with distinctive credentials (the password through `env:`, the SFyC key
through `file:`), then grep everything a person or a log collector could see: the runtime's
log, the store files, and every API answer fetched during and after the run. Requests go to
127.0.0.1 only; the one non-loopback bind is 0.0.0.0.
"""

from __future__ import annotations

import random
import re
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from connector.engine import http as engine_http
from connector.engine.events import SendRequest
from connector.engine.http import Connection, HttpTransport, httpx
from connector.engine.testing import FakeClock
from connector.engine.values import display
from connector.protocol.errors import ProtocolError
from connector.protocol.model import INTERAPP_RECEIVE
from connector.service.config import load_element
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import platform_transport, ticketing_element
from connector.ticketing.ids import ids
from tests.conftest import sample_text
from tools.chaos.actors import Sender
from tools.chaos.checks import wait_drained
from tools.chaos.element import CLIENT_ID, ELEMENT, REPO, USERNAME
from tools.chaos.plan import plan_tickets
from tools.chaos.processes import RuntimeProcess, free_port, wait_for
from tools.chaos.rig import set_up

# A 64-hex run is an access token of the fake platform (ids are 32 or 42 hex digits).
ACCESS_TOKEN = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")
BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{8,}")


def secret_forms(*secrets: str) -> list[str]:
    """Each secret as it may be written: plain, form-encoded, percent-encoded, JSON-escaped."""
    forms = set()
    for secret in secrets:
        forms |= {secret, quote_plus(secret), quote(secret, safe=""), secret.encode("unicode_escape").decode()}
    return sorted(forms)


def login(platform_url: str, password: str) -> str:
    """An access token of the run's platform, by logging in as the element does."""
    form = {"grant_type": "password", "client_id": CLIENT_ID, "username": USERNAME, "password": password}
    answer = httpx.post(platform_url + "/CherwellAPI/token", data=form, timeout=10, trust_env=False)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


class Watcher(threading.Thread):
    """Fetches every parameter, the parameter list and the table while the run goes on."""

    def __init__(self, runtime: RuntimeProcess) -> None:
        super().__init__(daemon=True)
        self.runtime, self.answers, self.stop = runtime, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.fetch_all()

    def fetch_all(self) -> None:
        try:
            listing = self.runtime.get("/params")
            self.answers.append(("params", listing.text))
            for param in listing.json():
                self.answers.append((param["name"], self.runtime.get(f"/params/{param['id']}").text))
            self.answers.append(("table", self.runtime.get("/tables/Ticket%20Overview").text))
            self.answers.append(("elements", self.runtime.client.get("/api/elements").text))
        except (httpx.HTTPError, ValueError):
            pass  # between answers of a busy element: the next round fetches again


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_credential_in_the_log_the_store_or_any_api_answer(tmp_path: Path) -> None:
    setup = set_up(tmp_path, seed=77, incidents=6)
    watcher = Watcher(setup.runtime)
    try:
        plan = plan_tickets(60, random.Random(77), setup.nodes, note_share=0.3)
        setup.runtime.start()
        watcher.start()
        sender = Sender(setup.runtime, plan, batch=20)
        sender.start()
        sender.join(60)
        setup.platform.revoke()  # one more login mid-run, with the watcher looking
        rows = wait_drained(setup.runtime, plan.ids, timeout=60)
        assert all(rows[key]["Status"] == "Completed" for key in plan.ids)  # the key from the file worked
        watcher.stop.set()
        watcher.join(10)
        watcher.fetch_all()
        answers = list(watcher.answers)
        masked = {p["id"]: p for p in setup.runtime.get("/params").json()}
        token = login(setup.platform.url, setup.password)
        assert setup.runtime.terminate() == 0
    finally:
        watcher.stop.set()
        setup.close()

    for pid in (ids().password, ids().api_key, ids().auth_header, ids().key_header, ids().request_body):
        assert masked[pid]["value"] == masked[pid]["display"] == "********", masked[pid]
    log = setup.runtime.log_path.read_text(encoding="utf-8")
    stores = {f.name: f.read_bytes().decode("latin-1") for f in (tmp_path / "state").glob("*.sqlite*")}
    assert stores and len(answers) > 10
    seen = [("runtime log", log), *stores.items(), *answers]
    for where, text in seen:
        for secret in secret_forms(setup.password, setup.api_key, token):
            assert secret not in text, f"a credential in {where}"
        assert not BEARER.search(text), f"a bearer token in {where}: {BEARER.search(text)}"
        assert not ACCESS_TOKEN.search(text), f"an access token in {where}"
    assert "Traceback" not in log


def test_file_and_env_secrets_are_read_but_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURITY_PW", "pw-from-env-31337")
    (tmp_path / "key.txt").write_text("key-from-file-31337\n", encoding="utf-8")
    text = f"""\
name: BE
protocol: {REPO / "protocol.yaml"}
connection: {{host: 127.0.0.1, port: 8980}}
params:
  Cherwell Password: env:SECURITY_PW
  SFyC API Key: file:key.txt
"""
    (tmp_path / "good.yaml").write_text(text, encoding="utf-8")
    config, protocol = load_element(tmp_path / "good.yaml")
    assert set(config.secrets.values()) == {"pw-from-env-31337", "key-from-file-31337"}  # read...
    (tmp_path / "bad.yaml").write_text(text + "  Max Retries: 99\n  Cherwell Username: [x]\n", encoding="utf-8")
    with pytest.raises(ProtocolError) as refused:
        load_element(tmp_path / "bad.yaml")
    assert "Max Retries" in str(refused.value) and "31337" not in str(refused.value)


def test_the_element_config_repr_hides_the_secrets(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("key-from-file-31337\n", encoding="utf-8")
    (tmp_path / "e.yaml").write_text(
        f"name: BE\nprotocol: {REPO / 'protocol.yaml'}\nconnection: {{host: h}}\n"
        "params:\n  SFyC API Key: file:key.txt\n",
        encoding="utf-8",
    )
    config, _ = load_element(tmp_path / "e.yaml")
    assert config.secrets and "31337" not in repr(config)


# -- a login's form and answer are shown nowhere (in process; regressions of issue 5's security run) --


def shown(h: Any) -> dict[str, str]:
    """Every parameter as the API and `connector params` show it (passwords masked)."""
    return {p.name: display(p, h.element.view.values.get(pid)) for pid, p in h.element.view.protocol.params.items()}


def test_a_failed_login_leaves_the_password_in_no_shown_parameter() -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=1, clock=clock.now, faults=fp.Faults(html_503_rate=1.0))
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled"})
    h.set(INTERAPP_RECEIVE, sample_text("ticket-batch.json"))
    assert any(r.session == ids().sessions["login"] for r in h.requests)
    assert [name for name, text in shown(h).items() if quote_plus(fp.DEFAULT_PASSWORD) in text] == []


def test_the_tokens_of_a_login_answer_are_in_no_shown_parameter() -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=1, clock=clock.now)
    h = ticketing_element(platform, clock)
    h.transport = None  # answered by hand: the login, then look while the next request is out
    h.set(INTERAPP_RECEIVE, sample_text("ticket-batch.json"))
    h.set("Ticketing Processing", "Enabled")
    assert h.respond(platform_transport(platform)).session == ids().sessions["login"]
    session = h.element.view.memory["ticketing"].session
    assert session.access_token and session.refresh_token
    assert [
        name for name, text in shown(h).items() if session.access_token in text or session.refresh_token in text
    ] == []


# -- TLS ------------------------------------------------------------------------------------------------------


def test_the_transport_builds_its_client_with_verification_on(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    for name in ("Client", "AsyncClient"):
        original = getattr(httpx, name)

        def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            built.append(kwargs)
            return _original(*args, **kwargs)

        monkeypatch.setattr(engine_http.httpx, name, recording)
    transport = HttpTransport(Connection(host="cherwell-gw.example", port=443, scheme="https"))
    assert built, "HttpTransport builds an httpx client"
    for kwargs in built:
        verify = kwargs.get("verify", True)
        assert verify is True or (
            isinstance(verify, ssl.SSLContext) and verify.verify_mode == ssl.CERT_REQUIRED and verify.check_hostname
        )
    del transport


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a self-signed certificate")
def test_a_self_signed_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import http.server, ssl
httpd = http.server.HTTPServer(("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain({str(cert)!r}, {str(key)!r})
httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
""",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import socket

        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
            timeout=20,
            what="the TLS server",
        )
        import asyncio

        async def send() -> Any:
            transport = HttpTransport(Connection(host="127.0.0.1", port=port, scheme="https"))
            try:
                return await transport.send(
                    SendRequest(request_id=1, session=1, method="GET", path="/", headers={}, body=None, timeout=10)
                )
            finally:
                await transport.aclose()

        result = asyncio.run(send())
        assert result.status == 0 and result.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in result.detail or "certificate" in result.detail.lower(), result.detail
    finally:
        server.kill()
        server.wait(10)


# -- the management API ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_public_api_needs_a_token_and_then_every_call_must_carry_it(tmp_path: Path) -> None:
    setup = set_up(tmp_path, seed=78, incidents=0, processing=False)
    try:
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "connector",
                "run",
                str(setup.runtime.element_yaml),
                "--api",
                f"0.0.0.0:{free_port()}",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            env={**setup.runtime.env, "CONNECTOR_API_TOKEN": ""},
        )
        assert refused.returncode == 2 and "--api-token" in refused.stderr
        assert not (tmp_path / "state").exists()  # refused before anything started

        token = "s3cr3t-api-token-for-the-test"
        runtime = RuntimeProcess(
            setup.runtime.element_yaml,
            setup.runtime.env,
            log_path=tmp_path / "public.log",
            listen="0.0.0.0",
            token=token,
        )
        try:
            runtime.start()  # its health check needs no token
            assert runtime.proc is not None
            cmdline = Path(f"/proc/{runtime.proc.pid}/cmdline").read_bytes()
            assert token.encode() not in cmdline and b"--api-token-file" in cmdline, "the token in a file"
            element = f"/api/elements/{quote(ELEMENT)}"
            bare = httpx.Client(base_url=runtime.api, timeout=10, trust_env=False)
            for method, path in (
                ("GET", "/api/elements"),
                ("GET", element + "/params"),
                ("GET", element + "/tables/Ticket%20Overview"),
                ("PUT", element + "/params/Max%20Retries"),
                ("POST", element + "/interapp"),
                ("GET", "/api/nothing-here"),
            ):
                for headers in (
                    {},
                    {"Authorization": "Bearer wrong"},
                    {"Authorization": token},
                    {"Authorization": f"Basic {token}"},
                ):
                    answer = bare.request(method, path, headers=headers, json={"value": 5})
                    assert answer.status_code == 401, (method, path, headers, answer.status_code)
                    assert token not in answer.text
            assert bare.get(element + "/params", params={"token": token}).status_code == 401
            assert bare.get("/api/health").status_code == 200
            assert runtime.get("/params").status_code == 200  # with `Authorization: Bearer <token>`
            assert runtime.set_param("Max Retries", 5).status_code == 200
            bare.close()
            assert runtime.terminate() == 0
        finally:
            runtime.close()
        log = runtime.log_path.read_text(encoding="utf-8")
        assert token not in log and "/proc/PID/cmdline" not in log, "no token on argv, so no warning"
    finally:
        setup.close()
