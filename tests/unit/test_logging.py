"""One log format for every command, its level from $LOG_LEVEL (a fresh process: logging is configured once)."""

from __future__ import annotations

import json
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


JSON_PROBE = """
import logging
from src.utils.logging import get_logger, request_context
log = get_logger("src.probe")
import mlflow
from src.utils.logging import adopt_mlflow_loggers
adopt_mlflow_loggers()  # what the tracking door does once MLflow is loaded
with request_context("order-42"):
    log.warning("inside")
logging.getLogger("mlflow.probe").warning("from mlflow")
try:
    raise ValueError("boom")
except ValueError:
    log.exception("failed")
"""


def test_json_logs_carry_the_request_id_and_mlflow_s_lines_share_the_format():
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", JSON_PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["message"], line.get("request_id")) for line in lines] == [
        ("src.probe", "inside", "order-42"),
        ("mlflow.probe", "from mlflow", None),
        ("src.probe", "failed", None),
    ]
    assert (
        lines[0]["level"] == "WARNING"
        and lines[0]["ts"].endswith("+00:00")
        and "ValueError: boom" in lines[2]["exception"]
    )


def test_a_text_line_inside_a_request_names_it():
    probe = ("from src.utils.logging import get_logger, request_context; log = get_logger('src.probe')\n"
             "with request_context('r-7'):\n    log.warning('inside')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, "LOG_FORMAT": "text"})  # fmt: skip
    assert done.stderr.strip().endswith("WARNING src.probe: inside [request r-7]"), done.stderr
