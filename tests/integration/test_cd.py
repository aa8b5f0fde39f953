"""The CD rehearsal (make cd-staging / make cd-production): the workflows' steps against real servers.

One rehearsal per module (an auth mlflow server on PostgreSQL, governance applied, staging and production
endpoints); the releases run once, in order, and the tests read what each did.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO

import pytest
import yaml

from scripts.cd_rehearsal import Rehearsal, load_on
from scripts.release import approver_from
from src.utils.config import model_config_path
from tests.conftest import SUITE_ROLLOUT_P99_MS, eventually

pytestmark = [pytest.mark.integration, pytest.mark.system]


def _health(url: str) -> dict[str, object]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/health")
    return json.loads(connection.getresponse().read())


def _quiet(call) -> tuple[int, str]:
    out = StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        return call(), out.getvalue()


@pytest.fixture(scope="module")
def story(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("cd")
    strict = root / "strict.yaml"
    content = yaml.safe_load(model_config_path().read_text())
    content["validation"]["thresholds"]["val_accuracy"] = 0.99
    strict.write_text(yaml.safe_dump(content))
    admin_dsn = postgres_dsn.rsplit("/", 1)[0] + "/postgres"
    with Rehearsal(admin_dsn, root) as rehearsal:
        rehearsal.apply_governance()
        rehearsal.seed()
        rehearsal.start_endpoints()
        record: dict[str, object] = {"rehearsal": rehearsal, "before": _health(rehearsal.endpoints["production"])}
        live = ("--max-p99-ms", SUITE_ROLLOUT_P99_MS)  # the live checks with a budget a busy machine meets
        record["staging"] = _quiet(lambda: rehearsal.release("staging", *live))
        record["after staging"] = _health(rehearsal.endpoints["staging"])
        record["failing gate"] = _quiet(lambda: rehearsal.release("staging", "--config", str(strict), *live))
        record["after failing gate"] = _health(rehearsal.endpoints["staging"])
        record["wrong version"] = _quiet(lambda: rehearsal.release("production", "--version", "1"))
        production = rehearsal.endpoints["production"]
        with load_on(production) as statuses:  # every release below happens under load: none may fail a request
            # passes the gate, then fails a live check (an impossible latency budget): rolled back under load
            eventually(lambda: len(statuses) >= 20, "requests flowing before the rollout")
            record["failed rollout"] = _quiet(lambda: rehearsal.release("production", "--max-p99-ms", "0.001"))
            rolled_back = len(statuses)
            eventually(lambda: len(statuses) >= rolled_back + 20, "requests answered after the rollback")
            record["after rollback"] = _health(production)
            # the canary (@staging, a quarter of requests) watched and promoted
            canary = ("--watch-seconds", "3", "--min-requests", "20", "--latency-ratio", "100")
            record["released"] = _quiet(lambda: rehearsal.release("canary", *canary, *live))
            record["after release"] = _health(production)
            # a second candidate in canary that never gets enough traffic to be judged: @staging rolled back
            record["second staging"] = _quiet(lambda: rehearsal.release("staging", *live))
            record["second canary"] = _health(production)
            starved = ("--watch-seconds", "1", "--max-wait-seconds", "3", "--min-requests", "1000000")
            record["canary rolled back"] = _quiet(lambda: rehearsal.release("canary", *starved, *live))
            record["after canary rollback"] = eventually(
                lambda: (
                    (h := _health(production))["traffic"]["challenger"]["version"]
                    == record["after release"]["model_version"]
                    and h
                ),
                "the canary back at the previous @staging",
            )
            answered = len(statuses)
            eventually(lambda: len(statuses) >= answered + 20, "requests answered after the canary's rollback")
        record["statuses"] = list(statuses)
        yield record


def test_a_passing_candidate_reaches_staging_and_the_endpoint_serves_it(story):
    code, printed = story["staging"]
    assert code == 0, printed[-3000:]
    assert "release checks passed" in printed and "cd-staging: version" in printed
    assert story["after staging"]["model_version"] != story["before"]["model_version"]


def test_a_candidate_that_fails_the_gate_promotes_nothing(story):
    code, printed = story["failing gate"]
    assert code == 1 and "did not pass the validation gate: nothing was promoted" in printed
    assert story["after failing gate"]["model_version"] == story["after staging"]["model_version"]


def test_production_takes_only_the_version_staging_validated(story):
    code, printed = story["wrong version"]
    assert code == 2 and "is not the one staging validated" in printed


def test_a_failed_live_check_rolls_production_back_without_a_failed_request(story):
    code, printed = story["failed rollout"]
    assert code == 1 and "rolled back" in printed, printed[-3000:]
    assert set(story["statuses"]) == {200}  # through this rollback, the canary's promotion and its rollback
    assert story["after rollback"]["model_version"] == story["before"]["model_version"]


def test_the_canary_is_watched_then_promoted_by_the_release_manager_with_monitoring_on(story):
    code, printed = story["released"]
    assert code == 0 and "FIT to take over" in printed and "monitored since" in printed, printed[-3000:]
    assert story["after release"]["model_version"] == story["after staging"]["model_version"]
    assert story["after staging"]["model_version"] == story["after rollback"]["traffic"]["challenger"]["version"]
    summary = (story["rehearsal"].root / "summary_canary.md").read_text()
    assert (
        "approved by carol@example.com" in summary and "## Model card" in summary and "Verdict: **PASSED**" in summary
    )


def test_a_canary_that_cannot_be_judged_is_rolled_back_and_recorded(story):
    assert story["second staging"][0] == 0, story["second staging"][1][-3000:]
    second = story["second canary"]["traffic"]["challenger"]["version"]
    assert second != story["after release"]["model_version"]
    code, printed = story["canary rolled back"]
    assert code == 1 and "fewer than the 1000000 a verdict needs" in printed, printed[-3000:]
    assert "@staging back at" in printed
    assert story["after canary rollback"]["model_version"] == story["after release"]["model_version"]


def test_the_approver_is_read_from_the_runs_approval_record():
    records = [
        {"state": "rejected", "user": {"login": "mallory"}, "environments": [{"name": "production"}]},
        {"state": "approved", "user": {"login": "dana"}, "environments": [{"name": "staging"}]},
        {"state": "approved", "user": {"login": "carol"}, "environments": [{"name": "production"}]},
    ]
    assert approver_from(records) == "carol"
    assert approver_from(records[:2]) is None
