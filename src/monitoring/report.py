"""The monitoring report people look at: one self-contained HTML page (plots inline as PNG, no network).

Per version: reference vs current share of each feature's bins (labelled with
their value ranges, or categories) with the reason for each verdict, class
shares (held-out reference vs served), and the PSI of past passes against the
drift threshold (from the MLflow runs of earlier windows), then data quality,
latency and live accuracy. Plots at 130 dpi with 9-10 pt text: legible on a
laptop screen and in a printed page.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from src.monitoring.drift import FeatureDrift, PredictionDrift
from src.monitoring.monitor import MonitoringResult, VersionReport

if TYPE_CHECKING:
    from src.utils.mlflow_utils import RunRecord

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th{background:#f3f3f3}
.ok{color:#1a7f37}.drift{color:#b42318;font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:.5rem}
.badge{display:inline-block;padding:.15rem .5rem;border-radius:.3rem;background:#eee}
figure{margin:0;max-width:520px}figcaption{font-size:.85rem;color:#444;margin:.1rem .3rem .8rem}
img{max-width:100%}"""
#: Resolution and text sizes of every plot.
DPI, TEXT, SMALL = 130, 10, 9


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _bars(title: str, labels: Sequence[str], reference: Sequence[float], current: Sequence[float]) -> str:
    figure, axes = plt.subplots(figsize=(5.2, 3.0))
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], reference, width=0.4, label="reference", color="#8da0cb")
    axes.bar([p + 0.2 for p in positions], current, width=0.4, label="window", color="#fc8d62")
    long = len(labels) > 4 or max((len(label) for label in labels), default=0) > 8
    axes.set_xticks(
        list(positions), labels, fontsize=SMALL, rotation=40 if long else 0, ha="right" if long else "center"
    )
    axes.set_ylabel("share of rows", fontsize=SMALL)
    axes.set_title(title, fontsize=TEXT)
    axes.tick_params(axis="y", labelsize=SMALL)
    axes.legend(fontsize=SMALL)
    return _png(figure)


def _captioned(plot: str, caption: str, drifted: bool) -> str:
    css = "drift" if drifted else "ok"
    return f"<figure>{plot}<figcaption class='{css}'>{html.escape(caption)}</figcaption></figure>"


def _feature_plot(feature: FeatureDrift) -> str:
    labels = list(feature.bins) or [f"bin {i + 1}" for i in range(len(feature.reference_shares))]
    title = f"{feature.name} ({'DRIFT' if feature.drifted else 'ok'})"
    plot = _bars(title, labels, feature.reference_shares, feature.current_shares)
    return _captioned(plot, feature.reason or f"PSI {feature.psi:.3f}, p {feature.ks_pvalue:.2g}", feature.drifted)


def _prediction_plot(prediction: PredictionDrift) -> str:
    classes = list(prediction.reference_shares)
    plot = _bars(f"predicted classes ({'DRIFT' if prediction.drifted else 'ok'})", classes,
                 [prediction.reference_shares[c] for c in classes],
                 [prediction.current_shares[c] for c in classes])  # fmt: skip
    return _captioned(plot, prediction.reason or f"PSI {prediction.psi:.3f}, chi2 p {prediction.pvalue:.2g}",
                      prediction.drifted)  # fmt: skip


def _history_plot(history: Sequence[RunRecord], current: dict[str, float], threshold: float) -> str:
    series = sorted({k for run in history for k in run.metrics if k.startswith("drift_psi_")} | set(current))
    series = [name for name in series if name.startswith("drift_psi_")]
    if not series:
        return "<p>No pass recorded drift scores yet (windows too small, or no reference profile).</p>"
    runs = list(reversed(history))
    count = len(runs) + 1
    figure, axes = plt.subplots(figsize=(8, 3.2))
    for name in series:
        values = [run.metrics.get(name) for run in runs] + [current.get(name)]
        axes.plot(range(count), [v if v is not None else float("nan") for v in values], marker="o",
                  label=name.removeprefix("drift_psi_"))  # fmt: skip
    axes.axhline(threshold, color="#b42318", linestyle="--", linewidth=1, label=f"drift threshold (PSI {threshold:g})")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(-0.5, count - 0.5)  # one pass is one column of points, not a lone dot on an empty axis
    ticks = list(range(count))
    axes.set_xticks(ticks, [*(f"{i - count + 1}" for i in ticks[:-1]), "this pass"], fontsize=SMALL)
    axes.set_xlabel("pass (earlier ones: how many before this one)", fontsize=SMALL)
    axes.set_ylabel("PSI", fontsize=SMALL)
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="y", labelsize=SMALL)
    axes.set_title("Drift of this and past windows" if count > 1 else "Drift of this window (the first pass)",
                   fontsize=TEXT)  # fmt: skip
    axes.legend(fontsize=SMALL, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.25))
    return _png(figure)


def _version_section(report: VersionReport) -> str:
    parts = [f"<h2>Version {html.escape(report.version)}: {report.requests} requests, {report.rows} rows</h2>"]
    if report.drift is None:
        parts.append("<p>No reference profile: this version was trained before monitoring; drift not judged.</p>")
    elif not report.drift.sufficient:
        parts.append(f"<p class='badge'>insufficient data: {report.drift.rows} rows</p>")
    else:
        verdict = "drift" if report.breached else "ok"
        drifted = ", ".join(report.drift.drifted_features) or "none"
        parts.append(f"<p class='{verdict}'>{verdict.upper()}: drifted features: {html.escape(drifted)}. A feature "
                     "drifts when its test says the difference is real and its PSI says it is large; each plot says "
                     "which held.</p>")  # fmt: skip
        plots = [_feature_plot(feature) for feature in report.drift.features]
        if report.drift.prediction is not None:
            plots.append(_prediction_plot(report.drift.prediction))
        parts.append("<div class='grid'>" + "".join(plots) + "</div>")
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.2f}</td></tr>" for k, v in report.latency.items())
    accuracy = f"{report.accuracy:.3f} on {report.labelled} labelled requests" if report.accuracy is not None else (
        "no labels came back (POST /feedback)")  # fmt: skip
    recall = ", ".join(f"{k} {v:.2f}" for k, v in report.recall.items())
    parts.append(f"<table>{rows}<tr><th>live accuracy</th><td>{html.escape(accuracy)}</td></tr>"
                 f"<tr><th>recall per class</th><td>{html.escape(recall or '-')}</td></tr></table>")  # fmt: skip
    return "\n".join(parts)


def render(result: MonitoringResult, history: Sequence[RunRecord]) -> str:
    """The whole report as one HTML document."""
    status = result.status
    css = "drift" if status == "drift" else "ok"
    reasons = "".join(f"<tr><th>{html.escape(r)}</th><td>{n}</td><td>{n / max(result.requests, 1):.1%}</td></tr>"
                      for r, n in sorted(result.refusals_by_reason.items()))  # fmt: skip
    body = [
        f"<h1>Monitoring {html.escape(result.model)}@{html.escape(result.alias)}</h1>",
        f"<p>Window: {html.escape(result.window)} &middot; {result.requests} requests &middot; pass at "
        f"{html.escape(result.at)} &middot; <span class='{css}'>{status.upper()}</span>"
        f"{' &middot; <b class=drift>ALERT</b>' if result.alert else ''}</p>",
        f"<h2>Data quality</h2><p>Refused: {result.refused} ({result.refused_share:.1%})</p>",
        f"<table><tr><th>reason</th><th>requests</th><th>share</th></tr>{reasons}</table>" if reasons else "",
        *(_version_section(v) for v in result.versions),
        "<h2>Drift over time</h2>",
        _history_plot(history, result.metrics(), result.thresholds.psi),
        f"<p>Logs read: {html.escape(', '.join(result.files))}</p>",
    ]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Monitoring {html.escape(result.alias)}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip
