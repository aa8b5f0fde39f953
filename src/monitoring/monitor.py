"""One monitoring pass: a window of the inference log judged against each serving version's reference profile.

``evaluate`` is pure (a window and profiles in, a result out). ``run`` adds
the backends: it reads each version's profile from its training run, records
the pass as a run in the model's experiment (metrics ``drift_psi_<feature>``
and friends, tags naming model, version and alias, the JSON result and the
HTML report as artifacts, so the MLflow UI charts drift over time), and
decides the alert from the last ``alert_n`` passes (``alert_m`` breaches).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from src.data.profile import PROFILE_ARTIFACT, CategoryProfile, ReferenceProfile
from src.features.expressions import compiled
from src.models.model_registry import Registry, VersionInfo
from src.monitoring.drift import DriftResult, Thresholds, drift
from src.monitoring.log_reader import LogError, Window, percentiles
from src.utils import mlflow_utils
from src.utils.config import Settings
from src.utils.keys import Tag
from src.utils.naming import run_name

TAG_ALIAS = "monitoring.alias"
TAG_MODEL = "monitoring.model"
TAG_VERSIONS = "monitoring.versions"
TAG_BREACHED = "monitoring.breached"
TAG_STATUS = "monitoring.status"


@dataclass(frozen=True)
class VersionReport:
    """One serving version in the window."""

    version: str
    requests: int
    rows: int
    drift: DriftResult | None  #: None when the version has no reference profile (trained before monitoring)
    latency: Mapping[str, float]
    labelled: int
    accuracy: float | None
    recall: Mapping[str, float]

    @property
    def breached(self) -> bool:
        return self.drift is not None and self.drift.breached

    @property
    def drift_summary(self) -> str:
        """What a person reads of the version's drift: the drifted features, ``none``, or why it was not judged."""
        if self.drift is None:
            return "not judged (no reference profile)"
        if not self.drift.sufficient:
            return "not judged (too few requests)"
        return ", ".join(self.drift.drifted_features) or "none"


@dataclass
class MonitoringResult:
    """A pass over one window: per version, data quality, and whether an alert fires."""

    model: str
    alias: str
    window: str
    files: list[str]
    requests: int
    refused: int
    refusals_by_reason: dict[str, int]
    versions: list[VersionReport]
    recent_breaches: list[bool] = field(default_factory=list)  #: earlier passes, newest first
    thresholds: Thresholds = field(default_factory=Thresholds)  # type: ignore[arg-type]
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def breached(self) -> bool:
        return any(v.breached for v in self.versions)

    @property
    def sufficient(self) -> bool:
        return any(v.drift is not None and v.drift.sufficient for v in self.versions)

    @property
    def status(self) -> str:
        if not self.sufficient:
            return "insufficient data"
        return "drift" if self.breached else "ok"

    @property
    def alert(self) -> bool:
        """``alert_m`` of the last ``alert_n`` passes breached, this one included (never on insufficient data)."""
        window = [self.breached, *self.recent_breaches][: self.thresholds.alert_n]
        return self.breached and sum(window) >= self.thresholds.alert_m

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0

    def metrics(self) -> dict[str, float]:
        """What the monitoring run logs: drift, quality, latency and accuracy of the newest version."""
        values: dict[str, float] = {"requests": float(self.requests), "refused_share": self.refused_share}
        values |= {f"refused_share_{reason}": count / max(self.requests, 1)
                   for reason, count in self.refusals_by_reason.items()}  # fmt: skip
        if not self.versions:
            return values
        newest = max(self.versions, key=lambda v: int(v.version))
        values |= dict(newest.latency)
        if newest.accuracy is not None:
            values["accuracy"] = newest.accuracy
        if newest.drift is not None and newest.drift.sufficient:
            for feature in newest.drift.features:
                values[f"drift_psi_{feature.name}"] = feature.psi
                values[f"drift_ks_{feature.name}"] = feature.ks
            if newest.drift.prediction is not None:
                values["prediction_psi"] = newest.drift.prediction.psi
                values["prediction_chi2_pvalue"] = newest.drift.prediction.pvalue
        return values

    def to_dict(self) -> dict[str, Any]:
        content = asdict(self)
        content |= {"status": self.status, "breached": self.breached, "alert": self.alert,
                    "refused_share": self.refused_share}  # fmt: skip
        return content


def _features(predictions: pd.DataFrame, profile: ReferenceProfile, version: str) -> dict[str, np.ndarray]:
    """The window's inputs as the version's profile knows them, and its derived features recomputed from them
    with the version's own formulas. A number that is not one, or an input the log lacks, is a LogError."""
    columns: dict[str, np.ndarray] = {}
    for name in profile.inputs:
        if name not in predictions:
            raise LogError(f"the inference log has no column {name!r}, an input of version {version}")
        values = predictions[name]
        if isinstance(profile.columns[name], CategoryProfile):
            columns[name] = values.astype(object).where(values.notna(), None).to_numpy()
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        corrupt = numbers.isna() & values.notna()
        if corrupt.any():
            first = predictions.loc[corrupt, "request_id"].head(3).tolist()
            raise LogError(f"{int(corrupt.sum())} logged value(s) of {name!r} are not numbers (version {version}), "
                           f"first in requests {first}; repair or remove them, nothing was judged")  # fmt: skip
        columns[name] = numbers.to_numpy(dtype=float)
    for name, reference in profile.columns.items():
        formula = getattr(reference, "formula", "")
        if formula and len(predictions):
            columns[name] = compiled(formula).evaluate(columns)
    return columns


def _accuracy(
    predictions: pd.DataFrame, feedback: pd.DataFrame, classes: list[str]
) -> tuple[int, float | None, dict[str, float]]:
    """Labelled one-row requests: how many, accuracy, recall per class (a label names a request, not a row)."""
    if feedback.empty or predictions.empty:
        return 0, None, {}
    labelled = predictions[predictions["request_id"].isin(feedback["request_id"])]
    multi_row = set(labelled.loc[labelled["row"] > 0, "request_id"])
    labelled = labelled[~labelled["request_id"].isin(multi_row)] if multi_row else labelled
    if labelled.empty:
        return 0, None, {}
    truth = labelled["request_id"].map(feedback.set_index("request_id")["label"])
    right = labelled["prediction"] == truth
    recall = {c: float(right[truth == c].mean()) for c in classes if (truth == c).any()}
    return len(labelled), float(right.mean()), recall


def _version_report(version: str, rows: pd.DataFrame, feedback: pd.DataFrame, profile: ReferenceProfile | None,
                    thresholds: Thresholds) -> VersionReport:  # fmt: skip
    per_request = rows.loc[rows["row"] == 0, "latency_ms"].to_numpy(dtype=float)  # a request's first row
    result = None
    if profile is not None:
        unknown = rows.loc[~rows["prediction"].isin(list(profile.class_priors)), "request_id"]
        if len(unknown):
            raise LogError(f"{len(unknown)} logged prediction(s) of version {version} are not its classes "
                           f"{list(profile.class_priors)}, first in requests {unknown.head(3).tolist()}")  # fmt: skip
        result = drift(profile, _features(rows, profile, version), rows["prediction"].tolist(), thresholds)
    classes = list(profile.class_priors) if profile is not None else sorted(set(rows["prediction"]))
    labelled, accuracy, recall = _accuracy(rows, feedback, classes)
    return VersionReport(version, len(per_request), len(rows), result, percentiles(per_request), labelled, accuracy,
                         recall)  # fmt: skip


def evaluate(
    window: Window, profiles: Mapping[str, ReferenceProfile | None], thresholds: Thresholds, *, model: str, alias: str,
    window_text: str,
) -> MonitoringResult:  # fmt: skip
    """Judge the window: each version against its own profile."""
    predictions = window.predictions
    versions = [
        _version_report(version, rows, window.feedback, profiles.get(str(version)), thresholds)
        for version, rows in sorted(predictions.groupby("model_version"), key=lambda item: int(item[0]))
    ]
    reasons = window.refusals["reason"].value_counts().to_dict() if len(window.refusals) else {}
    return MonitoringResult(model, alias, window_text, [str(f) for f in window.files], window.requests,
                            len(window.refusals), {str(k): int(v) for k, v in reasons.items()}, versions,
                            thresholds=thresholds)  # fmt: skip


def version_tags(result: MonitoringResult) -> dict[str, str]:
    return {
        TAG_MODEL: result.model,
        TAG_ALIAS: result.alias,
        TAG_VERSIONS: ",".join(v.version for v in result.versions),
        TAG_BREACHED: str(result.breached).lower(),
        TAG_STATUS: result.status,
    }


def prometheus_text(result: MonitoringResult, now: float) -> str:
    """The pass as Prometheus text (node_exporter's textfile collector): what monitoring/alerts.yml alerts on."""
    labels = f'model="{result.model}",alias="{result.alias}"'
    lines = [
        "# HELP model_monitoring_alert 1 when M of the last N monitoring windows drifted",
        "# TYPE model_monitoring_alert gauge",
        f"model_monitoring_alert{{{labels}}} {int(result.alert)}",
        "# HELP model_monitoring_breached 1 when the last window drifted",
        "# TYPE model_monitoring_breached gauge",
        f"model_monitoring_breached{{{labels}}} {int(result.breached)}",
        "# HELP model_monitoring_last_run_timestamp_seconds When the last monitoring pass ran",
        "# TYPE model_monitoring_last_run_timestamp_seconds gauge",
        f'model_monitoring_last_run_timestamp_seconds{{alias="{result.alias}"}} {now:.0f}',
        "# HELP model_monitoring_drift_psi PSI of each feature in the last window (newest version)",
        "# TYPE model_monitoring_drift_psi gauge",
    ]
    for name, value in result.metrics().items():
        if name.startswith("drift_psi_"):
            lines.append(
                f'model_monitoring_drift_psi{{{labels},feature="{name.removeprefix("drift_psi_")}"}} {value:.6g}'
            )
    return "\n".join(lines) + "\n"


def reference_profiles(versions: Mapping[str, VersionInfo]) -> dict[str, ReferenceProfile | None]:
    """Each version's profile, from the training run that registered it (``None`` if it logged none)."""
    profiles: dict[str, ReferenceProfile | None] = {}
    for number, info in versions.items():
        content = mlflow_utils.load_json_artifact(info.run_id, PROFILE_ARTIFACT) if info.run_id else None
        profiles[number] = ReferenceProfile.from_dict(content) if content else None
    return profiles


def run_pass(
    settings: Settings, alias: str, window: Window, window_text: str, thresholds: Thresholds,
    report: Callable[[MonitoringResult, list[mlflow_utils.RunRecord]], str],
) -> tuple[MonitoringResult, str, str]:  # fmt: skip
    """Judge the window, decide the alert from past passes, record the pass as a run; (result, html, run_id)."""
    model = settings.model_name_for(alias)
    registry = Registry()
    numbers = sorted({str(v) for v in window.predictions["model_version"].unique()}, key=int)
    versions = {number: registry.version(model, number) for number in numbers}  # one registry read each
    result = evaluate(window, reference_profiles(versions), thresholds, model=model, alias=alias,
                      window_text=window_text)  # fmt: skip
    experiment_id = mlflow_utils.ensure_monitoring_experiment(settings)
    history = mlflow_utils.recent_runs(experiment_id, {TAG_ALIAS: alias, TAG_MODEL: model}, limit=50)
    result.recent_breaches = [run.tags.get(TAG_BREACHED) == "true" for run in history[: thresholds.alert_n - 1]]
    html = report(result, history)
    semantic = versions[numbers[-1]].tags.get(Tag.MODEL_VERSION) if numbers else None
    semantic = semantic or "0.0.0"  # a window with no answered request, or a version without the tag
    name = run_name(semantic, "monitoring")
    tags = {**version_tags(result), Tag.MODEL_VERSION.value: semantic, "monitoring.alert": str(result.alert).lower()}
    description = (f"Monitoring of {model}@{alias}, {window_text}: {result.requests} requests, "
                   f"{result.status}{' (ALERT)' if result.alert else ''}")  # fmt: skip
    with mlflow_utils.tracked_run(experiment_id, name, tags, description) as run:
        mlflow_utils.log_metrics(result.metrics())
        mlflow_utils.log_dict(result.to_dict(), "monitoring/result.json")
        mlflow_utils.log_text(html, "monitoring/report.html")
    return result, html, run.info.run_id
