"""The README stays true: its Project Structure tree, the make targets it names, the files under src/ and scripts/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_workflows import make_targets

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def tree_entries() -> dict[str, str]:
    """Every path in the Project Structure tree -> its comment."""
    block = README.split("## Project Structure", 1)[1].split("```", 2)[1]
    entries, stack = {}, []
    for line in block.splitlines():
        match = re.match(r"^((?:│   |    )*)[├└]── (\S+)\s*(?:#\s*(.*))?$", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        stack[depth:] = [match.group(2)]
        entries["".join(stack).rstrip("/")] = match.group(3) or ""
    return entries


#: A project made from the template is not a template itself: the template's own files are not in it.
IS_TEMPLATE = (ROOT / "copier.yml").is_file()


def test_every_path_in_the_tree_exists_unless_marked_next():
    missing = [
        path
        for path, comment in tree_entries().items()
        if not (ROOT / path).exists() and "(next)" not in comment and (IS_TEMPLATE or "(template only)" not in comment)
    ]
    assert missing == []


def test_every_module_and_script_is_in_the_tree():
    listed = set(tree_entries())
    files = {
        str(path.relative_to(ROOT))
        for folder in ("src", "scripts", "pipelines", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sorted(files - listed) == []


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README)) | set(
        re.findall(r"^make ([a-z][a-z0-9-]*)", README, re.M)
    )
    listed = set(
        re.findall(r"`([a-z][a-z0-9-]*)`", README.split("`make help` lists every target:", 1)[1].split(".", 1)[0])
    )
    assert sorted((named | listed) - make_targets()) == []
    assert sorted(make_targets() - listed - {"help"}) == [], "add the new target to the README's target list"
