"""The data contract: one verdict for a bad row at every entry point (training, batch, endpoint)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from src.components.alias_watcher import ModelSlot
from src.components.batch import BatchError, run_batch
from src.components.serving import ServingConfig, create_app
from src.data import contract
from src.data.contract import (
    CANONICAL_FLOWERS,
    MEASUREMENTS,
    RAW_FEATURE_COLUMNS,
    SPECIES,
    canonical_columns,
    row_reasons,
    violations,
)
from src.data.load_data import DataValidationError, load_bundled_iris, validate_frame
from src.utils.keys import Tag

#: (column, bad value, words every entry point's refusal must contain). Row 1 of a three-row frame is bad.
BAD_ROWS = [
    ("sepal_length_cm", -1.0, "outside the allowed range 0 < sepal_length_cm <= 30 cm"),
    ("sepal_width_cm", 0.0, "outside the allowed range 0 < sepal_width_cm <= 20 cm"),
    ("petal_length_cm", 79.0, "outside the allowed range 0 < petal_length_cm <= 30 cm"),  # millimetres
    ("petal_width_cm", 1e308, "outside the allowed range 0 < petal_width_cm <= 15 cm"),
]


def _frame(column: str, value: float) -> pd.DataFrame:
    frame = pd.DataFrame([CANONICAL_FLOWERS[s] for s in SPECIES], columns=list(RAW_FEATURE_COLUMNS))
    frame.loc[1, column] = value
    return frame


def test_every_iris_flower_is_inside_the_domain():
    iris = load_bundled_iris()
    assert violations({c: iris[c].to_numpy() for c in RAW_FEATURE_COLUMNS}) == []


def test_the_canonical_flowers_are_one_per_species_and_valid():
    assert tuple(CANONICAL_FLOWERS) == SPECIES
    assert violations(canonical_columns()) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_named_as_such(value):
    columns = canonical_columns()
    columns["petal_width_cm"] = np.array([0.2, value, 2.0])
    (found,) = violations(columns)
    assert (found.column, found.rows, found.reason) == ("petal_width_cm", (1,), "not a finite number")


def test_row_reasons_list_every_broken_column_of_a_row():
    columns = canonical_columns()
    columns["sepal_length_cm"] = np.array([5.0, -1.0, 6.6])
    columns["petal_width_cm"] = np.array([0.2, 99.0, 2.0])
    ((row, reason),) = row_reasons(columns).items()
    assert row == 1 and reason.startswith("sepal_length_cm: outside") and "; petal_width_cm: outside" in reason


def test_json_schema_carries_the_domain():
    schema = contract.json_schema_property("petal_width_cm")
    assert (schema["exclusiveMinimum"], schema["maximum"]) == (0.0, 15.0)


def test_keys_are_unique():
    assert len({t.value for t in Tag}) == len(Tag)
    assert len({m.name for m in MEASUREMENTS}) == len(MEASUREMENTS)


# --- one table of bad rows, every entry point, the same verdict -------------------------------------------


@pytest.mark.parametrize(("column", "value", "verdict"), BAD_ROWS)
def test_training_refuses_the_row(column, value, verdict):
    frame = _frame(column, value).assign(species=list(SPECIES))
    with pytest.raises(DataValidationError) as refused:
        validate_frame(frame, "training data")
    assert f"column '{column}', row 1: {verdict}" in str(refused.value)


@pytest.mark.parametrize(("column", "value", "verdict"), BAD_ROWS)
def test_the_endpoint_refuses_the_row(memory_scorer, column, value, verdict):
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name="m", alias="dev"))
    body = {"dataframe_split": {"columns": list(RAW_FEATURE_COLUMNS), "data": _frame(column, value).values.tolist()}}
    with TestClient(app) as client:
        answer = client.post("/invocations", json=body)
    assert answer.status_code == 400
    assert answer.json()["field"] == column
    assert answer.json()["message"] == f"{column}: {verdict} at row(s) 1"


@pytest.mark.parametrize(("column", "value", "verdict"), BAD_ROWS)
def test_batch_refuses_the_row_or_sets_it_aside(memory_scorer, tmp_path, column, value, verdict):
    source, target, rejects = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "rejects.csv"
    _frame(column, value).to_parquet(source, index=False)
    with pytest.raises(BatchError, match=f"row 1: {column}: {verdict}"):
        run_batch(memory_scorer, source, target)
    assert not target.exists()
    result = run_batch(memory_scorer, source, target, rejects_path=rejects)
    assert (result.rows_scored, result.rows_rejected) == (2, 1)
    assert pd.read_csv(rejects)["reject_reason"].tolist() == [f"{column}: {verdict}"]


@pytest.mark.parametrize("rows", [1, 31, 33, 1000])
def test_the_small_and_the_vectorised_check_agree(rows):
    rng = np.random.default_rng(rows)
    for measurement in MEASUREMENTS:
        values = rng.uniform(-5.0, measurement.maximum + 5.0, rows)
        values[rng.integers(0, rows)] = np.nan if rows % 2 else np.inf
        assert not measurement.holds(values) and measurement.violations(values).any()
        clean = np.abs(values[np.isfinite(values)]) % (measurement.maximum - 0.02) + 0.01
        assert measurement.holds(clean) and not measurement.violations(clean).any()
