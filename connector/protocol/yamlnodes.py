"""Read YAML as nodes, keeping every position, and collect problems instead of stopping.

Why nodes and not `yaml.safe_load`: a loaded dict forgets where its values stood, and every
message we give must say `FILE:LINE:COL`. We compose the document (the safe resolver only; no
Python objects are ever constructed, so `!!python/...` tags are just unknown tags) and read the
node tree through a `NodeReader`:

    reader = NodeReader("element.yaml")
    root = compose(text, "element.yaml")               # ProtocolError on a syntax error
    top = reader.mapping(root, "element", Keys(required=("name", "protocol"), optional=("store",)))
    name = top.text("name") if top else None
    reader.raise_if_problems()                         # every problem at once

Keys are compared by their source text, never by their resolved value. That is what makes
`on: protocol` work: YAML 1.1 resolves the plain scalar `on` to the boolean True, and a dict
from a naive loader would hold `{True: "protocol"}`. For the same reason a text field takes the
scalar exactly as written (`version: 1.0` is "1.0", `display: No` is "No").

The composer comes from libyaml when PyYAML was built with it: it is about ten times faster
than the pure-Python one (a 300-parameter file composes in ~14 ms instead of ~130 ms) and gives
the same nodes, tags and marks. Both resolve tags with PyYAML's SafeLoader rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import yaml
from attrs import define, field, frozen
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.model import Mark
from connector.protocol.scalars import (
    SAFE_CONSTRUCTOR,
    Invalid,
    choice,
    describe,
    is_null,
    to_flag,
    to_int,
    to_number,
    to_text,
    to_value,
)

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MERGE = "tag:yaml.org,2002:merge"

T = TypeVar("T")


# --- composing --------------------------------------------------------------------------------


def compose(text: str, file: str) -> Node | None:
    """The node tree of a one-document YAML text; None when the text holds no document.

    Raises ProtocolError (`FILE:LINE:COL: YAML syntax error: ...`) for anything that is not
    YAML, never another exception.
    """
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        yaml_mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax error: {exc.problem or exc.context or 'not valid YAML'}"
        if exc.context and exc.problem and exc.context_mark is not None:
            start = exc.context_mark
            message += f" ({exc.context} that starts at line {start.line + 1}, column {start.column + 1})"
        mark = None if yaml_mark is None else Mark(file, yaml_mark.line + 1, yaml_mark.column + 1)
        raise ProtocolError([Problem(mark or Mark(file, 1, 1), message)]) from None
    except yaml.reader.ReaderError as exc:
        # Control characters. libyaml counts `position` in UTF-8 bytes and the pure-Python
        # reader in characters, so find the offending character ourselves.
        char = exc.character if isinstance(exc.character, int) else None
        index = text.find(chr(char)) if char is not None and 0 <= char <= 0x10FFFF else -1
        what = f"character U+{char:04X}" if char is not None else "a character"
        raise ProtocolError(
            [Problem(position_mark(text, max(index, 0), file), f"YAML syntax error: {what} is not allowed in YAML")]
        ) from None
    except UnicodeEncodeError as exc:
        # A lone surrogate in a str (never from a file read as UTF-8, but any str may come in).
        raise ProtocolError(
            [Problem(position_mark(text, exc.start, file), "YAML syntax error: the text holds an unpaired surrogate")]
        ) from None
    except RecursionError:
        # The pure-Python composer recurses once per nesting level; libyaml stops at 1000.
        raise ProtocolError([Problem(Mark(file, 1, 1), "YAML syntax error: nested too deeply")]) from None


def position_mark(text: str, index: int, file: str) -> Mark:
    """The 1-based line and column of character `index` of `text`."""
    line_start = text.rfind("\n", 0, index) + 1
    return Mark(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def mark_of(node: Node, file: str) -> Mark:
    start = node.start_mark
    return Mark(file, start.line + 1, start.column + 1)


# --- mappings ---------------------------------------------------------------------------------


@frozen
class Keys:
    """The keys a mapping may hold; messages list them in this order."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        return self.required + self.optional


@define
class NodeReader:
    """Reads nodes of one file and collects the problems it meets."""

    file: str
    problems: list[Problem] = field(factory=list)

    def mark(self, node: Node) -> Mark:
        return mark_of(node, self.file)

    def report(self, where: Node | Mark | None, message: str) -> None:
        mark = where if isinstance(where, Mark) or where is None else self.mark(where)
        self.problems.append(Problem(mark, message))

    def raise_if_problems(self) -> None:
        """Raise ProtocolError (with the warnings too) when there is a problem that is no warning."""
        if any(not p.warning for p in self.problems):
            raise ProtocolError(self.problems)

    def convert(self, node: Node, convert: Callable[[Node], T], what: str) -> T | None:
        """`convert(node)`, or None after reporting `what: <why not>` at the node."""
        try:
            return convert(node)
        except Invalid as exc:
            self.report(node, f"{what}: {exc}")
            return None

    def sequence(self, node: Node | None, what: str) -> list[Node] | None:
        """The items of a list; null counts as an empty list."""
        if is_null(node):
            return []
        assert node is not None
        if not isinstance(node, SequenceNode):
            self.report(node, f"{what}: expected a list (`- item` lines or [a, b]), got {describe(node)}")
            return None
        return list(node.value)

    def entries(self, node: Node | None, what: str) -> dict[str, tuple[Node, Node]] | None:
        """A mapping with free keys, as {key text: (key node, value node)}; duplicates reported."""
        if is_null(node):
            return {}
        assert node is not None
        if not isinstance(node, MappingNode):
            expected = "expected a mapping (`key: value` lines or {key: value})"
            self.report(node, f"{what}: {expected}, got {describe(node)}")
            return None
        ok = self._flatten_merges(node)
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or is_null(key_node):
                self.report(key_node, f"{what}: a key must be a plain word, not {describe(key_node)}")
                ok = False
                continue
            key = str(key_node.value)
            if key in found:
                first = self.mark(found[key][0])
                self.report(key_node, f"duplicate key {key!r} (first at line {first.line}, column {first.column})")
                ok = False
                continue
            found[key] = (key_node, value_node)
        return found if ok else None

    def mapping(self, node: Node | None, what: str, keys: Keys, *, parent: Fields | None = None) -> Fields | None:
        """The mapping as Fields; unknown, duplicate and missing keys reported.

        Returns None only when the node is no mapping at all; otherwise a Fields whose `ok`
        says whether everything read so far was right.
        """
        if node is None or not isinstance(node, MappingNode):
            # No node at all is an empty file (or an absent value): point at its start.
            where = node if node is not None else parent.node if parent else Mark(self.file, 1, 1)
            got = describe(node) if node is not None else "nothing"
            self.report(where, f"{what}: expected a mapping (`key: value` lines or {{key: value}}), got {got}")
            if parent is not None:
                parent.fail()
            return None
        entries = self.entries(node, what)
        fields = Fields(reader=self, node=node, what=what, parent=parent)
        if entries is None:
            fields.fail()
            # Keep reading what can be read: the other problems of this mapping still count.
            entries = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode):
                    entries.setdefault(str(key_node.value), (key_node, value_node))
        for key, (key_node, value_node) in entries.items():
            if key not in keys.allowed:
                self.report(key_node, f"unknown key {key!r}; expected one of: {', '.join(keys.allowed)}")
                fields.fail()
                continue
            fields.values[key] = value_node
            fields.key_nodes[key] = key_node
        for key in keys.required:
            if key not in fields.values:
                self.report(node, f"missing required key {key!r} in {what}")
                fields.fail()
            elif is_null(fields.values[key]):
                self.report(fields.key_nodes[key], f"{key}: needs a value (it is required in {what})")
                fields.fail()
        return fields

    def _flatten_merges(self, node: MappingNode) -> bool:
        # `<<: *anchor` merge keys: let PyYAML's SafeConstructor fold them in, as safe_load does.
        if not any(isinstance(k, ScalarNode) and k.tag == MERGE for k, _ in node.value):
            return True
        try:
            SAFE_CONSTRUCTOR.flatten_mapping(node)
        except (yaml.YAMLError, RecursionError) as exc:
            problem = getattr(exc, "problem", None) or "a merge key (<<) must refer to a mapping or a list of mappings"
            self.report(node, f"cannot merge: {problem}")
            return False
        return True


@define
class Fields:
    """The known keys of one mapping, with typed getters that report what is wrong.

    A getter returns the value, or `default` when the key is absent or null (null is the same as
    absent), or `default` after reporting when the value is of the wrong type. Any problem
    clears `ok` here and in every enclosing Fields, so a builder knows whether it may use what
    it read.
    """

    reader: NodeReader
    node: MappingNode
    what: str
    parent: Fields | None = None
    values: dict[str, Node] = field(factory=dict)
    key_nodes: dict[str, Node] = field(factory=dict)
    ok: bool = True

    def fail(self) -> None:
        self.ok = False
        if self.parent is not None:
            self.parent.fail()

    def get(self, key: str) -> Node | None:
        node = self.values.get(key)
        return None if is_null(node) else node

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def mark(self, *path: str | int) -> Mark:
        """Where a value stands: `mark("request", "headers", 2, "param")`; the deepest part found."""
        node: Node = self.node
        for step in path:
            inner = _child(node, step)
            if inner is None:
                break
            node = inner
        return self.reader.mark(node)

    def key_mark(self, key: str) -> Mark:
        node = self.key_nodes.get(key)
        return self.reader.mark(node if node is not None else self.node)

    def report(self, where: str | Mark | None, message: str) -> None:
        """A problem at a key's value (or a Mark, or this mapping when None)."""
        mark = where if isinstance(where, Mark) else self.mark(where) if where is not None else self.mark()
        self.reader.report(mark, message)
        self.fail()

    def read(self, key: str, convert: Callable[[Node], T], default: Any = None) -> Any:
        node = self.get(key)
        if node is None:
            return default
        value = self.reader.convert(node, convert, key)
        if value is None:
            self.fail()
            return default
        return value

    def text(self, key: str, default: Any = None) -> Any:
        return self.read(key, to_text, default)

    def integer(self, key: str, default: Any = None) -> Any:
        return self.read(key, to_int, default)

    def number(self, key: str, default: Any = None) -> Any:
        return self.read(key, to_number, default)

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self.read(key, to_flag, default))

    def value(self, key: str, default: Any = None) -> Any:
        return self.read(key, to_value, default)

    def choice(self, key: str, choices: Mapping[str, T], default: Any = None) -> Any:
        return self.read(key, choice(choices), default)

    def items(self, key: str) -> list[Node]:
        """The items of a list value ([] when absent)."""
        node = self.get(key)
        items = self.reader.sequence(node, key)
        if items is None:
            self.fail()
            return []
        return items

    def list_of(self, key: str, convert: Callable[[Node], T]) -> tuple[T, ...]:
        """A list of scalars, each converted; bad items reported and left out."""
        found: list[T] = []
        for index, item in enumerate(self.items(key)):
            value = self.reader.convert(item, convert, f"{key}[{index}]")
            if value is None:
                self.fail()
            else:
                found.append(value)
        return tuple(found)

    def integers(self, key: str) -> tuple[int, ...]:
        return self.list_of(key, to_int)

    def child(self, key: str, what: str, keys: Keys) -> Fields | None:
        """A nested mapping (None when absent or not a mapping)."""
        node = self.get(key)
        if node is None:
            return None
        return self.reader.mapping(node, what, keys, parent=self)

    def children(self, key: str, what: str, keys: Keys) -> list[Fields]:
        """A list of mappings; items that are no mapping are reported and left out."""
        found = []
        for item in self.items(key):
            fields = self.reader.mapping(item, what, keys, parent=self)
            if fields is not None:
                found.append(fields)
        return found

    def exactly_one(self, *keys: str, required: bool = True) -> str | None:
        """The one of `keys` given; reports none (when required) or several."""
        given = [k for k in keys if self.has(k)]
        if len(given) == 1:
            return given[0]
        if len(given) > 1:
            both = f"not both {given[0]!r} and {given[1]!r}"
            self.report(self.key_mark(given[1]), f"give only one of {_either(keys)}, {both}")
        elif required:
            self.report(None, f"{self.what} needs one of {_either(keys)}")
        return None


def _either(keys: Iterable[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def _child(node: Node, step: str | int) -> Node | None:
    # PyYAML's stubs type a node's value as Any: a sequence holds nodes, a mapping (key, value) node pairs.
    if isinstance(step, int):
        if isinstance(node, SequenceNode) and 0 <= step < len(node.value):
            item: Node = node.value[step]
            return item
        return None
    if isinstance(node, MappingNode):
        pairs: list[tuple[Node, Node]] = node.value
        for key_node, value_node in pairs:
            if isinstance(key_node, ScalarNode) and key_node.value == step:
                return value_node
    return None


__all__ = ["Fields", "Keys", "NodeReader", "compose", "mark_of", "position_mark"]
