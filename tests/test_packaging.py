"""The wheel carries what the product needs: built, installed into a fresh venv, `connector demo` runs.

The repository keeps protocol.yaml at the top level and the package holds a symbolic link to it;
this is the test that the wheel carries the file's content (an editable install would hide a
missing file, since the link resolves into the checkout).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("connector", "protocol.yaml", "setup.cfg", "pyproject.toml", "README.md")


def _run(*argv: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, argv))}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo(tmp_path: Path) -> None:
    # Built from a copy, so that the build leaves nothing in the checkout.
    source = tmp_path / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("connector-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = archive.read("connector/ticketing/protocol.yaml")
        carried_wm = archive.read("connector/ticketing_wm/protocol.yaml")
        names = set(archive.namelist())
    assert carried == (REPO / "protocol.yaml").read_bytes()
    assert carried_wm == (REPO / "connector/ticketing_wm/protocol.yaml").read_bytes()
    templates = {f"connector/templates/new/{p.name}" for p in (REPO / "connector/templates/new").glob("*.tmpl")}
    assert templates and templates <= names  # `connector new` needs them
    card = {
        f"connector/service/card/{p.relative_to(REPO / 'connector/service/card')}"
        for folder in ("templates", "static")
        for p in (REPO / "connector/service/card" / folder).iterdir()
    }
    assert card and card <= names  # the element card's pages, script and style sheet

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"  # outside the repository: nothing to find by accident
    elsewhere.mkdir()
    done = _run(venv / "bin" / "connector", "demo", "--tickets", "40", cwd=elsewhere, timeout=120)
    assert "completed" in done.stdout and "Ticketing WM 01" in done.stdout
    _run(venv / "bin" / "connector", "new", "Pump", cwd=elsewhere)
    _run(venv / "bin" / "connector", "validate", "pump/protocol.yaml", cwd=elsewhere)
