"""The shadow scorer: batches scored with the challenger's own contract, refusals logged as its own, a backlog
bounded and counted, and a challenger that breaks never takes the endpoint down."""

from __future__ import annotations

import json
import sqlite3

from src.components.alias_watcher import ModelSlot
from src.components.inference_log import InferenceLog
from src.components.serving_metrics import Metrics
from src.components.shadow import ShadowScorer
from tests.pack import LABEL_A, MODEL, ROW_A, ROW_B, rotated_label

JSON = "application/json"


def _body(*rows) -> bytes:
    return json.dumps({"instances": list(rows)}).encode()


def _count(metrics: Metrics, outcome: str) -> float:
    labels = {"model": MODEL, "alias": "staging", "outcome": outcome}
    return metrics.registry.get_sample_value("model_shadow_requests_total", labels) or 0.0


def test_a_batch_is_scored_in_one_call_and_each_answer_logged_as_a_shadow(challenger_scorer, tmp_path):
    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="production")
    metrics = Metrics(MODEL)
    shadow = ShadowScorer(ModelSlot(challenger_scorer), "staging", metrics, log)
    shadow.score([("a", _body(ROW_A), JSON, [LABEL_A]), ("b", _body(ROW_A, ROW_B), JSON, [LABEL_A, "x"]),
                  ("c", _body(ROW_A[:-1]), JSON, [LABEL_A])])  # fmt: skip
    log.start()
    log.close()
    with sqlite3.connect(tmp_path / "log.db") as connection:
        rows = connection.execute("select request_id, row, alias, model_version, served, prediction "
                                  "from predictions order by 1, 2").fetchall()  # fmt: skip
        refused = connection.execute("select request_id, alias, reason from refusals").fetchall()
    assert [r[:5] for r in rows] == [("a", 0.0, "staging", "2", 0.0), ("b", 0.0, "staging", "2", 0.0),
                                     ("b", 1.0, "staging", "2", 0.0)]  # fmt: skip
    assert rows[0][5] == rotated_label(LABEL_A)
    assert refused == [("c", "staging", "bad_input")]
    assert (_count(metrics, "scored"), _count(metrics, "refused")) == (2.0, 1.0)


def test_a_backlog_is_bounded_and_counted(challenger_scorer):
    metrics = Metrics(MODEL)
    shadow = ShadowScorer(ModelSlot(challenger_scorer), "staging", metrics, None, max_pending=3)  # not started
    for n in range(5):
        shadow.submit(f"r{n}", _body(ROW_A), JSON, [LABEL_A])
    assert _count(metrics, "dropped") == 2.0
    shadow.start()
    shadow.close()
    assert _count(metrics, "scored") == 3.0


def test_a_challenger_that_breaks_is_counted_and_the_scorer_goes_on(challenger_scorer, monkeypatch):
    metrics = Metrics(MODEL)
    shadow = ShadowScorer(ModelSlot(challenger_scorer), "staging", metrics, None)
    calls = {"n": 0}
    original = ShadowScorer.score

    def broken_once(self, batch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the challenger's pipeline blew up")
        return original(self, batch)

    monkeypatch.setattr(ShadowScorer, "score", broken_once)
    shadow.submit("lost", _body(ROW_A), JSON, [LABEL_A])
    shadow.start()
    from tests.conftest import eventually

    eventually(lambda: _count(metrics, "failed") == 1.0, "the failure counted")
    shadow.submit("kept", _body(ROW_A), JSON, [LABEL_A])
    shadow.close()
    assert _count(metrics, "scored") == 1.0
