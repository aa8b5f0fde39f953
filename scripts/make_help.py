"""``make help``: the Makefile's targets grouped by stage, each line at most 100 columns.

A target documents itself on its own line: ``name: deps ## [stage] what it does``. Standard library only:
``make help`` works before the virtual environment exists.

    python3 scripts/make_help.py Makefile
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

#: The stages, in the order a newcomer meets them; a target names one of them in brackets.
STAGES = {
    "set-up": "Set up",
    "lifecycle": "The model's lifecycle",
    "serve": "Serving and monitoring",
    "docs": "Features and documents",
    "govern": "Governance",
    "release": "Releases (rehearsed here)",
    "check": "Tests and checks",
    "bench": "Benchmarks",
}
WIDTH, NAME = 100, 19
_TARGET = re.compile(r"^([a-z][a-z0-9-]*):.*?## (?:\[([a-z-]+)\] )?(.*)$")


def grouped(makefile: str) -> dict[str, list[tuple[str, str]]]:
    """(target, help) pairs by stage; a target without a known stage is an error naming it."""
    groups: dict[str, list[tuple[str, str]]] = {stage: [] for stage in STAGES}
    for line in makefile.splitlines():
        found = _TARGET.match(line)
        if found is None:
            continue
        name, stage, text = found.groups()
        if stage not in STAGES:
            raise SystemExit(f"Makefile: target {name!r} has no stage: write '## [{'|'.join(STAGES)}] ...'")
        groups[stage].append((name, text))
    return groups


def render(groups: dict[str, list[tuple[str, str]]]) -> str:
    lines: list[str] = []
    for stage, targets in groups.items():
        if not targets:
            continue
        lines.append(f"{STAGES[stage]}:")
        for name, text in targets:
            head = f"  make {name:<{NAME - 7}} "
            lines.extend(textwrap.wrap(text, WIDTH, initial_indent=head, subsequent_indent=" " * len(head)))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:]) or ["Makefile"]
    text = "\n".join(Path(path).read_text(encoding="utf-8") for path in paths)
    sys.stdout.write(render(grouped(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
