"""The endpoint's Prometheus metrics: requests, refusals by reason, latency, predicted classes, reloads, shadows.

Every name starts with ``model_`` and every series carries the served model's
name as its ``model`` label, so one Prometheus scrapes the endpoints of many
models with one set of alert rules (``monitoring/alerts.yml``). Requests,
refusals, latency and predictions also carry the ``alias`` and ``version``
that answered (``lane``): a champion and its canary are told apart, and rules
that sum by model still see the whole endpoint.

Each app gets its own registry, so several apps in one process (tests, a
benchmark) never mix their counts. Under several workers
(``src.components.workers``) every value also lands in the shared files,
and ``exposition`` sums all workers: a scrape of any worker sees the whole
endpoint. Gauges that describe one worker (the version it serves) keep a
``pid`` label instead of being summed. The served version is an info series,
as Prometheus names them: ``model_version_info{model, alias, version} 1``.
One process also exposes the usual ``process_*``, ``python_gc_*`` and
``python_info`` series; several workers do not (prometheus_client cannot sum
them across processes). No ``_created`` series: they double every counter's
series and no rule reads them. Which of the two an app is, its
``shared_dir`` says, never the environment: ``import feast`` sets
``PROMETHEUS_MULTIPROC_DIR`` to a directory of its own, which every process
started afterwards inherits.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from src.components.workers import alive

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


#: The endpoint's metric names start with this.
PREFIX = "model_"


class _EndpointMetricsOnly(Collector):
    """The endpoint's metrics of a shared directory, without the (zero) ones Feast creates in every worker.

    Feast's feature-server metrics are created when a worker imports Feast for
    the online lookup; in multiprocess mode their values land in the same
    files. A single process never shows them (its registry is its own), so
    several workers must not either.
    """

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Metric]:
        return (metric for metric in self.collector.collect() if metric.name.startswith(PREFIX))


class Lane:
    """The series of one alias and version: their children made once (``labels`` costs ~1 us a call)."""

    def __init__(self, metrics: Metrics, alias: str, version: str) -> None:
        model = metrics.model_name
        self._labels = (model, alias, version)
        self._metrics = metrics
        self.latency = metrics._latency.labels(model, alias, version)
        self._requests: dict[str, Counter] = {}
        self._errors: dict[str, Counter] = {}
        self._rows: dict[str, Counter] = {}

    def requests(self, status: str) -> Counter:
        found = self._requests.get(status)
        if found is None:
            found = self._requests[status] = self._metrics._requests.labels(*self._labels, status)
        return found

    def errors(self, reason: str) -> Counter:
        found = self._errors.get(reason)
        if found is None:
            found = self._errors[reason] = self._metrics._errors.labels(*self._labels, reason)
        return found

    def rows(self, prediction: str) -> Counter:
        found = self._rows.get(prediction)
        if found is None:
            found = self._rows[prediction] = self._metrics._rows.labels(*self._labels, prediction)
        return found


class Metrics:
    """Prometheus metrics of one endpoint (its own registry, so apps in one process do not mix)."""

    def __init__(self, model: str = "", shared_dir: Path | None = None) -> None:
        """``model``: the served model's name (every series' ``model`` label); ``shared_dir``: the workers'
        metrics directory, or None for a single process."""
        self.model_name, self.shared_dir = model, shared_dir
        disable_created_metrics()  # process-wide, and idempotent
        self.registry = registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)  # this process's own figures (not shown under several workers)
        answered = ["model", "alias", "version"]
        self._requests = Counter("model_requests_total", "Scoring requests by HTTP status", [*answered, "status"],
                                 registry=registry)  # fmt: skip
        self._errors = Counter("model_request_errors_total", "Refused requests by reason", [*answered, "reason"],
                               registry=registry)  # fmt: skip
        self._latency = Histogram(
            "model_request_latency_seconds",
            "Time spent in /invocations",
            answered,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self._rows = Counter("model_predictions_total", "Predicted rows by class", [*answered, "prediction"],
                             registry=registry)  # fmt: skip
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._shadow = Counter("model_shadow_requests_total", "Requests scored in shadow by outcome",
                               ["model", "alias", "outcome"], registry=registry)  # fmt: skip
        self._shadow_rows = Counter("model_shadow_rows_total", "Shadow-scored rows: agree or disagree with the "
                                    "answer returned", ["model", "alias", "version", "agreement"],
                                    registry=registry)  # fmt: skip
        self.model = Gauge("model_version_info", "The version being served (1; 0: served before, by a worker)",
                           ["model", "alias", "version"], registry=registry, multiprocess_mode="liveall")  # fmt: skip
        self._served: dict[str, str] = {}
        self._reloads = Counter("model_reloads_total", "Alias reloads by outcome", ["model", "outcome"],
                                registry=registry)  # fmt: skip
        self.feedback = Counter("model_feedback_labels_total", "True labels received on /feedback", ["model"],
                                registry=registry).labels(model)  # fmt: skip
        self.feedback_refused = Counter(
            "model_feedback_refused_total", "Feedback labels refused: unknown request ID, or no valid token",
            ["model"], registry=registry,
        ).labels(model)  # fmt: skip
        self.log_dropped = Counter("model_inference_log_dropped", "Requests not logged: the log writer fell behind",
                                   ["model"], registry=registry).labels(model)  # fmt: skip
        self._dropped_reported = 0
        self.registry_up = Gauge("model_registry_reachable", "1 if the last alias check could read the registry",
                                 ["model"], registry=registry, multiprocess_mode="livemin").labels(model)  # fmt: skip
        self.registry_up.set(1)

    def dropped(self, total: int) -> None:
        """The log writer's count of requests it dropped so far (it only grows): the counter follows it."""
        self.log_dropped.inc(max(total - self._dropped_reported, 0))
        self._dropped_reported = max(total, self._dropped_reported)

    def lane(self, alias: str, version: str) -> Lane:
        """The request series of ``alias`` at ``version`` (made at first use)."""
        found = self._lanes.get((alias, version))
        if found is None:
            found = self._lanes[(alias, version)] = Lane(self, alias, version)
        return found

    def shadow(self, alias: str, outcome: str) -> Counter:
        return self._shadow.labels(self.model_name, alias, outcome)

    def shadow_rows(self, alias: str, version: str, agreement: str) -> Counter:
        return self._shadow_rows.labels(self.model_name, alias, version, agreement)

    def reloads(self, outcome: str) -> Counter:
        return self._reloads.labels(self.model_name, outcome)

    def serving(self, alias: str, version: str) -> None:
        """The version this process serves for ``alias``: its info series at 1, the one it served before gone (at 0
        under several workers: their shared files keep every series a worker wrote)."""
        previous = self._served.get(alias)
        if previous is not None and previous != version:
            if self.shared_dir is None:
                self.model.remove(self.model_name, alias, previous)
            else:
                self.model.labels(self.model_name, alias, previous).set(0)
        self.model.labels(self.model_name, alias, version).set(1)
        self._served[alias] = version

    def _shared_registry(self) -> CollectorRegistry | None:
        """Every worker's values of this endpoint's metrics, from the shared files (None with one process)."""
        if self.shared_dir is None:
            return None
        registry = CollectorRegistry()
        registry.register(_EndpointMetricsOnly(MultiProcessCollector(None, path=str(self.shared_dir))))
        return registry

    def exposition(self) -> bytes:
        """The text format for ``/metrics``: this app's values, or every worker's under several workers."""
        return generate_latest(self._shared_registry() or self.registry)

    def worker_versions(self, alias: str) -> dict[str, str]:
        """The version each living worker serves at ``alias``, by process ID ({} with one process)."""
        registry = self._shared_registry()
        if registry is None:
            return {}
        return {
            sample.labels["pid"]: sample.labels["version"]
            for metric in registry.collect()
            if metric.name == "model_version_info"
            for sample in metric.samples
            if sample.value == 1 and sample.labels["alias"] == alias and alive(int(sample.labels["pid"]))
        }
