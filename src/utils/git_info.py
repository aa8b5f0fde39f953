"""Where the code that trains a model comes from: commit, branch, dirtiness, author.

Plain ``git`` subprocess calls (milliseconds, no GitPython import), each
answering ``None`` outside a git checkout rather than failing the run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from src.utils.config import PROJECT_ROOT


@dataclass(frozen=True)
class GitInfo:
    """The state of the working tree a model was trained from."""

    sha: str
    branch: str
    dirty: bool


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_info() -> GitInfo:
    """The commit, branch and dirtiness of the working tree ('unknown' and dirty outside git)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return GitInfo(
        sha=_git("rev-parse", "HEAD") or "unknown",
        branch=_git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        dirty=bool(status) if status is not None else True,
    )


def git_user_email() -> str | None:
    """The configured git user e-mail: the default author of a training run."""
    return _git("config", "user.email") or None
