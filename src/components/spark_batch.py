"""Batch scoring on Spark: ``mlflow.pyfunc.spark_udf`` over a CSV or Parquet input, a Parquet directory out.

The optional extra (``make venv-spark``, Java 17). Rows are held to the same
data contract as the Arrow engine, training and the endpoint: a forbidden
null, a word among numbers or a value outside its domain is refused, or set aside with
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

from src.components.batch import BatchError, BatchResult, check_format, check_paths, lineage_of
from src.components.scoring import Scorer
from src.data.schema import Column
from src.models.model_loading import spark_udf

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
    spark_udf serves the model's pyfunc ``predict`` (the class), so the
    Spark output carries no probability columns.
    """
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers use this venv
    if not input_path.exists():
        raise BatchError(f"{input_path}: input not found")
    check_format(input_path)
    check_paths(input_path, output_dir, rejects_dir)
    if output_dir.exists():
        raise BatchError(f"{output_dir}: already exists; choose a new output directory")
    spark = (
        SparkSession.builder.master(master)
        .appName(f"batch-{scorer.handle.name}")
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
    invalid = sf.lit(False)
    for name in scorer.input_columns:  # a value that does not cast becomes null, and its row is refused
        described = scorer.contract.column(name)
        frame = frame.withColumn(name, sf.col(name).cast(_SPARK_TYPES[described.kind]))
        invalid = invalid | _outside(sf.col(name), described)
    bad_rows = frame.filter(invalid).count()
    if bad_rows and rejects_dir is None:
        raise BatchError(
            f"{input_path}: {bad_rows} row(s) with a forbidden null, an unreadable or an out-of-domain value "
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


_SPARK_TYPES = {"numeric": "double", "categorical": "string", "boolean": "boolean"}


def _outside(column: object, described: Column) -> object:
    """A Spark condition: the value breaks the contract (the Arrow engine's verdict, as one expression)."""
    from pyspark.sql import functions as sf

    if described.kind == "categorical":
        bad = ~column.isin(list(described.values))  # type: ignore[attr-defined]
    elif described.kind == "boolean":
        bad = sf.lit(False)
    else:  # NaN compares false, so "not inside the domain" also catches it, as the Arrow engine does
        inside = ~sf.isnan(column) & (column != float("inf")) & (column != float("-inf"))
        if described.minimum is not None:
            inside = inside & ((column > described.minimum) if described.exclusive_minimum
                               else (column >= described.minimum))  # fmt: skip
        if described.maximum is not None:
            inside = inside & (column <= described.maximum)
        bad = ~inside
    missing = column.isNull()  # type: ignore[attr-defined]
    return (bad & ~missing) if described.nullable else (bad | missing)
