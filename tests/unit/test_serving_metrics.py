"""Each endpoint's metrics live in a registry of its own: two apps in one process never add to each other's counts."""

from __future__ import annotations

import os
import subprocess

from prometheus_client import Counter, generate_latest, values

from src.components.serving_metrics import Metrics


def test_two_metric_sets_count_separately():
    first, second = Metrics("m"), Metrics("m")
    first.lane("staging", "4").requests("200").inc(3)
    second.lane("staging", "4").requests("200").inc()
    labels = {"model": "m", "alias": "staging", "version": "4", "status": "200"}
    assert first.registry.get_sample_value("model_requests_total", labels) == 3.0
    assert second.registry.get_sample_value("model_requests_total", labels) == 1.0


def test_every_metric_is_exposed_under_its_name():
    metrics = Metrics("m")
    lane = metrics.lane("staging", "4")
    lane.errors("bad_input").inc()
    lane.latency.observe(0.003)
    lane.rows("setosa").inc(2)
    metrics.lane("challenger", "5").rows("setosa").inc()
    metrics.serving("staging", "4")
    metrics.reloads("failed").inc()
    metrics.shadow("challenger", "scored").inc()
    metrics.shadow_rows("challenger", "5", "agree").inc(2)
    text = generate_latest(metrics.registry).decode()
    for line in (
        'model_request_errors_total{alias="staging",model="m",reason="bad_input",version="4"} 1.0',
        'model_request_latency_seconds_bucket{alias="staging",le="0.005",model="m",version="4"} 1.0',
        'model_predictions_total{alias="staging",model="m",prediction="setosa",version="4"} 2.0',
        'model_predictions_total{alias="challenger",model="m",prediction="setosa",version="5"} 1.0',
        'model_version_info{alias="staging",model="m",version="4"} 1.0',
        'model_reloads_total{model="m",outcome="failed"} 1.0',
        'model_shadow_requests_total{alias="challenger",model="m",outcome="scored"} 1.0',
        'model_shadow_rows_total{agreement="agree",alias="challenger",model="m",version="5"} 2.0',
    ):
        assert line in text


def _worker(monkeypatch, directory, pid: int, requests: int, version: int) -> Metrics:
    """A worker with this process ID in multiprocess mode, having answered ``requests`` and serving ``version``.

    Labelled values are created when first used, under the value class of that moment: record before the next.
    """
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))  # where prometheus_client writes the values
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: pid))
    metrics = Metrics("m", shared_dir=directory)
    metrics.lane("staging", str(version)).requests("200").inc(requests)
    metrics.serving("staging", str(version))
    return metrics


def test_under_several_workers_any_worker_exposes_every_workers_counts(tmp_path, monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()
    first = _worker(monkeypatch, tmp_path, 1, requests=3, version=4)
    second = _worker(monkeypatch, tmp_path, os.getpid(), requests=2, version=5)
    _worker(monkeypatch, tmp_path, dead.pid, requests=1, version=3)  # died: its requests still count
    Counter("feast_online_features_request", "what importing Feast creates in a worker", registry=None).inc()
    text = first.exposition().decode()
    assert "feast_" not in text  # the endpoint's metrics only, as with a single process
    assert sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("model_requests_total{")) == 6.0  # fmt: skip
    assert f'model_version_info{{alias="staging",model="m",pid="{os.getpid()}",version="5"}} 1.0' in text
    # the dead worker's version is not one the endpoint serves
    assert second.worker_versions("staging") == {"1": "4", str(os.getpid()): "5"}
    assert second.worker_versions("production") == {}


def test_a_single_process_has_no_worker_list_whatever_directory_the_environment_names(tmp_path, monkeypatch):
    # what `import feast` leaves in the environment of this process and of every process it starts
    _worker(monkeypatch, tmp_path, 1, requests=3, version=4)
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(os.getpid))
    alone = Metrics("m")
    alone.lane("staging", "4").requests("200").inc(2)
    assert alone.worker_versions("staging") == {}
    assert 'model_requests_total{alias="staging",model="m",status="200",version="4"} 2.0' in alone.exposition().decode()


def test_the_served_version_is_an_info_series_and_a_swap_leaves_one():
    metrics = Metrics("m")
    metrics.serving("staging", "4")
    metrics.serving("staging", "5")
    served = [line for line in generate_latest(metrics.registry).decode().splitlines()
              if line.startswith("model_version_info{")]  # fmt: skip
    assert served == ['model_version_info{alias="staging",model="m",version="5"} 1.0']


def test_one_process_shows_its_process_figures_and_no_created_series():
    metrics = Metrics("m")
    metrics.lane("staging", "4").requests("200").inc()
    metrics.dropped(3)
    metrics.dropped(5)
    text = generate_latest(metrics.registry).decode()
    assert "process_cpu_seconds_total" in text and "python_gc_collections_total" in text
    assert "_created" not in text
    assert 'model_inference_log_dropped_total{model="m"} 5.0' in text
