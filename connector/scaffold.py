"""`connector new NAME`: a minimal working connector to start from.

It writes, into a folder of its own: `protocol.yaml` (settings, a toggle, a table, a timer, a
trigger, a button), `handlers.py` beside it, `element.yaml` to run it, and a test driven by the
engine's Harness. The files are templates in `connector/templates/new/`, filled in with
`string.Template` (`$name`, `$slug`): YAML and Python braces need no escaping. Nothing is
overwritten. docs/writing-a-connector.md walks through what it writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.resources import files
from pathlib import Path
from string import Template

from connector.commandline import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, Subparsers

# A name goes into YAML and Python text unquoted: letters, digits, spaces and - _ . only.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _.-]{0,63}")
TEMPLATES = {
    "protocol.yaml": "protocol.yaml.tmpl",
    "handlers.py": "handlers.py.tmpl",
    "element.yaml": "element.yaml.tmpl",
    "test_{slug}.py": "test_connector.py.tmpl",
}


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def render(name: str) -> dict[str, str]:
    """The files of a new connector named `name`, by file name."""
    slug = slug_of(name)
    folder = files("connector") / "templates" / "new"
    return {
        target.format(slug=slug): Template((folder / source).read_text(encoding="utf-8")).substitute(
            name=name, slug=slug
        )
        for target, source in TEMPLATES.items()
    }


def write_connector(name: str, folder: Path) -> list[Path]:
    """Write the files of a new connector into `folder`; FileExistsError names one that is there."""
    rendered = render(name)
    existing = [folder / file for file in rendered if (folder / file).exists()]
    if existing:
        raise FileExistsError(f"{existing[0]} exists; connector new writes into a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, text in rendered.items():
        path = folder / file
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def add_new(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "new",
        help="write a minimal working connector to start from",
        description="Write protocol.yaml, handlers.py, element.yaml and a test into a new folder: a connector "
        "that `connector validate` accepts and `connector run` runs (see docs/writing-a-connector.md).",
    )
    parser.add_argument("name", metavar="NAME", help="the connector's name, e.g. 'Weather Station'")
    parser.add_argument("--dir", metavar="DIR", help="where to write it (default: ./SLUG, e.g. ./weather_station)")
    parser.set_defaults(run=_run_new)


def _run_new(args: argparse.Namespace) -> int:
    name = " ".join(args.name.split())
    if not NAME.fullmatch(name):
        print(
            f"connector new: {args.name!r} is no connector name: start with a letter; use letters, digits,"
            " spaces, '-', '_' and '.' (at most 64)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    folder = Path(args.dir) if args.dir else Path(slug_of(name))
    try:
        written = write_connector(name, folder)
    except OSError as exc:
        print(f"connector new: {exc.strerror or exc}" if not isinstance(exc, FileExistsError) else
              f"connector new: {exc}", file=sys.stderr)  # fmt: skip
        return EXIT_UNREADABLE
    for path in written:
        print(f"wrote {path}")
    print(
        f"next: cd {folder} && connector validate protocol.yaml && python -m pytest"
        " && connector run element.yaml (docs/writing-a-connector.md)"
    )
    return EXIT_OK


__all__ = ["add_new", "render", "slug_of", "write_connector"]
