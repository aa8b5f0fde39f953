"""The endpoint's Prometheus metrics: requests, refusals by reason, latency, predicted species, reloads.

Each app gets its own registry, so several apps in one process (tests, a
benchmark) never mix their counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Prometheus metrics of one endpoint (its own registry, so apps in one process do not mix)."""

    def __init__(self) -> None:
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
        self.model = Gauge("iris_model_version", "Version being served", ["name", "alias"], registry=self.registry)
        self.reloads = Counter("iris_model_reloads_total", "Alias reloads by outcome", ["outcome"],
                               registry=self.registry)  # fmt: skip
        self.feedback = Counter("iris_feedback_labels_total", "True labels received on /feedback",
                                registry=self.registry)  # fmt: skip
        self.log_dropped = Gauge("iris_inference_log_dropped", "Requests not logged: the log writer fell behind",
                                 registry=self.registry)  # fmt: skip
        self.registry_up = Gauge("iris_registry_reachable", "1 if the last alias check could read the registry",
                                 registry=self.registry)  # fmt: skip
        self.registry_up.set(1)
