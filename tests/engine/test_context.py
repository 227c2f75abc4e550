"""The handler API: what a handler learns of its own element."""

from __future__ import annotations

from connector.engine.context import HandlerContext
from connector.engine.element import Element, internals
from tests.engine.toy import toy_protocol


def test_a_handler_knows_its_element_id_and_name() -> None:
    # Regression (issue 15): a handler could not fill in its own return address.
    element = Element(toy_protocol(), name="Toy 01", handlers={}, now=lambda: 0.0, element_id="101/12")
    context = HandlerContext(internals(element), 1, None, None)
    assert (context.element_name, context.element_id) == ("Toy 01", "101/12")
    assert (context.dataminer_id, context.element_number) == (101, 12)
