"""Element ids: DataMiner's "DataMinerID/ElementID" address of each element, stable across restarts.

An element's id is the `id:` of its element YAML when it has one (`id: 1/12`, or `id: 12` for
agent 1). Otherwise it is the id saved in its store at its first start, and at that first start
the lowest `1/N` no other element of the runtime has. So an id does not depend on the order of
the files on the command line, and survives restarts as long as the store does. Two elements
with the same id in one runtime are refused, with both places named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol as TypingProtocol

from connector.engine.store import Store

META_KEY = "element_id"
ELEMENT_ID = re.compile(r"([1-9][0-9]{0,8})/([1-9][0-9]{0,8})")


class ElementConfig(TypingProtocol):
    """What this module reads of `connector.service.runtime.ElementConfig`."""

    @property
    def name(self) -> str: ...

    @property
    def element_id(self) -> str | None: ...

    @property
    def source(self) -> str: ...

    @property
    def store_path(self) -> Path: ...


class ElementIdError(ValueError):
    """Two elements of one runtime have the same id."""


def parse_element_id(value: object) -> str:
    """`12` or `"1/12"` as "1/12"; ValueError (with what is expected) otherwise."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if text.isdigit() and ELEMENT_ID.fullmatch(f"1/{text}"):
        return f"1/{text}"
    if ELEMENT_ID.fullmatch(text):
        return text
    raise ValueError(f"id: expected DATAMINERID/ELEMENTID (e.g. 1/12) or an element number, got {value!r}")


def assign_element_ids(configs: Sequence[ElementConfig], stores: Mapping[str, Store]) -> dict[str, str]:
    """Each element's id, by element name; saved in its store when the store had none."""
    ids: dict[str, str] = {}
    owners: dict[str, str] = {}  # id -> where it comes from, for the error

    def claim(name: str, id: str, where: str) -> None:
        if id in owners:
            raise ElementIdError(
                f"element id {id} is used twice: by {owners[id]} and by {where}; ids must be unique in a runtime"
            )
        owners[id] = where
        ids[name] = id

    for config in configs:
        saved = stores[config.name].meta(META_KEY)
        if config.element_id:
            claim(config.name, config.element_id, f"{config.source or config.name} (its `id:`)")
        elif saved:
            claim(config.name, saved, f"element {config.name!r} (saved in {config.store_path})")
    number = 1
    for config in configs:
        if config.name not in ids:
            while f"1/{number}" in owners:
                number += 1
            claim(config.name, f"1/{number}", f"element {config.name!r}")
    for config in configs:
        store = stores[config.name]
        if store.meta(META_KEY) != ids[config.name]:
            store.set_meta(META_KEY, ids[config.name])
    return ids


__all__ = ["ElementIdError", "assign_element_ids", "parse_element_id"]
