"""The Feast feature store, built from the feature definitions (never written twice).

    python -m src.features.feature_store apply      # make features: write the source, apply, materialise
    python -m src.features.feature_store online 3   # the online features of flower 3

Every Iris row becomes an entity ``flower_id`` with an event timestamp, so
point-in-time joins are real. One feature view holds every defined feature
version (computed by the feature builder); one feature service per feature
set (``iris_species_features_v1``) lists the configured features. The
embedded default is a Parquet file source, a SQLite online store and a local
registry under ``feature_store/`` in the repository root.

``import feast`` costs ~4.5 s, so it happens only inside these functions:
training from local features and an endpoint without lookups never pay it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from src.data.load_data import RAW_FEATURE_COLUMNS, TARGET_COLUMN, load_bundled_iris
from src.features.feature_builder import build_features
from src.features.feature_definitions import DEFINITIONS
from src.utils.config import PROJECT_ROOT, FeatureConfig, load_feature_config

if TYPE_CHECKING:
    from feast import FeatureStore

ENTITY_KEY = "flower_id"
TIMESTAMP = "event_timestamp"
VIEW_NAME = "iris_features"
#: The measurements are stamped one minute apart from this instant: a fixed, reproducible history.
FIRST_EVENT = datetime(2026, 1, 1, tzinfo=UTC)


class FeatureStoreError(RuntimeError):
    """The feature store cannot serve what was asked (missing store, service or rows)."""


def _default_root() -> Path:
    return Path(os.environ.get("FEATURE_STORE_DIR") or PROJECT_ROOT / "feature_store")


@dataclass(frozen=True)
class StoreLocation:
    """Where the embedded feature store keeps its registry, online store and source data ($FEATURE_STORE_DIR)."""

    root: Path = field(default_factory=_default_root)

    @property
    def source(self) -> Path:
        return self.root / "iris_features.parquet"

    @property
    def registry(self) -> Path:
        return self.root / "registry.db"

    @property
    def online(self) -> Path:
        return self.root / "online.db"


def feature_service_name(config: FeatureConfig) -> str:
    return f"{config.feature_set.name}_v{config.feature_set.version}"


def open_store(location: StoreLocation = StoreLocation()) -> FeatureStore:
    """The Feast store at ``location`` (configured in code: the repository is the definitions)."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    config = RepoConfig(
        project="iris",
        provider="local",
        registry=str(location.registry),
        offline_store={"type": "file"},
        online_store={"type": "sqlite", "path": str(location.online)},
        entity_key_serialization_version=3,
    )
    return FeatureStore(config=config)


def entity_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Give each row its entity key and event timestamp (row i: flower i + 1, first event + i minutes)."""
    keys = pd.RangeIndex(1, len(raw) + 1)
    stamps = pd.DatetimeIndex([FIRST_EVENT + timedelta(minutes=i) for i in range(len(raw))])
    return pd.DataFrame({ENTITY_KEY: keys, TIMESTAMP: stamps}, index=raw.index)


def source_frame(data: pd.DataFrame) -> pd.DataFrame:
    """Every defined feature version of every row, keyed and timestamped: the store's source table."""
    features = build_features(data.drop(columns=[TARGET_COLUMN], errors="ignore"), [d.name for d in DEFINITIONS])
    return pd.concat([entity_frame(data), features], axis=1)


def repository(location: StoreLocation, feature_config: FeatureConfig) -> list[Any]:
    """The Feast objects, derived from the definitions and the feature config."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    flower = Entity(name="flower", join_keys=[ENTITY_KEY], value_type=ValueType.INT64, description="One iris flower")
    source = FileSource(name="iris_measurements", path=str(location.source), timestamp_field=TIMESTAMP)
    view = FeatureView(
        name=VIEW_NAME,
        entities=[flower],
        ttl=timedelta(days=3650),
        schema=[
            Field(name=d.name, dtype=Float64, description=d.description, tags={"owner": d.owner}) for d in DEFINITIONS
        ],
        source=source,
        online=True,
        tags={"generated_by": "src.features.feature_store"},
    )
    service = FeatureService(
        name=feature_service_name(feature_config),
        features=[view[list(feature_config.features)]],
        description=f"Features of {feature_config.feature_set.name} version {feature_config.feature_set.version}",
    )
    return [flower, view, service]


def apply_and_materialize(
    location: StoreLocation = StoreLocation(), feature_config: FeatureConfig | None = None
) -> FeatureStore:
    """Write the source table, apply the repository and materialise every row into the online store."""
    feature_config = feature_config or load_feature_config()
    location.root.mkdir(parents=True, exist_ok=True)
    source = source_frame(load_bundled_iris())
    source.to_parquet(location.source, index=False)
    store = open_store(location)
    store.apply(repository(location, feature_config))
    store.materialize(FIRST_EVENT - timedelta(minutes=1), FIRST_EVENT + timedelta(minutes=len(source) + 1))
    return store


def registered_features(location: StoreLocation = StoreLocation()) -> set[str]:
    """Feature names applied in the store's feature view and materialised online (empty without a store)."""
    if not location.registry.exists():
        return set()
    store = open_store(location)
    try:
        view = store.get_feature_view(VIEW_NAME)
    except Exception:  # no such view: nothing registered
        return set()
    if not view.materialization_intervals:
        return set()
    return {field.name for field in view.features}


def historical_features(store: FeatureStore, feature_config: FeatureConfig, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time correct features of the feature service for ``entities`` (flower_id, event_timestamp)."""
    service = store.get_feature_service(feature_service_name(feature_config))
    return store.get_historical_features(entity_df=entities, features=service).to_df()


def online_features(store: FeatureStore, feature_config: FeatureConfig, flower_ids: Sequence[int]) -> pd.DataFrame:
    """The latest features of the feature service for each flower, in request order."""
    service = store.get_feature_service(feature_service_name(feature_config))
    rows = [{ENTITY_KEY: int(key)} for key in flower_ids]
    return pd.DataFrame(store.get_online_features(features=service, entity_rows=rows).to_dict())


#: The model's inputs as features: the raw measurements, version 1 (identity transforms).
RAW_INPUT_FEATURES = {f"iris_{column}_v1": column for column in RAW_FEATURE_COLUMNS}


def training_measurements(
    data: pd.DataFrame, feature_config: FeatureConfig, location: StoreLocation | None = None
) -> pd.DataFrame:
    """The training rows as the store serves them, point in time, through the feature set's service.

    The model takes raw measurements and computes its own features, so its
    inputs are the raw ``_v1`` features of the service; the label comes from
    the data. Refuses, naming what is missing, rather than train on gaps.
    """
    location = location or StoreLocation()
    missing = [name for name in RAW_INPUT_FEATURES if name not in feature_config.features]
    if missing:
        raise FeatureStoreError(f"feature_source 'store' needs the model's inputs in the feature set: {missing}")
    if not location.registry.exists():
        raise FeatureStoreError(f"no feature store at {location.root}: run `make features` first")
    store = open_store(location)
    name = feature_service_name(feature_config)
    try:
        store.get_feature_service(name)
    except Exception as exc:  # Feast raises its own not-found types
        raise FeatureStoreError(f"feature service {name} is not in the store at {location.root}: {exc}") from None
    entities = entity_frame(data)
    rows = historical_features(store, feature_config, entities).set_index(ENTITY_KEY).loc[entities[ENTITY_KEY]]
    gaps = rows.index[rows[list(RAW_INPUT_FEATURES)].isna().any(axis=1)].tolist()
    if gaps:
        raise FeatureStoreError(f"the store has no features for flower_id {gaps[:5]} ({len(gaps)} rows)")
    frame = rows[list(RAW_INPUT_FEATURES)].rename(columns=RAW_INPUT_FEATURES).reset_index(drop=True)
    return frame.assign(**{TARGET_COLUMN: data[TARGET_COLUMN].to_numpy()})


class OnlineLookup:
    """Raw measurements by ``flower_id`` from the online store, for a request that carries only the key."""

    def __init__(self, feature_config: FeatureConfig, location: StoreLocation | None = None) -> None:
        location = location or StoreLocation()
        if not location.registry.exists():
            raise FeatureStoreError(f"no feature store at {location.root}: run `make features` first")
        self.store = open_store(location)
        self.feature_config = feature_config
        missing = [name for name in RAW_INPUT_FEATURES if name not in feature_config.features]
        if missing:
            raise FeatureStoreError(f"online lookup needs the model's inputs in the feature set: {missing}")
        self.store.get_feature_service(feature_service_name(feature_config))  # fail at start, not per request

    def measurements(self, flower_ids: Sequence[int]) -> dict[str, Any]:
        """Float arrays per raw column, in request order; a key without features is an error naming it."""
        rows = online_features(self.store, self.feature_config, flower_ids)
        unknown = [key for key, row in zip(flower_ids, rows[list(RAW_INPUT_FEATURES)].isna().any(axis=1), strict=True)
                   if row]  # fmt: skip
        if unknown:
            raise KeyError(unknown)
        return {column: rows[name].to_numpy(dtype=float) for name, column in RAW_INPUT_FEATURES.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.features.feature_store", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("apply", help="write the source, apply the repository, materialise online")
    online = commands.add_parser("online", help="print the online features of flowers")
    online.add_argument("flower_ids", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "apply":
        apply_and_materialize()
        location = StoreLocation()
        print(f"applied {VIEW_NAME} ({len(DEFINITIONS)} feature versions) and feature service "
              f"{feature_service_name(load_feature_config())}; materialised into {location.online}")  # fmt: skip
        return 0
    print(online_features(open_store(), load_feature_config(), args.flower_ids).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
