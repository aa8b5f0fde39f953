"""Load the Iris data set and refuse bad data before anything is trained.

The default source is the copy of Iris bundled with scikit-learn (no network);
a CSV or Parquet file with the same columns can replace it. Either way the
frame is checked against one pandera schema and fingerprinted, so a run can
say exactly which data it saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from src.data.contract import (
    DATASET_NAME,
    MEASUREMENT_BY_NAME,
    MEASUREMENTS,
    RAW_FEATURE_COLUMNS,
    SPECIES,
    TARGET_COLUMN,
    Measurement,
)
from src.utils.config import DataConfig
from src.utils.errors import ProjectError

_MAX_REPORTED_FAILURES = 10


class DataValidationError(ProjectError, ValueError):
    """The data does not match the Iris schema; the message names rows and columns."""


@dataclass(frozen=True)
class Dataset:
    """A validated frame with where it came from and its content digest."""

    frame: pd.DataFrame
    source_uri: str
    digest: str
    #: MLflow keys datasets by name and digest: rows read through a feature service carry its name,
    #: so their lineage is not merged into the raw file's (same rows, same digest, other source).
    name: str = DATASET_NAME

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.loc[:, list(RAW_FEATURE_COLUMNS)]

    @property
    def target(self) -> pd.Series:
        return self.frame[TARGET_COLUMN]


def _measurement(measurement: Measurement) -> pa.Column:
    """The contract's domain of one measurement as a pandera column (the same bounds as batch and serving)."""
    return pa.Column(
        float,
        checks=pa.Check.in_range(measurement.minimum, measurement.maximum, include_min=False),
        nullable=False,
        coerce=True,
        description=measurement.allowed,
    )


RAW_SCHEMA = pa.DataFrameSchema(
    {measurement.name: _measurement(measurement) for measurement in MEASUREMENTS},
    strict=True,
    name="iris_raw_measurements",
)

TRAINING_SCHEMA = RAW_SCHEMA.add_columns(
    {TARGET_COLUMN: pa.Column(str, checks=pa.Check.isin(SPECIES), nullable=False)}
).set_name("iris_training_data")


def _expected_columns() -> str:
    return ", ".join((*RAW_FEATURE_COLUMNS, TARGET_COLUMN))


def _verdict(case: object) -> str:
    """A failed check in the contract's words: the same sentence batch and the endpoint give."""
    check, column = str(case.check), case.column  # type: ignore[attr-defined]
    if check.startswith("in_range") and column in MEASUREMENT_BY_NAME:
        return f"outside the allowed range {MEASUREMENT_BY_NAME[column].allowed}"
    return f"failed {check}"


def _describe_failures(errors: SchemaErrors, source: str) -> str:
    cases = errors.failure_cases
    lines = []
    for case in cases.head(_MAX_REPORTED_FAILURES).itertuples(index=False):
        if case.check == "column_in_schema":
            lines.append(f"  - unexpected column {case.failure_case!r}; expected only {_expected_columns()}")
        elif case.check == "column_in_dataframe":
            lines.append(f"  - missing column {case.failure_case!r}")
        else:
            where = f"row {case.index}" if pd.notna(case.index) else "every row"
            lines.append(f"  - column {case.column!r}, {where}: {_verdict(case)} (value {case.failure_case!r})")
    more = len(cases) - len(lines)
    if more > 0:
        lines.append(f"  ... and {more} more")
    return f"{source}: data does not match schema ({len(cases)} failure(s)):\n" + "\n".join(lines)


def validate_frame(frame: pd.DataFrame, source: str, *, with_target: bool = True) -> pd.DataFrame:
    """Check columns, dtypes, ranges, nulls and labels; return the coerced frame.

    All failures are collected (lazy validation) so one error lists every bad
    row and column, instead of one per attempt.
    """
    if frame.empty:
        raise DataValidationError(f"{source}: no rows")
    schema = TRAINING_SCHEMA if with_target else RAW_SCHEMA
    try:
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        raise DataValidationError(_describe_failures(errors, source)) from None
    return validated.reset_index(drop=True)


def dataset_digest(frame: pd.DataFrame) -> str:
    """A content digest (128-bit SHA-256 prefix) of the column names and values, order-sensitive."""
    digest = hashlib.sha256(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def bundled_iris_uri() -> str:
    """The file scikit-learn ships Iris in: the lineage source of the default data set."""
    return resources.files("sklearn.datasets").joinpath("data", "iris.csv").as_uri()  # type: ignore[attr-defined]


def load_bundled_iris() -> pd.DataFrame:
    """Iris from scikit-learn's bundled copy, with snake_case columns and species names."""
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.data.set_axis(list(RAW_FEATURE_COLUMNS), axis=1)
    frame[TARGET_COLUMN] = pd.Categorical.from_codes(bunch.target, list(bunch.target_names)).astype(str)
    return frame


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error when it cannot be read."""
    if not path.is_file():
        raise DataValidationError(f"{path}: data file not found")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise DataValidationError(f"{path}: cannot read data file: {exc}") from exc


def load_dataset(config: DataConfig) -> Dataset:
    """Load, validate and fingerprint the configured training data."""
    if config.source == "file":
        assert config.path is not None  # guaranteed by DataConfig
        raw, source_uri = read_table(config.path), config.path.resolve().as_uri()
    else:
        raw, source_uri = load_bundled_iris(), bundled_iris_uri()
    frame = validate_frame(raw, source_uri)
    return Dataset(frame=frame, source_uri=source_uri, digest=dataset_digest(frame))
