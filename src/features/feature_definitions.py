"""Versioned feature definitions: the single source of truth for every feature.

A definition is immutable. Changing what a feature computes means adding a new
version (``iris_petal_ratio_v2``) beside the old one, so models trained on
``v1`` keep computing exactly what they were trained on.

This module ships inside the logged model (``code_paths``): it depends only on
pandas, numpy and the naming conventions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from src.utils.errors import ProjectError
from src.utils.naming import feature_name

if TYPE_CHECKING:  # pandas is only handed in: checking a config never pays its import
    import pandas as pd

Transform = Callable[["pd.DataFrame"], "pd.Series"]


class UnknownFeatureError(ProjectError, KeyError):
    """A configured feature name is not defined (or not at that version)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature at one version: what it means, who owns it and how it is computed.

    Where it stands in its lifecycle (LOCAL ... REGISTERED) is recorded in
    ``configs/feature_lifecycle.yaml`` and moved only by ``src.features.lifecycle``.
    """

    domain: str
    base_name: str
    version: int
    description: str
    owner: str
    inputs: tuple[str, ...]
    transform: Transform = field(compare=False, repr=False)
    dtype: str = "float64"

    @property
    def name(self) -> str:
        return feature_name(self.domain, self.base_name, self.version)

    def compute(self, raw: pd.DataFrame) -> pd.Series:
        """Apply the transform to raw measurements and name the result."""
        return self.transform(raw).astype(self.dtype).rename(self.name)


# --- transforms: pure functions of the raw measurements -------------------------


def _column(name: str) -> Transform:
    def transform(raw: pd.DataFrame) -> pd.Series:
        return raw[name]

    transform.__name__ = f"column_{name}"
    transform.__doc__ = f"The raw measurement {name!r}, unchanged."
    return transform


def petal_ratio(raw: pd.DataFrame) -> pd.Series:
    """Petal length over petal width: elongation of the petal."""
    return raw["petal_length_cm"] / raw["petal_width_cm"]


def petal_log_ratio(raw: pd.DataFrame) -> pd.Series:
    """Natural log of petal length over width: symmetric around 1 and tame on thin petals."""
    return np.log(raw["petal_length_cm"] / raw["petal_width_cm"])


def petal_area(raw: pd.DataFrame) -> pd.Series:
    """Petal length times width: a size proxy in square centimetres."""
    return raw["petal_length_cm"] * raw["petal_width_cm"]


def sepal_ratio(raw: pd.DataFrame) -> pd.Series:
    """Sepal length over sepal width."""
    return raw["sepal_length_cm"] / raw["sepal_width_cm"]


_OWNER = "data-science@example.com"


def _raw(column: str, description: str) -> FeatureDefinition:
    base = column  # the feature keeps the measurement's name, e.g. iris_sepal_length_cm_v1
    return FeatureDefinition(
        domain="iris",
        base_name=base,
        version=1,
        description=description,
        owner=_OWNER,
        inputs=(column,),
        transform=_column(column),
    )


DEFINITIONS: tuple[FeatureDefinition, ...] = (
    _raw("sepal_length_cm", "Sepal length in centimetres, as measured."),
    _raw("sepal_width_cm", "Sepal width in centimetres, as measured."),
    _raw("petal_length_cm", "Petal length in centimetres, as measured."),
    _raw("petal_width_cm", "Petal width in centimetres, as measured."),
    FeatureDefinition(
        domain="iris",
        base_name="petal_ratio",
        version=1,
        description="Petal length divided by petal width.",
        owner=_OWNER,
        inputs=("petal_length_cm", "petal_width_cm"),
        transform=petal_ratio,
    ),
    FeatureDefinition(
        domain="iris",
        base_name="petal_ratio",
        version=2,
        description="Log of petal length over petal width (v1 on a log scale: symmetric, outlier-robust).",
        owner=_OWNER,
        inputs=("petal_length_cm", "petal_width_cm"),
        transform=petal_log_ratio,
    ),
    FeatureDefinition(
        domain="iris",
        base_name="petal_area_cm2",
        version=1,
        description="Petal length times petal width, in square centimetres.",
        owner=_OWNER,
        inputs=("petal_length_cm", "petal_width_cm"),
        transform=petal_area,
    ),
    FeatureDefinition(
        domain="iris",
        base_name="sepal_ratio",
        version=1,
        description="Sepal length divided by sepal width.",
        owner=_OWNER,
        inputs=("sepal_length_cm", "sepal_width_cm"),
        transform=sepal_ratio,
    ),
)


def _index(definitions: tuple[FeatureDefinition, ...]) -> Mapping[str, FeatureDefinition]:
    index: dict[str, FeatureDefinition] = {}
    for definition in definitions:
        if definition.name in index:
            raise ValueError(f"feature {definition.name} is defined twice")
        index[definition.name] = definition
    return index


FEATURES: Mapping[str, FeatureDefinition] = _index(DEFINITIONS)


def get_feature(name: str) -> FeatureDefinition:
    """Look a feature up by its versioned name; say which versions exist when it is not found."""
    try:
        return FEATURES[name]
    except KeyError:
        base = name.rsplit("_v", 1)[0]
        versions = sorted(f"v{d.version}" for d in DEFINITIONS if f"{d.domain}_{d.base_name}" == base)
        hint = f"; defined versions: {', '.join(versions)}" if versions else f"; defined: {', '.join(FEATURES)}"
        raise UnknownFeatureError(f"feature {name!r} is not defined in feature_definitions.py{hint}") from None


def resolve_features(names: tuple[str, ...]) -> tuple[FeatureDefinition, ...]:
    """Resolve configured names to definitions, in the configured order."""
    return tuple(get_feature(name) for name in names)
