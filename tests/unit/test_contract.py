"""The pack's data contract: what a valid iris flower is, and one verdict for a bad row at every entry point
(training, batch, the endpoint). The contract's types themselves are tests/unit/test_schema.py's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from src.components.alias_watcher import ModelSlot
from src.components.batch import BatchError, run_batch
from src.components.serving import ServingConfig, create_app
from src.data.contract import CONTRACT, load_bundled
from src.data.load_data import DataValidationError, validate_frame
from src.data.schema import DataContract

#: (column, bad value, words every entry point's refusal must contain). Row 1 of the three example rows is bad.
BAD_ROWS = [
    ("sepal_length_cm", -1.0, "outside the allowed range 0 < sepal_length_cm <= 30 cm"),
    ("sepal_width_cm", 0.0, "outside the allowed range 0 < sepal_width_cm <= 20 cm"),
    ("petal_length_cm", 79.0, "outside the allowed range 0 < petal_length_cm <= 30 cm"),  # millimetres
    ("petal_width_cm", 1e308, "outside the allowed range 0 < petal_width_cm <= 15 cm"),
]


def _frame(column: str, value: float) -> pd.DataFrame:
    frame = pd.DataFrame(CONTRACT.example_records(), columns=list(CONTRACT.input_names))
    frame.loc[1, column] = value
    return frame


def test_every_iris_flower_is_inside_the_domain():
    iris = load_bundled()
    assert CONTRACT.violations({c: iris[c].to_numpy() for c in CONTRACT.input_names}) == []
    assert set(iris[CONTRACT.target.name]) == set(CONTRACT.classes)


def test_the_examples_are_a_typical_flower_of_each_species():
    assert CONTRACT.example_labels == CONTRACT.classes == ("setosa", "versicolor", "virginica")
    assert CONTRACT.violations(CONTRACT.example_columns()) == []


def test_the_contract_survives_being_logged_with_a_model():
    assert DataContract.from_dict(CONTRACT.to_dict()) == CONTRACT
    assert CONTRACT.to_dict()["columns"][0]["minimum"] == 0.0  # a minimum of zero is not lost


@pytest.mark.parametrize(("value", "reason"), [(np.nan, "missing value"), (np.inf, "not a finite number")])
def test_a_measurement_that_is_not_one_is_named_as_such(value, reason):
    columns = CONTRACT.example_columns()
    columns["petal_width_cm"] = np.array([0.2, value, 2.0])
    (found,) = CONTRACT.violations(columns)
    assert (found.column, found.rows, found.reason) == ("petal_width_cm", (1,), reason)


def test_row_reasons_list_every_broken_column_of_a_row():
    columns = CONTRACT.example_columns()
    columns["sepal_length_cm"] = np.array([5.0, -1.0, 6.6])
    columns["petal_width_cm"] = np.array([0.2, 99.0, 2.0])
    ((row, reason),) = CONTRACT.row_reasons(columns).items()
    assert row == 1 and reason.startswith("sepal_length_cm: outside") and "; petal_width_cm: outside" in reason


def test_the_json_schema_carries_the_domain():
    schema = CONTRACT.column("petal_width_cm").json_schema()
    assert (schema["exclusiveMinimum"], schema["maximum"], schema["type"]) == (0.0, 15.0, "number")


# --- one table of bad rows, every entry point, the same verdict -------------------------------------------


@pytest.mark.parametrize(("column", "value", "verdict"), BAD_ROWS)
def test_training_refuses_the_row(column, value, verdict):
    frame = _frame(column, value).assign(species=list(CONTRACT.classes))
    with pytest.raises(DataValidationError) as refused:
        validate_frame(frame, "training data")
    assert f"column '{column}', row 1: {verdict}" in str(refused.value)


@pytest.mark.parametrize(("column", "value", "verdict"), BAD_ROWS)
def test_the_endpoint_refuses_the_row(memory_scorer, column, value, verdict):
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name="m", alias="dev"))
    body = {"dataframe_split": {"columns": list(CONTRACT.input_names), "data": _frame(column, value).values.tolist()}}
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
