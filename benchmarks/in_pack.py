"""Run a benchmark in a project made by ``make new-model``: ``python benchmarks/in_pack.py penguins -- CMD...``.

The project is made from ``examples/answers/<pack>.yml`` in a temporary
directory (this working tree rendered by copier, the pack drafted from the
data file); the command runs there, its own ``src`` first on the path, and the
directory is removed afterwards (``make bench-serve PACK=penguins``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python benchmarks/in_pack.py PACK -- COMMAND...", file=sys.stderr)
        return 2
    pack, command = argv[0], argv[2:]
    answers = ROOT / "examples" / "answers" / f"{pack}.yml"
    if not answers.is_file():
        print(f"error: no answers {answers} for a project of pack {pack!r}", file=sys.stderr)
        return 2
    if Path(command[0]).exists():  # the interpreter, named from here (venv/bin/python): the same one there
        command[0] = str(Path(command[0]).absolute())  # not resolve(): the venv's python is a symlink
    with tempfile.TemporaryDirectory(prefix=f"bench-{pack}-") as directory:
        project = Path(directory) / pack
        made = subprocess.run([sys.executable, str(ROOT / "scripts" / "new_model.py"), "--answers", str(answers),
                               "--dest", str(project)], cwd=ROOT, check=False)  # fmt: skip
        if made.returncode != 0:
            return made.returncode
        print(f"benchmarking in a project made for {pack}: {project}", flush=True)
        env = {**os.environ, "PYTHONPATH": str(project)}
        return subprocess.run(command, cwd=project, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
