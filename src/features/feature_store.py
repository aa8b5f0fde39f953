"""The Feast feature store, built from the feature definitions (never written twice).

    python -m src.features.feature_store apply      # make features: write the source, apply, materialise
    python -m src.features.feature_store online 3   # the online features of flower 3

Every Iris row becomes an entity ``flower_id`` with an event timestamp, so
point-in-time joins are real. One feature view holds every defined feature
version (computed by the feature builder); one feature service per feature
set (``iris_species_features_v1``) lists the configured features.

Where the store lives is the profile's ``feature_store`` (configs/environment.yaml):
embedded by default (local registry file, Parquet file source, SQLite online
store under ``feature_store/``), or, part by part, a PostgreSQL SQL registry,
a PostgreSQL offline store (the source is then a table there) and a Redis
online store. The code below is the same for both.

``import feast`` costs ~4.5 s, so it happens only inside these functions:
training from local features and an endpoint without lookups never pay it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd

from src.data.contract import ENTITY_KEY, RAW_FEATURE_COLUMNS, TARGET_COLUMN
from src.data.load_data import load_bundled_iris
from src.features.feature_builder import build_features
from src.features.feature_definitions import DEFINITIONS
from src.utils.config import PROJECT_ROOT, FeatureConfig, FeatureStoreProfile, load_feature_config, resolve_settings
from src.utils.errors import ProjectError

if TYPE_CHECKING:
    from feast import FeatureStore

TIMESTAMP = "event_timestamp"
VIEW_NAME = "iris_features"
SOURCE_NAME = "iris_measurements"
#: The measurements are stamped one minute apart from this instant: a fixed, reproducible history.
FIRST_EVENT = datetime(2026, 1, 1, tzinfo=UTC)
#: Seconds to wait for a shared backend before calling it down.
CONNECT_TIMEOUT_S = 5


class FeatureStoreError(ProjectError, RuntimeError):
    """The feature store cannot serve what was asked (missing store, service or rows)."""


class FeatureStoreUnavailable(FeatureStoreError, ConnectionError):
    """A backend of the feature store (registry, offline or online store) cannot be reached.

    Also a ``ConnectionError``, so the endpoint can answer 503 without importing this module.
    """


def default_store() -> FeatureStoreProfile:
    """The selected profile's feature store (``--env``/``$ML_ENV``, ``$FEATURE_STORE_DIR``)."""
    return resolve_settings().feature_store


# --- where things are ---------------------------------------------------------


def source_path(store: FeatureStoreProfile) -> Path:
    return store.directory / "iris_features.parquet"


def registry_path(store: FeatureStoreProfile) -> Path:
    return store.directory / "registry.db"


def source_table(store: FeatureStoreProfile) -> str:
    """The source table in a PostgreSQL offline store (one per Feast project)."""
    return f"{store.project}_{VIEW_NAME}_source"


def _masked(uri: str) -> str:
    """A URI fit for an error message: the password, if any, replaced by ***."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(store: FeatureStoreProfile) -> str:
    """Where the store's registry is: the place named in errors and logs."""
    return _masked(store.registry) if store.registry else str(store.directory)


def label(store: FeatureStoreProfile) -> str:
    """The store as the lifecycle record names it: the same on every clone (a relative directory)."""
    where = describe(store)
    if not store.registry:
        with suppress(ValueError):
            where = f"{store.directory.resolve().relative_to(PROJECT_ROOT)}/"
    return f"{where} (project {store.project})"


def built_here(store: FeatureStoreProfile) -> bool | None:
    """Whether an embedded store was built on this machine; ``None`` for a shared registry (ask it)."""
    return None if store.registry else registry_path(store).exists()


def source_uri(store: FeatureStoreProfile) -> str:
    """The lineage URI of the training rows' source table."""
    if store.offline_store:
        separator = "&" if urlsplit(store.offline_store).query else "?"
        return f"{_masked(store.offline_store)}{separator}table={source_table(store)}"
    return source_path(store).as_uri()


# --- Feast configuration --------------------------------------------------------


def _sqlalchemy_url(uri: str) -> str:
    """``postgresql://`` with psycopg 3 named explicitly (the only PostgreSQL driver installed)."""
    return "postgresql+psycopg://" + uri.split("://", 1)[1]


def _postgres_settings(uri: str) -> dict[str, Any]:
    """Feast's PostgreSQL connection fields from a URI (``?sslmode=`` honoured, default ``prefer``)."""
    parts = urlsplit(uri)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/") or "postgres",
        "db_schema": query.get("schema", "public"),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "sslmode": query.get("sslmode", "prefer"),
    }


def _redis_connection_string(uri: str) -> str:
    """Feast's ``host:port,db=N[,password=..][,ssl=true]`` from ``redis://[:password@]host[:port][/db]``."""
    parts = urlsplit(uri)
    options = [f"{parts.hostname or 'localhost'}:{parts.port or 6379}", f"db={parts.path.lstrip('/') or 0}",
               f"socket_connect_timeout={CONNECT_TIMEOUT_S}", f"socket_timeout={CONNECT_TIMEOUT_S}"]  # fmt: skip
    if parts.password:
        options.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        options.append("ssl=true")
    return ",".join(options)


def repo_config(store: FeatureStoreProfile) -> Any:
    """Feast's ``RepoConfig`` for ``store``: each part embedded unless the profile names a shared backend."""
    from feast.repo_config import RepoConfig

    registry: Any = str(registry_path(store))
    if store.registry:
        registry = {
            "registry_type": "sql",
            "path": _sqlalchemy_url(store.registry),
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True,
                                         "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}},
        }  # fmt: skip
    offline: dict[str, Any] = {"type": "file"}
    if store.offline_store:
        offline = {"type": "postgres", **_postgres_settings(store.offline_store)}
    online: dict[str, Any] = {"type": "sqlite", "path": str(store.directory / "online.db")}
    if store.online_store:
        online = {"type": "redis", "connection_string": _redis_connection_string(store.online_store)}
    return RepoConfig(
        project=store.project,
        provider="local",
        registry=registry,
        offline_store=offline,
        online_store=online,
        entity_key_serialization_version=3,
    )


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "a backend is down", from whichever drivers are installed."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import psycopg
        import sqlalchemy.exc

        errors += [psycopg.OperationalError, sqlalchemy.exc.OperationalError]
    except ImportError:  # pragma: no cover - psycopg and SQLAlchemy are requirements
        pass
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # Redis only matters when configured, and then it is installed
        pass
    return tuple(errors)


@contextmanager
def reaching(store: FeatureStoreProfile, what: str) -> Iterator[None]:
    """Turn a backend's connection failure into one error naming the store and what was being done."""
    try:
        yield
    except FeatureStoreError:
        raise
    except _unavailable_errors() as exc:
        backends = ", ".join(
            f"{part} {_masked(uri)}"
            for part, uri in (("registry", store.registry), ("offline store", store.offline_store),
                              ("online store", store.online_store))
            if uri
        )  # fmt: skip
        raise FeatureStoreUnavailable(
            f"feature store unavailable while {what} ({backends or describe(store)}): "
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}"
        ) from exc


def open_store(store: FeatureStoreProfile) -> FeatureStore:
    """The Feast store of ``store`` (configured in code: the repository is the definitions)."""
    from feast import FeatureStore

    with reaching(store, "opening the registry"):
        return FeatureStore(config=repo_config(store))


def applied(store: FeatureStoreProfile) -> FeatureStore | None:
    """The store, opened once, if ``make features`` has applied it; ``None`` if it has not (a missing local
    registry is not created)."""
    if not store.registry:
        return open_store(store) if registry_path(store).exists() else None
    feast_store = open_store(store)
    with reaching(store, "reading the registry"):
        return feast_store if feast_store.list_feature_views() else None


def require(store: FeatureStoreProfile) -> FeatureStore:
    """The applied store, or an error saying how to build it."""
    feast_store = applied(store)
    if feast_store is None:
        raise FeatureStoreError(f"no feature store at {describe(store)}: run `make features` first")
    return feast_store


# --- the repository ---------------------------------------------------------------


def feature_service_name(config: FeatureConfig) -> str:
    return f"{config.feature_set.name}_v{config.feature_set.version}"


def feature_service_of(feature_set_label: str) -> str:
    """The feature service of a model's recorded feature set (``iris_species_features:v1`` -> ``..._v1``)."""
    name, _, version = feature_set_label.partition(":v")
    if not name or not version.isdigit():
        raise FeatureStoreError(f"not a feature set label (name:vN): {feature_set_label!r}")
    return f"{name}_v{version}"


def entity_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Give each row its entity key and event timestamp (row i: flower i + 1, first event + i minutes)."""
    keys = pd.RangeIndex(1, len(raw) + 1)
    stamps = pd.DatetimeIndex([FIRST_EVENT + timedelta(minutes=i) for i in range(len(raw))])
    return pd.DataFrame({ENTITY_KEY: keys, TIMESTAMP: stamps}, index=raw.index)


def source_frame(data: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The named feature versions of every row, keyed and timestamped: the store's source table."""
    features = build_features(data.drop(columns=[TARGET_COLUMN], errors="ignore"), list(names))
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
    from feast.types import Float64

    names = set(store_features(feature_config))

    flower = Entity(name="flower", join_keys=[ENTITY_KEY], value_type=ValueType.INT64, description="One iris flower")
    view = FeatureView(
        name=VIEW_NAME,
        entities=[flower],
        ttl=timedelta(days=3650),
        schema=[
            Field(name=d.name, dtype=Float64, description=d.description, tags={"owner": d.owner})
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
    return [flower, view, service]


def write_source(store: FeatureStoreProfile, frame: pd.DataFrame) -> None:
    """Replace the source data in one step: a renamed temporary file, or one PostgreSQL transaction."""
    if store.offline_store:
        import sqlalchemy

        engine = sqlalchemy.create_engine(_sqlalchemy_url(store.offline_store),
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
    fields = _postgres_settings(uri)
    keep = ("host", "port", "user", "password", "sslmode")
    return {**{key: fields[key] for key in keep}, "dbname": fields["database"], "connect_timeout": CONNECT_TIMEOUT_S}


def apply_and_materialize(store: FeatureStoreProfile, feature_config: FeatureConfig | None = None) -> FeatureStore:
    """Write the source table, apply the repository and materialise every row into the online store.

    Everything that can refuse runs first: the feature set against the
    lifecycle, then every backend is reached; only then is anything written.
    """
    feature_config = feature_config or load_feature_config()
    objects = repository(store, feature_config)  # an unknown or unready feature fails here, before any write
    source = source_frame(load_bundled_iris(), store_features(feature_config))
    feast_store = _check_reachable(store)
    store.directory.mkdir(parents=True, exist_ok=True)  # the SQLite online store lives here unless Redis is set
    write_source(store, source)
    with reaching(store, "applying the repository"):
        feast_store.apply(objects)
    with reaching(store, "materialising the online store"):
        feast_store.materialize(FIRST_EVENT - timedelta(minutes=1), FIRST_EVENT + timedelta(minutes=len(source) + 1))
    return feast_store


def _materialised_features(feast_store: FeatureStore, store: FeatureStoreProfile) -> set[str]:
    with reaching(store, "reading the feature view"):
        try:
            view = _lookup(lambda: feast_store.get_feature_view(VIEW_NAME), f"feature view {VIEW_NAME}", store)
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


def _service(feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig) -> Any:
    """The feature set's service, once every feature view it reads is known to be in the store."""
    return _service_named(feast_store, store, feature_service_name(feature_config))


def _service_named(feast_store: FeatureStore, store: FeatureStoreProfile, name: str) -> Any:
    with reaching(store, f"reading feature service {name}"):
        service = _lookup(lambda: feast_store.get_feature_service(name), f"feature service {name}", store)
        for projection in service.feature_view_projections:
            view = projection.name
            _lookup(lambda v=view: feast_store.get_feature_view(v), f"feature view {view} (of {name})", store)
    return service


def _lookup(get: Any, what: str, store: FeatureStoreProfile) -> Any:
    """``get()``, with Feast's not-found errors (its own types) turned into one naming ``what``."""
    try:
        return get()
    except Exception as exc:
        if isinstance(exc, _unavailable_errors()):
            raise
        raise FeatureStoreError(f"{what} is not in the store at {describe(store)}: run `make features`") from None


def historical_features(
    feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig, entities: pd.DataFrame
) -> pd.DataFrame:
    """Point-in-time correct features of the feature service for ``entities`` (flower_id, event_timestamp)."""
    service = _service(feast_store, store, feature_config)
    with reaching(store, "building a point-in-time training set"):
        return feast_store.get_historical_features(entity_df=entities, features=service).to_df()


def online_features(
    feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig, flower_ids: Sequence[int]
) -> pd.DataFrame:
    """The latest features of the feature service for each flower, in request order."""
    service = _service(feast_store, store, feature_config)
    rows = [{ENTITY_KEY: int(key)} for key in flower_ids]
    with reaching(store, "reading online features"):
        return pd.DataFrame(feast_store.get_online_features(features=service, entity_rows=rows).to_dict())


#: The model's inputs as features: the raw measurements, version 1 (identity transforms).
RAW_INPUT_FEATURES = {f"iris_{column}_v1": column for column in RAW_FEATURE_COLUMNS}


def _require_raw_inputs(feature_config: FeatureConfig, purpose: str) -> None:
    missing = [name for name in RAW_INPUT_FEATURES if name not in feature_config.features]
    if missing:
        raise FeatureStoreError(f"{purpose} needs the model's inputs in the feature set: {missing}")


def training_measurements(
    data: pd.DataFrame, feature_config: FeatureConfig, store: FeatureStoreProfile
) -> pd.DataFrame:
    """The training rows as the store serves them, point in time, through the feature set's service.

    The model takes raw measurements and computes its own features, so its
    inputs are the raw ``_v1`` features of the service; the label comes from
    the data. Refuses, naming what is missing, rather than train on gaps.
    """
    _require_raw_inputs(feature_config, "feature_source 'store'")
    feast_store = require(store)
    entities = entity_frame(data)
    rows = historical_features(feast_store, store, feature_config, entities)
    rows = rows.set_index(ENTITY_KEY).reindex(entities[ENTITY_KEY])
    gaps = rows.index[rows[list(RAW_INPUT_FEATURES)].isna().any(axis=1)].tolist()
    if gaps:
        raise FeatureStoreError(f"the store has no features for flower_id {gaps[:5]} ({len(gaps)} rows)")
    frame = rows[list(RAW_INPUT_FEATURES)].rename(columns=RAW_INPUT_FEATURES).reset_index(drop=True)
    return frame.assign(**{TARGET_COLUMN: data[TARGET_COLUMN].to_numpy()})


class OnlineLookup:
    """Raw measurements by ``flower_id`` from the online store, for a request that carries only the key.

    The feature service is the one of the served model's own feature set (as
    recorded at training), resolved once, at start: which view and which
    features it reads. Each request then reads those features of the keys
    straight from the online store (the provider's ``online_read``), because
    Feast's ``get_online_features`` rebuilds the service and its views from the
    registry's protobufs, with runtime type checks, on every call: ~5 ms per
    request here against ~0.05 ms for the read itself (``make bench-features``).
    The values are those ``get_online_features`` returns (a test compares every
    flower).
    """

    def __init__(self, service_name: str, store: FeatureStoreProfile) -> None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self.store = store
        feast_store = require(store)
        service = _service_named(feast_store, store, service_name)  # fail at start, not per request
        projection = next((p for p in service.feature_view_projections if p.name == VIEW_NAME), None)
        served = {field.name for field in projection.features} if projection else set()
        missing = [name for name in RAW_INPUT_FEATURES if name not in served]
        if projection is None or missing:
            raise FeatureStoreError(f"online lookup needs the model's inputs from feature service {service_name}, "
                                    f"which lacks {missing}")  # fmt: skip
        with reaching(store, "reading the feature view"):
            self._view = feast_store.get_feature_view(projection.name)
        self._config = feast_store.config
        self._read = feast_store._get_provider().online_read  # Feast has no public per-view read
        self._names = list(RAW_INPUT_FEATURES)
        self._entity_key = lambda key: EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(int64_val=int(key))])

    def measurements(self, flower_ids: Sequence[int]) -> dict[str, Any]:
        """Float arrays per raw column, in request order.

        A key without features is a ``KeyError`` naming it; a backend that is
        down is a ``FeatureStoreUnavailable`` (never made-up values).
        """
        keys = [self._entity_key(key) for key in flower_ids]
        with reaching(self.store, "reading online features"):
            # a copy: Feast's Redis store appends its timestamp field to the list it is given
            rows = self._read(
                config=self._config, table=self._view, entity_keys=keys, requested_features=[*self._names]
            )
        found = [values or {} for _, values in rows]
        unknown = [
            key
            for key, values in zip(flower_ids, found, strict=True)
            if any(values.get(n) is None or values[n].WhichOneof("val") != "double_val" for n in self._names)
        ]
        if unknown:  # fmt: skip
            raise KeyError(unknown)
        return {column: np.array([values[name].double_val for values in found], dtype=float)
                for name, column in RAW_INPUT_FEATURES.items()}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    from src.utils import cli
    from src.utils.cli import refuse

    parser = cli.parser(
        "python -m src.features.feature_store", __doc__, example="python -m src.features.feature_store --env prod apply"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("apply", help="write the source, apply the repository, materialise online")
    online = commands.add_parser("online", help="print the online features of flowers")
    online.add_argument("flower_ids", type=int, nargs="+")
    args = parser.parse_args(argv)
    try:
        store = resolve_settings(args.env, args.env_config).feature_store
        feature_config = load_feature_config()
        if args.command == "apply":
            apply_and_materialize(store, feature_config)
            print(f"applied {VIEW_NAME} ({len(store_features(feature_config))} feature versions) and feature service "
                  f"{feature_service_name(feature_config)} to {describe(store)}; materialised online")  # fmt: skip
            return 0
        rows = online_features(require(store), store, feature_config, args.flower_ids)
        print(rows.to_string(index=False))
        return 0
    except (FeatureStoreError, ValueError, KeyError) as exc:  # ConfigError, unknown features
        return refuse(str(exc))


if __name__ == "__main__":
    sys.exit(main())
