"""Reading features back from the store: point-in-time training sets, the latest values, the endpoint's lookup.

A model takes its input columns and computes its own features, so what is
read for training or for an online request is the feature set's
passthrough features (the input columns as the store holds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from src.data.contract import CONTRACT
from src.features.feature_definitions import DEFINITIONS
from src.features.store_backend import VIEW_NAME, FeatureStoreError, lookup, reaching, require
from src.features.store_repository import entity_frame, entity_key, feature_service_name
from src.utils.config import FeatureConfig, FeatureStoreProfile

if TYPE_CHECKING:
    from feast import FeatureStore


def _service(feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig) -> Any:
    """The feature set's service, once every feature view it reads is known to be in the store."""
    return _service_named(feast_store, store, feature_service_name(feature_config))


def _service_named(feast_store: FeatureStore, store: FeatureStoreProfile, name: str) -> Any:
    with reaching(store, f"reading feature service {name}"):
        service = lookup(lambda: feast_store.get_feature_service(name), f"feature service {name}", store)
        for projection in service.feature_view_projections:
            view = projection.name
            lookup(lambda v=view: feast_store.get_feature_view(v), f"feature view {view} (of {name})", store)
    return service


def historical_features(
    feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig, entities: pd.DataFrame
) -> pd.DataFrame:
    """Point-in-time correct features of the feature service for ``entities`` (entity key, event timestamp)."""
    service = _service(feast_store, store, feature_config)
    with reaching(store, "building a point-in-time training set"):
        return feast_store.get_historical_features(entity_df=entities, features=service).to_df()


def online_features(
    feast_store: FeatureStore, store: FeatureStoreProfile, feature_config: FeatureConfig, keys: Sequence[int]
) -> pd.DataFrame:
    """The latest features of the feature service for each entity key, in request order."""
    service = _service(feast_store, store, feature_config)
    rows = [{entity_key(): int(key)} for key in keys]
    with reaching(store, "reading online features"):
        return pd.DataFrame(feast_store.get_online_features(features=service, entity_rows=rows).to_dict())


def input_features(names: Sequence[str]) -> dict[str, str]:
    """The model's inputs as features of a feature set: each input column's passthrough feature, by name."""
    passthrough = {d.name: d.expression.strip() for d in DEFINITIONS if d.is_passthrough and d.name in names}
    by_column = {column: name for name, column in passthrough.items()}
    missing = [column for column in CONTRACT.input_names if column not in by_column]
    if missing:
        raise FeatureStoreError(f"the feature set serves no feature passing through {missing}: the model's inputs "
                                "must be features of the set to be read from the store")  # fmt: skip
    return {by_column[column]: column for column in CONTRACT.input_names}


def training_inputs(data: pd.DataFrame, feature_config: FeatureConfig, store: FeatureStoreProfile) -> pd.DataFrame:
    """The training rows as the store serves them, point in time, through the feature set's service.

    The model takes its input columns and computes its own features, so its
    inputs are the service's passthrough features; the label comes from the
    data. Refuses, naming what is missing, rather than train on gaps.
    """
    inputs = input_features(feature_config.features)
    feast_store = require(store)
    entities = entity_frame(data)
    key = entity_key()
    rows = historical_features(feast_store, store, feature_config, entities)
    rows = rows.set_index(key).reindex(entities[key])
    required = [name for name, column in inputs.items() if not CONTRACT.column(column).nullable]
    gaps = rows.index[rows[required].isna().any(axis=1)].tolist()
    if gaps:
        raise FeatureStoreError(f"the store has no features for {key} {gaps[:5]} ({len(gaps)} rows)")
    frame = rows[list(inputs)].rename(columns=inputs).reset_index(drop=True)
    return frame.assign(**{CONTRACT.target.name: data[CONTRACT.target.name].to_numpy()})


class OnlineLookup:
    """A request's inputs by their entity key from the online store, for a request that carries only the key.

    The feature service is the one of the served model's own feature set (as
    recorded at training), resolved once, at start: which view and which
    features it reads. Each request then reads those features of the keys
    straight from the online store (the provider's ``online_read``), because
    Feast's ``get_online_features`` rebuilds the service and its views from the
    registry's protobufs, with runtime type checks, on every call: ~5 ms per
    request here against ~0.05 ms for the read itself (``make bench-features``).
    The values are those ``get_online_features`` returns (a test compares every
    key).
    """

    def __init__(self, service_name: str, store: FeatureStoreProfile) -> None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self.store = store
        feast_store = require(store)
        service = _service_named(feast_store, store, service_name)  # fail at start, not per request
        projection = next((p for p in service.feature_view_projections if p.name == VIEW_NAME), None)
        served = [field.name for field in projection.features] if projection else []
        try:
            self._inputs = input_features(served)
        except FeatureStoreError as exc:
            raise FeatureStoreError(f"online lookup from feature service {service_name}: {exc}") from None
        with reaching(store, "reading the feature view"):
            self._view = feast_store.get_feature_view(projection.name)
        self._config = feast_store.config
        self._read = feast_store._get_provider().online_read  # Feast has no public per-view read
        self._names = list(self._inputs)
        key = entity_key()
        self._entity_key = lambda value: EntityKey(join_keys=[key], entity_values=[Value(int64_val=int(value))])

    def inputs(self, keys: Sequence[int]) -> dict[str, Any]:
        """One array per input column (numbers as float64, categories as text), in request order.

        A key without features is a ``KeyError`` naming it; a backend that is
        down is a ``FeatureStoreUnavailable`` (never made-up values).
        """
        wanted = [self._entity_key(key) for key in keys]
        with reaching(self.store, "reading online features"):
            # a copy: Feast's Redis store appends its timestamp field to the list it is given
            rows = self._read(
                config=self._config, table=self._view, entity_keys=wanted, requested_features=[*self._names]
            )
        found = [values or {} for _, values in rows]
        unknown = [key for key, values in zip(keys, found, strict=True)
                   if all(_value(values.get(name)) is None for name in self._names)]  # fmt: skip
        if unknown:  # a key the store has no row for (Redis answers with empty values, SQLite with none)
            raise KeyError(unknown)
        columns = {}
        for name, column in self._inputs.items():
            described = CONTRACT.column(column)
            columns[column] = described.parse([_value(values.get(name)) for values in found])
        return columns


def _value(proto: Any) -> object:
    """A Feast value as Python (None when it holds none)."""
    if proto is None:
        return None
    kind = proto.WhichOneof("val")
    return None if kind is None else getattr(proto, kind)
