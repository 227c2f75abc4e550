"""The element YAML: everything checked before anything starts, FILE:LINE:COL messages."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.protocol.errors import ProtocolError
from connector.service.config import duplicate_names, load_element

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "element.yaml"
    path.write_text(text.replace("PROTOCOL", str(REPO / "protocol.yaml")), encoding="utf-8")
    return path


GOOD = """\
name: Ticketing BE 01
protocol: PROTOCOL
connection:
  host: cherwell-gw.example
  port: 80
  bus_address: BypassProxy
params:
  Ticketing Processing: Enabled
  Max Retries: 4
  12: 5
  Cherwell Username: dataminer
  Cherwell Password: env:TEST_CHERWELL_PASSWORD
  SFyC API Key: file:key.txt
store: state/be.sqlite
"""


def test_a_good_element(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_CHERWELL_PASSWORD", "pa55")
    (tmp_path / "key.txt").write_text("k3y\n")
    config, protocol = load_element(write(tmp_path, GOOD))
    assert config.name == "Ticketing BE 01"
    assert config.connection.base_url == "http://cherwell-gw.example:80"
    assert config.connection.bypass_proxy
    assert config.params[10] == 1 and config.params[12] == 5 and config.params[32] == "dataminer"
    assert config.secrets == {34: "pa55", 36: "k3y"}
    assert 34 not in config.params and 36 not in config.params
    assert config.store_path == (tmp_path / "state" / "be.sqlite").resolve()
    assert protocol.name == "Telefonia por Cable Ticketing BE"


def test_defaults(tmp_path: Path) -> None:
    config, _ = load_element(write(tmp_path, "name: A\nprotocol: PROTOCOL\nconnection: {host: h, port: 443}\n"))
    assert config.connection.scheme == "https" and config.connection.bus_address == "BypassProxy"
    assert config.store_path == (tmp_path / "element.sqlite").resolve()
    config, _ = load_element(write(tmp_path, "name: A\nprotocol: PROTOCOL\nconnection: {host: h}\n"))
    assert config.connection.port == 80 and config.connection.scheme == "http"


def test_every_problem_at_once_with_its_place(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    text = """\
name: A
protocol: PROTOCOL
colour: blue
connection:
  host: h
  port: 99999
  scheme: ftp
params:
  Max Retries: 11
  Ticketing Processing: Sometimes
  No Such Thing: 1
  Cherwell Password: env:NOPE_NOT_SET
  Max Tickets Per Request: lots
"""
    with pytest.raises(ProtocolError) as caught:
        load_element(write(tmp_path, text))
    messages = [str(p) for p in caught.value.problems]
    joined = "\n".join(messages)
    assert "element.yaml:3:1: unknown key 'colour'" in joined
    assert ":6:" in joined and "port: must be 1-65535" in joined
    assert "scheme: must be http or https" in joined
    assert "element.yaml:9:16: Max Retries: must be at most 10, got 11" in joined
    assert "Ticketing Processing: must be one of: Disabled (0), Enabled (1)" in joined
    assert "no parameter 'No Such Thing'" in joined
    assert "the environment variable NOPE_NOT_SET is not set" in joined
    assert "Max Tickets Per Request: must be a number" in joined
    assert len(messages) == 8


def test_a_secret_never_appears_in_a_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_SECRET", "s3cr3t-value")
    text = (
        "name: A\nprotocol: PROTOCOL\nconnection: {host: h}\n"
        "params:\n  Cherwell Password: env:TEST_SECRET\n  Max Retries: -1\n"
    )
    with pytest.raises(ProtocolError) as caught:
        load_element(write(tmp_path, text))
    assert "s3cr3t-value" not in str(caught.value)


def test_a_protocol_path_to_a_secrets_file_does_not_show_its_text(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("sk-live-0123456789\n", encoding="utf-8")
    path = tmp_path / "element.yaml"
    path.write_text("name: A\nprotocol: key.txt\nconnection: {host: h}\n", encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_element(path)
    assert "sk-live" not in str(caught.value)
    assert "is not a valid protocol" in str(caught.value) and "connector validate" in str(caught.value)


def test_missing_protocol_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no file"):
        load_element(write(tmp_path, "name: A\nprotocol: nowhere.yaml\nconnection: {host: h}\n"))
    with pytest.raises(ProtocolError, match="cannot read"):
        load_element(tmp_path / "missing.yaml")
    with pytest.raises(ProtocolError, match="YAML syntax error"):
        load_element(write(tmp_path, "name: [unclosed\n"))


@pytest.mark.parametrize(
    "line, where, reason",
    [
        ('protocol: "PROTOCOL\\0x"\n', ":2:11: protocol:", "embedded null byte"),
        ("protocol: " + "p" * 5000 + "\n", ":2:11: protocol:", "too long"),
        ('store: "state/\\0be.sqlite"\n', ":4:8: store:", "embedded null byte"),
    ],
)
def test_a_path_the_system_cannot_use_is_a_problem_of_the_yaml(
    tmp_path: Path, line: str, where: str, reason: str
) -> None:
    # Regression (issue 5, Hypothesis over element YAML): a NUL or an over-long name in
    # `protocol:` / `store:` raised ValueError / OSError out of load_element instead of a problem.
    text = "name: X\nprotocol: PROTOCOL\nconnection: {host: h}\n"
    text = text.replace("protocol: PROTOCOL\n", line) if line.startswith("protocol") else text + line
    with pytest.raises(ProtocolError) as caught:
        load_element(write(tmp_path, text))
    assert where in str(caught.value) and reason in str(caught.value).lower()


# -- element names (issue 12) ----------------------------------------------------------------

MINIMAL = "name: {name}\nprotocol: PROTOCOL\nconnection: {{host: h}}\n"


def problems_of(tmp_path: Path, name_yaml: str) -> list[str]:
    path = write(tmp_path, MINIMAL.format(name=name_yaml))
    with pytest.raises(ProtocolError) as refused:
        load_element(path)
    return [str(problem) for problem in refused.value.problems]


@pytest.mark.parametrize(
    "name_yaml, reason",
    [
        ("BE/01", "name: must not contain '/' (the API could not reach 'BE/01'), got 'BE/01'"),
        ('"BE\\t01"', "name: must not contain control characters (tab, newline...), got 'BE\\t01'"),
        ('"BE\\x7f"', "name: must not contain control characters (tab, newline...), got 'BE\\x7f'"),
        ('"  "', "name: must not be empty"),
    ],
)
def test_a_name_no_call_could_reach_is_refused_where_it_stands(tmp_path: Path, name_yaml: str, reason: str) -> None:
    assert problems_of(tmp_path, name_yaml) == [f"{tmp_path / 'element.yaml'}:1:7: {reason}"]


_NAME_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(_NAME_CHARACTERS, min_size=1, max_size=20))
def test_every_name_with_a_slash_or_a_control_character_is_refused_and_no_other(tmp_path: Path, name: str) -> None:
    quoted = yaml.safe_dump(name, default_style='"', width=1000).removesuffix("\n")  # every character escaped
    path = write(tmp_path, MINIMAL.format(name=quoted))
    unreachable = "/" in name or any(unicodedata.category(c) == "Cc" for c in name)
    try:
        config, _ = load_element(path)
    except ProtocolError as refused:
        assert unreachable or not name.strip(), refused
        (problem,) = refused.problems
        assert str(problem).startswith(f"{path}:1:7: name: must not")
    else:
        assert not unreachable and config.name == name.strip()


def test_names_are_unique_ignoring_case_and_the_error_names_both_places(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(MINIMAL.format(name="Ticketing BE 01").replace("PROTOCOL", str(REPO / "protocol.yaml")))
    second = tmp_path / "b.yaml"
    second.write_text(
        "# the second element\n"
        + MINIMAL.format(name="ticketing be 01").replace("PROTOCOL", str(REPO / "protocol.yaml"))
    )
    third = tmp_path / "c.yaml"
    third.write_text(MINIMAL.format(name="Ticketing BE 02").replace("PROTOCOL", str(REPO / "protocol.yaml")))
    configs = [load_element(path)[0] for path in (first, second, third)]
    assert duplicate_names(configs) == [
        f"{second}:2:7: name: 'ticketing be 01' is already the name of the element at {first}:1:7 "
        "('Ticketing BE 01'); names must be unique, ignoring case"
    ]
