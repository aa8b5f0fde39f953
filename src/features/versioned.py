"""One feature at one version: what it means, who owns it, and its formula over the contract's input columns.

A definition is immutable. Changing what a feature computes means adding a new
version (``..._v2``) beside the old one, so models trained on ``v1`` keep
computing exactly what they were trained on. The pack lists its definitions
in ``src/features/feature_definitions.py``; this module is their type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from src.features.expressions import Expression, ExpressionError, compiled
from src.utils.naming import feature_name

if TYPE_CHECKING:
    from src.data.schema import DataContract

FeatureKind = Literal["numeric", "categorical"]
#: What the feature step carries for one feature: (name, kind, expression). Plain strings: skops stores them.
FeatureSpec = tuple[str, str, str]


@dataclass(frozen=True)
class FeatureDefinition:
    """A versioned feature. ``expression`` is a formula over input columns (``expressions``); a column's name
    alone passes the column through, the only form a categorical feature takes."""

    domain: str
    base_name: str
    version: int
    description: str
    owner: str
    expression: str
    kind: FeatureKind = "numeric"

    def __post_init__(self) -> None:
        compiled(self.expression)  # refuses a formula outside the language when the pack is imported
        if self.kind == "categorical" and not self.is_passthrough:
            raise ExpressionError(f"{self.name}: a categorical feature is one input column, got {self.expression!r}")

    @property
    def name(self) -> str:
        return feature_name(self.domain, self.base_name, self.version)

    @property
    def formula(self) -> Expression:
        return compiled(self.expression)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input columns the feature reads, first use first."""
        return self.formula.inputs

    @property
    def is_passthrough(self) -> bool:
        """The feature is an input column as it comes (its drift is the column's)."""
        return self.formula.inputs == (self.expression.strip(),)

    @property
    def spec(self) -> FeatureSpec:
        return (self.name, self.kind, self.expression)

    def compute(self, columns: object) -> np.ndarray:
        """The feature's values for column arrays or a DataFrame (categories as objects, numbers as float64)."""
        return compute(self.spec, columns)

    def problems(self, contract: DataContract) -> list[str]:
        """Why this definition does not fit ``contract`` (empty when it does)."""
        found = [f"reads {name!r}, which is not an input column of {contract.name}"
                 for name in self.inputs if name not in contract.by_name]  # fmt: skip
        if found:
            return found
        kinds = {contract.column(name).kind for name in self.inputs}
        if self.kind == "numeric" and "categorical" in kinds:
            found.append(f"computes numbers from a categorical column ({self.expression})")
        if self.kind == "categorical" and kinds != {"categorical"}:
            found.append(f"is categorical but {self.expression} is a {kinds.pop()} column")
        return found


def compute(spec: FeatureSpec, columns: object) -> np.ndarray:
    """One feature's values from its spec, for column arrays or a DataFrame."""
    _, kind, expression = spec
    if kind == "categorical":  # a missing category is None, whether it came as None or as NaN (pandas)
        values = np.asarray(columns[expression.strip()], dtype=object)  # type: ignore[index]
        missing = np.fromiter((v is None or v != v for v in values), dtype=bool, count=len(values))
        if missing.any():
            values = values.copy()
            values[missing] = None
        return values
    return compiled(expression).evaluate(columns)  # type: ignore[arg-type]


def spec_inputs(spec: FeatureSpec) -> tuple[str, ...]:
    """The input columns one spec reads."""
    return compiled(spec[2]).inputs


def passthrough(domain: str, column: str, description: str, owner: str, *, kind: FeatureKind = "numeric",
                version: int = 1) -> FeatureDefinition:  # fmt: skip
    """An input column as a feature: ``{domain}_{column}_v1`` (the model's inputs enter the feature set this way)."""
    return FeatureDefinition(domain, column, version, description, owner, column, kind)
