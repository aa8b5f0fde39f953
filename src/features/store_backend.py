"""Where the feature store lives and how to reach it: Feast's configuration from the profile, one error for a
backend that is down.

The profile's ``feature_store`` (configs/environment.yaml) is embedded by
default (local registry file, Parquet file source, SQLite online store under
``feature_store/``), or, part by part, a PostgreSQL SQL registry, a PostgreSQL
offline store (the source is then a table there) and a Redis online store.
``import feast`` costs ~4.5 s, so it happens only inside these functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from src.data.contract import CONTRACT
from src.utils.config import PROJECT_ROOT, FeatureStoreProfile, resolve_settings
from src.utils.errors import ProjectError

if TYPE_CHECKING:
    from feast import FeatureStore

#: The one feature view, holding every feature version the store serves, named after the data set.
VIEW_NAME = f"{CONTRACT.name}_features"
SOURCE_NAME = f"{CONTRACT.name}_inputs"
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
    return store.directory / f"{VIEW_NAME}.parquet"


def registry_path(store: FeatureStoreProfile) -> Path:
    return store.directory / "registry.db"


def source_table(store: FeatureStoreProfile) -> str:
    """The source table in a PostgreSQL offline store (one per Feast project)."""
    return f"{store.project}_{VIEW_NAME}_source"


def masked(uri: str) -> str:
    """A URI fit for an error message: the password, if any, replaced by ***."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(store: FeatureStoreProfile) -> str:
    """Where the store's registry is: the place named in errors and logs."""
    return masked(store.registry) if store.registry else str(store.directory)


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
        return f"{masked(store.offline_store)}{separator}table={source_table(store)}"
    return source_path(store).as_uri()


# --- Feast configuration --------------------------------------------------------


def sqlalchemy_url(uri: str) -> str:
    """``postgresql://`` with psycopg 3 named explicitly (the only PostgreSQL driver installed)."""
    return "postgresql+psycopg://" + uri.split("://", 1)[1]


def postgres_settings(uri: str) -> dict[str, Any]:
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

    return RepoConfig(**repo_settings(store))


#: ``feature_store.yaml`` beside the embedded store: Feast's own CLI and UI then open the project's store.
REPO_YAML = "feature_store.yaml"
#: The environment variables ``feature_store.yaml`` names instead of writing a password down.
PASSWORD_VARIABLES = {"registry": "FEATURE_REGISTRY_PASSWORD", "offline_store": "FEATURE_OFFLINE_PASSWORD",
                      "online_store": "FEATURE_ONLINE_PASSWORD"}  # fmt: skip


def _without_password(uri: str | None, variable: str) -> str | None:
    """``uri`` with its password replaced by ``${variable}`` (Feast expands it when it reads the file)."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    user = f"{parts.username}:" if parts.username else ":"
    netloc = f"{user}${{{variable}}}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def write_repo_yaml(store: FeatureStoreProfile) -> Path:
    """Write ``feature_store.yaml`` in the store's directory, the same configuration the code uses, so
    ``feast -c feature_store feature-views list`` (and ``feast ui``) work on it; passwords stay out of it."""
    import yaml

    masked = store.model_copy(update={key: _without_password(getattr(store, key), variable)
                                      for key, variable in PASSWORD_VARIABLES.items()})  # fmt: skip
    settings = repo_settings(masked)
    header = ("# Written by make features (src/features/store_backend.py) from configs/environment.yaml: the store the "
              "code opens.\n# Feast's CLI reads it: feast -c feature_store feature-views list. Passwords are "
              f"${{{'}, ${'.join(PASSWORD_VARIABLES.values())}}} in the environment.\n")  # fmt: skip
    path = store.directory / REPO_YAML
    path.write_text(header + yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def repo_settings(store: FeatureStoreProfile) -> dict[str, Any]:
    """The fields of Feast's repository configuration for ``store`` (``RepoConfig``'s keyword arguments)."""
    registry: Any = str(registry_path(store))
    if store.registry:
        registry = {
            "registry_type": "sql",
            "path": sqlalchemy_url(store.registry),
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True,
                                         "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}},
        }  # fmt: skip
    offline: dict[str, Any] = {"type": "file"}
    if store.offline_store:
        offline = {"type": "postgres", **postgres_settings(store.offline_store)}
    online: dict[str, Any] = {"type": "sqlite", "path": str(store.directory / "online.db")}
    if store.online_store:
        online = {"type": "redis", "connection_string": _redis_connection_string(store.online_store)}
    return {
        "project": store.project,
        "provider": "local",
        "registry": registry,
        "offline_store": offline,
        "online_store": online,
        "entity_key_serialization_version": 3,
    }


def unavailable_errors() -> tuple[type[BaseException], ...]:
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
    except unavailable_errors() as exc:
        backends = ", ".join(
            f"{part} {masked(uri)}"
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


def lookup(get: Any, what: str, store: FeatureStoreProfile) -> Any:
    """``get()``, with Feast's not-found errors (its own types) turned into one naming ``what``."""
    try:
        return get()
    except Exception as exc:
        if isinstance(exc, unavailable_errors()):
            raise
        raise FeatureStoreError(f"{what} is not in the store at {describe(store)}: run `make features`") from None
