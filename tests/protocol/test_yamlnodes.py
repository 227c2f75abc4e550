"""The YAML node reader: positions, YAML 1.1 quirks, and problems collected, not raised one by one."""

from __future__ import annotations

import pickle

import pytest

from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.model import Mark
from connector.protocol.scalars import to_flag, to_int, to_number, to_text, to_value
from connector.protocol.yamlnodes import Fields, Keys, NodeReader, compose

KEYS = Keys(required=("name",), optional=("on", "size", "ratio", "enabled", "tags", "inner", "a", "b"))
INNER = Keys(required=("x",))


def read(text: str, keys: Keys = KEYS) -> tuple[NodeReader, Fields | None]:
    reader = NodeReader("f.yaml")
    return reader, reader.mapping(compose(text, "f.yaml"), "thing", keys)


def messages(reader: NodeReader) -> list[str]:
    return [str(p) for p in reader.problems]


def syntax_error(text: str) -> str:
    with pytest.raises(ProtocolError) as caught:
        compose(text, "f.yaml")
    (problem,) = caught.value.problems
    return str(problem)


# --- errors -----------------------------------------------------------------------------------


def test_problem_str_is_file_line_col_message() -> None:
    assert str(Problem(Mark("p.yaml", 3, 7), "bad")) == "p.yaml:3:7: bad"
    assert str(Problem(None, "bad")) == "bad"


def test_protocol_error_sorts_by_position_one_per_line_and_drops_repeats() -> None:
    late, early = Problem(Mark("f", 9, 1), "late"), Problem(Mark("f", 2, 5), "early")
    error = ProtocolError([late, early, late, Problem(None, "whole file")])
    assert error.problems == (Problem(None, "whole file"), early, late)
    assert str(error) == "whole file\nf:2:5: early\nf:9:1: late"
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


# --- compose ----------------------------------------------------------------------------------


def test_syntax_error_position_is_one_based() -> None:
    # The flow sequence is never closed: the parser stops at `b` on line 2, column 2 is the ':'.
    assert syntax_error("a: [1, 2\nb: 3\n").startswith("f.yaml:2:2: YAML syntax error: ")
    assert syntax_error("a: b: c\n").startswith("f.yaml:1:5: YAML syntax error: mapping values are not allowed")


def test_syntax_error_names_what_was_being_parsed() -> None:
    assert "flow sequence that starts at line 1, column 4" in syntax_error("a: [1, 2\nb: 3\n")


def test_control_character_is_a_syntax_error_at_its_position() -> None:
    assert (
        syntax_error("a: 1\nbé: x\x00y\n") == "f.yaml:2:6: YAML syntax error: character U+0000 is not allowed in YAML"
    )


def test_lone_surrogate_is_a_syntax_error_not_an_encode_error() -> None:
    assert syntax_error("a: \ud800\n").startswith("f.yaml:1:4: YAML syntax error")


def test_second_document_is_refused() -> None:
    assert syntax_error("a: 1\n---\nb: 2\n").startswith("f.yaml:2:1: YAML syntax error: but found another document")


def test_deep_nesting_is_a_problem_not_a_recursion_error() -> None:
    assert "YAML syntax error" in syntax_error("[" * 20000)


def test_empty_text_has_no_document() -> None:
    assert compose("", "f.yaml") is None
    assert compose("# only a comment\n", "f.yaml") is None


def test_python_tags_are_never_constructed() -> None:
    reader, fields = read("name: !!python/object/apply:os.system [echo hacked]\nsize: !!python/name:os.system ''\n")
    assert fields is not None and fields.text("name") is None and fields.integer("size") is None
    assert messages(reader) == [
        "f.yaml:1:7: name: expected text, got a list",
        "f.yaml:2:7: size: expected an integer, got a value tagged tag:yaml.org,2002:python/name:os.system",
    ]


# --- mappings ---------------------------------------------------------------------------------


def test_on_key_is_read_by_its_text_not_as_yaml_1_1_boolean() -> None:
    reader, fields = read("name: t\non: protocol\n")
    assert fields is not None and fields.text("on") == "protocol"
    assert reader.problems == []


def test_unknown_key_lists_the_expected_ones_at_the_key() -> None:
    reader, _ = read("name: t\ncolour: red\n", Keys(required=("name",), optional=("size",)))
    assert messages(reader) == ["f.yaml:2:1: unknown key 'colour'; expected one of: name, size"]


def test_missing_required_key_is_reported_at_the_mapping() -> None:
    reader, fields = read("list:\n  - size: 3\n", Keys(optional=("list",)))
    assert fields is not None
    (item,) = fields.children("list", "thing", KEYS)
    assert not item.ok and not fields.ok  # a problem inside clears ok all the way up
    assert messages(reader) == ["f.yaml:2:5: missing required key 'name' in thing"]


def test_null_counts_as_absent_and_a_required_null_is_reported() -> None:
    reader, fields = read("name:\nsize: ~\n")
    assert fields is not None and fields.integer("size", 7) == 7 and not fields.has("size")
    assert messages(reader) == ["f.yaml:1:1: name: needs a value (it is required in thing)"]


def test_duplicate_key_is_reported_not_silently_overwritten() -> None:
    reader, fields = read("name: a\nname: b\n")
    assert fields is not None and fields.text("name") == "a"
    assert messages(reader) == ["f.yaml:2:1: duplicate key 'name' (first at line 1, column 1)"]


def test_not_a_mapping() -> None:
    reader, fields = read("- a\n- b\n")
    assert fields is None
    assert messages(reader) == [
        "f.yaml:1:1: thing: expected a mapping (`key: value` lines or {key: value}), got a list"
    ]


def test_empty_document_is_reported_at_the_top_of_the_file() -> None:
    reader = NodeReader("f.yaml")
    assert reader.mapping(compose("", "f.yaml"), "the element", KEYS) is None
    assert [p.mark for p in reader.problems] == [Mark("f.yaml", 1, 1)]


def test_merge_keys_fold_in_like_safe_load() -> None:
    reader, fields = read("base: &b {size: 3}\nthing:\n  <<: *b\n  name: t\n", Keys(optional=("base", "thing")))
    assert fields is not None
    thing = fields.child("thing", "thing", KEYS)
    assert thing is not None and thing.integer("size") == 3 and thing.text("name") == "t"
    assert reader.problems == []


def test_problems_are_collected_not_stopped_at_the_first() -> None:
    reader, fields = read("name: [1]\nsize: many\nratio: yes\nenabled: 3\nbogus: 1\n")
    assert fields is not None
    fields.text("name"), fields.integer("size"), fields.number("ratio"), fields.flag("enabled")
    assert [p.mark.line for p in reader.problems if p.mark] == [5, 1, 2, 3, 4]
    with pytest.raises(ProtocolError) as caught:
        reader.raise_if_problems()
    assert len(caught.value.problems) == 5


def test_exactly_one() -> None:
    reader, fields = read("name: t\na: 1\nb: 2\n")
    assert fields is not None and fields.exactly_one("a", "b") is None
    reader2, fields2 = read("name: t\n")
    assert fields2 is not None and fields2.exactly_one("a", "b") is None
    assert messages(reader) == ["f.yaml:3:1: give only one of 'a', 'b', not both 'a' and 'b'"]
    assert messages(reader2) == ["f.yaml:1:1: thing needs one of 'a', 'b'"]


def test_mark_follows_a_path_into_nested_values() -> None:
    _, fields = read("name: t\ninner: {x: [10, 20, 30]}\n")
    assert fields is not None
    assert fields.mark("inner", "x", 2) == Mark("f.yaml", 2, 21)
    assert fields.mark("inner", "nope") == Mark("f.yaml", 2, 8)  # the deepest part found


def test_list_of_reports_the_bad_item_by_index() -> None:
    reader, fields = read("name: t\ntags: [1, two, 3]\n")
    assert fields is not None and fields.integers("tags") == (1, 3)
    assert messages(reader) == ["f.yaml:2:11: tags[1]: expected an integer, got the text 'two'"]


# --- scalars ----------------------------------------------------------------------------------


def scalar(text: str):  # type: ignore[no-untyped-def]
    node = compose(f"v: {text}\n", "f.yaml")
    return node.value[0][1]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("convert", "text", "expected"),
    [
        (to_int, "42", 42),
        (to_int, "-7", -7),
        (to_int, "1_000", 1000),
        (to_number, "2.5", 2.5),
        (to_number, "3", 3),
        (to_flag, "true", True),
        (to_flag, "no", False),  # YAML 1.1 words are booleans where a boolean is wanted
        (to_text, "1.0", "1.0"),  # a text field keeps what was written, not the float
        (to_text, "No", "No"),
        (to_text, "on", "on"),
        (to_value, "3", 3),
        (to_value, "yes", "yes"),  # a value that may be text keeps the word
        (to_value, "Enabled", "Enabled"),
    ],
)
def test_scalar_conversions(convert, text, expected) -> None:  # type: ignore[no-untyped-def]
    value = convert(scalar(text))
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (to_int, "true", "expected an integer, got 'true', which YAML reads as a boolean"),
        (to_int, "2.0", "expected an integer, got the number '2.0'"),
        (to_int, "010", "'010' is 8 in YAML 1.1 (octal or base 60): write it as 8 in decimal"),
        (to_int, "1:30", "'1:30' is 90 in YAML 1.1 (octal or base 60): write it as 90 in decimal"),
        (to_int, "0b_", "expected an integer"),
        (to_number, ".inf", "expected a finite number"),
        (to_number, "yes", "expected a number, got 'yes', which YAML reads as a boolean"),
        (to_flag, "1", "expected true or false, got the number '1'"),
        (to_text, "[a]", "expected text, got a list"),
        (to_text, "~", "expected text, got nothing (null)"),
    ],
)
def test_scalar_refusals(convert, text, message) -> None:  # type: ignore[no-untyped-def]
    from connector.protocol.scalars import Invalid

    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        convert(scalar(text))
