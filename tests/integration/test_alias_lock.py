"""The alias lock on each real lock service: racing processes are serialised, and a holder paused past its lease
(SIGSTOP) cannot write once another process has taken the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from src.models.alias_lock import AliasLock, FileLock, LockTimeout, PostgresLock, RedisLock
from src.utils.config import PROJECT_ROOT
from tests.pack import MODEL

pytestmark = pytest.mark.integration


LEASE_S = 1.5

#: A process that takes the lock, then either increments a counter file (racing) or writes its name (pausing).
WORKER = """
import sys, time
from pathlib import Path
from src.models.alias_lock import FileLock, LockLost, PostgresLock, RedisLock
kind, where, key, path, mode, MODEL, LEASE = *sys.argv[1:7], float(sys.argv[7])
lock = {"file": FileLock, "postgres": PostgresLock, "redis": RedisLock}[kind](
    Path(where) if kind == "file" else where, **({} if kind == "file" else {"lease_s": LEASE}))
target = Path(path)
if mode == "race":
    for _ in range(3):
        with lock.hold(MODEL, key) as fence:
            value = int(target.read_text())
            time.sleep(0.05)
            fence.check("writing")
            target.write_text(str(value + 1))
else:
    with lock.hold(MODEL, key) as fence:
        print("locked", flush=True)
        time.sleep(0.5)  # the test stops this process here
        try:
            fence.check("writing")
        except LockLost as exc:
            print(exc, file=sys.stderr)
            sys.exit(3)
        target.write_text("paused holder")
"""


@pytest.fixture(params=["file", "postgres", "redis"])
def service(request, tmp_path) -> tuple[str, str]:
    """Each lock service: (kind, where), on the machine's PostgreSQL and Redis."""
    if request.param == "file":
        return "file", str(tmp_path / "mlflow.db.alias-lock")
    fixture = "postgres_dsn" if request.param == "postgres" else "redis_url"
    return request.param, request.getfixturevalue(fixture)


def _lock(kind: str, where: str, **options: float) -> AliasLock:
    if kind == "file":
        return FileLock(Path(where), **({"wait_s": options["wait_s"]} if "wait_s" in options else {}))
    return {"postgres": PostgresLock, "redis": RedisLock}[kind](where, lease_s=LEASE_S, **options)


def _worker(service: tuple[str, str], key: str, path: Path, mode: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", WORKER, *service, key, str(path), mode, MODEL, str(LEASE_S)]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_racing_processes_are_serialised(service, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    key = f"race-{os.getpid()}-{tmp_path.name}"
    workers = [_worker(service, key, counter, "race") for _ in range(4)]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    assert counter.read_text() == "12"  # no increment lost: never two holders at once


def test_a_holder_paused_past_its_lease_cannot_write_after_another_took_the_lock(service, tmp_path):
    written = tmp_path / "alias"
    key = f"pause-{os.getpid()}-{tmp_path.name}"
    holder = _worker(service, key, written, "pause")
    try:
        assert holder.stdout.readline().strip() == "locked"
        holder.send_signal(signal.SIGSTOP)
        kind, where = service
        if kind == "file":  # no lease: the kernel keeps the lock for the stopped holder, so nobody else writes
            with pytest.raises(LockTimeout), _lock(kind, where, wait_s=LEASE_S * 2).hold(MODEL, key):
                pass
        else:
            with _lock(kind, where, wait_s=30).hold(MODEL, key) as fence:  # taken once the lease has run out
                fence.check("writing")
                written.write_text("new holder")
        holder.send_signal(signal.SIGCONT)
        _, err = holder.communicate(timeout=60)
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
    if kind == "file":
        assert holder.returncode == 0 and written.read_text() == "paused holder"
    else:
        assert holder.returncode == 3, err
        assert "lease ran out" in err and written.read_text() == "new holder"
