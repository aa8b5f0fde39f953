"""Model packs for the platform's own tests, and a project made from one.

    python -m tests.packs penguins /tmp/penguins    # this repository with the penguins pack in place (__main__.py)

A pack is the few files a team edits (``PACK_FILES``); the rest of a project
is the platform. ``project_with`` copies this repository's tracked files and
puts a pack's files in place: another project built on the same platform, as
a team would have it, for the tests that need two (models of two projects
loading side by side) and for the benchmarks of another kind of model.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKS = Path(__file__).resolve().parent
#: The files of a model pack, by their path in a project.
PACK_FILES = (
    "src/data/contract.py",
    "src/features/feature_definitions.py",
    "configs/model_config.yaml",
    "configs/feature_config.yaml",
    "configs/feature_lifecycle.yaml",
    "configs/environment.yaml",
    "configs/environment.yaml.example",
    "configs/model_card.yaml",
)


def project_with(pack: str, destination: Path) -> Path:
    """A copy of this repository (its tracked files, as committed or changed here) with ``pack``'s files in place."""
    source = PACKS / pack
    if not (source / PACK_FILES[0]).is_file():
        raise ValueError(f"no model pack {pack!r} under {PACKS}")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    for name in PACK_FILES:
        shutil.copy2(source / name, destination / name)
    return destination
