"""Problems found in a declaration file, and the one exception that carries them all.

The loaders collect every problem of a file before raising, so that a user fixes a file in one
pass instead of one error per run. `ProtocolError` is the only exception they raise for bad
input, whatever the input is; anything else escaping a loader is a bug in the loader.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen

from connector.protocol.model import Mark


@frozen
class Problem:
    """One thing wrong with a file, and where: `FILE:LINE:COL: message`.

    A warning (`FILE:LINE:COL: warning: message`) is something DataMiner's validator flags
    that still runs: it is reported, and the file loads."""

    mark: Mark | None
    message: str
    warning: bool = False

    def __str__(self) -> str:
        message = f"warning: {self.message}" if self.warning else self.message
        return message if self.mark is None else f"{self.mark}: {message}"


def _position(problem: Problem) -> tuple[int, str, int, int]:
    # Problems without a position (rare: the whole file) come first, then file order.
    mark = problem.mark
    if mark is None:
        return (0, "", 0, 0)
    return (1, mark.file, mark.line, mark.column)


class ProtocolError(Exception):
    """A declaration file is invalid; `problems` lists every problem, in file order (the
    warnings among them too: `errors` are the ones that make it invalid)."""

    problems: tuple[Problem, ...]

    def __init__(self, problems: Iterable[Problem]) -> None:
        # The same node can be reached twice (YAML aliases), so drop exact repeats.
        unique = dict.fromkeys(problems)
        self.problems = tuple(sorted(unique, key=_position))
        # args holds the problems so that the exception pickles and copies as itself.
        super().__init__(self.problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.warning)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


__all__ = ["Problem", "ProtocolError"]
