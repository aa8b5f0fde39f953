"""The Feast repository, built from the feature definitions (never written twice), applied and materialised.

Every row of the training data becomes an entity (the contract's
``entity_key``) with an event timestamp, so point-in-time joins are real. One
feature view holds every feature version ready for the store (computed by the
feature builder); one feature service per feature set lists the configured
features. Where the store lives and how it is reached is
``src.features.store_backend``; reading features back is
``src.features.store_reads``; the command line is ``src.features.feature_store``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from src.data.contract import CONTRACT
from src.data.load_data import load_dataset
from src.features.feature_builder import build_features
from src.features.feature_definitions import DEFINITIONS
from src.features.store_backend import (
    CONNECT_TIMEOUT_S,
    SOURCE_NAME,
    VIEW_NAME,
    FeatureStoreError,
    applied,
    lookup,
    open_store,
    postgres_settings,
    reaching,
    require,
    source_path,
    source_table,
    sqlalchemy_url,
    write_repo_yaml,
)
from src.utils.config import (
    FeatureConfig,
    FeatureStoreProfile,
    load_feature_config,
    load_model_config,
)

if TYPE_CHECKING:
    from feast import FeatureStore

TIMESTAMP = "event_timestamp"
#: The rows are stamped one minute apart from this instant: a fixed, reproducible history.
FIRST_EVENT = datetime(2026, 1, 1, tzinfo=UTC)


def feature_service_name(config: FeatureConfig) -> str:
    return f"{config.feature_set.name}_v{config.feature_set.version}"


def feature_service_of(feature_set_label: str) -> str:
    """The feature service of a model's recorded feature set (``name:v1`` -> ``name_v1``)."""
    name, _, version = feature_set_label.partition(":v")
    if not name or not version.isdigit():
        raise FeatureStoreError(f"not a feature set label (name:vN): {feature_set_label!r}")
    return f"{name}_v{version}"


def entity_key() -> str:
    """The contract's entity key: the join key of every row in the store."""
    if CONTRACT.entity_key is None:
        raise FeatureStoreError(f"the data contract of {CONTRACT.name} names no entity_key: the feature store keys "
                                "its rows by one (src/data/contract.py)")  # fmt: skip
    return CONTRACT.entity_key


def entity_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Give each row its entity key and event timestamp (row i: key i + 1, first event + i minutes)."""
    keys = pd.RangeIndex(1, len(data) + 1)
    stamps = pd.DatetimeIndex([FIRST_EVENT + timedelta(minutes=i) for i in range(len(data))])
    return pd.DataFrame({entity_key(): keys, TIMESTAMP: stamps}, index=data.index)


def source_frame(data: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The named feature versions of every row, keyed and timestamped: the store's source table."""
    features = build_features(data.drop(columns=[CONTRACT.target.name], errors="ignore"), list(names))
    return pd.concat([entity_frame(data), features], axis=1)


def store_features(feature_config: FeatureConfig) -> list[str]:
    """The feature versions the store holds: those REFACTORED or REGISTERED in the lifecycle.

    A LOCAL or VALIDATED feature does not enter the shared store; a feature
    set that lists one is refused, naming it and its status.
    """
    from src.features.lifecycle_record import load_states, store_ready

    ready = store_ready()
    unready = [name for name in feature_config.features if name not in ready]
    if unready:
        states = load_states()
        listed = ", ".join(f"{n} ({states[n].status.value if n in states else 'UNRECORDED'})" for n in unready)
        raise FeatureStoreError(
            f"feature service {feature_service_name(feature_config)} lists features not ready for the store: "
            f"{listed}; only REFACTORED or REGISTERED features are applied "
            f"(python -m src.features.lifecycle advance NAME)"
        )
    return ready


def _data_source(store: FeatureStoreProfile) -> Any:
    if store.offline_store:
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

        return PostgreSQLSource(name=SOURCE_NAME, query=f'SELECT * FROM "{source_table(store)}"',
                                timestamp_field=TIMESTAMP)  # fmt: skip
    from feast import FileSource

    return FileSource(name=SOURCE_NAME, path=str(source_path(store)), timestamp_field=TIMESTAMP)


def repository(store: FeatureStoreProfile, feature_config: FeatureConfig) -> list[Any]:
    """The Feast objects, derived from the definitions, their lifecycle and the feature config."""
    from feast import Entity, FeatureService, FeatureView, Field, ValueType
    from feast.types import Float64, String

    names = set(store_features(feature_config))
    key = entity_key()
    entity = Entity(name=key.removesuffix("_id") or key, join_keys=[key], value_type=ValueType.INT64,
                    description=f"One row of {CONTRACT.name}")  # fmt: skip
    view = FeatureView(
        name=VIEW_NAME,
        entities=[entity],
        ttl=timedelta(days=3650),
        schema=[
            Field(
                name=d.name,
                dtype=String if d.kind == "categorical" else Float64,
                description=d.description,
                tags={"owner": d.owner},
            )
            for d in DEFINITIONS
            if d.name in names
        ],
        source=_data_source(store),
        online=True,
        tags={"generated_by": "src.features.feature_store"},
    )
    service = FeatureService(
        name=feature_service_name(feature_config),
        features=[view[list(feature_config.features)]],
        description=f"Features of {feature_config.feature_set.name} version {feature_config.feature_set.version}",
    )
    return [entity, view, service]


def write_source(store: FeatureStoreProfile, frame: pd.DataFrame) -> None:
    """Replace the source data in one step: a renamed temporary file, or one PostgreSQL transaction."""
    if store.offline_store:
        import sqlalchemy

        engine = sqlalchemy.create_engine(sqlalchemy_url(store.offline_store),
                                          connect_args={"connect_timeout": CONNECT_TIMEOUT_S})  # fmt: skip
        try:
            with reaching(store, "writing the source table"), engine.begin() as connection:
                frame.to_sql(source_table(store), connection, if_exists="replace", index=False)  # DDL is transactional
        finally:
            engine.dispose()
        return
    path = source_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)


def _check_reachable(store: FeatureStoreProfile) -> FeatureStore:
    """Open the registry and reach every shared backend, so a store that is down fails before any write."""
    feast_store = open_store(store)
    if store.registry:  # Feast's SQL registry connects lazily: ask it something
        with reaching(store, "reading the registry"):
            feast_store.list_feature_views()
    if store.offline_store:
        import psycopg

        with reaching(store, "reaching the offline store"):
            psycopg.connect(**_postgres_connection(store.offline_store)).close()
    if store.online_store:
        import redis

        with reaching(store, "reaching the online store"):
            redis.Redis.from_url(store.online_store, socket_connect_timeout=CONNECT_TIMEOUT_S).ping()
    return feast_store


def _postgres_connection(uri: str) -> dict[str, Any]:
    """psycopg's keyword arguments for the same connection as Feast's (``schema`` is Feast's, not libpq's)."""
    fields = postgres_settings(uri)
    keep = ("host", "port", "user", "password", "sslmode")
    return {**{key: fields[key] for key in keep}, "dbname": fields["database"], "connect_timeout": CONNECT_TIMEOUT_S}


def apply_and_materialize(store: FeatureStoreProfile, feature_config: FeatureConfig | None = None) -> FeatureStore:
    """Write the source table, apply the repository and materialise every row into the online store.

    Everything that can refuse runs first: the feature set against the
    lifecycle, then every backend is reached; only then is anything written.
    """
    feature_config = feature_config or load_feature_config()
    objects = repository(store, feature_config)  # an unknown or unready feature fails here, before any write
    source = source_frame(load_dataset(load_model_config().data).frame, store_features(feature_config))
    feast_store = _check_reachable(store)
    store.directory.mkdir(parents=True, exist_ok=True)  # the SQLite online store lives here unless Redis is set
    write_source(store, source)
    with reaching(store, "applying the repository"):
        feast_store.apply(objects)
    with reaching(store, "materialising the online store"):
        feast_store.materialize(FIRST_EVENT - timedelta(minutes=1), FIRST_EVENT + timedelta(minutes=len(source) + 1))
    write_repo_yaml(store)  # Feast's own CLI and UI on the same store
    return feast_store


def _materialised_features(feast_store: FeatureStore, store: FeatureStoreProfile) -> set[str]:
    with reaching(store, "reading the feature view"):
        try:
            view = lookup(lambda: feast_store.get_feature_view(VIEW_NAME), f"feature view {VIEW_NAME}", store)
        except FeatureStoreError:  # not applied (a down backend is not a FeatureStoreError here)
            return set()
    return {field.name for field in view.features} if view.materialization_intervals else set()


def registered_features(store: FeatureStoreProfile) -> set[str]:
    """Feature names applied in the store's feature view and materialised online (empty without a store)."""
    feast_store = applied(store)
    return set() if feast_store is None else _materialised_features(feast_store, store)


def contents(store: FeatureStoreProfile) -> tuple[set[str], dict[str, list[str]]]:
    """For the catalog: the materialised features of the view, and each feature service's features.

    Raises when the store was never applied: a catalog without it would silently say "not in the store".
    """
    feast_store = require(store)
    with reaching(store, "listing feature services"):
        services = feast_store.list_feature_services()
    served = {
        service.name: [field.name for projection in service.feature_view_projections for field in projection.features]
        for service in services
    }
    return _materialised_features(feast_store, store), served


# --- reading features -------------------------------------------------------------
