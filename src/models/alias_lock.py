"""The lock that serialises alias moves, from a real lock service wherever one exists.

MLflow has no compare-and-set on aliases, so two promotions racing on one
alias must be kept apart outside it. By what the profile has (``alias_lock``):

- ``postgresql://...``: a PostgreSQL advisory lock held by a session whose
  ``idle_session_timeout`` is the lease: a holder that stalls past it has its
  session ended by the server, which releases the lock;
- ``redis://...``: ``SET NX PX`` with a random token and a fencing number
  (``INCR``); the lease is extended at each check and released only by its token;
- none, on an embedded SQLite store: an exclusive ``flock`` on a file beside the
  database (released by the kernel if the holder dies; no lease needed);
- none, on a tracking server: the registered-model tag lease of
  ``Registry.lock`` (Fischer's algorithm), safe only while every writer's
  read-to-write gap stays under its settle time; the README says so.

Every lock yields a ``Fence``; the mover calls ``check`` just before it writes
the alias, so a holder paused past its lease (another process has the lock by
then) writes nothing. MLflow cannot check a token itself, so what remains is
the gap between that check and the one alias write, not the whole lease.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from src.utils.config import PROJECT_ROOT, Settings
from src.utils.errors import RegistryError

if TYPE_CHECKING:  # the lock services need no MLflow: a racing process imports only this module
    from src.models.model_registry import Registry

#: Seconds a holder keeps a lease without checking it; a stalled holder loses the lock after this.
LEASE_S = 60.0
#: Seconds a mover waits for the lock before giving up.
WAIT_S = 120.0
#: Seconds to wait for a lock service to answer.
CONNECT_TIMEOUT_S = 5


class LockTimeout(RegistryError):
    """Another move held the lock for longer than the wait; nothing was moved."""


class LockLost(RegistryError):
    """The lease ran out (the holder was paused or too slow) and another process may hold it; nothing was written."""


class LockServiceUnavailable(RegistryError, ConnectionError):
    """The profile's lock service did not answer; nothing was moved."""


@dataclass(frozen=True)
class Fence:
    """Proof of holding the lock: ``check`` before each write it protects."""

    service: str
    token: str
    _held: Callable[[], bool]

    def check(self, before: str) -> None:
        if not self._held():
            raise LockLost(
                f"lost the {self.service} lock (token {self.token}) before {before}: its lease ran out and another "
                f"move may hold it now; nothing was written, look again"
            )


def _masked(uri: str) -> str:
    parts = urlsplit(uri)
    return uri.replace(f":{parts.password}@", ":***@", 1) if parts.password else uri


class AliasLock(ABC):
    """One exclusive lock per model and alias."""

    service: str

    @abstractmethod
    @contextmanager
    def hold(self, model: str, key: str) -> Iterator[Fence]:
        """Hold the lock of ``key`` on ``model``; raise ``LockTimeout`` if it stays taken."""

    def _timeout(self, model: str, key: str, wait_s: float) -> LockTimeout:
        return LockTimeout(f"could not lock {key!r} of {model} within {wait_s:.0f} s ({self.service}: another move)")


class FileLock(AliasLock):
    """``flock`` on one file beside an embedded store: the kernel releases it when the holder dies."""

    def __init__(self, path: Path, wait_s: float = WAIT_S) -> None:
        self.path, self.wait_s = path, wait_s
        self.service = f"file {path}"

    @contextmanager
    def hold(self, model: str, key: str) -> Iterator[Fence]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.wait_s
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise self._timeout(model, key, self.wait_s) from None
                    time.sleep(0.05)
            try:
                yield Fence(self.service, f"pid {os.getpid()}", lambda: True)
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)


def _key64(model: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{model}@{key}".encode()).digest()[:8], "big", signed=True)


class PostgresLock(AliasLock):
    """A session-level advisory lock; the session's ``idle_session_timeout`` is the lease."""

    def __init__(self, uri: str, lease_s: float = LEASE_S, wait_s: float = WAIT_S) -> None:
        self.uri, self.lease_s, self.wait_s = uri, lease_s, wait_s
        self.service = f"PostgreSQL advisory lock at {_masked(uri)}"

    @contextmanager
    def hold(self, model: str, key: str) -> Iterator[Fence]:
        import psycopg

        try:
            connection = psycopg.connect(self.uri, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise LockServiceUnavailable(f"{self.service} unreachable: {str(exc).strip()}") from exc
        lock_id = _key64(model, key)
        try:
            connection.execute(f"SET idle_session_timeout = {int(self.lease_s * 1000)}")
            deadline = time.monotonic() + self.wait_s
            while not connection.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise self._timeout(model, key, self.wait_s)
                time.sleep(0.1)
            pid = connection.info.backend_pid

            def held() -> bool:  # the lock lives as long as the session: ask it (which also renews the lease)
                try:
                    connection.execute("SELECT 1")
                except psycopg.Error:
                    return False
                return True

            yield Fence(self.service, f"session {pid}", held)
        except psycopg.OperationalError as exc:
            raise LockServiceUnavailable(f"{self.service} failed: {str(exc).strip()}") from exc
        finally:
            with suppress(psycopg.Error):
                connection.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
            with suppress(psycopg.Error):
                connection.close()


_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLock(AliasLock):
    """``SET NX PX`` with a random token and a fencing number; renewed at each check, released by its token."""

    def __init__(self, uri: str, lease_s: float = LEASE_S, wait_s: float = WAIT_S) -> None:
        self.uri, self.lease_s, self.wait_s = uri, lease_s, wait_s
        self.service = f"Redis lock at {_masked(uri)}"

    @contextmanager
    def hold(self, model: str, key: str) -> Iterator[Fence]:
        import redis

        client = redis.Redis.from_url(
            self.uri, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
        )
        name = f"mlops:alias-lock:{model}@{key}"
        token = uuid.uuid4().hex
        lease_ms = int(self.lease_s * 1000)
        try:
            deadline = time.monotonic() + self.wait_s
            while not client.set(name, token, nx=True, px=lease_ms):
                if time.monotonic() > deadline:
                    raise self._timeout(model, key, self.wait_s)
                time.sleep(0.05)
            fence = int(client.incr(f"{name}:fence"))  # type: ignore[arg-type]

            def held() -> bool:
                try:
                    return bool(client.eval(_RENEW, 1, name, token, lease_ms))
                except redis.RedisError:
                    return False

            yield Fence(self.service, f"fence {fence}", held)
        except redis.ConnectionError as exc:
            raise LockServiceUnavailable(f"{self.service} unreachable: {exc}") from exc
        finally:
            with suppress(redis.RedisError):
                client.eval(_RELEASE, 1, name, token)
            client.close()


class TagLease(AliasLock):
    """The registered-model tag lease of ``Registry.lock``: where no lock service exists (see the module doc)."""

    service = "registry tag lease"

    def __init__(self, registry: Registry, lease_s: float = LEASE_S, wait_s: float = WAIT_S) -> None:
        self.registry, self.lease_s, self.wait_s = registry, lease_s, wait_s

    @contextmanager
    def hold(self, model: str, key: str) -> Iterator[Fence]:
        with self.registry.lock(model, key, lease_s=self.lease_s, timeout_s=self.wait_s) as held:
            yield Fence(self.service, f"tag lock.{key}", held)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths start at the repository root)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = Path(tracking_uri.removeprefix("sqlite:///"))
    return path if path.is_absolute() else PROJECT_ROOT / path


def for_settings(settings: Settings, registry: Registry) -> AliasLock:
    """The profile's lock: its ``alias_lock`` service, else a file lock for SQLite, else the tag lease."""
    uri = settings.alias_lock
    if uri and uri.startswith("postgresql"):
        return PostgresLock(uri)
    if uri:
        return RedisLock(uri)
    database = sqlite_path(settings.registry_uri)
    if database is not None:
        return FileLock(database.with_name(database.name + ".alias-lock"))
    return TagLease(registry)
