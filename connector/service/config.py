"""The element YAML: one element, its protocol, its HTTP connection and its first values.

```yaml
name: Ticketing BE 01          # unique in the runtime, ignoring case; no "/", no control characters
id: 1/12                       # optional DataMinerID/ElementID; default: saved in the store at first start
protocol: ../protocol.yaml     # relative to this file
connection: {host: cherwell-gw.example, port: 80, bus_address: BypassProxy, scheme: http}
params:                        # by name or id; the values the element is created with
  Ticketing Processing: Enabled
  Cherwell Password: env:CHERWELL_PASSWORD   # env:NAME and file:PATH references
store: state/ticketing-be-01.sqlite          # optional; default beside this file
# or, for several agents sharing elements (README, "Several machines"):
# store: postgresql://connector@db.example:5432/connector
# store_password: env:CONNECTOR_PG_PASSWORD  # or file:PATH; default: PGPASSWORD
prefer: agent-a                              # optional: the agent that runs it when it is up
```

Everything is checked before anything starts, and every problem is reported at once as
`FILE:LINE:COL: reason`: unknown keys, unknown parameters, values the parameter refuses,
missing environment variables or files. Secrets read through `env:`/`file:` never appear in
a message.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml.nodes import MappingNode, ScalarNode

from connector.engine.http import Connection
from connector.engine.values import NotSettable, ValueRefused, coerce, settable
from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.loader import load_protocol
from connector.protocol.model import INTERAPP_RECEIVE, Protocol, ValueKind
from connector.protocol.scalars import to_int, to_text, to_value
from connector.protocol.yamlnodes import Fields, Keys, NodeReader, compose, mark_of
from connector.service.element_ids import parse_element_id

if TYPE_CHECKING:
    from connector.service.runtime import ElementConfig

TOP = Keys(required=("name", "protocol", "connection"), optional=("id", "params", "store", "store_password", "prefer"))
CONNECTION = Keys(required=("host",), optional=("port", "bus_address", "scheme"))
SCHEMES = ("http", "https")
SECRET_FILE_MAX = 64 * 1024  # bytes; a password or an API key, with room to spare


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
    if name is not None:
        _check_name(top, name)
    protocol_path = _resolve(top, "protocol", file.parent / top.text("protocol", ""))
    protocol = _load_protocol(top, protocol_path) if protocol_path is not None else None
    connection = _connection(top)
    params, secrets = _params(top, protocol, file.parent) if protocol is not None else ({}, {})
    element_id = _element_id(top)
    store = top.text("store")
    store_url = _store_url(top, store)
    store_file = (file.parent / store) if store and not store_url else file.with_suffix(".sqlite")
    store_path = _resolve(top, "store", store_file)
    store_password = _store_password(top, file.parent)
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
        store_url=store_url,
        store_password=store_password,
        prefer=top.text("prefer"),
        source=str(file),
        element_id=element_id,
    )
    return config, protocol


def _store_url(top: Fields, store: str | None) -> str | None:
    """`store: postgresql://USER@HOST:PORT/DB`, checked (never a password in it); None for a file."""
    from connector.engine.pg_connect import check_url, is_postgres_url  # psycopg only when it is used

    if not store or not is_postgres_url(store):
        return None
    from connector.engine.storefile import StoreError

    try:
        check_url(store)
    except StoreError as exc:
        top.report("store", f"store: {exc}")
        return None
    return store


def _store_password(top: Fields, base: Path) -> str | None:
    """`store_password: env:NAME` or `file:PATH`: read now, kept in memory only, never shown."""
    node = top.get("store_password")
    if node is None:
        return None
    raw = top.reader.convert(node, to_value, "store_password")
    if not isinstance(raw, str) or not raw.startswith(("env:", "file:")):
        top.report("store_password", "store_password: must be env:NAME or file:PATH (a password is never in the YAML)")
        return None
    try:
        return str(_dereference(raw, base))
    except ValueError as exc:
        top.report("store_password", f"store_password: {exc}")
        return None


def _check_name(top: Fields, name: str) -> None:
    """A name every API call can reach: a "/" would split its URL, a control character its log line."""
    if not name.strip():
        top.report("name", "name: must not be empty")
    elif "/" in name:
        top.report("name", f"name: must not contain '/' (the API could not reach {name!r}), got {name!r}")
    elif any(unicodedata.category(c) == "Cc" for c in name):
        top.report("name", f"name: must not contain control characters (tab, newline...), got {name!r}")


def duplicate_names(configs: Sequence[ElementConfig]) -> list[str]:
    """One `FILE:LINE:COL: ...` line for each element whose name another has, ignoring case.

    Names are matched ignoring case because a person types them: `BE 01` and `be 01` in one
    runtime would be told apart only by the case of a command line.
    """
    first: dict[str, ElementConfig] = {}
    problems = []
    for config in configs:
        folded = config.name.casefold()
        if folded not in first:
            first[folded] = config
            continue
        other = first[folded]
        problems.append(
            f"{_name_place(config)}: name: {config.name!r} is already the name of the element at "
            f"{_name_place(other)} ({other.name!r}); names must be unique, ignoring case"
        )
    return problems


def _name_place(config: ElementConfig) -> str:
    """FILE:LINE:COL of the element's `name:` value (the file was read a moment ago)."""
    try:
        root = compose(Path(config.source).read_text(encoding="utf-8"), config.source)
    except (OSError, UnicodeDecodeError, ProtocolError):
        return config.source
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if isinstance(key, ScalarNode) and key.value == "name":
                return str(mark_of(value, config.source))
    return config.source


def _element_id(top: Fields) -> str | None:
    node = top.get("id")
    if node is None:
        return None
    raw = top.reader.convert(node, to_value, "id")
    try:
        return parse_element_id(raw)
    except ValueError as exc:
        top.report("id", str(exc))
        return None


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
        if _declares_protocol(path):  # its own problems, FILE:LINE:COL each, before this one
            top.reader.problems.extend(exc.problems)
            count = len(exc.errors)
            top.report("protocol", f"protocol: {path} is not a valid protocol ({count} problem{'s' * (count != 1)})")
            return None
        # Where, not what: a mistyped path may name a secrets file, whose text a YAML message
        # would quote. `connector validate` tells the whole story of a real protocol file.
        places = ", ".join(str(p.mark) for p in exc.problems[:5] if p.mark is not None)
        top.report(
            "protocol",
            f"protocol: {path} is not a valid protocol ({len(exc.problems)} problems"
            f"{': ' + places if places else ''}); run `connector validate {path}` for details",
        )
        return None


def _declares_protocol(path: Path) -> bool:
    """Whether the file has a top-level `protocol:` key: a protocol file, whose problems may
    be shown (a secrets file named by mistake has none)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return any(line.startswith("protocol:") for line in file)
    except OSError:
        return False


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
            return _read_secret_file(path).decode("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return value


def _read_secret_file(path: Path) -> bytes:
    """The bytes of a `file:` secret, which must be a regular file of at most SECRET_FILE_MAX bytes.

    Opened without blocking, so that a fifo cannot hang the start waiting for a writer; checked
    on the open descriptor (not the path, which may change in between) before anything is read,
    so that `/dev/zero` or a huge file cannot take the process's memory.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{path} is {_file_kind(status.st_mode)}, not a regular file; a secret must be a file")
        if status.st_size > SECRET_FILE_MAX:
            raise ValueError(f"{path} holds {status.st_size} bytes; a secret file holds at most {SECRET_FILE_MAX}")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(SECRET_FILE_MAX + 1)
    finally:
        os.close(descriptor)
    if len(data) > SECRET_FILE_MAX:  # it grew after the check
        raise ValueError(
            f"{path} holds more than {SECRET_FILE_MAX} bytes; a secret file holds at most {SECRET_FILE_MAX}"
        )
    return data


def _file_kind(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS if test(mode)), "a special file")


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


__all__ = ["duplicate_names", "load_element", "to_text"]
