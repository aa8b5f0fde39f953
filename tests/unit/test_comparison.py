"""Champion against challenger: agreement on shadowed rows, class-share drift between them, refusals, latency and
live accuracy, each problem named in the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.monitoring.comparison import CanaryRules, compare
from src.monitoring.log_reader import Window

CLASSES = ["a", "b", "c"]


def _window(predictions: list[str], *, prefix: str = "r", served: int = 1, latency: float = 1.0,
            refusals: int = 0, labels: dict[str, str] | None = None, version: str = "1") -> Window:  # fmt: skip
    rows = pd.DataFrame({
        "request_id": [f"{prefix}{n}" for n in range(len(predictions))], "row": 0.0,
        "model_version": version, "prediction": predictions, "latency_ms": latency, "served": float(served),
    })  # fmt: skip
    refused = pd.DataFrame({"request_id": [f"bad{n}" for n in range(refusals)], "reason": "bad_input"})
    feedback = pd.DataFrame(list((labels or {}).items()), columns=["request_id", "label"])
    return Window(rows, refused, feedback, ("log.db",))


def _traffic(n: int, seed: int) -> list[str]:
    return list(np.random.default_rng(seed).choice(CLASSES, size=n))


def test_a_shadow_that_agrees_is_fit_and_its_agreement_is_measured_on_the_same_rows():
    answers = _traffic(400, 0)
    shadow = answers[:380] + ["a" if x != "a" else "b" for x in answers[380:]]
    result = compare(("production", _window(answers)), ("staging", _window(shadow, served=0, version="2")),
                     CanaryRules())  # fmt: skip
    assert result.fit and result.problems == []
    assert result.common_rows == 400 and result.agreement == 0.95
    assert result.challenger.versions == ("2",) and "FIT to take over" in result.summary()


def test_a_canary_is_judged_on_its_own_requests_and_each_problem_is_named():
    champion = _window(_traffic(1000, 1), latency=1.0, refusals=5)
    skewed = ["a"] * 250 + _traffic(50, 2)  # its class shares are not the champion's
    canary = _window(skewed, prefix="c", latency=9.0, refusals=40, version="2")
    result = compare(("production", champion), ("staging", canary), CanaryRules())
    assert result.agreement is None and not result.fit  # a canary answers other requests: no agreement
    text = "; ".join(result.problems)
    assert "refuses 11.8% of requests" in text and "p99 9.00 ms over 5.00 ms" in text
    assert "class shares differ" in text


def test_too_little_traffic_or_worse_live_accuracy_is_not_fit():
    truth = {f"r{n}": "a" for n in range(100)}
    champion = _window(["a"] * 100, labels=truth)
    worse = _window(["a"] * 60 + ["b"] * 40, labels=truth, version="2")
    result = compare(("production", champion), ("staging", worse), CanaryRules(min_requests=10, prediction_psi=9))
    assert result.problems == ["live accuracy 0.600, the champion 1.000"]
    few = compare(("production", champion), ("staging", _window(["a"] * 5)), CanaryRules())
    assert few.problems == ["5 requests, fewer than the 200 a verdict needs"]
