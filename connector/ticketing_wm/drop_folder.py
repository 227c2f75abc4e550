"""The Drop Folder: JSON files of tickets, picked up and moved out of the way once taken in.

A writer should write a file under another name (`name.json.tmp`, or a name starting with a
dot) and rename it to `name.json` when it is whole: only `*.json` files not starting with a dot
are read. A file is moved to `processed/` after the step that took its tickets in has been
committed (the handlers defer the move), so a crash in between reads it again, and its tickets
are duplicates then, not lost. A file that is no JSON of tickets goes to `rejected/`, with a
`NAME.reason.txt` beside it.
"""

from __future__ import annotations

from pathlib import Path

PROCESSED = "processed"
REJECTED = "rejected"
FILES_PER_SCAN = 20  # keeps a scan's step short; the next scan takes the next ones
MAX_FILE_BYTES = 4 * 1024 * 1024


def waiting_files(folder: Path, skip: set[str], limit: int = FILES_PER_SCAN) -> list[Path]:
    """The files to take in, oldest first. Raises OSError when the folder cannot be read."""
    found = []
    for path in folder.iterdir():
        if path.suffix == ".json" and not path.name.startswith(".") and path.name not in skip and path.is_file():
            found.append((path.stat().st_mtime, path.name, path))
    found.sort()
    return [path for _, _, path in found[:limit]]


def read_file(path: Path) -> bytes:
    """The file's bytes. Raises OSError, or ValueError when it is larger than the limit."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{size} bytes, larger than {MAX_FILE_BYTES}")
    return path.read_bytes()


def move_out(path: Path, where: str, reason: str = "") -> Path:
    """Move a file into the `where` subfolder (made when missing), under a free name; a reason
    goes beside it. Raises OSError."""
    target_folder = path.parent / where
    target_folder.mkdir(exist_ok=True)
    target = target_folder / path.name
    number = 1
    while target.exists():
        target = target_folder / f"{path.stem}-{number}{path.suffix}"
        number += 1
    path.replace(target)
    if reason:
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target
