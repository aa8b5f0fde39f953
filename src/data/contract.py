"""The data contract: what a valid iris flower is, and the name of every key the project writes and reads.

Training, batch scoring, the endpoint (and its OpenAPI schema), the feature
store and the validator all derive from this one module, so a bad row gets
the same verdict everywhere and a key is spelt once. It imports only NumPy:
the endpoint and the logged model can use it without pandas or MLflow.

The valid range of each measurement is the physical domain of an iris
flower, not the range of the data set: no iris sepal reaches 30 cm, so a
larger value is a unit or entry error (millimetres typed as centimetres),
and a measurement is always positive and finite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

_SMALL = 32  # rows up to which a domain check is cheaper in Python than in NumPy


@dataclass(frozen=True)
class Measurement:
    """One raw input column: its unit, meaning and physical domain ``(minimum, maximum]``."""

    name: str
    description: str
    minimum: float  # exclusive: a length of zero is not a measurement
    maximum: float  # inclusive
    unit: str = "cm"
    dtype: str = "float64"

    @property
    def allowed(self) -> str:
        """The range as a person reads it, for error messages."""
        return f"{self.minimum:g} < {self.name} <= {self.maximum:g} {self.unit}"

    def violations(self, values: np.ndarray) -> np.ndarray:
        """A boolean mask of the values outside the domain (NaN and infinities included)."""
        with np.errstate(invalid="ignore"):
            return ~((values > self.minimum) & (values <= self.maximum))

    def holds(self, values: np.ndarray) -> bool:
        """Whether every value is inside the domain. A request's few rows are checked in Python: five NumPy
        calls per column cost more than the comparisons (measured: ~10% of the endpoint's one-row throughput)."""
        if values.size <= _SMALL:
            low, high = self.minimum, self.maximum
            return all(low < value <= high for value in values.tolist())  # NaN compares false: refused
        return not self.violations(values).any()


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("sepal_length_cm", "Length of the sepal", 0.0, 30.0),
    Measurement("sepal_width_cm", "Width of the sepal", 0.0, 20.0),
    Measurement("petal_length_cm", "Length of the petal", 0.0, 30.0),
    Measurement("petal_width_cm", "Width of the petal", 0.0, 15.0),
)
MEASUREMENT_BY_NAME: Mapping[str, Measurement] = {m.name: m for m in MEASUREMENTS}

RAW_FEATURE_COLUMNS: tuple[str, ...] = tuple(m.name for m in MEASUREMENTS)
TARGET_COLUMN = "species"
SPECIES: tuple[str, ...] = ("setosa", "versicolor", "virginica")
DATASET_NAME = "iris"
#: The feature store's entity key: a request carrying only it is answered from the online store.
ENTITY_KEY = "flower_id"

#: A typical flower of each species (Fisher's per-species means, rounded): any usable model gets these
#: right. The endpoint's smoke check, the validator's behavioural check and ``deploy_endpoint smoke`` use them.
CANONICAL_FLOWERS: Mapping[str, tuple[float, ...]] = {
    "setosa": (5.0, 3.4, 1.5, 0.2),
    "versicolor": (5.9, 2.8, 4.3, 1.3),
    "virginica": (6.6, 3.0, 5.6, 2.0),
}


def canonical_columns() -> dict[str, np.ndarray]:
    """The canonical flowers as column arrays, in ``SPECIES`` order."""
    rows = np.array([CANONICAL_FLOWERS[s] for s in SPECIES], dtype=np.float64)
    return {name: rows[:, index] for index, name in enumerate(RAW_FEATURE_COLUMNS)}


@dataclass(frozen=True)
class Violation:
    """The rows of one column that break the contract, and why."""

    column: str
    rows: tuple[int, ...]
    reason: str

    def describe(self, limit: int = 5, *, with_column: bool = True) -> str:
        shown = ", ".join(str(r) for r in self.rows[:limit])
        more = f" (and {len(self.rows) - limit} more)" if len(self.rows) > limit else ""
        return (f"{self.column}: " if with_column else "") + f"{self.reason} at row(s) {shown}{more}"

    def __str__(self) -> str:
        return self.describe()


def violations(columns: Mapping[str, np.ndarray]) -> list[Violation]:
    """Every out-of-domain value of float column arrays, column by column (empty when the rows are valid).

    Non-finite values are reported as such; the rest as outside the allowed range.
    """
    if all(measurement.holds(columns[measurement.name]) for measurement in MEASUREMENTS):
        return []  # the common case, answered without building masks
    found = []
    for measurement in MEASUREMENTS:
        values = columns[measurement.name]
        bad = measurement.violations(values)
        if not bad.any():
            continue
        finite = np.isfinite(values)
        for mask, reason in (
            (bad & ~finite, "not a finite number"),
            (bad & finite, f"outside the allowed range {measurement.allowed}"),
        ):
            rows = np.flatnonzero(mask)
            if rows.size:
                found.append(Violation(measurement.name, tuple(int(r) for r in rows), reason))
    return found


def row_reasons(columns: Mapping[str, np.ndarray]) -> dict[int, str]:
    """Per row, every reason it breaks the contract (``"column: reason; ..."``): the batch rejects file's text."""
    reasons: dict[int, list[str]] = {}
    for violation in violations(columns):
        for row in violation.rows:
            reasons.setdefault(row, []).append(f"{violation.column}: {violation.reason}")
    return {row: "; ".join(parts) for row, parts in sorted(reasons.items())}


def json_schema_property(name: str) -> dict[str, object]:
    """The OpenAPI/JSON-schema of one measurement: a number with its domain."""
    measurement = MEASUREMENT_BY_NAME[name]
    return {
        "type": "number",
        "exclusiveMinimum": measurement.minimum,
        "maximum": measurement.maximum,
        "description": f"{measurement.description} ({measurement.unit})",
    }
