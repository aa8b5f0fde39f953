"""Where the feature store lives: profile URIs become Feast's connection settings; no password reaches a message."""

from pathlib import Path

import pytest

from src.data.contract import CONTRACT
from src.features.store_backend import _redis_connection_string, describe, masked, postgres_settings, source_uri
from src.utils.config import FeatureStoreProfile

SHARED = FeatureStoreProfile(
    project="iris_prod",
    directory=Path("/srv/features"),
    registry="postgresql://feast:s%40cret@db.internal:6543/features?sslmode=require",
    offline_store="postgresql://feast:s%40cret@db.internal:6543/features?sslmode=require",
    online_store="rediss://:hunter2@cache.internal:6380/3",
)


def test_a_postgresql_uri_becomes_feast_s_connection_fields():
    assert postgres_settings(SHARED.offline_store) == {
        "host": "db.internal",
        "port": 6543,
        "database": "features",
        "db_schema": "public",
        "user": "feast",
        "password": "s@cret",
        "sslmode": "require",
    }


def test_a_local_postgresql_uri_needs_no_ssl_or_password():
    fields = postgres_settings("postgresql://postgres@127.0.0.1/test")
    assert (fields["port"], fields["password"], fields["sslmode"]) == (5432, "", "prefer")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0"),
        ("redis://cache", "cache:6379,db=0"),
        ("rediss://:hunter2@cache.internal:6380/3", "cache.internal:6380,db=3,password=hunter2,ssl=true"),
    ],
)
def test_a_redis_uri_becomes_feast_s_connection_string(uri, expected):
    options = _redis_connection_string(uri).split(",")
    timeouts = {"socket_connect_timeout=5", "socket_timeout=5"}
    assert timeouts <= set(options) and ",".join(o for o in options if o not in timeouts) == expected


def test_passwords_never_reach_messages_or_lineage():
    assert masked(SHARED.registry) == "postgresql://feast:***@db.internal:6543/features?sslmode=require"
    assert "s%40cret" not in describe(SHARED) and "s%40cret" not in source_uri(SHARED)
    assert source_uri(SHARED).endswith(f"?sslmode=require&table=iris_prod_{CONTRACT.name}_features_source")


def test_the_embedded_store_lives_in_its_directory():
    store = FeatureStoreProfile(directory=Path("/tmp/fs"))
    assert describe(store) == "/tmp/fs"
    assert source_uri(store) == f"file:///tmp/fs/{CONTRACT.name}_features.parquet"


def test_feature_store_yaml_opens_the_same_store_with_feast_s_loader_and_holds_no_password(tmp_path, monkeypatch):
    from feast.repo_config import load_repo_config

    from src.features.store_backend import PASSWORD_VARIABLES, repo_settings, write_repo_yaml
    from src.utils.config import FeatureStoreProfile

    store = FeatureStoreProfile(project="toy", directory=tmp_path, registry="postgresql://feast:s3cret@db:5432/reg",
                                online_store="redis://:r3dis@cache:6379/0")  # fmt: skip
    path = write_repo_yaml(store)
    assert "s3cret" not in path.read_text() and "r3dis" not in path.read_text()
    monkeypatch.setenv(PASSWORD_VARIABLES["registry"], "s3cret")
    monkeypatch.setenv(PASSWORD_VARIABLES["online_store"], "r3dis")
    loaded = load_repo_config(tmp_path, path)  # what `feast -c DIR ...` does
    expected = repo_settings(store)
    assert loaded.project == "toy" and loaded.registry.path == expected["registry"]["path"]
    assert loaded.online_store.connection_string == expected["online_store"]["connection_string"]
