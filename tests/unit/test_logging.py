"""One log format for every command, its level from $LOG_LEVEL (a fresh process: logging is configured once)."""

from __future__ import annotations

import os
import subprocess
import sys

from src.utils.config import PROJECT_ROOT

PROBE = (
    "from src.utils.logging import get_logger; log = get_logger('src.probe'); log.info('hidden'); log.warning('shown')"
)


def test_the_level_comes_from_the_environment_and_the_format_is_shared():
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "hidden" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.endswith(" WARNING src.probe: shown") and line[2] == ":"  # HH:MM:SS first
