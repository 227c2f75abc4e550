"""Element ids ("DataMinerID/ElementID"): stable across restarts, unique in a runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from attrs import frozen

from connector.engine.store import MemoryStore, SQLiteStore, Store
from connector.service.element_ids import ElementIdError, assign_element_ids, parse_element_id


@frozen
class Config:
    name: str
    store_path: Path
    element_id: str | None = None
    source: str = ""


def test_ids_do_not_follow_the_command_line_order_across_restarts(tmp_path: Path) -> None:
    a, b = Config("A", tmp_path / "a.sqlite"), Config("B", tmp_path / "b.sqlite")

    def start(configs: list[Config]) -> dict[str, str]:
        stores: dict[str, Store] = {c.name: SQLiteStore(c.store_path) for c in configs}
        try:
            return assign_element_ids(configs, stores)
        finally:
            for store in stores.values():
                store.close()

    assert start([a, b]) == {"A": "1/1", "B": "1/2"}
    assert start([b, a]) == {"A": "1/1", "B": "1/2"}  # before: B became 1/1
    assert start([b]) == {"B": "1/2"}


def test_an_id_given_in_the_yaml_wins_and_a_new_element_takes_the_lowest_free_one(tmp_path: Path) -> None:
    stores: dict[str, Store] = {"A": MemoryStore(), "B": MemoryStore()}
    configs = [Config("A", tmp_path / "a", element_id="1/1"), Config("B", tmp_path / "b")]
    assert assign_element_ids(configs, stores) == {"A": "1/1", "B": "1/2"}
    assert stores["A"].meta("element_id") == "1/1"


def test_two_elements_with_one_id_are_refused_with_both_places(tmp_path: Path) -> None:
    stores: dict[str, Store] = {"A": MemoryStore(), "B": MemoryStore()}
    stores["B"].set_meta("element_id", "7/3")
    configs = [Config("A", tmp_path / "a", element_id="7/3", source="a.yaml"), Config("B", tmp_path / "b.sqlite")]
    with pytest.raises(ElementIdError) as caught:
        assign_element_ids(configs, stores)
    assert str(caught.value) == (
        f"element id 7/3 is used twice: by a.yaml (its `id:`) and by element 'B' (saved in {tmp_path / 'b.sqlite'});"
        " ids must be unique in a runtime"
    )


@pytest.mark.parametrize(("given", "expected"), [(12, "1/12"), ("12", "1/12"), ("3/4", "3/4"), (" 3/4 ", "3/4")])
def test_parse_element_id(given: object, expected: str) -> None:
    assert parse_element_id(given) == expected


@pytest.mark.parametrize("given", [0, "0/1", "1/0", "a/b", "1/2/3", True, 1.5, "", None, "-1/2"])
def test_parse_element_id_refuses(given: object) -> None:
    with pytest.raises(ValueError, match="expected DATAMINERID/ELEMENTID"):
        parse_element_id(given)


def test_connector_run_refuses_two_elements_with_one_id_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector import cli
    from connector.scaffold import write_connector

    write_connector("Pump", tmp_path)
    element = (tmp_path / "element.yaml").read_text(encoding="utf-8")
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(
            element.replace("name: Pump 01", f"name: Pump {name}\nid: 1/5").replace(
                "# store: state/pump-01.sqlite", f"store: {name}.sqlite"
            ),
            encoding="utf-8",
        )
    code = cli.main(["run", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "--api", "127.0.0.1:0"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"element id 1/5 is used twice: by {tmp_path / 'a.yaml'} (its `id:`) and by {tmp_path / 'b.yaml'}" in err
