"""monitoring/alerts.yml is valid Prometheus and each alert fires on its series (promtool), and the monitoring
job's textfile carries the metrics the drift alerts read."""

from __future__ import annotations

import subprocess

import pytest

from src.monitoring.monitor import MonitoringResult, prometheus_text
from src.utils.config import PROJECT_ROOT
from tests.conftest import require_tool

RULES = PROJECT_ROOT / "monitoring" / "alerts.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", install="apt-get install prometheus")


def test_the_rules_are_valid(promtool):
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0 and "SUCCESS: 8 rules found" in done.stdout, done.stdout + done.stderr


def test_each_alert_fires_on_its_series_and_not_before(promtool):
    done = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=RULES.parent, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_monitoring_textfile_names_what_the_drift_alerts_read():
    result = MonitoringResult("m", "production", "w", [], 0, 0, {}, [])
    text = prometheus_text(result, now=1_800_000_000)
    assert 'model_monitoring_alert{model="m",alias="production"} 0' in text
    assert 'model_monitoring_last_run_timestamp_seconds{alias="production"} 1800000000' in text
    rules = RULES.read_text()
    assert "model_monitoring_alert == 1" in rules and "model_monitoring_last_run_timestamp_seconds" in rules
