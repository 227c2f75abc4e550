"""`file:` secrets: a regular file of a sane size, opened without blocking.

Regression (issue 11): `file:/dev/zero` and a 1.5 GiB file grew the process past 3 GB while
the element YAML was read, and a fifo hung the start with no message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.service.config import SECRET_FILE_MAX, load_element

REPO = Path(__file__).resolve().parents[2]


def element(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "element.yaml"
    protocol = REPO / "protocol.yaml"
    text = f"name: A\nprotocol: {protocol}\nconnection: {{host: h}}\nparams:\n  SFyC API Key: file:{secret}\n"
    path.write_text(text, encoding="utf-8")
    return path


# Loads the element in a child process held to 1 GiB of address space: on the code before the
# fix, `/dev/zero` grows until the limit stops it, and a fifo blocks until the timeout kills it.
LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from connector.protocol.errors import ProtocolError
from connector.service.config import load_element
try:
    load_element(sys.argv[1])
except ProtocolError as exc:
    print("REFUSED", exc)
else:
    print("ACCEPTED")
"""


def refusal(tmp_path: Path, secret: str) -> str:
    """The message of loading an element whose secret is `secret`, which must come within 20 s."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", LOAD, str(element(tmp_path, secret))], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"reading file:{secret} did not finish within 20 s") from None
    assert done.stdout.startswith("REFUSED"), f"file:{secret}: {done.stdout or done.stderr[-500:]}"
    return done.stdout


def test_dev_zero_is_refused_as_a_character_device(tmp_path: Path) -> None:
    message = refusal(tmp_path, "/dev/zero")
    assert "element.yaml:5:17: SFyC API Key: /dev/zero is a character device, not a regular file" in message


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "key.fifo")
    assert "key.fifo is a fifo, not a regular file" in refusal(tmp_path, "key.fifo")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    assert "element.yaml:5:17: SFyC API Key:" in refusal(tmp_path, "keys")
    assert "keys is a directory, not a regular file" in refusal(tmp_path, "keys")


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"k" * (1 << 20))
    message = refusal(tmp_path, "big.txt")
    assert f"holds 1048576 bytes; a secret file holds at most {SECRET_FILE_MAX}" in message
    assert "kkkk" not in message


@pytest.mark.parametrize("size", [1, SECRET_FILE_MAX])
def test_a_regular_file_up_to_the_cap_is_read(tmp_path: Path, size: int) -> None:
    (tmp_path / "key.txt").write_bytes(b"k" * size + b"\n")
    if size == SECRET_FILE_MAX:  # with its newline, one byte over: refused
        assert "a secret file holds at most" in refusal(tmp_path, "key.txt")
        (tmp_path / "key.txt").write_bytes(b"k" * size)
    config, _ = load_element(element(tmp_path, "key.txt"))
    assert config.secrets == {36: "k" * size}
