"""Each endpoint's metrics live in a registry of its own: two apps in one process never add to each other's counts."""

from __future__ import annotations

from prometheus_client import generate_latest

from src.components.serving_metrics import Metrics


def test_two_metric_sets_count_separately():
    first, second = Metrics(), Metrics()
    first.requests.labels("200").inc(3)
    second.requests.labels("200").inc()
    assert first.registry.get_sample_value("iris_requests_total", {"status": "200"}) == 3.0
    assert second.registry.get_sample_value("iris_requests_total", {"status": "200"}) == 1.0


def test_every_metric_is_exposed_under_its_name():
    metrics = Metrics()
    metrics.errors.labels("bad_input").inc()
    metrics.latency.observe(0.003)
    metrics.rows.labels("setosa").inc(2)
    metrics.model.labels("m", "staging").set(4)
    metrics.reloads.labels("failed").inc()
    text = generate_latest(metrics.registry).decode()
    for line in (
        'iris_request_errors_total{reason="bad_input"} 1.0',
        'iris_request_latency_seconds_bucket{le="0.005"} 1.0',
        'iris_predictions_total{species="setosa"} 2.0',
        'iris_model_version{alias="staging",name="m"} 4.0',
        'iris_model_reloads_total{outcome="failed"} 1.0',
    ):
        assert line in text
