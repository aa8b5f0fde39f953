"""Traffic plans: a canary's share and stickiness, a shadow that is logged and never returned, the plan on /health
and every request labelled with the alias and version that answered. In-process (ASGI), two fitted models."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from src.components.alias_watcher import ModelSlot
from src.components.inference_log import InferenceLog
from src.components.serving import Challenger, ServingConfig, create_app
from src.components.serving_metrics import Metrics
from src.components.traffic import BUCKETS, PlanError, Router, TrafficPlan, bucket
from tests.pack import LABEL_A, MODEL, ROW_A, rotated_label

ONE_ROW = {"instances": [ROW_A]}


def test_a_plan_that_cannot_be_served_is_refused():
    with pytest.raises(PlanError, match="another alias than the champion"):
        TrafficPlan("production", "production", "canary", 10)
    with pytest.raises(PlanError, match="between 0 and 100"):
        TrafficPlan("production", "staging", "shadow", 120)
    with pytest.raises(PlanError, match="not an HTTP header name"):
        TrafficPlan("production", "staging", "canary", 10, key_header="X Customer")
    assert TrafficPlan("production").describe() == "@production"
    assert TrafficPlan("production", "staging", "canary", 10).describe() == (
        "@production, @staging in canary at 10% (sticky by X-Request-Id)"
    )


def test_a_canary_takes_its_share_of_keys_and_a_key_always_goes_to_the_same_side():
    router = Router(TrafficPlan("production", "staging", "canary", 10))
    keys = [f"customer-{n}" for n in range(2000)]
    picked = [router.picks_challenger(key) for key in keys]
    assert abs(sum(picked) / len(keys) - 0.10) <= 0.02
    assert [router.picks_challenger(key) for key in keys] == picked  # sticky: the same answer, every time
    assert all(0 <= bucket(key) < BUCKETS for key in keys)


def test_without_a_key_the_draw_decides_and_the_edges_are_exact():
    draws = iter([0.05, 0.5])
    router = Router(TrafficPlan("production", "staging", "canary", 10), draw=lambda: next(draws))
    assert [router.picks_challenger(None), router.picks_challenger("")] == [True, False]
    assert not any(Router(TrafficPlan("production", "staging", "canary", 0)).picks_challenger(f"k{n}")
                   for n in range(500))  # fmt: skip
    assert all(Router(TrafficPlan("production", "staging", "shadow", 100)).picks_challenger(None) for _ in range(50))
    assert not Router(TrafficPlan("production")).picks_challenger("k")


def _app(memory_scorer, challenger_scorer, plan: TrafficPlan, log: InferenceLog | None = None):
    config = ServingConfig(model_name=MODEL, alias=plan.champion, plan=plan)
    challenger = Challenger(ModelSlot(challenger_scorer))
    return create_app(ModelSlot(memory_scorer), config, metrics=Metrics(MODEL), log=log, challenger=challenger)


def test_a_canary_answers_its_share_names_the_version_and_labels_every_request(memory_scorer, challenger_scorer,
                                                                               tmp_path):  # fmt: skip
    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="production", flush_seconds=0.05)
    plan = TrafficPlan("production", "staging", "canary", 10)
    with TestClient(_app(memory_scorer, challenger_scorer, plan, log)) as client:
        keys = [f"r{n}" for n in range(500)]
        answers = [client.post("/invocations", json=ONE_ROW, headers={"X-Request-Id": key}) for key in keys]
        by_challenger = [a for a in answers if a.headers["X-Model-Version"] == "2"]
        # exactly the keys the router sends there (its share over 2,000 keys: the test above)
        assert [a.headers["X-Request-Id"] for a in by_challenger] == [
            k for k in keys if Router(plan).picks_challenger(k)
        ]
        assert 0.05 <= len(by_challenger) / len(answers) <= 0.15
        assert {a.headers["X-Model-Alias"] for a in by_challenger} == {"staging"}
        assert {a.json()["predictions"][0] for a in by_challenger} == {rotated_label(LABEL_A)}  # its own answer
        assert {a.json()["predictions"][0] for a in answers if a not in by_challenger} == {LABEL_A}
        sticky = by_challenger[0].headers["X-Request-Id"]
        again = [client.post("/invocations", json=ONE_ROW, headers={"X-Request-Id": sticky}) for _ in range(20)]
        assert {a.headers["X-Model-Version"] for a in again} == {"2"}
        health = client.get("/health").json()
        assert health["traffic"]["plan"] == plan.describe() and health["traffic"]["challenger"]["version"] == "2"
        assert health["traffic"]["champion"] == {"alias": "production", "version": "1"}
        metrics = client.get("/metrics").text
        for alias, version in (("production", "1"), ("staging", "2")):
            assert (
                f'model_requests_total{{alias="{alias}",model="{MODEL}",status="200",version="{version}"}}' in metrics
            )
            assert f'model_version_info{{alias="{alias}",model="{MODEL}",version="{version}"}} 1.0' in metrics
    with sqlite3.connect(tmp_path / "log.db") as connection:
        logged = dict(connection.execute("select alias || '/' || model_version, count(*) from predictions "
                                         "group by 1").fetchall())  # fmt: skip
    assert logged == {"staging/2": len(by_challenger) + 20, "production/1": len(answers) - len(by_challenger)}


def test_a_shadow_scores_beside_the_champion_is_logged_and_never_returned(memory_scorer, challenger_scorer,
                                                                          tmp_path):  # fmt: skip
    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="production", flush_seconds=0.05)
    plan = TrafficPlan("production", "staging", "shadow", 100)
    with TestClient(_app(memory_scorer, challenger_scorer, plan, log)) as client:
        answers = [client.post("/invocations", json=ONE_ROW, headers={"X-Request-Id": f"s{n}"}) for n in range(200)]
        assert {a.json()["predictions"][0] for a in answers} == {LABEL_A}  # the champion's, always
        assert {a.headers["X-Model-Version"] for a in answers} == {"1"}
        bad = client.post("/invocations", json={"instances": [ROW_A[:-1]]})
        assert bad.status_code == 400
    # closed: the shadow scorer finished, then the log wrote everything
    with sqlite3.connect(tmp_path / "log.db") as connection:
        rows = connection.execute("select alias, model_version, served, prediction, count(*) from predictions "
                                  "group by 1, 2, 3, 4 order by 1").fetchall()  # fmt: skip
        shadowed = {r[0] for r in connection.execute("select request_id from predictions where served = 0")}
    assert rows == [("production", "1", 1.0, LABEL_A, 200), ("staging", "2", 0.0, rotated_label(LABEL_A), 200)]
    assert shadowed == {f"s{n}" for n in range(200)}


def test_the_shadow_s_agreement_is_counted(memory_scorer, challenger_scorer):
    metrics = Metrics(MODEL)
    config = ServingConfig(
        model_name=MODEL, alias="production", plan=TrafficPlan("production", "staging", "shadow", 100)
    )
    app = create_app(
        ModelSlot(memory_scorer), config, metrics=metrics, challenger=Challenger(ModelSlot(challenger_scorer))
    )
    with TestClient(app) as client:
        for _ in range(30):
            client.post("/invocations", json=ONE_ROW)
    text = metrics.exposition().decode()  # after the shadow scorer finished (the app stopped)
    assert f'model_shadow_rows_total{{agreement="disagree",alias="staging",model="{MODEL}",version="2"}} 30.0' in text
    assert f'model_shadow_requests_total{{alias="staging",model="{MODEL}",outcome="scored"}} 30.0' in text
