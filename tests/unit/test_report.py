"""The HTML report: self-contained (plots inline, no external resource), one plot per feature and the class shares."""

from __future__ import annotations

import html
import re

import pandas as pd

from src.data.contract import CONTRACT
from src.data.profile import ReferenceProfile
from src.monitoring.log_reader import Window
from src.monitoring.monitor import evaluate
from src.monitoring.report import render
from src.utils.config import MonitoringThresholds
from src.utils.mlflow_utils import RunRecord
from tests.pack import NUMERIC


def test_the_report_is_one_self_contained_page(bundled_frame, memory_scorer):
    raw = bundled_frame[list(CONTRACT.input_names)]
    predicted = memory_scorer.pipeline.predict(raw)
    columns = {c: raw[c].to_numpy() for c in CONTRACT.input_names}
    labels = bundled_frame[CONTRACT.target.name].tolist()
    profile = ReferenceProfile.build(columns, labels, predicted.tolist(), CONTRACT.classes)
    rows = pd.concat([raw] * 2, ignore_index=True)
    predictions = rows.assign(request_id=[f"r{i}" for i in range(len(rows))], row=0, ts="t", model_version="3",
                              prediction=list(predicted) * 2, latency_ms=1.0)  # fmt: skip
    window = Window(predictions, pd.DataFrame({"request_id": ["x"], "reason": ["bad_input"]}),
                    pd.DataFrame(columns=["request_id", CONTRACT.target.name]), ())  # fmt: skip
    result = evaluate(window, {"3": profile}, MonitoringThresholds(), model="m", alias="production", window_text="w")
    history = [RunRecord("a", 1, {}, {f"drift_psi_{NUMERIC.name}": 0.01}), RunRecord("b", 2, {}, {})]
    page = render(result, history)
    assert page.startswith("<!doctype html>") and "Monitoring m@production" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(CONTRACT.input_names) + 1 + 1
    assert not re.search(r'(src|href)="https?://', page)  # nothing to fetch: it opens offline
    assert "bad_input" in page and "no labels came back" in page
    feature = next(f for f in result.versions[0].drift.features if f.name == NUMERIC.name)
    assert feature.bins[0].startswith("<= ") and feature.bins[-1] == "missing"  # ranges, not b1..b10
    assert len(feature.bins) == len(feature.reference_shares)
    assert feature.reason.startswith("ok: ") and html.escape(feature.reason) in page  # the reason under its plot
