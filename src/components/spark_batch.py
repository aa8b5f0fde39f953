"""Batch scoring on Spark: ``mlflow.pyfunc.spark_udf`` over a CSV or Parquet input, a Parquet directory out.

The optional extra (``make venv-spark``, Java 17). Rows are held to the same
data contract as the Arrow engine, training and the endpoint: a null, a word
or a measurement outside its physical domain is refused, or set aside with
``rejects_dir``. The output directory is written beside its target and
renamed into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from src.components.batch import BatchError, BatchResult, check_format, lineage_of
from src.components.scoring import Scorer
from src.data.contract import MEASUREMENT_BY_NAME
from src.models.model_registry import spark_udf

if TYPE_CHECKING:  # PySpark is an optional extra: imported only when this engine runs
    from pyspark.sql import SparkSession


def run_spark(
    scorer: Scorer,
    input_path: Path,
    output_dir: Path,
    *,
    master: str = "local[2]",
    rejects_dir: Path | None = None,
) -> BatchResult:
    """Score with ``mlflow.pyfunc.spark_udf`` on Spark; output is a Parquet directory, renamed into place.

    The output has the input columns, ``prediction`` and the lineage columns.
    spark_udf serves the model's pyfunc ``predict`` (the species), so the
    Spark output carries no probability columns.
    """
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers use this venv
    if not input_path.exists():
        raise BatchError(f"{input_path}: input not found")
    check_format(input_path)
    if output_dir.exists():
        raise BatchError(f"{output_dir}: already exists; choose a new output directory")
    spark = (
        SparkSession.builder.master(master)
        .appName("iris-batch-inference")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        rows_in, bad_rows = _score_on_spark(spark, scorer, input_path, output_dir, rejects_dir)
    finally:
        spark.stop()  # the JVM and its Python workers keep a core busy until stopped
    return BatchResult.of(rows_in, bad_rows, started, output_dir, rejects_dir)


def _score_on_spark(
    spark: SparkSession, scorer: Scorer, input_path: Path, output_dir: Path, rejects_dir: Path | None
) -> tuple[int, int]:
    """Read, refuse or set aside bad rows, score with spark_udf, write; return (rows in, rows rejected)."""
    from pyspark.sql import functions as sf

    reader = spark.read.option("header", True).option("inferSchema", True)
    frame = reader.csv(str(input_path)) if input_path.suffix.lower() == ".csv" else spark.read.parquet(str(input_path))
    scorer.check_names(frame.columns)
    for name in scorer.input_columns:  # a value that is not a number becomes null, and its row is refused
        frame = frame.withColumn(name, sf.col(name).cast("double"))
    invalid = sf.lit(False)
    for name in scorer.input_columns:
        column, measurement = sf.col(name), MEASUREMENT_BY_NAME[name]
        # NaN compares false, so "not inside the domain" also catches it, as the Arrow engine does
        inside = (column > measurement.minimum) & (column <= measurement.maximum) & ~sf.isnan(column)
        invalid = invalid | column.isNull() | ~inside
    bad_rows = frame.filter(invalid).count()
    if bad_rows and rejects_dir is None:
        raise BatchError(
            f"{input_path}: {bad_rows} row(s) with a null, non-numeric or out-of-domain measurement "
            "(--rejects sets them aside)"
        )
    handle = scorer.handle
    predict = spark_udf(spark, handle.uri)
    scored = frame.filter(~invalid).withColumn("prediction", predict(sf.struct(*scorer.input_columns)))
    for name, value in lineage_of(handle).items():
        scored = scored.withColumn(name, sf.lit(value))
    temporary = output_dir.with_name(f".{output_dir.name}.{os.getpid()}.partial")
    try:
        scored.write.mode("overwrite").parquet(str(temporary))
        if rejects_dir is not None and bad_rows:
            frame.filter(invalid).write.mode("overwrite").parquet(str(rejects_dir))
        rows_in = frame.count()
        if output_dir.exists():
            raise BatchError(f"{output_dir}: already exists; choose a new output directory")
        os.replace(temporary, output_dir)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return rows_in, bad_rows
