"""The element YAML: one element, its protocol, its HTTP connection and its first values.

```yaml
name: Ticketing BE 01          # unique in the runtime
protocol: ../protocol.yaml     # relative to this file
connection: {host: cherwell-gw.example, port: 80, bus_address: BypassProxy, scheme: http}
params:                        # by name or id; the values the element is created with
  Ticketing Processing: Enabled
  Cherwell Password: env:CHERWELL_PASSWORD   # env:NAME and file:PATH references
store: state/ticketing-be-01.sqlite          # optional; default beside this file
```

Everything is checked before anything starts, and every problem is reported at once as
`FILE:LINE:COL: reason`: unknown keys, unknown parameters, values the parameter refuses,
missing environment variables or files. Secrets read through `env:`/`file:` never appear in
a message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.engine.http import Connection
from connector.engine.values import NotSettable, ValueRefused, coerce, settable
from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.loader import load_protocol
from connector.protocol.model import INTERAPP_RECEIVE, Protocol, ValueKind
from connector.protocol.scalars import to_int, to_text, to_value
from connector.protocol.yamlnodes import Fields, Keys, NodeReader, compose

if TYPE_CHECKING:
    from connector.service.runtime import ElementConfig

TOP = Keys(required=("name", "protocol", "connection"), optional=("params", "store"))
CONNECTION = Keys(required=("host",), optional=("port", "bus_address", "scheme"))
SCHEMES = ("http", "https")


def load_element(path: str | Path) -> tuple[ElementConfig, Protocol]:
    """Read and check an element YAML and its protocol; ProtocolError lists every problem."""
    from connector.service.runtime import ElementConfig  # the runtime imports httpx; keep config light

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            [Problem(None, f"{file}: cannot read: {exc.strerror if isinstance(exc, OSError) else exc}")]
        ) from None
    reader = NodeReader(str(file))
    top = reader.mapping(compose(text, str(file)), "the element", TOP)
    if top is None:  # not a mapping at all: nothing more can be read
        reader.raise_if_problems()
    assert top is not None
    name = top.text("name")
    if name is not None and not name.strip():
        top.report("name", "name: must not be empty")
    protocol_path = _resolve(top, "protocol", file.parent / top.text("protocol", ""))
    protocol = _load_protocol(top, protocol_path) if protocol_path is not None else None
    connection = _connection(top)
    params, secrets = _params(top, protocol, file.parent) if protocol is not None else ({}, {})
    store = top.text("store")
    store_path = _resolve(top, "store", (file.parent / store) if store else file.with_suffix(".sqlite"))
    reader.raise_if_problems()
    assert protocol is not None and connection is not None and name is not None
    assert protocol_path is not None and store_path is not None
    config = ElementConfig(
        name=name.strip(),
        protocol_path=protocol_path,
        connection=connection,
        params=params,
        secrets=secrets,
        store_path=store_path,
        source=str(file),
    )
    return config, protocol


def _resolve(top: Fields, key: str, path: Path) -> Path | None:
    """`path` made absolute, or None after reporting why the system cannot use it.

    A NUL in the text (ValueError) or a name longer than the file system takes (OSError) is a
    problem of the YAML like any other, not a traceback.
    """
    try:
        return path.resolve()
    except (OSError, ValueError) as exc:
        top.report(key, f"{key}: cannot use this path: {_os_reason(exc)}")
        return None


def _os_reason(exc: Exception) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def _load_protocol(top: Fields, path: Path) -> Protocol | None:
    try:
        is_file = path.is_file()
    except (OSError, ValueError) as exc:  # e.g. ENAMETOOLONG: is_file() only hides "no such file"
        top.report("protocol", f"protocol: cannot use this path: {_os_reason(exc)}")
        return None
    if not is_file:
        top.report("protocol", f"protocol: no file {path}")
        return None
    try:
        return load_protocol(path)
    except ProtocolError as exc:
        # Where, not what: a mistyped path may name a secrets file, whose text a YAML message
        # would quote. `connector validate` tells the whole story of a real protocol file.
        places = ", ".join(str(p.mark) for p in exc.problems[:5] if p.mark is not None)
        top.report(
            "protocol",
            f"protocol: {path} is not a valid protocol ({len(exc.problems)} problems"
            f"{': ' + places if places else ''}); run `connector validate {path}` for details",
        )
        return None


def _connection(top: Fields) -> Connection | None:
    fields = top.child("connection", "connection", CONNECTION)
    if fields is None:
        return None
    scheme = fields.text("scheme")
    port = fields.read("port", to_int)
    if scheme is None:
        scheme = "https" if port == 443 else "http"
    if scheme not in SCHEMES:
        fields.report("scheme", f"scheme: must be http or https, got {scheme!r}")
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535:
        fields.report("port", f"port: must be 1-65535, got {port}")
    host = fields.text("host") or ""
    if not host.strip():
        fields.report("host", "host: must not be empty")
    if not fields.ok:
        return None
    return Connection(
        host=host.strip(), port=port, scheme=scheme, bus_address=fields.text("bus_address", "BypassProxy")
    )


def _params(top: Fields, protocol: Protocol, base: Path) -> tuple[dict[int | str, Any], dict[int | str, str]]:
    # By parameter id; typed as ElementConfig takes them (values by id or by name).
    initial: dict[int | str, Any] = {}
    secrets: dict[int | str, str] = {}
    entries = top.reader.entries(top.get("params"), "params")
    for key, (key_node, value_node) in (entries or {}).items():
        where = top.reader.mark(key_node)
        try:
            param = protocol.param(key)
        except KeyError:
            top.report(where, f"params: no parameter {key!r} in {protocol.name}")
            continue
        # What a user may set (a write parameter, the write twin of a read one), by its rules;
        # the value is kept on the read parameter, which is saved.
        try:
            write = settable(protocol, param)
        except (KeyError, NotSettable) as exc:
            top.report(where, f"params: {str(exc.args[0]) if exc.args else exc}")
            continue
        if write.kind is ValueKind.BUTTON or write.id == INTERAPP_RECEIVE:
            top.report(where, f"params: {write.name!r} takes commands, not a value to start with")
            continue
        spec, param = write, protocol.read_of(write.id) or write
        raw = top.reader.convert(value_node, to_value, key)
        if raw is None:
            top.fail()
            continue
        try:
            value = _dereference(raw, base)
        except ValueError as exc:
            top.report(top.reader.mark(value_node), f"{key}: {exc}")
            continue
        if param.password:
            secrets[param.id] = str(value)
            continue
        try:
            initial[param.id] = coerce(spec, value)
        except ValueRefused as exc:
            top.report(top.reader.mark(value_node), f"{key}: {exc}")
    return initial, secrets


def _dereference(value: Any, base: Path) -> Any:
    """`env:NAME` and `file:PATH` (relative to the element YAML) give their contents."""
    if not isinstance(value, str):
        return value
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"the environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = base / value[5:]
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return value


__all__ = ["load_element", "to_text"]
