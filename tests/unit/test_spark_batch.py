"""The Spark engine's refusals, before a Spark session starts (its scoring: tests/integration/test_inference.py)."""

from __future__ import annotations

import pytest

from src.components.batch import BatchError
from tests.conftest import require_service


@pytest.fixture(autouse=True)
def pyspark():
    require_service("PySpark (make venv-spark)", lambda: __import__("pyspark"))


def test_a_missing_input_is_refused(memory_scorer, tmp_path):
    from src.components.spark_batch import run_spark

    with pytest.raises(BatchError, match="input not found"):
        run_spark(memory_scorer, tmp_path / "none.parquet", tmp_path / "out")


def test_an_existing_output_directory_is_refused(memory_scorer, bundled_frame, tmp_path):
    from src.components.spark_batch import run_spark

    bundled_frame.drop(columns="species").to_parquet(tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    with pytest.raises(BatchError, match="already exists"):
        run_spark(memory_scorer, tmp_path / "in.parquet", tmp_path / "out")
