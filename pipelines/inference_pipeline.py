"""Batch inference workflow: score a CSV or Parquet file with the version at an alias.

    python pipelines/inference_pipeline.py --alias production --input data.parquet --output preds.parquet
    python pipelines/inference_pipeline.py --alias staging --input data.csv --output preds.csv --rejects bad.csv
    python pipelines/inference_pipeline.py --alias production --input data.parquet --output preds_dir --engine spark

The input is streamed in chunks (memory bounded whatever the file size) and
the output is written to a temporary file beside the target, renamed into
place only when every row is scored: a failed run leaves no partial output.
Each output row carries lineage columns: model name, version, alias, run ID
and the time it was scored. Rows that fail validation stop the run with their
row numbers, or, with ``--rejects``, go to a rejects file with the reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from src.components.scoring import InputError, ModelHandle, Scorer

if TYPE_CHECKING:  # PySpark is an optional extra: imported only by the Spark engine
    from pyspark.sql import SparkSession

SUPPORTED = {".csv", ".parquet"}
LINEAGE_COLUMNS = ("model_name", "model_version", "model_alias", "model_run_id", "scored_at")


class BatchError(ValueError):
    """The batch cannot be scored (bad path, format or rows); no output was written."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    rows_in: int
    rows_scored: int
    rows_rejected: int
    seconds: float
    output: Path
    rejects: Path | None

    def summary(self) -> str:
        rate = self.rows_scored / self.seconds if self.seconds else 0.0
        rejected = f", {self.rows_rejected} rejected -> {self.rejects}" if self.rejects else ""
        return (
            f"scored {self.rows_scored} of {self.rows_in} rows in {self.seconds:.2f} s ({rate:,.0f} rows/s)"
            f" -> {self.output}{rejected}"
        )


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise BatchError(f"{path}: expected a .csv or .parquet file")
    return suffix


def read_chunks(path: Path, chunk_rows: int, *, lenient: bool = False) -> Iterator[pa.Table]:
    """The input as Arrow tables of about ``chunk_rows`` rows, in file order.

    CSV is read by Arrow's streaming reader, which types each column from the
    first block and stops at a value that does not fit (a word in a column of
    numbers). ``lenient`` reads through pandas instead, where such a value
    stays a string for the row checks to name; the caller retries with it.
    """
    if not path.is_file():
        raise BatchError(f"{path}: input file not found")
    if _format(path) == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield pa.Table.from_batches([batch])
    elif lenient:
        for frame in pd.read_csv(path, chunksize=chunk_rows):
            yield pa.Table.from_pandas(frame, preserve_index=False)
    else:
        block = max(1 << 16, chunk_rows * 40)  # ~40 bytes per row of four measurements
        read = pa_csv.ReadOptions(block_size=block)
        convert = pa_csv.ConvertOptions(strings_can_be_null=True)  # an empty field is a null, as in pandas
        with pa_csv.open_csv(path, read_options=read, convert_options=convert) as reader:
            for batch in reader:
                yield pa.Table.from_batches([batch])


class AtomicTableWriter:
    """Append tables to a temporary file; ``commit`` renames it into place, ``abort`` removes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = _format(path)
        if not path.parent.is_dir():
            raise BatchError(f"{path.parent}: output directory does not exist")
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self.format == ".csv":
            table = _decoded(table)  # CSV holds values, not dictionary indices
        if self._writer is None:
            self._schema = table.schema
            opened = pq.ParquetWriter if self.format == ".parquet" else pa_csv.CSVWriter
            self._writer = opened(str(self.temporary), table.schema)
        self._writer.write_table(table.cast(self._schema) if table.schema != self._schema else table)

    def commit(self, empty: pa.Schema) -> None:
        if self._writer is None:  # no rows: still a valid, empty file with the right columns
            self.write(empty.empty_table())
        assert self._writer is not None
        self._writer.close()
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.temporary.unlink(missing_ok=True)


def _decoded(table: pa.Table) -> pa.Table:
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _is_clean(column: pa.ChunkedArray) -> bool:
    return (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) and column.null_count == 0


def _invalid_rows(scorer: Scorer, table: pa.Table) -> pd.Series:
    """The reason each unscorable row cannot be scored, by row position (empty when all are fine)."""
    problems: list[pd.Series] = []
    for name in scorer.input_columns:
        column = table.column(name)
        if _is_clean(column):
            continue  # the common case: clean numbers, nothing to explain
        values = column.to_pandas()
        null = values.isna()
        not_number = pd.to_numeric(values, errors="coerce").isna() & ~null
        problems.append(pd.Series(f"{name}: null", index=np.flatnonzero(null.to_numpy())))
        problems.append(pd.Series(f"{name}: not a number", index=np.flatnonzero(not_number.to_numpy())))
    if not problems:
        return pd.Series(dtype=object)
    return pd.concat(problems).groupby(level=0).agg("; ".join)


def _lineage(handle: ModelHandle) -> dict[str, str]:
    """The lineage columns every scored row carries: which model version scored it, and when."""
    return {
        "model_name": handle.name,
        "model_version": handle.version,
        "model_alias": handle.alias or "",
        "model_run_id": handle.run_id or "",
        "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _constant(value: str, rows: int) -> pa.DictionaryArray:
    """A column holding one value on every row, stored once (dictionary-encoded)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int8)), pa.array([value]))


def _scored(scorer: Scorer, table: pa.Table, lineage: dict[str, str]) -> pa.Table:
    """The input table plus prediction, one probability per class, and the lineage columns."""
    columns = {
        name: pd.to_numeric(table.column(name).to_pandas()).to_numpy(dtype=np.float64) for name in scorer.input_columns
    }
    predictions = scorer.predict_columns(columns)
    rows = table.num_rows
    for name, values in columns.items():  # the measurements as scored: float64 in every chunk
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    table = table.append_column(
        "prediction",
        pa.DictionaryArray.from_arrays(pa.array(predictions.indices.astype(np.int8)), pa.array(scorer.classes)),
    )
    for index, name in enumerate(scorer.classes):
        table = table.append_column(f"probability_{name}", pa.array(predictions.probabilities[:, index]))
    for name, value in lineage.items():
        table = table.append_column(name, _constant(value, rows))
    return table


def run_batch(
    scorer: Scorer,
    input_path: Path,
    output_path: Path,
    *,
    rejects_path: Path | None = None,
    chunk_rows: int = 100_000,
    progress: bool = False,
) -> BatchResult:
    """Score ``input_path`` into ``output_path`` (and ``rejects_path``), all or nothing."""
    arguments = (scorer, input_path, output_path, rejects_path, chunk_rows, progress)
    try:
        return _run_batch(*arguments, lenient=False)
    except _NeedsLenientRead:
        return _run_batch(*arguments, lenient=True)


class _NeedsLenientRead(Exception):
    """Arrow's CSV reader met a value its column type cannot hold: read again through pandas."""


def _run_batch(
    scorer: Scorer,
    input_path: Path,
    output_path: Path,
    rejects_path: Path | None,
    chunk_rows: int,
    progress: bool,
    *,
    lenient: bool,
) -> BatchResult:
    started = time.perf_counter()
    lineage = _lineage(scorer.handle)
    writer = AtomicTableWriter(output_path)
    rejects = AtomicTableWriter(rejects_path) if rejects_path else None
    rows_in = rows_rejected = 0
    output_schema: pa.Schema | None = None
    try:
        for table in read_chunks(input_path, chunk_rows, lenient=lenient):
            scorer.check_names(table.column_names)
            reasons = _invalid_rows(scorer, table)
            if len(reasons) and rejects is None:
                listed = "; ".join(f"row {rows_in + row}: {why}" for row, why in reasons.head(5).items())
                more = f" (and {len(reasons) - 5} more)" if len(reasons) > 5 else ""
                raise InputError("rows", f"{listed}{more}; nothing was written (--rejects sets bad rows aside)")
            rows_in += table.num_rows
            if len(reasons):
                bad = np.zeros(table.num_rows, dtype=bool)
                bad[reasons.index.to_numpy()] = True
                rejected = table.filter(pa.array(bad)).to_pandas().assign(reject_reason=reasons.to_numpy())
                rejected = rejected.astype("string")  # as read: a null stays empty, a word stays the word
                rejects.write(pa.Table.from_pandas(rejected, preserve_index=False))  # type: ignore[union-attr]
                rows_rejected += len(reasons)
                table = table.filter(pa.array(~bad))
            if table.num_rows:
                scored = _scored(scorer, table, lineage)
                output_schema = output_schema or scored.schema
                writer.write(scored)
            if progress:
                print(f"\r  {rows_in:,} rows read, {rows_in - rows_rejected:,} scored", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
        writer.commit(output_schema or _scored(scorer, _empty_input(scorer), lineage).schema)
        if rejects is not None:
            rejects.commit(pa.schema([(c, pa.string()) for c in (*scorer.input_columns, "reject_reason")]))
    except BaseException as exc:
        writer.abort()
        if rejects is not None:
            rejects.abort()
        if isinstance(exc, pa.ArrowInvalid) and not lenient and _format(input_path) == ".csv":
            raise _NeedsLenientRead from exc
        if isinstance(exc, (InputError, ValueError, OSError, pa.ArrowException)) and not isinstance(exc, BatchError):
            raise BatchError(f"{input_path}: {exc}") from exc
        raise
    return BatchResult(
        rows_in=rows_in,
        rows_scored=rows_in - rows_rejected,
        rows_rejected=rows_rejected,
        seconds=time.perf_counter() - started,
        output=output_path,
        rejects=rejects_path,
    )


def _empty_input(scorer: Scorer) -> pa.Table:
    return pa.table({name: pa.array([], pa.float64()) for name in scorer.input_columns})


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
    _format(input_path)
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
    return BatchResult(
        rows_in=rows_in,
        rows_scored=rows_in - bad_rows,
        rows_rejected=bad_rows,
        seconds=time.perf_counter() - started,
        output=output_dir,
        rejects=rejects_dir,
    )


def _score_on_spark(
    spark: SparkSession, scorer: Scorer, input_path: Path, output_dir: Path, rejects_dir: Path | None
) -> tuple[int, int]:
    """Read, refuse or set aside bad rows, score with spark_udf, write; return (rows in, rows rejected)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as sf

    reader = spark.read.option("header", True).option("inferSchema", True)
    frame = reader.csv(str(input_path)) if input_path.suffix.lower() == ".csv" else spark.read.parquet(str(input_path))
    scorer.check_names(frame.columns)
    for name in scorer.input_columns:  # a value that is not a number becomes null, and its row is refused
        frame = frame.withColumn(name, sf.col(name).cast("double"))
    invalid = sf.lit(False)
    for name in scorer.input_columns:
        invalid = invalid | sf.col(name).isNull()
    bad_rows = frame.filter(invalid).count()
    if bad_rows and rejects_dir is None:
        raise BatchError(f"{input_path}: {bad_rows} row(s) with a null or non-numeric measurement (--rejects)")
    handle = scorer.handle
    predict = mlflow.pyfunc.spark_udf(spark, model_uri=handle.uri, result_type="string", env_manager="local")
    scored = frame.filter(~invalid).withColumn("prediction", predict(sf.struct(*scorer.input_columns)))
    for name, value in _lineage(handle).items():
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


def _parser() -> argparse.ArgumentParser:
    from src.utils.cli import environment_options

    parser = argparse.ArgumentParser(
        prog="python pipelines/inference_pipeline.py",
        description="Score a CSV or Parquet file with the model version at an alias.",
        parents=[environment_options()],
    )
    parser.add_argument("--alias", default="production", choices=["dev", "staging", "production"])
    parser.add_argument("--input", type=Path, required=True, help=".csv or .parquet with the raw measurements")
    parser.add_argument("--output", type=Path, required=True, help=".csv or .parquet (written atomically)")
    parser.add_argument("--rejects", type=Path, help="set invalid rows aside here instead of failing")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (memory bound)")
    parser.add_argument(
        "--engine",
        choices=["arrow", "spark"],
        default="arrow",
        help="arrow: streamed in this process (default); spark: mlflow.pyfunc.spark_udf, output is a directory",
    )
    parser.add_argument("--master", default="local[2]", help="Spark master for --engine spark")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mlflow.exceptions import MlflowException

    from src.components.scoring import load_scorer
    from src.models.model_registry import RegistryError
    from src.utils.cli import refuse, settings_from
    from src.utils.config import ConfigError

    args = _parser().parse_args(argv)
    try:
        _format(args.input)
        if args.engine == "arrow":
            _format(args.output)
        settings = settings_from(args)
        scorer = load_scorer(settings.model_name_for(args.alias), alias=args.alias)
        if args.engine == "spark":
            result = run_spark(scorer, args.input, args.output, master=args.master, rejects_dir=args.rejects)
        else:
            result = run_batch(
                scorer,
                args.input,
                args.output,
                rejects_path=args.rejects,
                chunk_rows=args.chunk_rows,
                progress=sys.stderr.isatty(),
            )
    except (BatchError, ConfigError, RegistryError, LookupError) as exc:
        return refuse(str(exc))
    except MlflowException as exc:
        return refuse(f"the tracking backend failed: {exc.message}")
    print(f"{scorer.handle.name} version {scorer.handle.version} (@{args.alias}): {result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
