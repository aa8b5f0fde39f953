"""The alias lock: which lock a profile gets, the file lock's exclusion and timeout, a fence that refuses."""

from __future__ import annotations

import pytest

from src.models import alias_lock
from src.models.alias_lock import Fence, FileLock, LockLost, LockTimeout, PostgresLock, RedisLock, TagLease
from src.models.model_registry import Registry
from src.utils.config import PROJECT_ROOT, resolve_settings

MODEL = "dev_catalog.ml_models.ds_iris_species_classifier"


def _settings(tracking_uri: str, lock: str | None = None):
    return resolve_settings().model_copy(
        update={"tracking_uri": tracking_uri, "registry_uri": tracking_uri, "alias_lock": lock}
    )


@pytest.mark.parametrize(
    ("tracking_uri", "lock", "expected"),
    [
        ("sqlite:///mlflow.db", None, FileLock),
        ("http://mlflow.internal:5000", None, TagLease),
        ("http://mlflow.internal:5000", "postgresql://locks@db:5432/locks", PostgresLock),
        ("databricks", "redis://:secret@cache:6379/0", RedisLock),
    ],
)
def test_each_profile_gets_the_strongest_lock_it_has(tracking_uri, lock, expected):
    chosen = alias_lock.for_settings(_settings(tracking_uri, lock), Registry.__new__(Registry))
    assert type(chosen) is expected
    assert "secret" not in chosen.service


def test_the_file_lock_lies_beside_the_sqlite_store():
    chosen = alias_lock.for_settings(_settings("sqlite:///mlflow.db"), Registry.__new__(Registry))
    assert chosen.path == PROJECT_ROOT / "mlflow.db.alias-lock"
    assert str(alias_lock.sqlite_path("sqlite:////tmp/x/m.db")) == "/tmp/x/m.db"
    assert alias_lock.sqlite_path("http://host") is None


def test_the_file_lock_excludes_a_second_holder_until_released(tmp_path):
    lock = FileLock(tmp_path / "store.db.alias-lock")
    other = FileLock(lock.path, wait_s=0.0)  # tries once: its outcome says whether the lock is free, whatever the load
    with lock.hold(MODEL, "production") as fence:
        with pytest.raises(LockTimeout), other.hold(MODEL, "production"):
            pass
        fence.check("moving")
    with other.hold(MODEL, "production") as fence:
        fence.check("moving")


def test_a_lock_held_too_long_is_a_timeout_naming_the_alias(tmp_path):
    lock = FileLock(tmp_path / "store.db.alias-lock")
    impatient = FileLock(lock.path, wait_s=0.2)
    refused = pytest.raises(LockTimeout, match=f"could not lock 'production' of {MODEL}")
    with lock.hold(MODEL, "production"), refused, impatient.hold(MODEL, "production"):
        pass


def test_a_fence_whose_lease_ran_out_refuses_the_write():
    with pytest.raises(LockLost, match=r"lost the Redis lock \(token fence 7\) before moving m@production"):
        Fence("Redis", "fence 7", lambda: False).check("moving m@production")
    Fence("Redis", "fence 8", lambda: True).check("moving m@production")
