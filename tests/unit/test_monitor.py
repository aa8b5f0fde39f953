"""A monitoring pass as a function: each version against its own profile, accuracy from labels, M-of-N alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.data.contract import CONTRACT
from src.data.profile import ReferenceProfile
from src.monitoring.log_reader import LogError, Window
from src.monitoring.monitor import MonitoringResult, evaluate
from src.utils.config import MonitoringThresholds
from tests.pack import NUMERIC, OTHER, column_arrays, rotated_label


@pytest.fixture(scope="module")
def profile(bundled_frame, memory_scorer):
    columns = column_arrays(bundled_frame)
    predicted = memory_scorer.pipeline.predict(bundled_frame[list(CONTRACT.input_names)]).tolist()
    return ReferenceProfile.build(columns, bundled_frame[CONTRACT.target.name].tolist(), predicted, CONTRACT.classes)


def _predictions(bundled_frame, memory_scorer, rows: int, version: str, shift: float = 0.0, seed: int = 0):
    """Logged predictions of ``rows`` drawn from the data, ``NUMERIC`` moved by ``shift`` standard deviations."""
    sample = bundled_frame.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    moved = sample[NUMERIC.name] + shift * float(bundled_frame[NUMERIC.name].std())
    frame = sample[list(CONTRACT.input_names)].assign(**{NUMERIC.name: moved})
    return frame.assign(
        request_id=[f"{version}-{i}" for i in range(rows)], row=0, ts="2026-11-27T00:00:00.000+00:00",
        model_version=version, prediction=memory_scorer.pipeline.predict(frame), latency_ms=1.0,
        truth=sample[CONTRACT.target.name],
    )  # fmt: skip


def _window(predictions: pd.DataFrame, feedback: pd.DataFrame | None = None, refusals: int = 0) -> Window:
    refused = pd.DataFrame({"request_id": [f"x{i}" for i in range(refusals)], "reason": ["out_of_contract"] * refusals})
    labels = feedback if feedback is not None else pd.DataFrame(columns=["request_id", "label"])
    return Window(predictions, refused, labels, ())


def test_each_version_is_judged_against_its_own_profile(profile, bundled_frame, memory_scorer):
    steady = _predictions(bundled_frame, memory_scorer, 300, "1")
    shifted = _predictions(bundled_frame, memory_scorer, 300, "2", shift=0.6, seed=1)
    result = evaluate(_window(pd.concat([steady, shifted]), refusals=6), {"1": profile, "2": profile},
                      MonitoringThresholds(), model="m", alias="production", window_text="all")  # fmt: skip
    first, second = result.versions
    assert not first.breached and second.breached and second.drift.drifted_features == [NUMERIC.name]
    assert result.status == "drift" and result.refused_share == pytest.approx(6 / 606)
    metrics = result.metrics()
    assert metrics[f"drift_psi_{NUMERIC.name}"] > 0.2 > metrics[f"drift_psi_{OTHER}"]
    assert {"latency_p99_ms", "prediction_psi", "refused_share_out_of_contract"} <= set(metrics)


def test_labels_that_came_back_give_accuracy_and_recall(profile, bundled_frame, memory_scorer):
    rows = _predictions(bundled_frame, memory_scorer, 250, "1")
    feedback = rows[["request_id"]].assign(label=rows["truth"]).head(100)
    wrong = feedback.assign(label=feedback["label"].map(rotated_label))
    result = evaluate(_window(rows, pd.concat([feedback.head(90), wrong.tail(10)])), {"1": profile},
                      MonitoringThresholds(), model="m", alias="production", window_text="all")  # fmt: skip
    (version,) = result.versions
    expected = (rows.head(100)["prediction"] == pd.concat([feedback.head(90), wrong.tail(10)])["label"].values).mean()
    assert version.labelled == 100 and version.accuracy == pytest.approx(expected)
    assert set(version.recall) <= set(CONTRACT.classes)


def test_a_small_window_or_a_version_without_profile_is_never_an_alarm(profile, bundled_frame, memory_scorer):
    small = _predictions(bundled_frame, memory_scorer, 50, "1", shift=2.0)
    result = evaluate(_window(small), {"1": profile}, MonitoringThresholds(), model="m", alias="p", window_text="w")
    assert result.status == "insufficient data" and not result.alert
    old = _predictions(bundled_frame, memory_scorer, 300, "1", shift=2.0)
    result = evaluate(_window(old), {"1": None}, MonitoringThresholds(), model="m", alias="p", window_text="w")
    assert result.versions[0].drift is None and result.status == "insufficient data"


@pytest.mark.parametrize(("now", "before", "alert"), [
    (True, [False, False], False), (True, [True, False], True), (True, [False, True], True),
    (False, [True, True], False),
])  # fmt: skip
def test_an_alert_fires_when_m_of_the_last_n_windows_breached(
    profile, bundled_frame, memory_scorer, now, before, alert
):
    rows = _predictions(bundled_frame, memory_scorer, 300, "1", shift=0.6 if now else 0.0, seed=3)
    result = evaluate(_window(rows), {"1": profile}, MonitoringThresholds(), model="m", alias="p", window_text="w")
    result.recent_breaches = before
    assert result.breached is now and result.alert is alert


def test_the_result_serialises_to_json(profile, bundled_frame, memory_scorer):
    import json

    result = evaluate(_window(_predictions(bundled_frame, memory_scorer, 300, "1")), {"1": profile},
                      MonitoringThresholds(), model="m", alias="p", window_text="w")  # fmt: skip
    content = json.loads(json.dumps(result.to_dict(), default=str))
    assert content["status"] == "ok" and content["versions"][0]["version"] == "1"
    assert isinstance(result, MonitoringResult) and np.isfinite(result.metrics()["latency_p50_ms"])


def test_a_logged_input_that_is_not_a_number_is_an_error_not_a_verdict(profile, bundled_frame, memory_scorer):
    rows = _predictions(bundled_frame, memory_scorer, 250, "1").astype({NUMERIC.name: object})
    rows.loc[3, NUMERIC.name] = "n/a"
    with pytest.raises(LogError, match=rf"1 logged value\(s\) of '{NUMERIC.name}' are not numbers.*'1-3'"):
        evaluate(_window(rows), {"1": profile}, MonitoringThresholds(), model="m", alias="production",
                 window_text="all")  # fmt: skip


def test_a_derived_feature_is_recomputed_with_the_version_s_own_formula(bundled_frame, memory_scorer):
    columns = column_arrays(bundled_frame)
    columns["double_v9"] = columns[NUMERIC.name] * 2
    predicted = memory_scorer.pipeline.predict(bundled_frame[list(CONTRACT.input_names)]).tolist()
    profile = ReferenceProfile.build(columns, bundled_frame[CONTRACT.target.name].tolist(), predicted, CONTRACT.classes,
                                     {"double_v9": f"{NUMERIC.name} * 2"})  # fmt: skip
    assert profile.inputs == list(CONTRACT.input_names)
    shifted = _predictions(bundled_frame, memory_scorer, 300, "1", shift=0.9, seed=2)
    result = evaluate(_window(shifted), {"1": profile}, MonitoringThresholds(), model="m", alias="production",
                      window_text="all")  # fmt: skip
    assert "double_v9" in {f.name for f in result.versions[0].drift.features}
    assert result.versions[0].drift.features[-1].psi > 0.2  # the shifted input, doubled


def test_the_summary_names_the_drifted_features_none_or_why_not_judged(profile, bundled_frame, memory_scorer):
    steady = _predictions(bundled_frame, memory_scorer, 300, "1")
    shifted = _predictions(bundled_frame, memory_scorer, 300, "2", shift=0.6, seed=1)
    few = _predictions(bundled_frame, memory_scorer, 5, "3", seed=2)
    result = evaluate(_window(pd.concat([steady, shifted, few])), {"1": profile, "2": profile, "3": profile},
                      MonitoringThresholds(), model="m", alias="production", window_text="all")  # fmt: skip
    assert [v.drift_summary for v in result.versions] == ["none", NUMERIC.name, "not judged (too few requests)"]
    unprofiled = evaluate(_window(steady), {"1": None}, MonitoringThresholds(), model="m", alias="production",
                          window_text="all")  # fmt: skip
    assert unprofiled.versions[0].drift_summary == "not judged (no reference profile)"
