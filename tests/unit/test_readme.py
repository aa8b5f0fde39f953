"""The README and the docs stay true: the file trees, the make targets, the paths, the links and the stage folders
they name all exist, and the README stays a first screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_workflows import make_targets

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
#: The hand-written docs: the README, docs/ but the two generated files, the stage folders' READMEs.
DOCS = sorted(
    {README, *(ROOT / "docs").glob("*.md"), *(ROOT / "src").glob("*/README.md")}
    - {ROOT / "docs" / "MODEL_CARD.md", ROOT / "docs" / "FEATURE_CATALOG.md"}
)
#: A stage folder of src/: each has a README naming its modules.
STAGES = sorted(path for path in (ROOT / "src").iterdir() if path.is_dir() and (path / "__init__.py").is_file())
#: Paths the docs name that are not files of the repository: inside a run's artifacts, or written at run time.
NOT_IN_THE_TREE = {"monitoring/reference_profile.json"}

#: A project made from the template is not a template itself: the template's own files are not in it.
IS_TEMPLATE = (ROOT / "copier.yml").is_file()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def tree_entries(path: Path, heading: str) -> dict[str, str]:
    """Every path in the file tree under `heading` -> its comment."""
    block = _text(path).split(heading, 1)[1].split("```", 2)[1]
    entries, stack = {}, []
    for line in block.splitlines():
        match = re.match(r"^((?:│   |    )*)[├└]── (\S+)\s*(?:#\s*(.*))?$", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        stack[depth:] = [match.group(2)]
        entries["".join(stack).rstrip("/")] = match.group(3) or ""
    return entries


TREES = [(README, "## Project Structure"), (ARCHITECTURE, "## Every file")]


@pytest.mark.parametrize(("path", "heading"), TREES, ids=lambda value: value if isinstance(value, str) else "")
def test_every_path_in_a_tree_exists(path: Path, heading: str):
    missing = [
        entry
        for entry, comment in tree_entries(path, heading).items()
        if not (ROOT / entry).exists() and (IS_TEMPLATE or "(template only)" not in comment)
    ]
    assert missing == []


def test_every_module_and_script_is_in_the_architecture_tree():
    listed = set(tree_entries(ARCHITECTURE, "## Every file"))
    files = {
        _name(path)
        for folder in ("src", "scripts", "pipelines", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sorted(files - listed) == []


def test_every_make_target_the_docs_name_exists():
    named = {
        (_name(path), target)
        for path in DOCS
        for target in set(re.findall(r"`make ([a-z][a-z0-9-]*)", _text(path)))
        | set(re.findall(r"^make ([a-z][a-z0-9-]*)", _text(path), re.M))
    }
    assert sorted((doc, target) for doc, target in named if target not in make_targets()) == []


def test_the_operations_guide_lists_every_make_target():
    text = _text(OPERATIONS).split("`make help` lists every target:", 1)[1].split(". ", 1)[0]
    listed = set(re.findall(r"`([a-z][a-z0-9-]*)`", text))
    assert sorted(listed - make_targets()) == []
    assert sorted(make_targets() - listed - {"help"}) == [], "add the new target to docs/OPERATIONS.md's list"


#: A repository path in backticks: a top-level folder of the project, then a file or folder name.
_PATH = re.compile(
    r"`((?:src|scripts|pipelines|tests|configs|docs|deploy|monitoring|benchmarks|examples|\.github|\.ci)/[\w./-]*)`"
)


def test_every_path_the_docs_name_exists():
    missing = sorted(
        (_name(path), named)
        for path in DOCS
        for named in _PATH.findall(_text(path))
        if named not in NOT_IN_THE_TREE and not (ROOT / named.rstrip("/")).exists()
    )
    assert missing == []


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", _text(path), flags=re.S)
    return {_anchor(match) for match in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_link_between_the_docs_lands():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _text(path)):
            if re.match(r"[a-z]+://", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
                broken.append(f"{_name(path)} -> {target}")
    assert broken == []


@pytest.mark.parametrize("stage", STAGES, ids=lambda path: path.name)
def test_each_stage_folder_has_a_readme_naming_its_modules(stage: Path):
    readme = stage / "README.md"
    assert readme.is_file(), f"{_name(stage)} has no README.md"
    modules = {path.name for path in stage.glob("*.py") if path.name != "__init__.py"}
    assert sorted(name for name in modules if f"`{name}`" not in _text(readme)) == []


def test_the_readme_is_a_first_screen():
    assert len(_text(README).splitlines()) <= 300
