"""One exit-code table, and every error the project raises on purpose is a ProjectError (one line, not a traceback)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from src.utils.errors import ExitCode, ProjectError

SRC = Path(__file__).resolve().parents[2] / "src"


def test_exit_codes_are_the_documented_ones():
    assert (ExitCode.OK, ExitCode.FAILED, ExitCode.REFUSED) == (0, 1, 2)
    assert ProjectError.exit_code is ExitCode.REFUSED


def test_every_error_class_in_src_is_a_project_error():
    found = []
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Refused", "Unavailable")):
                found.append(getattr(importlib.import_module(module), node.name))
    assert len(found) >= 15
    assert [error.__name__ for error in found if not issubclass(error, ProjectError)] == []
