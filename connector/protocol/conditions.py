"""DataMiner's `Condition` on triggers, actions and groups: `id:20 > 5 AND id:21 == 'Enabled'`.

The grammar, a small recursive-descent parser over a tokenizer that keeps every token's offset
(so that an error, and the validator's complaint about a parameter id, point at the very
character in protocol.yaml):

    condition  := any_of
    any_of     := all_of ("OR" all_of)*
    all_of     := term ("AND" term)*
    term       := "(" any_of ")" | operand OPERATOR operand
    operand    := "id:" DIGITS | NUMBER | 'quoted text' | "empty"
    OPERATOR   := == | != | > | >= | < | <=

AND binds tighter than OR, as in DataMiner; the words are matched regardless of ASCII case. Text
is quoted with ' or with " (DataMiner's own examples: `(id:2001 == "24")`); the quote inside it
is written twice (`'it''s'`). `empty` is a parameter with no value.
Pure: the model of a condition and its parser; what a condition means for an element's values
is `connector.engine.conditions`, what it may name is checked by `validate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from attrs import field, frozen

OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
ORDERING = frozenset({">", ">=", "<", "<="})
MAX_LENGTH = 2000  # a condition longer than this is a mistake, and would only slow the parser


class ConditionError(ValueError):
    """A condition that does not parse; `offset` is the 0-based character it went wrong at."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@frozen
class ParamRef:
    """`id:20`: the value of parameter 20 when the condition is checked."""

    id: int
    offset: int = field(default=0, eq=False)  # where `id:` starts in the condition's text


@frozen
class Literal:
    """A number, a quoted text, or `empty` (None)."""

    value: str | float | None
    offset: int = field(default=0, eq=False)


Operand = ParamRef | Literal


@frozen
class Compare:
    left: Operand
    op: str
    right: Operand


@frozen
class AllOf:
    """Every part holds (AND)."""

    parts: tuple[Condition, ...]


@frozen
class AnyOf:
    """One part holds at least (OR)."""

    parts: tuple[Condition, ...]


Condition = Compare | AllOf | AnyOf

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<param>id:(?P<pid>[0-9]+))
      | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![0-9A-Za-z_.]))
      | (?P<text>'(?:[^']|'')*'|"(?:[^"]|"")*")
      | (?P<op>==|!=|>=|<=|>|<)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_]+)
    """,
    re.VERBOSE | re.ASCII,
)
_WORDS = {"and": "AND", "or": "OR", "empty": "empty"}


@frozen
class _Token:
    kind: str  # param, number, text, op, paren, AND, OR, empty, end
    text: str
    offset: int


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] == "=":
                raise ConditionError("a lone =: compare with == (or !=, <, <=, >, >=)", position)
            if text[position] in "'\"":
                raise ConditionError(f"quoted text is not closed: end it with {text[position]}", position)
            raise ConditionError(f"unexpected {text[position]!r}", position)
        kind = match.lastgroup if match.lastgroup != "pid" else "param"
        assert kind is not None
        if kind == "word":
            word = _WORDS.get(match.group().lower())
            if word is None:
                raise ConditionError(
                    f"unexpected word {match.group()[:30]!r}: a condition names parameters as id:N,"
                    " joins comparisons with AND / OR and quotes text ('Enabled')",
                    position,
                )
            kind = word
        if kind != "space":
            yield _Token(kind, match.group(), position)
        position = match.end()
    yield _Token("end", "", len(text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.index = 0

    @property
    def next(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def any_of(self) -> Condition:
        parts = [self.all_of()]
        while self.next.kind == "OR":
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def all_of(self) -> Condition:
        parts = [self.term()]
        while self.next.kind == "AND":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def term(self) -> Condition:
        if self.next.text == "(":
            opening = self.take()
            inner = self.any_of()
            if self.next.text != ")":
                raise ConditionError(f"the ( at character {opening.offset + 1} is not closed: add )", self.next.offset)
            self.take()
            return inner
        left = self.operand()
        if self.next.kind != "op":
            raise ConditionError(f"expected one of {' '.join(OPERATORS)} after {_left_text(left)}", self.next.offset)
        op = self.take().text
        return Compare(left, op, self.operand())

    def operand(self) -> Operand:
        token = self.take()
        if token.kind == "param":
            return ParamRef(int(token.text[3:]), token.offset)
        if token.kind == "number":
            whole = token.text.lstrip("-").isdigit()
            return Literal(int(token.text) if whole else float(token.text), token.offset)
        if token.kind == "text":
            quote = token.text[0]
            return Literal(token.text[1:-1].replace(quote * 2, quote), token.offset)
        if token.kind == "empty":
            return Literal(None, token.offset)
        found = "the end" if token.kind == "end" else repr(token.text)
        raise ConditionError(f"expected id:N, a number, 'text' or empty, found {found}", token.offset)


def _left_text(operand: Operand) -> str:
    return f"id:{operand.id}" if isinstance(operand, ParamRef) else render_operand(operand)


def parse_condition(text: str) -> Condition:
    """The condition `text` says, or ConditionError with the offset of what is wrong."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters; this one has {len(text)}", MAX_LENGTH)
    if not text.strip():
        raise ConditionError("the condition is empty: write e.g. id:10 == 'Enabled'", 0)
    parser = _Parser(text)
    condition = parser.any_of()
    if parser.next.kind != "end":
        extra = parser.next
        hint = " (join comparisons with AND or OR)" if extra.kind in ("param", "number", "text", "empty") else ""
        raise ConditionError(f"unexpected {extra.text!r} after a complete condition{hint}", extra.offset)
    return condition


def render(condition: Condition) -> str:
    """The condition as text that parses back to it (parenthesised where OR is inside AND)."""
    if isinstance(condition, Compare):
        return f"{render_operand(condition.left)} {condition.op} {render_operand(condition.right)}"
    if isinstance(condition, AllOf):
        return " AND ".join(f"({render(p)})" if isinstance(p, AnyOf) else render(p) for p in condition.parts)
    return " OR ".join(f"({render(p)})" if isinstance(p, AnyOf) else render(p) for p in condition.parts)


def render_operand(operand: Operand) -> str:
    if isinstance(operand, ParamRef):
        return f"id:{operand.id}"
    value = operand.value
    if value is None:
        return "empty"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def references(condition: Condition) -> Iterator[tuple[ParamRef, Compare]]:
    """Every parameter the condition reads, with the comparison it stands in."""
    if isinstance(condition, Compare):
        for operand in (condition.left, condition.right):
            if isinstance(operand, ParamRef):
                yield operand, condition
    else:
        for part in condition.parts:
            yield from references(part)


def comparisons(condition: Condition) -> Iterator[Compare]:
    if isinstance(condition, Compare):
        yield condition
    else:
        for part in condition.parts:
            yield from comparisons(part)


__all__ = [
    "ORDERING",
    "AllOf",
    "AnyOf",
    "Compare",
    "Condition",
    "ConditionError",
    "Literal",
    "Operand",
    "ParamRef",
    "comparisons",
    "parse_condition",
    "references",
    "render",
]
