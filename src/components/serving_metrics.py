"""The endpoint's Prometheus metrics: requests, refusals by reason, latency, predicted species, reloads.

Each app gets its own registry, so several apps in one process (tests, a
benchmark) never mix their counts. Under several workers
(``src.components.workers``) every value also lands in the shared files,
and ``exposition`` sums all workers: a scrape of any worker sees the whole
endpoint. Gauges that describe one worker (the version it serves) keep a
``pid`` label instead of being summed. Which of the two an app is, its
``shared_dir`` says, never the environment: ``import feast`` sets
``PROMETHEUS_MULTIPROC_DIR`` to a directory of its own, which every process
started afterwards inherits.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from src.components.workers import alive

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


#: The endpoint's metric names start with this.
PREFIX = "iris_"


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


class Metrics:
    """Prometheus metrics of one endpoint (its own registry, so apps in one process do not mix)."""

    def __init__(self, shared_dir: Path | None = None) -> None:
        """``shared_dir``: the workers' metrics directory, or None for a single process."""
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        self.requests = Counter("iris_requests_total", "Scoring requests by HTTP status", ["status"],
                                registry=self.registry)  # fmt: skip
        self.errors = Counter("iris_request_errors_total", "Refused requests by reason", ["reason"],
                              registry=self.registry)  # fmt: skip
        self.latency = Histogram(
            "iris_request_latency_seconds",
            "Time spent in /invocations",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.rows = Counter("iris_predictions_total", "Predicted rows by species", ["species"], registry=self.registry)
        self.model = Gauge("iris_model_version", "Version being served", ["name", "alias"], registry=self.registry,
                           multiprocess_mode="liveall")  # fmt: skip
        self.reloads = Counter("iris_model_reloads_total", "Alias reloads by outcome", ["outcome"],
                               registry=self.registry)  # fmt: skip
        self.feedback = Counter("iris_feedback_labels_total", "True labels received on /feedback",
                                registry=self.registry)  # fmt: skip
        self.log_dropped = Gauge("iris_inference_log_dropped", "Requests not logged: the log writer fell behind",
                                 registry=self.registry, multiprocess_mode="livesum")  # fmt: skip
        self.registry_up = Gauge("iris_registry_reachable", "1 if the last alias check could read the registry",
                                 registry=self.registry, multiprocess_mode="livemin")  # fmt: skip
        self.registry_up.set(1)

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

    def worker_versions(self) -> dict[str, str]:
        """The version each living worker serves, by process ID ({} with one process)."""
        registry = self._shared_registry()
        if registry is None:
            return {}
        return {
            sample.labels["pid"]: str(int(sample.value))
            for metric in registry.collect()
            if metric.name == "iris_model_version"
            for sample in metric.samples
            if alive(int(sample.labels["pid"]))
        }
