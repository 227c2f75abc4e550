"""Look-ups by name and id, and the `clearable` attribute (issue 11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.protocol.model import Protocol, ascii_fold, same_name
from connector.ticketing.fake.inprocess import ticketing_protocol
from tests.protocol.test_loader import minimal, param, parse, problems

KELVIN, LONG_S = "\u212a", "\u017f"


@pytest.fixture(scope="module")
def ticketing() -> Protocol:
    return ticketing_protocol()


def test_names_match_exactly_or_in_ascii_case(ticketing: Protocol) -> None:
    assert ticketing.param("max retries").id == 12
    assert ticketing.param("MAX RETRIES").id == 12
    assert ticketing.param("12").id == 12 and ticketing.param(12).id == 12
    assert ticketing.table("ticket overview").id == 1000 and ticketing.table("1000").id == 1000
    model = ticketing.tables[1000]
    assert model.column("ticket id").id == 1001 and model.column("1001").id == 1001


@pytest.mark.parametrize(
    "look_alike",
    [
        "\uff11\uff12",  # fullwidth 12
        "\u00b9\u00b2",  # superscript 12: int() refuses it, isdigit() does not
        f"Tic{KELVIN}ets Completed",  # the Kelvin sign folds to k
        f"Max Retrie{LONG_S}",  # the long s folds to s
        "Max Retries\u00a0",
    ],
)
def test_unicode_look_alikes_name_no_parameter(ticketing: Protocol, look_alike: str) -> None:
    # Regression: casefold() and int() resolved these to Tickets Completed and Max Retries.
    with pytest.raises(KeyError):
        ticketing.param(look_alike)


def test_unicode_look_alikes_name_no_table_or_column(ticketing: Protocol) -> None:
    for ref in (f"Tic{KELVIN}et Overview", "\uff11\uff10\uff10\uff10"):
        with pytest.raises(KeyError):
            ticketing.table(ref)
    with pytest.raises(KeyError):
        ticketing.tables[1000].column("\uff34icket ID")  # a fullwidth T


def _declared(protocol: Protocol) -> set[str]:
    return {p.name for p in protocol.params.values()} | {t.name for t in protocol.tables.values()}


@given(
    st.one_of(
        st.text(min_size=1, max_size=30),
        st.builds(
            lambda name, at, ch: name[:at] + ch + name[at:],
            st.sampled_from(sorted(_declared(ticketing_protocol()))),
            st.integers(0, 40),
            st.characters(min_codepoint=0x80),
        ),
        st.sampled_from(sorted(_declared(ticketing_protocol()))).map(
            lambda n: n.replace("k", KELVIN).replace("s", LONG_S).replace("1", "\uff11")
        ),
    )
)
def test_a_name_with_a_non_ascii_character_that_is_not_declared_is_unknown(ref: str) -> None:
    protocol = ticketing_protocol()
    if ref.isascii() or ref in _declared(protocol):
        return
    with pytest.raises(KeyError):
        protocol.param(ref)
    with pytest.raises(KeyError):
        protocol.table(ref)


@given(st.text(max_size=20), st.text(max_size=20))
def test_same_name_is_exact_or_ascii_case_only(declared: str, ref: str) -> None:
    if same_name(declared, ref) and declared != ref:
        assert ref.isascii() and ascii_fold(declared) == ascii_fold(ref)
        assert len(declared) == len(ref)


def test_clearable_is_loaded_and_false_by_default() -> None:
    document = minimal()
    param(document, 100).update(clearable=True)
    protocol = parse(document)
    assert protocol.params[100].clearable
    assert not any(p.clearable for pid, p in protocol.params.items() if pid != 100)


def test_the_credentials_of_ticketing_are_clearable_and_nothing_else(ticketing: Protocol) -> None:
    assert {p.id for p in ticketing.params.values() if p.clearable} == set(range(30, 38))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"clearable": "maybe"}, "clearable"),
        ({"clearable": True, "default": "x"}, "a clearable param cannot have a default"),
    ],
)
def test_clearable_rules(changes: dict[str, object], expected: str) -> None:
    document = minimal()
    param(document, 100).update(changes)
    assert any(expected in p.message for p in problems(document)), problems(document)


def test_a_clearable_button_is_refused() -> None:
    document = minimal()
    document["params"].append(
        {"id": 30, "name": "Go", "type": "write", "kind": "button", "discreets": [{"display": "Go"}], "clearable": True}
    )
    assert any("a button is pressed, never cleared" in p.message for p in problems(document))
