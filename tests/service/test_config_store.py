"""`store: postgresql://...`, `store_password:` and `prefer:` in the element YAML (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.protocol.errors import ProtocolError
from connector.service.config import load_element

REPO = Path(__file__).resolve().parents[2]


def element(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "element.yaml"
    path.write_text(f"name: A\nprotocol: {REPO / 'protocol.yaml'}\nconnection: {{host: h}}\n{extra}", encoding="utf-8")
    return path


def test_a_postgresql_store_with_its_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_PASSWORD_FOR_TEST", "s3cret-pg")
    yaml_text = "store: postgresql://connector@db:5432/connector\nstore_password: env:PG_PASSWORD_FOR_TEST\nprefer: b\n"
    config, _ = load_element(element(tmp_path, yaml_text))
    assert config.store_url == "postgresql://connector@db:5432/connector"
    assert config.store_password == "s3cret-pg" and config.prefer == "b"
    assert "s3cret-pg" not in repr(config)


def test_a_file_store_is_still_a_path_beside_the_yaml(tmp_path: Path) -> None:
    config, _ = load_element(element(tmp_path, "store: state/a.sqlite\n"))
    assert config.store_url is None and config.store_path == tmp_path / "state" / "a.sqlite"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "store: postgresql://u:hunter2@db/x\n",
            "element.yaml:4:8: store: store postgresql://u@db/x: the URL holds a password",
        ),
        ("store: postgresql://u@db/x\nstore_password: hunter2\n", "store_password: must be env:NAME or file:PATH"),
        ("store: postgresql://u@db/x\nstore_password: env:NO_SUCH_VARIABLE_HERE\n", "NO_SUCH_VARIABLE_HERE is not set"),
    ],
)
def test_a_password_never_in_the_yaml_nor_in_the_message(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        load_element(element(tmp_path, extra))
    assert message in str(refused.value) and "hunter2" not in str(refused.value)


def test_run_refuses_a_store_url_with_a_password_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.cli import main
    from connector.commandline import EXIT_UNREADABLE

    code = main(["run", str(element(tmp_path, "")), "--store", "postgresql://u:hunter2@db/x", "--api", "127.0.0.1:0"])
    err = capsys.readouterr().err
    assert (
        code == EXIT_UNREADABLE and "connector run: --store: store postgresql://u@db/x: the URL holds a password" in err
    )
    assert "hunter2" not in err
