"""Typed, validated configuration: model, features and environment profiles.

Every YAML file is parsed into frozen pydantic objects that refuse unknown
keys, so a typo is an error that names the file, the key and what was
expected, raised before anything is tracked or registered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from src.utils import naming
from src.utils.errors import ProjectError

#: The repository (configs/, logs/, the embedded store). An installed copy of the package (the image's
#: ``pip install .``) finds it in ``$MLOPS_PROJECT_ROOT``.
PROJECT_ROOT = Path(os.environ.get("MLOPS_PROJECT_ROOT") or Path(__file__).resolve().parents[2])
CONFIG_DIR = PROJECT_ROOT / "configs"
DEFAULT_MODEL_CONFIG = CONFIG_DIR / "model_config.yaml"
DEFAULT_FEATURE_CONFIG = CONFIG_DIR / "feature_config.yaml"
DEFAULT_ENVIRONMENT_CONFIG = CONFIG_DIR / "environment.yaml"
DEFAULT_MONITORING_CONFIG = CONFIG_DIR / "monitoring.yaml"

#: Environment variables that win over the selected profile.
ENV_PROFILE_VAR = "ML_ENV"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_REGISTRY_URI = "MLFLOW_REGISTRY_URI"
ENV_CATALOG = "UNITY_CATALOG_NAME"
ENV_ALIAS_LOCK = "ALIAS_LOCK_URI"
ENV_INFERENCE_LOG = "INFERENCE_LOG_URI"
#: The lock services an alias lock may live in (src/models/alias_lock.py).
LOCK_SCHEMES = ("postgresql", "redis", "rediss")
ENV_FEATURE_STORE_DIR = "FEATURE_STORE_DIR"
#: The model config a command reads when it is given none (CI or a test suite points a whole run at another one).
ENV_MODEL_CONFIG = "ML_MODEL_CONFIG"

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class ConfigError(ProjectError, ValueError):
    """A configuration file is missing, unreadable or invalid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- model_config.yaml ------------------------------------------------------


class ModelSpec(_Frozen):
    """The classifier: any scikit-learn-compatible class with ``predict_proba``, by import path, and its parameters.

    The parameters are checked against the class's own ``get_params()`` when
    training is planned (``src.models.classifier``), so a typo names the key.
    """

    estimator: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")]
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def type(self) -> str:
        """The class's name (``LogisticRegression``): the run's ``model.type``."""
        return self.estimator.rsplit(".", 1)[1]


class DataConfig(_Frozen):
    """Where the training data comes from."""

    source: Literal["bundled", "file"] = "bundled"
    path: Path | None = None

    @field_validator("path")
    @classmethod
    def _known_format(cls, path: Path | None) -> Path | None:
        if path is not None and path.suffix.lower() not in {".csv", ".parquet"}:
            raise ValueError(f"expected a .csv or .parquet file, got {path.name!r}")
        return path

    @model_validator(mode="after")
    def _file_needs_path(self) -> DataConfig:
        if self.source == "file" and self.path is None:
            raise ValueError("source 'file' needs a path (a .csv or .parquet file)")
        return self


class SplitConfig(_Frozen):
    """How the held-out validation split is drawn."""

    test_size: Fraction = 0.2
    stratify: bool = True


MetricName = Literal["val_accuracy", "val_f1_macro", "val_precision_macro", "val_recall_macro", "val_log_loss"]


class ChampionPolicy(_Frozen):
    """How a candidate compares with the version at ``production`` on the same held-out rows."""

    metrics: tuple[MetricName, ...] = ("val_accuracy", "val_f1_macro")
    #: The candidate may be at most this much worse (absolute) than the champion.
    max_regression: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class LatencyBudget(_Frozen):
    """How fast the loaded model must predict, measured in-process through pyfunc."""

    single_row_p99_ms: Annotated[float, Field(gt=0.0)] = 50.0
    batch_rows: Annotated[int, Field(ge=1)] = 1000
    batch_p99_ms: Annotated[float, Field(gt=0.0)] = 500.0
    repeats: Annotated[int, Field(ge=5, le=10_000)] = 50


class ValidationConfig(_Frozen):
    """What a version must show before it may leave ``dev``."""

    #: Absolute floors on held-out metrics (a ceiling for val_log_loss).
    thresholds: dict[MetricName, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    champion: ChampionPolicy = ChampionPolicy()
    latency: LatencyBudget = LatencyBudget()
    #: Every feature the version uses must have reached this lifecycle status (configs/feature_lifecycle.yaml).
    min_feature_status: Literal["LOCAL", "VALIDATED", "REFACTORED", "REGISTERED"] = "REGISTERED"


class ModelConfig(_Frozen):
    """The contents of ``configs/model_config.yaml``."""

    model: ModelSpec
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    random_seed: Annotated[int, Field(ge=0)] = 42
    validation: ValidationConfig = ValidationConfig()


# --- feature_config.yaml ----------------------------------------------------


class FeatureSetConfig(_Frozen):
    """The named, versioned set of features a model is trained on."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    version: Annotated[int, Field(ge=1)]


class FeatureConfig(_Frozen):
    """The contents of ``configs/feature_config.yaml``."""

    feature_set: FeatureSetConfig
    #: local: computed from the raw data by the feature builder; store: read from the Feast feature service.
    feature_source: Literal["local", "store"] = "local"
    features: Annotated[tuple[str, ...], Field(min_length=1)]

    @field_validator("features")
    @classmethod
    def _named_and_unique(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        for name in features:
            naming.parse_feature_name(name)
        duplicates = sorted({name for name in features if features.count(name) > 1})
        if duplicates:
            raise ValueError(f"features listed twice: {', '.join(duplicates)}")
        return features


# --- environment.yaml -------------------------------------------------------


class ProjectIdentity(_Frozen):
    """Who owns the model and what it is called, shared by every profile."""

    team: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    team_code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*$")]
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    owner: Annotated[str, Field(min_length=1)]
    use_case: Annotated[str, Field(min_length=1)]


def _uri_with_scheme(uri: str | None, schemes: tuple[str, ...], what: str) -> str | None:
    if uri is not None and uri.split("://", 1)[0] not in schemes:
        raise ValueError(f"{what} must be a {' or '.join(s + '://' for s in schemes)} URI, got {uri!r}")
    return uri


class FeatureStoreProfile(_Frozen):
    """Where a profile's Feast feature store lives: embedded files unless a shared backend is named.

    Each backend is independent: omit a URI to keep that part embedded in
    ``directory`` (local registry file, Parquet source, SQLite online store).
    """

    #: Feast project: namespaces the registry entries, online keys and source table in shared backends
    #: (default: the project's name, ``project.project`` in environment.yaml).
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = "default"
    #: Local files of the embedded parts (relative to the repository root).
    directory: Path = Path("feature_store")
    #: ``postgresql://user[:password]@host[:port]/database``: Feast's SQL registry in PostgreSQL.
    registry: str | None = None
    #: ``postgresql://...``: the source table and point-in-time joins in PostgreSQL.
    offline_store: str | None = None
    #: ``redis://[:password@]host[:port][/db]``: online features in Redis.
    online_store: str | None = None

    @field_validator("registry", "offline_store")
    @classmethod
    def _postgres(cls, uri: str | None) -> str | None:
        return _uri_with_scheme(uri, ("postgresql",), "a shared registry or offline store")

    @field_validator("online_store")
    @classmethod
    def _redis(cls, uri: str | None) -> str | None:
        return _uri_with_scheme(uri, ("redis", "rediss"), "a shared online store")


class TrackingClientProfile(_Frozen):
    """How long the MLflow client insists on a tracking server before a command fails.

    MLflow's own defaults (7 retries with exponential backoff, a 120 s timeout
    per request) make a command against a dead server hang for minutes; these
    make it fail in seconds (connection refused) and within ~30 s when the
    server accepts connections but never answers. Applied through MLflow's
    ``MLFLOW_HTTP_REQUEST_*`` variables; a variable already set wins.
    """

    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_factor: Annotated[int, Field(ge=0, le=10)] = 1
    backoff_jitter: Annotated[float, Field(ge=0, le=10)] = 0.5
    request_timeout_s: Annotated[int, Field(ge=1, le=600)] = 8

    def environment(self) -> dict[str, str]:
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.backoff_factor),
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": str(self.backoff_jitter),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.request_timeout_s),
        }

    @property
    def worst_case_s(self) -> float:
        """The longest one request can take to fail: every attempt timing out, plus the backoff between them."""
        backoff = sum(self.backoff_factor * 2**attempt + self.backoff_jitter for attempt in range(self.max_retries))
        return (self.max_retries + 1) * self.request_timeout_s + backoff


class Profile(_Frozen):
    """Backends and catalog of one environment (dev, staging, prod)."""

    tracking_uri: Annotated[str, Field(min_length=1)]
    registry_uri: str | None = None
    catalog: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    schema_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", alias="schema")]
    artifact_location: str | None = None
    feature_store: FeatureStoreProfile = FeatureStoreProfile()
    tracking_client: TrackingClientProfile = TrackingClientProfile()
    #: The lock service that serialises alias moves: ``postgresql://...`` (advisory lock) or ``redis://...``
    #: (lease with a fencing token). Omitted: a file lock beside an embedded SQLite store, else a registry-tag lease.
    alias_lock: str | None = None
    #: ``postgresql://...``: the inference log every replica writes and monitoring reads. Omitted: a SQLite file
    #: per host (``logs/inference_<alias>.db``).
    inference_log: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("alias_lock")
    @classmethod
    def _lock_service(cls, uri: str | None) -> str | None:
        return _uri_with_scheme(uri, LOCK_SCHEMES, "alias_lock")

    @field_validator("inference_log")
    @classmethod
    def _log_database(cls, uri: str | None) -> str | None:
        return _uri_with_scheme(uri, ("postgresql",), "inference_log")


PromotionMode = Literal["aliases", "catalogs"]


class EnvironmentConfig(_Frozen):
    """The contents of ``configs/environment.yaml``."""

    default_profile: Literal["dev", "staging", "prod"] = "dev"
    #: aliases: one registered model, aliases dev/staging/production (the default).
    #: catalogs: one registered model per environment catalog, promotion copies the version.
    promotion_mode: PromotionMode = "aliases"
    project: ProjectIdentity
    profiles: dict[Literal["dev", "staging", "prod"], Profile]

    @model_validator(mode="after")
    def _default_is_defined(self) -> EnvironmentConfig:
        if self.default_profile not in self.profiles:
            raise ValueError(f"default_profile {self.default_profile!r} has no entry under profiles")
        return self


class Settings(_Frozen):
    """The resolved environment: one profile, with environment overrides applied."""

    profile: str
    tracking_uri: str
    registry_uri: str
    catalog: str
    schema_name: str
    artifact_location: str | None
    project: ProjectIdentity
    promotion_mode: PromotionMode = "aliases"
    #: Catalog of each profile, for promotion across catalogs (``promotion_mode: catalogs``).
    catalogs: dict[str, str] = Field(default_factory=dict)
    #: The profile's feature store, its directory made absolute.
    feature_store: FeatureStoreProfile = FeatureStoreProfile(directory=PROJECT_ROOT / "feature_store")
    tracking_client: TrackingClientProfile = TrackingClientProfile()
    alias_lock: str | None = None
    #: The shared inference log (``postgresql://``), or None for a SQLite file per host.
    inference_log: str | None = None

    @property
    def experiment_name(self) -> str:
        p = self.project
        return naming.experiment_name(p.team, p.project, p.model_name)

    @property
    def experiment_artifact_location(self) -> str | None:
        """Artifacts of this project's experiment, under the profile's root (``None``: the server decides)."""
        if self.artifact_location is None:
            return None
        return self.artifact_location.rstrip("/") + self.experiment_name

    @property
    def registered_model_name(self) -> str:
        return self.model_name_in(self.catalog)

    @property
    def audit_experiment_name(self) -> str:
        """Where alias moves are recorded: beside the training experiment."""
        return f"{self.experiment_name}_registry_audit"

    @property
    def validation_experiment_name(self) -> str:
        """Where the gate records its verdicts: an experiment only CI writes (configs/governance.yaml)."""
        return f"{self.experiment_name}_validation"

    @property
    def monitoring_experiment_name(self) -> str:
        """Where each monitoring pass is a run: apart from training, so the two tables stay readable in the UI."""
        return f"{self.experiment_name}_monitoring"

    def model_name_for(self, alias: str) -> str:
        """The registered model that carries ``alias`` under the promotion mode.

        aliases: the selected profile's model carries all three aliases.
        catalogs: ``dev`` lives in the dev catalog, ``staging`` in the staging
        catalog, ``production`` in the prod catalog.
        """
        if self.promotion_mode == "aliases":
            return self.registered_model_name
        profile = {"dev": "dev", "staging": "staging", "production": "prod"}[alias]
        if profile not in self.catalogs:
            raise ConfigError(f"promotion_mode 'catalogs' needs a {profile!r} profile for alias {alias!r}")
        return self.model_name_in(self.catalogs[profile])

    def model_name_in(self, catalog: str) -> str:
        """This model's three-level name in ``catalog``."""
        p = self.project
        return naming.registered_model_name(catalog, self.schema_name, p.team_code, p.project, p.model_name)


# --- loading ----------------------------------------------------------------

_Config = TypeVar("_Config", bound=BaseModel)


#: Configuration files are a few KB; a larger one is refused before it is parsed.
MAX_CONFIG_BYTES = 1_000_000
#: How much of a refused value an error message repeats, at most.
MAX_ECHO_CHARS = 200


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases: a config never needs them, and nested aliases expand
    exponentially (a "billion laughs" document of a few hundred bytes hangs the loader and fills memory)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "anchors and aliases (&name, *name) are not allowed in configuration files",
                event.start_mark,
            )  # fmt: skip
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def load_yaml(text: str, source: str) -> Any:
    """Parse one configuration file's text: no anchors or aliases, a bounded size, errors naming ``source``."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text):,} characters, over the {MAX_CONFIG_BYTES:,} a config may hold")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {echo(str(exc), 4 * MAX_ECHO_CHARS)}") from None


def echo(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` shortened to ``limit`` characters for an error message (an input is never repeated whole)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _read_yaml(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    content = load_yaml(text, str(path))
    if not isinstance(content, Mapping):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(content).__name__}")
    return content


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    got = error.get("input")
    detail = "" if error["type"] in {"missing", "extra_forbidden"} else f" (got {echo(repr(got))})"
    return f"  - {key}: {message}{detail}"


def _parse(model: type[_Config], path: Path) -> _Config:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        lines = "\n".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"{path}: invalid {model.__name__}:\n{lines}") from None


def model_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The model config to read when none is named: ``$ML_MODEL_CONFIG``, else ``configs/model_config.yaml``."""
    named = (os.environ if environ is None else environ).get(ENV_MODEL_CONFIG)
    return Path(named) if named else DEFAULT_MODEL_CONFIG


def load_model_config(path: Path | None = None) -> ModelConfig:
    """Read and validate ``model_config.yaml`` (``model_config_path()`` when no path is given); a relative data
    path is taken from the project root."""
    config = _parse(ModelConfig, Path(path or model_config_path()))
    data_path = config.data.path
    if data_path is not None and not data_path.is_absolute():
        data = config.data.model_copy(update={"path": PROJECT_ROOT / data_path})
        config = config.model_copy(update={"data": data})
    return config


class MonitoringThresholds(_Frozen):
    """When a monitoring window counts as drifted, and when an alert fires (src/monitoring/drift.py)."""

    min_rows: Annotated[int, Field(ge=1)] = 200
    ks_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    psi: Annotated[float, Field(ge=0)] = 0.2
    prediction_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    prediction_psi: Annotated[float, Field(ge=0)] = 0.2
    alert_m: Annotated[int, Field(ge=1)] = 2
    alert_n: Annotated[int, Field(ge=1)] = 3

    @model_validator(mode="after")
    def _m_of_n(self) -> MonitoringThresholds:
        if self.alert_m > self.alert_n:
            raise ValueError(f"alert_m ({self.alert_m}) cannot exceed alert_n ({self.alert_n})")
        return self


class MonitoringConfig(_Frozen):
    """The contents of ``configs/monitoring.yaml``."""

    thresholds: MonitoringThresholds = MonitoringThresholds()
    #: Inference logs to read, as globs (``{alias}`` is replaced by the monitored alias), when the profile names no
    #: shared log. Every file is read and its rows of the alias kept: a challenger logs into its champion's file.
    logs: list[str] = Field(default_factory=lambda: ["logs/inference_*.db"])

    def log_patterns(self, alias: str) -> list[str]:
        """The globs for ``alias``, relative ones taken from the repository root."""
        patterns = [pattern.format(alias=alias) for pattern in self.logs]
        return [p if Path(p).is_absolute() else str(PROJECT_ROOT / p) for p in patterns]


def load_monitoring_config(path: Path = DEFAULT_MONITORING_CONFIG) -> MonitoringConfig:
    """Read and validate ``monitoring.yaml``."""
    return _parse(MonitoringConfig, Path(path))


def load_feature_config(path: Path = DEFAULT_FEATURE_CONFIG) -> FeatureConfig:
    """Read and validate ``feature_config.yaml`` (names only; definitions are checked by the builder)."""
    return _parse(FeatureConfig, Path(path))


def load_environment_config(path: Path = DEFAULT_ENVIRONMENT_CONFIG) -> EnvironmentConfig:
    """Read and validate ``environment.yaml``."""
    return _parse(EnvironmentConfig, Path(path))


def _absolute_sqlite(uri: str) -> str:
    """Anchor a relative ``sqlite:///file.db`` at the project root, so every command finds one store."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        return prefix + str(PROJECT_ROOT / uri.removeprefix(prefix))
    return uri


def _local_artifact_location(tracking_uri: str) -> str | None:
    """Keep artifacts beside an embedded SQLite store, never in a stray ``./mlruns``."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db_path = Path(tracking_uri.removeprefix("sqlite:///"))
    return (db_path.parent / "mlartifacts").as_uri()


def _alias_lock(uri: str | None) -> str | None:
    if not uri:
        return None
    try:
        return _uri_with_scheme(uri, LOCK_SCHEMES, "alias_lock")
    except ValueError as exc:
        raise ConfigError(f"{ENV_ALIAS_LOCK}: {exc}") from None


def _inference_log(uri: str | None) -> str | None:
    if not uri:
        return None
    try:
        return _uri_with_scheme(uri, ("postgresql",), "inference_log")
    except ValueError as exc:
        raise ConfigError(f"{ENV_INFERENCE_LOG}: {exc}") from None


def resolve_settings(
    env: str | None = None,
    path: Path = DEFAULT_ENVIRONMENT_CONFIG,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Pick a profile (``--env``, then ``$ML_ENV``, then the default) and apply overrides.

    ``MLFLOW_TRACKING_URI``, ``MLFLOW_REGISTRY_URI``, ``UNITY_CATALOG_NAME``,
    ``FEATURE_STORE_DIR``, ``ALIAS_LOCK_URI`` and ``INFERENCE_LOG_URI`` win over
    the file, so CI and shared backends need no edited config.
    """
    environ = os.environ if environ is None else environ
    config = load_environment_config(path)
    name = env or environ.get(ENV_PROFILE_VAR) or config.default_profile
    if name not in config.profiles:
        known = ", ".join(sorted(config.profiles))
        raise ConfigError(f"{path}: profile {name!r} is not defined; expected one of: {known}")
    profile = config.profiles[name]  # type: ignore[index]
    tracking_uri = _absolute_sqlite(environ.get(ENV_TRACKING_URI) or profile.tracking_uri)
    registry_uri = _absolute_sqlite(environ.get(ENV_REGISTRY_URI) or profile.registry_uri or tracking_uri)
    catalog = environ.get(ENV_CATALOG) or profile.catalog
    store_dir = Path(environ.get(ENV_FEATURE_STORE_DIR) or profile.feature_store.directory)
    feature_project = profile.feature_store.project
    if "project" not in profile.feature_store.model_fields_set:
        feature_project = config.project.project
    feature_store = profile.feature_store.model_copy(
        update={"directory": PROJECT_ROOT / store_dir, "project": feature_project}
    )
    try:
        naming.check_identifier(catalog, "catalog")
    except naming.NamingError as exc:
        raise ConfigError(f"{ENV_CATALOG}: {exc}") from None
    return Settings(
        profile=name,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
        catalog=catalog,
        schema_name=profile.schema_name,
        artifact_location=profile.artifact_location or _local_artifact_location(tracking_uri),
        project=config.project,
        promotion_mode=config.promotion_mode,
        catalogs={key: (catalog if key == name else value.catalog) for key, value in config.profiles.items()},
        feature_store=feature_store,
        tracking_client=profile.tracking_client,
        alias_lock=_alias_lock(environ.get(ENV_ALIAS_LOCK)) or profile.alias_lock,
        inference_log=_inference_log(environ.get(ENV_INFERENCE_LOG)) or profile.inference_log,
    )


# --- governance.yaml -----------------------------------------------------------

DEFAULT_GOVERNANCE_CONFIG = CONFIG_DIR / "governance.yaml"

#: MLflow's permissions, weakest first (mlflow.server.auth.permissions): each includes the ones before it.
Permission = Literal["NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"]
PERMISSION_ORDER: tuple[str, ...] = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
#: The experiments a role is granted on: the model's training experiment, the gate's verdicts, the alias history,
#: the monitoring passes.
ExperimentKind = Literal["training", "validation", "audit", "monitoring"]
EXPERIMENT_KINDS: tuple[ExperimentKind, ...] = ("training", "validation", "audit", "monitoring")
Environment = Literal["dev", "staging", "production"]


class RoleConfig(_Frozen):
    """One role: who holds it, and its permission on each experiment and on the model of each environment."""

    description: str
    members: list[str]
    experiments: dict[ExperimentKind, Permission]
    models: dict[Environment, Permission]
    #: The Unity Catalog group holding this role (grants go to groups, never to people).
    unity_catalog_group: str

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, members: list[str]) -> list[str]:
        if len(set(members)) != len(members):
            raise ValueError("a member is listed twice")
        if any(not member.strip() for member in members):
            raise ValueError("a member name is empty")
        return members

    @model_validator(mode="after")
    def _every_resource_named(self) -> RoleConfig:
        missing: list[str] = [k for k in EXPERIMENT_KINDS if k not in self.experiments]
        missing += [e for e in ("dev", "staging", "production") if e not in self.models]
        if missing:
            raise ValueError(f"say the permission on each experiment and model; missing: {', '.join(missing)}")
        return self


class UnityCatalogConfig(_Frozen):
    """Who consumes the production model in Unity Catalog (service principals of the applications)."""

    consumers: list[str] = Field(default_factory=list)


class GovernanceConfig(_Frozen):
    """The contents of ``configs/governance.yaml``: roles, members and rights, applied to the server."""

    #: What an authenticated user gets where no grant says otherwise (MLflow's default_permission).
    default_permission: Permission = "NO_PERMISSIONS"
    roles: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], RoleConfig]
    unity_catalog: UnityCatalogConfig = UnityCatalogConfig()

    @model_validator(mode="after")
    def _one_role_per_member(self) -> GovernanceConfig:
        seen: dict[str, str] = {}
        for name, role in self.roles.items():
            for member in role.members:
                if member in seen:
                    raise ValueError(f"{member} holds two roles ({seen[member]}, {name}): give each person one role")
                seen[member] = name
        return self


def load_governance_config(path: Path = DEFAULT_GOVERNANCE_CONFIG) -> GovernanceConfig:
    """Read and validate ``governance.yaml``."""
    return _parse(GovernanceConfig, Path(path))


# --- model_card.yaml -------------------------------------------------------------

DEFAULT_MODEL_CARD_CONFIG = CONFIG_DIR / "model_card.yaml"


class ModelCardConfig(_Frozen):
    """What the model card says that no registry knows: intended use and limits (Mitchell et al., 2019)."""

    intended_use: list[str] = Field(min_length=1)
    intended_users: list[str] = Field(min_length=1)
    out_of_scope: list[str] = Field(min_length=1)
    factors: list[str] = Field(min_length=1)
    ethical_considerations: list[str] = Field(min_length=1)
    caveats: list[str] = Field(min_length=1)
    recommendations: list[str] = Field(min_length=1)


def load_model_card_config(path: Path = DEFAULT_MODEL_CARD_CONFIG) -> ModelCardConfig:
    """Read and validate ``model_card.yaml``."""
    return _parse(ModelCardConfig, Path(path))
