"""Finding a handler's code: `entry: "module:function"` of a protocol file, imported.

A connector written outside this package keeps its handler module beside its protocol.yaml
(`weather_handlers.py` next to `protocol.yaml`, `entry: "weather_handlers:poll"`). Such a
module is found in the protocol file's folder first, without touching `sys.path`: two
elements of two connectors that each have a `handlers.py` must not get each other's code,
and one connector's folder must not shadow modules for the rest of the process. So a
module beside the protocol is imported from its file under a private name made of the
folder's path (`_connector_local_<digest>_<name>`), once per process.

A dotted name (`connector.ticketing.handlers`), or a plain one with no file beside the
protocol, is an ordinary import: an installed package.

Used by the validator (does each entry import?) and by the engine (the functions to call),
so that both find the same code.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

LOCAL_PREFIX = "_connector_local_"


def local_module_name(folder: Path, module: str) -> str:
    """The private name under which `module` beside a protocol in `folder` is imported."""
    digest = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{LOCAL_PREFIX}{digest}_{module}"


def import_handler_module(module: str, protocol_file: str | Path | None) -> ModuleType:
    """The module `module` of an entry: `<module>.py` beside `protocol_file` when there is
    one (a plain name only), else an ordinary import. Raises what the import raises."""
    if protocol_file and "." not in module:
        folder = Path(protocol_file).resolve().parent
        path = folder / f"{module}.py"
        if path.is_file():
            return _import_file(local_module_name(folder, module), path)
    return importlib.import_module(module)


def _import_file(name: str, path: Path) -> ModuleType:
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs: dataclasses, pickle and typing look a class's module up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_entry(entry: str, protocol_file: str | Path | None) -> Any:
    """What `module:attribute` (attribute may be dotted) names; raises what the lookup raises."""
    module_name, _, attribute = entry.partition(":")
    found: Any = import_handler_module(module_name, protocol_file)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def entry_problem(entry: str, protocol_file: str | Path | None = None) -> str | None:
    """Why `module:function` cannot be called, or None. Imports the module."""
    try:
        found = load_entry(entry, protocol_file)
    except (Exception, SystemExit) as exc:  # a handler module's import may fail any way at all
        reason = " ".join(str(exc).split()) or "no details"
        local = protocol_file is not None and "." not in entry.partition(":")[0]
        where = f" (looked beside {Path(protocol_file or '').name}, then in the installed packages)" if local else ""
        return f"cannot load handler entry {entry!r}: {type(exc).__name__}: {reason}{where}"
    if not callable(found):
        return f"handler entry {entry!r} is a {type(found).__name__}, not a function"
    return None


__all__ = ["entry_problem", "import_handler_module", "load_entry", "local_module_name"]
