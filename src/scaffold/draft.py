"""A data contract drafted from a data file: the kind, domain and gaps of each column, and an example per class.

What the team did not say in its answers is read off the file, and written
into the new pack for review: a numeric column's range is the observed one
widened by half its span on each side (traffic slightly beyond the training
rows stays servable; a unit error, ten times off, is refused) and never
crosses zero when no value did; a text column, or a number column with few
distinct values that the team declares categorical, lists the values seen.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from src.data.schema import Column, ContractError, DataContract, Example, Target
from src.scaffold.answers import Answers, AnswersError, ColumnAnswer

#: A target with more classes than this is more likely a number to regress than labels to classify.
MAX_CLASSES = 50
#: A text column with more distinct values than this is an identifier or free text, not a category.
MAX_CATEGORIES = 200
#: How far beyond the observed values a drafted range reaches, as a share of the observed span.
RANGE_MARGIN = 0.5


def _is_boolean(values: pd.Series) -> bool:
    present = values.dropna()
    return pd.api.types.is_bool_dtype(values) or (
        values.dtype == object and len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)
    )


def _kind(values: pd.Series) -> str:
    if _is_boolean(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "categorical"


def _rounded(value: float, up: bool) -> float:
    """``value`` to two significant digits, away from the observed values (a range a person reads)."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return float((math.ceil if up else math.floor)(value / scale) * scale)


def _range(values: pd.Series) -> tuple[float | None, float | None]:
    present = pd.to_numeric(values, errors="coerce").dropna()
    if present.empty:
        return None, None
    low, high = float(present.min()), float(present.max())
    margin = max(high - low, abs(high), 1.0) * RANGE_MARGIN
    minimum = _rounded(low - margin, up=False)
    maximum = _rounded(high + margin, up=True)
    if low >= 0 > minimum:
        minimum = 0.0
    return minimum, maximum


def _categories(name: str, values: pd.Series) -> tuple[str, ...]:
    seen = sorted({str(v) for v in values.dropna().unique()})
    if len(seen) > MAX_CATEGORIES:
        raise AnswersError(f"columns.{name}: {len(seen):,} distinct values: an identifier or free text, not a "
                           "category (list it under drop, or give its kind)")  # fmt: skip
    if not seen:
        raise AnswersError(f"columns.{name}: no value in the data file: nothing to learn from (list it under drop)")
    return tuple(seen)


def draft_column(name: str, values: pd.Series, said: ColumnAnswer) -> Column:
    """One column of the contract: what the team said, the rest from ``values``."""
    kind = said.kind or _kind(values)
    nullable = bool(values.isna().any()) if said.nullable is None else said.nullable
    description = said.description or f"{name.replace('_', ' ').capitalize()} (drafted from the data: review)"
    try:
        if kind == "numeric":
            if not pd.api.types.is_numeric_dtype(values):
                raise AnswersError(f"columns.{name}: declared numeric, but the file holds text such as "
                                   f"{str(values.dropna().iloc[0])!r}")  # fmt: skip
            low, high = _range(values)
            minimum = said.minimum if said.minimum is not None else low
            maximum = said.maximum if said.maximum is not None else high
            return Column(name, "numeric", description, said.unit, minimum, maximum, nullable=nullable)
        if kind == "boolean":
            return Column(name, "boolean", description, nullable=nullable)
        values_ = said.values if said.values is not None else _categories(name, values)
        return Column(name, "categorical", description, values=tuple(values_), nullable=nullable)
    except ContractError as exc:
        raise AnswersError(f"columns.{name}: {exc}") from None


def _classes(answers: Answers, labels: pd.Series) -> tuple[str, ...]:
    if labels.isna().any():
        rows = np.flatnonzero(labels.isna().to_numpy())[:5].tolist()
        raise AnswersError(f"target: {answers.target!r} is missing in rows {rows} of {answers.data.name}: every "
                           "training row needs its label (remove those rows)")  # fmt: skip
    classes = tuple(sorted({str(v) for v in labels.unique()}))
    if len(classes) < 2:
        raise AnswersError(f"target: {answers.target!r} has one class only ({classes[0]!r}): nothing to classify")
    if len(classes) > MAX_CLASSES:
        raise AnswersError(f"target: {answers.target!r} has {len(classes):,} distinct values: a classifier needs "
                           f"labels (at most {MAX_CLASSES} classes); a number to predict is a regression")  # fmt: skip
    return classes


def _typical_row(rows: pd.DataFrame, columns: tuple[Column, ...]) -> dict[str, object]:
    """The complete row of one class nearest to its class's medians (numbers scaled by their spread): a row any
    usable model classifies right."""
    complete = rows.dropna()
    pool = complete if not complete.empty else rows
    numeric = [c.name for c in columns if c.is_numeric]
    if numeric:
        values = pool[numeric].astype(float)
        spread = values.std(ddof=0).replace(0.0, 1.0).fillna(1.0)
        distance = ((values - values.median()) / spread).pow(2).sum(axis=1, min_count=1).fillna(np.inf)
        chosen = pool.loc[distance.idxmin()]
    else:
        chosen = pool.iloc[0]
    return {c.name: _plain(chosen[c.name], c) for c in columns}


def _plain(value: object, column: Column) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if column.kind == "boolean":
        return bool(value)
    if column.kind == "numeric":
        number = float(value)  # type: ignore[arg-type]
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return str(value)


def draft_contract(answers: Answers, frame: pd.DataFrame) -> DataContract:
    """The contract of a new pack: its inputs are every column of ``frame`` but the target, the entity key and the
    dropped ones."""
    known = set(frame.columns)
    if answers.target not in known:
        raise AnswersError(f"target: {answers.target!r} is not a column of {answers.data.name} (it has: "
                           f"{', '.join(map(str, frame.columns))})")  # fmt: skip
    for name in [*answers.drop, *answers.columns]:
        if name not in known:
            raise AnswersError(f"columns: {name!r} is not a column of {answers.data.name}")
    left_out = {answers.target, answers.entity_key, *answers.drop}
    inputs = [str(name) for name in frame.columns if name not in left_out]
    if not inputs:
        raise AnswersError(f"data: {answers.data.name} has no input column beside the target")
    columns = tuple(draft_column(name, frame[name], answers.columns.get(name, ColumnAnswer())) for name in inputs)
    labels = frame[answers.target]
    classes = _classes(answers, labels)
    text_labels = labels.map(str)
    examples = tuple(Example(label, _typical_row(frame.loc[text_labels == label, inputs], columns))
                     for label in classes)  # fmt: skip
    try:
        return DataContract(
            name=answers.project,
            description=answers.description or answers.use_case,
            columns=columns,
            target=Target(answers.target, classes, f"The {answers.target.replace('_', ' ')} to predict"),
            examples=examples,
            entity_key=answers.entity_key,
        )
    except ContractError as exc:
        raise AnswersError(f"columns: {exc}") from None
