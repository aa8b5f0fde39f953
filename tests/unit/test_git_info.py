"""Git metadata for run tags: real values in a checkout, honest 'unknown' outside one."""

import os

import pytest

from src.utils import git_info
from tests.conftest import require_tool


def test_checkout_reports_commit_and_branch():
    require_tool("git", install="apt-get install git")
    info = git_info.git_info()
    if info.sha == "unknown" and os.environ.get("CI", "").lower() != "true":  # CI runs on a clone: never a skip there
        pytest.skip("the project is not a git checkout here (e.g. an exported tarball)")
    assert len(info.sha) == 40 and all(c in "0123456789abcdef" for c in info.sha)
    assert info.branch and info.branch != "unknown"


def test_outside_a_checkout_nothing_is_invented(tmp_path, monkeypatch):
    monkeypatch.setattr(git_info, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    info = git_info.git_info()
    assert info == git_info.GitInfo(sha="unknown", branch="unknown", dirty=True)
