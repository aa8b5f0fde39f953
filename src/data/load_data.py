"""Load the training data and refuse bad data before anything is trained.

The default source is the data the model pack ships (``data.source:
bundled``: ``src/data/contract.py``'s ``load_bundled``, no network); a CSV or
Parquet file with the same columns can replace it. Either way the frame is
checked against one pandera schema built from the data contract, and
fingerprinted, so a run can say exactly which data it saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from src.data import contract as pack
from src.data.contract import CONTRACT
from src.data.files import DataValidationError, read_table
from src.data.schema import Column, DataContract
from src.utils.config import DataConfig

_MAX_REPORTED_FAILURES = 10


@dataclass(frozen=True)
class Dataset:
    """A validated frame with where it came from and its content digest."""

    frame: pd.DataFrame
    source_uri: str
    digest: str
    #: MLflow keys datasets by name and digest: rows read through a feature service carry its name,
    #: so their lineage is not merged into the raw file's (same rows, same digest, other source).
    name: str = CONTRACT.name

    @property
    def features(self) -> pd.DataFrame:
        """The input columns (what the model takes)."""
        return self.frame.loc[:, list(CONTRACT.input_names)]

    @property
    def target(self) -> pd.Series:
        return self.frame[CONTRACT.target.name]


def _checks(column: Column) -> list[pa.Check]:
    if column.kind == "categorical":
        return [pa.Check.isin(list(column.values))]
    if column.kind == "boolean":
        return [pa.Check.isin([0.0, 1.0])]
    low, high = column.minimum, column.maximum
    if low is not None and high is not None:
        return [pa.Check.in_range(low, high, include_min=not column.exclusive_minimum)]
    if low is not None:
        return [pa.Check.greater_than(low) if column.exclusive_minimum else pa.Check.greater_than_or_equal_to(low)]
    if high is not None:
        return [pa.Check.less_than_or_equal_to(high)]
    return [pa.Check(lambda values: np.isfinite(values) | values.isna(), element_wise=False, name="finite")]


def _column(column: Column) -> pa.Column:
    """The contract's domain of one column as a pandera column (the same bounds as batch and serving)."""
    dtype = object if column.kind == "categorical" else float
    return pa.Column(dtype, checks=_checks(column), nullable=column.nullable, coerce=column.kind != "categorical",
                     description=column.allowed)  # fmt: skip


def input_schema(contract: DataContract = CONTRACT) -> pa.DataFrameSchema:
    """The input columns, each held to its domain; no other column."""
    columns = {column.name: _column(column) for column in contract.columns}
    return pa.DataFrameSchema(columns, strict=True, name=f"{contract.name}_inputs")


def training_schema(contract: DataContract = CONTRACT) -> pa.DataFrameSchema:
    """The inputs and the target, whose values must be the contract's classes."""
    target = pa.Column(object, checks=pa.Check.isin(list(contract.classes)), nullable=False)
    return input_schema(contract).add_columns({contract.target.name: target}).set_name(f"{contract.name}_training")


def _expected_columns() -> str:
    return ", ".join((*CONTRACT.input_names, CONTRACT.target.name))


def _verdict(case: object) -> str:
    """A failed check in the contract's words: the same sentence batch and the endpoint give."""
    check, column = str(case.check), case.column  # type: ignore[attr-defined]
    if column == CONTRACT.target.name and check.startswith("isin"):
        return f"not one of the classes {list(CONTRACT.classes)}"
    if column in CONTRACT.by_name and (check.startswith(("in_range", "isin", "greater", "less", "finite"))):
        described = CONTRACT.column(column)
        kind = "allowed range" if described.kind == "numeric" else "allowed values"
        return f"outside the {kind} {described.allowed}"
    if check == "not_nullable":
        return "missing value"
    return f"failed {check}"


def _as_text(values: pd.Series) -> pd.Series:
    """Category labels as text (a code read as a number, 2, is the label "2"); a missing value stays missing."""
    if values.dtype == object and all(isinstance(v, str) or v is None or v != v for v in values.unique()):
        return values.where(values.notna(), None)
    return values.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


def _as_flag(values: pd.Series) -> pd.Series:
    flags = {True: 1.0, False: 0.0, "true": 1.0, "false": 0.0, "True": 1.0, "False": 0.0}  # True == 1: 1 too
    return values.map(lambda v: np.nan if pd.isna(v) else flags.get(v, v))


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories and the target as text, booleans as 0/1: the forms the schema and the model take."""
    frame = frame.copy()
    for column in CONTRACT.columns:
        if column.name in frame.columns and column.kind == "categorical":
            frame[column.name] = _as_text(frame[column.name])
        elif column.name in frame.columns and column.kind == "boolean":
            frame[column.name] = _as_flag(frame[column.name])
    if CONTRACT.target.name in frame.columns:
        frame[CONTRACT.target.name] = _as_text(frame[CONTRACT.target.name])
    return frame


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
    """Check columns, dtypes, domains, nulls and labels; return the coerced frame.

    All failures are collected (lazy validation) so one error lists every bad
    row and column, instead of one per attempt.
    """
    if frame.empty:
        raise DataValidationError(f"{source}: no rows")
    schema = training_schema() if with_target else input_schema()
    try:
        validated = schema.validate(_normalised(frame), lazy=True)
    except SchemaErrors as errors:
        raise DataValidationError(_describe_failures(errors, source)) from None
    order = [*CONTRACT.input_names, *([CONTRACT.target.name] if with_target else [])]
    return validated[order].reset_index(drop=True)  # the contract's order, whatever the file's


def dataset_digest(frame: pd.DataFrame) -> str:
    """A content digest (128-bit SHA-256 prefix) of the column names and values, order-sensitive."""
    digest = hashlib.sha256(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def load_dataset(config: DataConfig) -> Dataset:
    """Load, validate and fingerprint the configured training data."""
    if config.source == "file":
        assert config.path is not None  # guaranteed by DataConfig
        raw, source_uri = read_table(config.path), config.path.resolve().as_uri()
    else:
        raw, source_uri = pack.load_bundled(), pack.bundled_uri()
    frame = validate_frame(raw, source_uri)
    return Dataset(frame=frame, source_uri=source_uri, digest=dataset_digest(frame))


def write_sample(path: Path) -> Path:
    """The bundled data's input columns (no target) as a CSV or Parquet file: something to score (make batch)."""
    frame = pack.load_bundled().drop(columns=[CONTRACT.target.name], errors="ignore")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


if __name__ == "__main__":  # python -m src.data.load_data sample data/sample.parquet  (make batch)
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "sample":
        sys.exit("usage: python -m src.data.load_data sample PATH.parquet|PATH.csv")
    print(f"wrote {write_sample(Path(sys.argv[2]))}")
