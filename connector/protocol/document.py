"""`Document`: what the loader's first pass read, handed to `validate` for the second.

Its own module because both passes need it and the loader imports `validate`: the type sits
below both, so neither imports the other to name it.
"""

from __future__ import annotations

from attrs import define, field

from connector.protocol.model import (
    Action,
    Group,
    Handler,
    Mark,
    MetricSpec,
    Param,
    Protocol,
    Session,
    Table,
    Timer,
    Trigger,
)
from connector.protocol.yamlnodes import Fields

# Params, tables and columns are all DataMiner parameters: one id space.
PARAMETER_SPACE = frozenset({"param", "table", "column"})


def id_space(kind: str) -> str:
    return "parameter" if kind in PARAMETER_SPACE else kind


@define
class Document:
    """What the first pass read: the model parts, and where each construct was written."""

    file: str
    top: Mark
    name: str = ""
    version: str = ""
    description: str = ""
    timeout_after: int | None = None
    params: dict[int, Param] = field(factory=dict)
    tables: dict[int, Table] = field(factory=dict)
    sessions: dict[int, Session] = field(factory=dict)
    groups: dict[int, Group] = field(factory=dict)
    timers: dict[int, Timer] = field(factory=dict)
    triggers: dict[int, Trigger] = field(factory=dict)
    actions: dict[int, Action] = field(factory=dict)
    handlers: dict[int, Handler] = field(factory=dict)
    metrics: dict[str, MetricSpec] = field(factory=dict)
    # (kind, id) -> the Fields the construct was read from: `where` finds any value's position.
    fields: dict[tuple[str, int], Fields] = field(factory=dict)
    # (id space, id) -> (kind, mark) of the construct that took the id, built or not.
    claimed: dict[tuple[str, int], tuple[str, Mark]] = field(factory=dict)
    # Kinds of which some construct was left out for a problem of shape: rules that need to
    # know that something is absent (a write's read partner, the after-startup flow) skip them.
    incomplete: set[str] = field(factory=set)
    section_keys: dict[str, Mark] = field(factory=dict)  # "triggers" -> where `triggers:` stands

    def where(self, kind: str, id: int, *path: str | int) -> Mark:
        fields = self.fields.get((kind, id))
        return fields.mark(*path) if fields is not None else self.top

    def declared(self, kind: str, id: int) -> bool:
        """Whether a construct of `kind` took `id`, even one left out for a problem."""
        claim = self.claimed.get((id_space(kind), id))
        return claim is not None and claim[0] == kind

    def to_protocol(self) -> Protocol:
        return Protocol(
            name=self.name,
            version=self.version,
            description=self.description,
            params=self.params,
            tables=self.tables,
            sessions=self.sessions,
            groups=self.groups,
            timers=self.timers,
            triggers=self.triggers,
            actions=self.actions,
            handlers=self.handlers,
            metrics=self.metrics,
            source=self.file,
            timeout_after=self.timeout_after,
        )


__all__ = ["PARAMETER_SPACE", "Document", "id_space"]
