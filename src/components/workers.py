"""Several endpoint workers on one host: one listening socket, uvicorn's supervisor, metrics shared through files.

Why not ``uvicorn.run(..., workers=N)``: uvicorn binds the shared socket as
``socket.socket(AF_INET)``, whose protocol field is 0; asyncio sets
TCP_NODELAY on accepted connections only when it is ``IPPROTO_TCP``, so with
the asyncio loop every keep-alive response waits ~44 ms on a delayed ACK
(uvicorn issue 3149; measured here: 184 req/s, p50 44 ms). This module binds
the socket with the TCP protocol and TCP_NODELAY set (accepted connections
inherit it), whatever the event loop, and hands it to uvicorn's supervisor,
which starts the workers, restarts one that dies, and stops them on SIGTERM.

Each worker builds its own app (model, alias watcher, log writer). What they
share lives in one directory: Prometheus's multiprocess files (``/metrics``
from any worker sums every worker) and a nudge file, so a registry webhook
that reaches one worker wakes every worker's alias watcher.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from src.utils.logging import get_logger

logger = get_logger(__name__)

#: Prometheus's multiprocess mode: set before prometheus_client is imported, in every worker. Feast reads
#: the older name, and sets both to a directory of its own when neither is set.
METRICS_DIR_VARS = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that every worker can accept on, with TCP_NODELAY inherited."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def metrics_dir(shared_dir: Path) -> Path:
    """Where the workers' Prometheus files live inside their shared directory."""
    return shared_dir / "metrics"


def prepare_shared_dir(directory: Path) -> Path:
    """Empty ``directory`` (files of an earlier run would add to this one's counts) and return its metrics part."""
    shutil.rmtree(directory, ignore_errors=True)
    metrics = metrics_dir(directory)
    metrics.mkdir(parents=True)
    return metrics


def own_metrics_environment(directory: Path | None) -> None:
    """Point Prometheus's multiprocess mode at ``directory``, or turn it off (None), for this process and its children.

    An endpoint started by a process that imported Feast inherits Feast's
    directory, which other endpoints of that parent share: their gauges would
    mix (seen in the CD rehearsal: staging's /health listed production's
    process as a worker on another version). Call before prometheus_client is
    imported: it chooses where values live once, at import.
    """
    for name in METRICS_DIR_VARS:
        if directory is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(directory)


def alive(pid: int) -> bool:
    """Whether a process with this ID exists (a sibling worker, typically)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_workers(metrics_dir: Path) -> list[int]:
    """Drop the live-gauge files of workers that died, so ``/metrics`` stops showing their version.

    Counters of a dead worker stay (a total must not fall when a worker is
    replaced); only gauges that describe a living worker go. Called by each
    worker as it starts: a replacement cleans up after the one it replaces.
    """
    from prometheus_client import multiprocess

    dead = sorted({int(found.group(1)) for path in metrics_dir.glob("gauge_live*.db")
                   if (found := _LIVE_GAUGE_FILE.fullmatch(path.name)) and not alive(int(found.group(1)))})  # fmt: skip
    for pid in dead:
        with contextlib.suppress(FileNotFoundError):  # another worker removed it first
            multiprocess.mark_process_dead(pid, str(metrics_dir))
    return dead


class Nudge:
    """A file whose change wakes every worker: a webhook reaches one worker, the alias concerns all of them."""

    def __init__(self, path: Path, interval_s: float = 0.2) -> None:
        self.path, self.interval_s = path, interval_s
        self._stop = threading.Event()

    def _stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def send(self) -> None:
        """Tell every worker to check now."""
        self.path.touch()
        os.utime(self.path)  # a new modification time even within the file system's resolution of the last one

    def follow(self, poke: Callable[[], None]) -> None:
        """Call ``poke`` in a daemon thread whenever the file changes (checked every ``interval_s``)."""

        def watch(seen: int) -> None:
            while not self._stop.wait(self.interval_s):
                stamp = self._stamp()
                if stamp != seen:
                    seen = stamp
                    poke()

        threading.Thread(target=watch, args=(self._stamp(),), name="worker-nudge", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def serve(factory: Callable[[], object], *, host: str, port: int, workers: int, shared_dir: Path) -> None:
    """Run ``workers`` processes, each serving ``factory()``, on one socket until SIGINT/SIGTERM.

    ``factory`` is pickled into each spawned worker, so it must be a
    module-level function or a ``functools.partial`` of one.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, access_log=False,
                            log_level="warning", loop="uvloop", http="httptools")  # fmt: skip
    sock = listening_socket(host, port)  # first: a taken port leaves no shared directory behind
    try:
        own_metrics_environment(prepare_shared_dir(shared_dir))  # inherited by the spawned workers
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        shutil.rmtree(shared_dir, ignore_errors=True)
