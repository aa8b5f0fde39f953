"""Several workers on one host: the shared socket, the shared directory, dead workers' gauges, the webhook nudge."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

from prometheus_client import Gauge, values

from src.components.workers import (
    METRICS_DIR_VARS,
    Nudge,
    alive,
    forget_dead_workers,
    listening_socket,
    own_metrics_environment,
    prepare_shared_dir,
)


def test_the_shared_socket_is_tcp_so_every_accepted_connection_has_nodelay():
    # asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; uvicorn's own shared socket has 0
    with listening_socket("127.0.0.1", 0) as server:
        assert server.proto == socket.IPPROTO_TCP
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the client's is its own


def test_a_taken_port_is_an_os_error_and_leaves_no_socket_open():
    with listening_socket("127.0.0.1", 0) as taken:
        taken.listen()
        try:
            listening_socket("127.0.0.1", taken.getsockname()[1])
        except OSError as exc:
            assert exc.errno is not None
        else:
            raise AssertionError("a second bind on a listening port must fail")


def test_the_shared_directory_starts_empty(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_123.db").write_bytes(b"from an earlier run")
    metrics = prepare_shared_dir(tmp_path)
    assert metrics == tmp_path / "metrics" and list(metrics.iterdir()) == []


def test_the_endpoint_owns_the_metrics_environment_its_children_inherit(tmp_path, monkeypatch):
    for name in METRICS_DIR_VARS:
        monkeypatch.setenv(name, "/tmp/feast_metrics_of_a_parent")
    own_metrics_environment(None)
    assert not set(METRICS_DIR_VARS) & set(os.environ)
    own_metrics_environment(tmp_path)
    # both names: Feast, imported in a worker, reads the older one and keeps it rather than making its own
    child = "import os, sys; print(os.environ['PROMETHEUS_MULTIPROC_DIR'], os.environ['PROMETHEUS_MULTIPROCESS_DIR'])"
    seen = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout.split()
    assert seen == [str(tmp_path), str(tmp_path)]


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_dead_workers_version_gauge_is_dropped_and_a_living_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    dead = _dead_pid()
    for pid in (dead, 1):  # pid 1 lives as long as the machine
        monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda pid=pid: pid))
        Gauge("version", "v", registry=None, multiprocess_mode="liveall").set(7)
    assert not alive(dead) and alive(1)
    assert forget_dead_workers(tmp_path) == [dead]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gauge_liveall_1.db"]
    assert forget_dead_workers(tmp_path) == []


def test_a_nudge_wakes_every_follower(tmp_path):
    nudge = Nudge(tmp_path / "alias-moved", interval_s=0.02)
    woken = [threading.Event(), threading.Event()]
    for event in woken:
        Nudge(nudge.path, interval_s=0.02).follow(event.set)
    try:
        nudge.send()
        assert all(event.wait(10) for event in woken)
    finally:
        nudge.stop()
