"""The data contract's vocabulary: typed input columns with their domains, a target with its classes, example rows.

A model pack declares its data with these types (``src/data/contract.py``);
everything else reads that declaration: the training schema (pandera), the
endpoint's parsing and OpenAPI schema, batch scoring, the inference log,
monitoring and the smoke checks. A contract is also logged with every model
version (``to_dict``), so a served version is checked against the contract it
was trained with, whatever the code serving it.

Inputs travel as one NumPy array per column: numeric and boolean columns as
float64 (NaN where missing, a boolean as 0.0/1.0), categorical ones as object
arrays of str (None where missing). This module imports only NumPy: the
endpoint and the logged model use it without pandas or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from src.utils.errors import ProjectError

Kind = Literal["numeric", "categorical", "boolean"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical", "boolean")
#: Rows up to which a domain check is cheaper in plain Python than in NumPy (a request's few rows).
_SMALL = 32


class ContractError(ProjectError, ValueError):
    """A contract that cannot hold (a duplicate column, an example outside the domain, ...)."""


class InputError(ProjectError, ValueError):
    """A request or file does not fit the model's inputs; ``field`` names what is at fault."""

    def __init__(self, field: str, message: str) -> None:
        field = field or "(input)"  # an empty column name still gets a field a client can show
        super().__init__(f"{field}: {message}")
        self.field = field


class OutOfContract(InputError):
    """Values of the right type outside the contract's domain: counted apart, a sign of drift or a bad sensor."""


@dataclass(frozen=True)
class Column:
    """One input column: its kind, meaning and domain (a range for numbers, the allowed values for categories)."""

    name: str
    kind: Kind
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    #: ``True``: the minimum itself is outside the domain (a length of zero is not a measurement).
    exclusive_minimum: bool = False
    values: tuple[str, ...] = ()
    #: Whether a row may lack this value (the model's pipeline then imputes it).
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ContractError(f"column {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "categorical" and not self.values:
            raise ContractError(f"column {self.name!r}: a categorical column lists its allowed values")
        if self.kind != "categorical" and self.values:
            raise ContractError(f"column {self.name!r}: only a categorical column has allowed values")
        if self.kind != "numeric" and (self.minimum is not None or self.maximum is not None):
            raise ContractError(f"column {self.name!r}: only a numeric column has a range")
        if self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise ContractError(f"column {self.name!r}: minimum {self.minimum} is not below maximum {self.maximum}")

    @property
    def is_numeric(self) -> bool:
        """Travels as float64 (numeric and boolean columns)."""
        return self.kind != "categorical"

    @property
    def allowed(self) -> str:
        """The domain as a person reads it, for error messages."""
        if self.kind == "categorical":
            return f"{self.name} in {list(self.values)}"
        if self.kind == "boolean":
            return f"{self.name} true or false"
        low = "" if self.minimum is None else f"{self.minimum:g} {'<' if self.exclusive_minimum else '<='} "
        high = "" if self.maximum is None else f" <= {self.maximum:g}"
        if not low and not high:
            return f"{self.name} a finite number"
        unit = "" if not self.unit else f" {self.unit}" if high else f" ({self.unit})"
        return f"{low}{self.name}{high}{unit}"

    # --- the domain --------------------------------------------------------------

    def missing(self, values: np.ndarray) -> np.ndarray:
        """A boolean mask of the missing values (NaN for numbers, None for categories)."""
        if self.is_numeric:
            return np.isnan(values)
        return np.fromiter((v is None for v in values), dtype=bool, count=len(values))

    def violations(self, values: np.ndarray) -> np.ndarray:
        """A boolean mask of the values outside the domain (a missing value only where the column is not nullable)."""
        if self.kind == "categorical":
            allowed = set(self.values)
            bad = np.fromiter((v not in allowed for v in values), dtype=bool, count=len(values))
        elif self.kind == "boolean":
            with np.errstate(invalid="ignore"):
                bad = ~((values == 0.0) | (values == 1.0))
        else:
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(values)
                if self.minimum is not None:
                    bad |= values <= self.minimum if self.exclusive_minimum else values < self.minimum
                if self.maximum is not None:
                    bad |= values > self.maximum
        if self.nullable:
            bad &= ~self.missing(values)
        return bad

    def holds(self, values: np.ndarray) -> bool:
        """Whether every value is inside the domain. A request's few values are checked in plain Python: several
        NumPy calls per column cost more than the comparisons (~10% of the endpoint's one-row throughput)."""
        if self.kind != "numeric" or values.size > _SMALL:
            return not self.violations(values).any()
        low, high, nullable = self.minimum, self.maximum, self.nullable
        for value in values.tolist():
            if value != value:  # NaN: missing
                if nullable:
                    continue
                return False
            if value in (math.inf, -math.inf) or (high is not None and value > high):
                return False
            if low is not None and (value <= low if self.exclusive_minimum else value < low):
                return False
        return True

    def reasons(self, values: np.ndarray) -> list[tuple[np.ndarray, str]]:
        """The violations as (rows mask, reason) pairs, each with the sentence every entry point gives."""
        bad = self.violations(values)
        if not bad.any():
            return []
        if self.kind != "numeric":
            missing = self.missing(values) & bad
            return [(mask, reason) for mask, reason in ((missing, "missing value"),
                    (bad & ~missing, f"not one of the allowed values {self.allowed}")) if mask.any()]  # fmt: skip
        nan, finite = np.isnan(values), np.isfinite(values)
        found = [(bad & nan, "missing value"), (bad & ~finite & ~nan, "not a finite number"),
                 (bad & finite, f"outside the allowed range {self.allowed}")]  # fmt: skip
        return [(mask, reason) for mask, reason in found if mask.any()]

    # --- reading values ----------------------------------------------------------

    def parse(self, values: Sequence[object] | np.ndarray) -> np.ndarray:
        """Values from a request or file as this column's array; a wrong type or a forbidden null is an
        InputError naming the column and rows. The domain (range, allowed values) is ``violations``' job."""
        if isinstance(values, np.ndarray) and self.is_numeric and values.dtype.kind in "fiu":
            array = values.astype(np.float64, copy=False)
            if array.ndim != 1:
                raise InputError(self.name, "expected one value per row")
        else:
            items = values.tolist() if isinstance(values, np.ndarray) else list(values)
            array = self._from_items(items)
        if array.size == 0:
            raise InputError("(input)", "no rows to score")
        if not self.nullable:
            nulls = np.flatnonzero(self.missing(array))
            if nulls.size:
                raise InputError(self.name, f"null value at row(s) {rows_text(nulls.tolist())}")
        return array

    def _from_items(self, items: list[object]) -> np.ndarray:
        if self.kind == "categorical":
            bad = [i for i, v in enumerate(items) if v is not None and not isinstance(v, str) and not _is_missing(v)]
            if bad:
                raise InputError(self.name, f"expected text, got {items[bad[0]]!r} at row(s) {rows_text(bad)}")
            array = np.empty(len(items), dtype=object)
            array[:] = [None if _is_missing(v) else v for v in items]
            return array
        if self.kind == "boolean":
            converted = [_as_flag(v) for v in items]
            bad = [i for i, v in enumerate(converted) if v is _NOT_A_FLAG]
            if bad:
                raise InputError(self.name, f"expected true or false, got {items[bad[0]]!r} at row(s) {rows_text(bad)}")
            return np.array(converted, dtype=np.float64)
        bad = [i for i, v in enumerate(items) if not _is_missing(v) and not _is_number(v)]
        if bad:
            raise InputError(self.name, f"expected numbers, got {items[bad[0]]!r} at row(s) {rows_text(bad)}")
        try:
            return np.array([np.nan if _is_missing(v) else v for v in items], dtype=np.float64)
        except OverflowError:  # an integer beyond float64 is far outside any domain anyway
            raise InputError(self.name, "a number too large to represent") from None

    # --- other views -------------------------------------------------------------

    def json_schema(self) -> dict[str, object]:
        """The JSON-schema of one value, with its domain (OpenAPI)."""
        text = f"{self.description} ({self.unit})" if self.unit else self.description
        if self.kind == "categorical":
            schema: dict[str, object] = {"type": "string", "enum": list(self.values), "description": text}
        elif self.kind == "boolean":
            schema = {"type": "boolean", "description": text}
        else:
            schema = {"type": "number", "description": text}
            if self.minimum is not None:
                schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}], "description": text}
        return schema

    @property
    def mlflow_type(self) -> str:
        """The column's type in an MLflow signature."""
        return {"numeric": "double", "categorical": "string", "boolean": "boolean"}[self.kind]

    def to_dict(self) -> dict[str, Any]:
        content: dict[str, Any] = {"name": self.name, "kind": self.kind, "description": self.description}
        absent = {"unit": "", "minimum": None, "maximum": None, "exclusive_minimum": False, "nullable": False}
        for key, default in absent.items():
            value = getattr(self, key)
            if (value is not None) if default is None else (value != default):  # a minimum of 0.0 is kept
                content[key] = value
        if self.values:
            content["values"] = list(self.values)
        return content

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> Column:
        return cls(**{**content, "values": tuple(content.get("values", ()))})


def numeric(
    name: str, description: str, *, unit: str = "", minimum: float | None = None, maximum: float | None = None,
    exclusive_minimum: bool = False, nullable: bool = False,
) -> Column:  # fmt: skip
    """A number with an optional range: ``numeric("age_years", "Age", minimum=0, maximum=130)``."""
    return Column(name, "numeric", description, unit, minimum, maximum, exclusive_minimum, (), nullable)


def categorical(name: str, description: str, values: Sequence[str], *, nullable: bool = False) -> Column:
    """A value out of a fixed list: ``categorical("colour", "Colour", ["red", "green"])``."""
    return Column(name, "categorical", description, values=tuple(values), nullable=nullable)


def boolean(name: str, description: str, *, nullable: bool = False) -> Column:
    """True or false."""
    return Column(name, "boolean", description, nullable=nullable)


@dataclass(frozen=True)
class Target:
    """What the model predicts: a column of class labels (two for a binary model)."""

    name: str
    classes: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ContractError(f"target {self.name!r}: at least two distinct classes, got {list(self.classes)}")


@dataclass(frozen=True)
class Example:
    """A typical row of one class: every usable model predicts it right (smoke and release checks, the gate)."""

    label: str
    values: Mapping[str, object]


@dataclass(frozen=True)
class Violation:
    """The rows of one column that break the contract, and why."""

    column: str
    rows: tuple[int, ...]
    reason: str

    def describe(self, limit: int = 5, *, with_column: bool = True) -> str:
        return (f"{self.column}: " if with_column else "") + f"{self.reason} at row(s) {rows_text(self.rows, limit)}"

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class DataContract:
    """Everything a model's data must be: its input columns, its target, its entity key and typical rows."""

    name: str
    description: str
    columns: tuple[Column, ...]
    target: Target
    examples: tuple[Example, ...]
    #: The key a request may carry instead of the inputs (the feature store's entity); ``None``: no lookup.
    entity_key: str | None = None
    by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if not names or len(set(names)) != len(names):
            raise ContractError(f"contract {self.name!r}: columns must be distinct and at least one: {names}")
        if self.target.name in names or (self.entity_key is not None and self.entity_key in names):
            raise ContractError(f"contract {self.name!r}: the target and the entity key are not input columns")
        object.__setattr__(self, "by_name", {column.name: column for column in self.columns})
        self._check_examples()
        # A whole number written for a numeric column is a float: MLflow's schema refuses int64 for a double
        # column, so an example row must be sendable as it stands (to pyfunc, in a payload, by the gate).
        object.__setattr__(self, "examples", tuple(self._as_declared(example) for example in self.examples))

    def _as_declared(self, example: Example) -> Example:
        def value(name: str, given: object) -> object:
            numeric = self.by_name[name].kind == "numeric" and isinstance(given, int) and not isinstance(given, bool)
            return float(given) if numeric else given

        return Example(example.label, {name: value(name, given) for name, given in example.values.items()})

    def _check_examples(self) -> None:
        unknown = sorted({e.label for e in self.examples} - set(self.target.classes))
        missing = sorted(set(self.target.classes) - {e.label for e in self.examples})
        if unknown or missing:
            raise ContractError(f"contract {self.name!r}: one example per class at least; "
                                f"missing {missing}, unknown classes {unknown}")  # fmt: skip
        for example in self.examples:
            if set(example.values) != set(self.input_names):
                raise ContractError(f"contract {self.name!r}: example of {example.label!r} must give every input "
                                    f"column {list(self.input_names)}")  # fmt: skip
        found = self.violations(self.example_columns())
        if found:
            raise ContractError(f"contract {self.name!r}: an example breaks the contract: {found[0]}")

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.target.classes

    def column(self, name: str) -> Column:
        return self.by_name[name]

    def example_columns(self) -> dict[str, np.ndarray]:
        """The example rows as column arrays, in ``examples`` order."""
        return {c.name: c.parse([example.values[c.name] for example in self.examples]) for c in self.columns}

    @property
    def example_labels(self) -> tuple[str, ...]:
        return tuple(example.label for example in self.examples)

    def example_records(self) -> list[dict[str, object]]:
        return [dict(example.values) for example in self.examples]

    def violations(self, columns: Mapping[str, np.ndarray]) -> list[Violation]:
        """Every out-of-domain value of parsed column arrays, column by column (empty when the rows are valid)."""
        if all(column.holds(columns[column.name]) for column in self.columns):
            return []  # the common case, answered without building masks
        found = []
        for column in self.columns:
            for mask, reason in column.reasons(columns[column.name]):
                found.append(Violation(column.name, tuple(int(r) for r in np.flatnonzero(mask)), reason))
        return found

    def check(self, columns: Mapping[str, np.ndarray]) -> None:
        """Refuse values outside the domain, naming the first column, its rows and every other violation."""
        found = self.violations(columns)
        if found:
            first, *others = found
            raise OutOfContract(first.column, "; ".join([first.describe(with_column=False), *map(str, others)]))

    def row_reasons(self, columns: Mapping[str, np.ndarray]) -> dict[int, str]:
        """Per row, every reason it breaks the contract (``"column: reason; ..."``): the batch rejects file's text."""
        reasons: dict[int, list[str]] = {}
        for violation in self.violations(columns):
            for row in violation.rows:
                reasons.setdefault(row, []).append(f"{violation.column}: {violation.reason}")
        return {row: "; ".join(parts) for row, parts in sorted(reasons.items())}

    def to_dict(self) -> dict[str, Any]:
        """The contract as JSON-ready data: logged with every model version."""
        return {
            "version": 1,
            "name": self.name,
            "description": self.description,
            "columns": [column.to_dict() for column in self.columns],
            "target": {"name": self.target.name, "classes": list(self.classes), "description": self.target.description},
            "entity_key": self.entity_key,
            "examples": [{"label": e.label, "values": dict(e.values)} for e in self.examples],
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> DataContract:
        target = content["target"]
        return cls(
            name=content["name"],
            description=content.get("description", ""),
            columns=tuple(Column.from_dict(column) for column in content["columns"]),
            target=Target(target["name"], tuple(target["classes"]), target.get("description", "")),
            examples=tuple(Example(e["label"], dict(e["values"])) for e in content["examples"]),
            entity_key=content.get("entity_key"),
        )


def rows_text(indices: Sequence[int], limit: int = 5) -> str:
    """Row numbers as a person reads them: ``3, 7, 9 (and 12 more)``."""
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f" (and {len(indices) - limit} more)" if len(indices) > limit else "")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_missing(value: object) -> bool:
    """None, NaN, or pandas' NA / NaT (recognised by type: this module does not import pandas)."""
    return (
        value is None or (isinstance(value, float) and value != value) or type(value).__name__ in {"NAType", "NaTType"}
    )


_NOT_A_FLAG = object()
_FLAGS = {True: 1.0, False: 0.0, "true": 1.0, "false": 0.0, "True": 1.0, "False": 0.0, "1": 1.0, "0": 0.0}


def _as_flag(value: object) -> object:
    if _is_missing(value):
        return np.nan
    if isinstance(value, bool | str):
        return _FLAGS.get(value, _NOT_A_FLAG)
    if _is_number(value) and value in (0, 1):
        return float(value)  # type: ignore[arg-type]
    return _NOT_A_FLAG
