"""Run a benchmark in a project made with another model pack: ``python benchmarks/in_pack.py penguins -- CMD...``.

The project is this repository with the pack's files in place (tests/packs),
in a temporary directory; the command runs there, its own ``src`` first on the
path, and the directory is removed afterwards (``make bench-serve PACK=penguins``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.packs import project_with


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python benchmarks/in_pack.py PACK -- COMMAND...", file=sys.stderr)
        return 2
    pack, command = argv[0], argv[2:]
    if Path(command[0]).exists():  # the interpreter, named from here (venv/bin/python): the same one there
        command[0] = str(Path(command[0]).absolute())  # not resolve(): the venv's python is a symlink
    with tempfile.TemporaryDirectory(prefix=f"bench-{pack}-") as directory:
        project = project_with(pack, Path(directory) / pack)
        print(f"benchmarking in a project with the {pack} pack: {project}", flush=True)
        env = {**os.environ, "PYTHONPATH": str(project)}
        return subprocess.run(command, cwd=project, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
