"""Issue 15: a handler that puts a value of the wrong kind in a cell gets a clear error (the
table, column, row and kind), and the element keeps running, as after any failing handler."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connector.engine.testing import answer
from connector.engine.values import ValueRefused
from tests.engine.poller import make_poller


@pytest.mark.parametrize(
    ("cells", "says"),
    [
        ({"Reading": "not a number"}, "table 'Sensors', column 'Reading' (number), row 's9': must be a number"),
        ({"Reset": "Maybe"}, "table 'Sensors', column 'Reset' (button), row 's9': must be one of: Reset (1)"),
    ],
)
def test_a_handler_adding_a_cell_of_the_wrong_kind_gets_the_reason(
    cells: dict[str, Any], says: str, caplog: pytest.LogCaptureFixture
) -> None:
    caught: list[str] = []

    def add(protocol: Any) -> None:
        try:
            protocol.table("Sensors").add_row("s9", cells)
        except ValueRefused as refused:
            caught.append(str(refused))
            raise

    h = make_poller(lambda r: answer(r, 200, "{}"), handlers={3: add})
    with caplog.at_level(logging.ERROR, logger="connector.element"):
        h.start()  # the first answer changes parameters without a trigger: `each` runs the handler
    assert caught and caught[0].startswith(says)
    assert "s9" not in h.element.view.table("Sensors")
    assert any("handler 3 'Each Changed' failed" in r.getMessage() for r in caplog.records)
    h.advance(2)  # and the element goes on polling
    assert len(h.requests) == 3
