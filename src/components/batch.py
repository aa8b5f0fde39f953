"""Batch scoring on Arrow: a CSV or Parquet file in, predictions with lineage out, all or nothing.

The input is streamed in chunks (memory bounded whatever the file size) and
the output is written to a temporary file beside the target, renamed into
place only when every row is scored: a failed run leaves no partial output.
Each output row carries lineage columns: model name, version, alias, run ID
and the time it was scored. A row that breaks the data contract (a null, a
word, a value outside its domain) stops the run with its row
number and reason, or, with a rejects file, is set aside there with the reason.
Every column is read as its kind in the version's data contract: numbers
(text that casts), categories as text, booleans as true/false.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from src.components.scoring import InputError, ModelHandle, Scorer
from src.data.schema import Column
from src.utils.errors import ProjectError
from src.utils.logging import get_logger

logger = get_logger(__name__)

SUPPORTED = {".csv", ".parquet"}
LINEAGE_COLUMNS = ("model_name", "model_version", "model_alias", "model_run_id", "scored_at")


class BatchError(ProjectError, ValueError):
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

    @classmethod
    def of(cls, rows_in: int, rows_rejected: int, started: float, output: Path, rejects: Path | None) -> BatchResult:
        """The result of a run that began at ``started`` (``time.perf_counter``)."""
        seconds = time.perf_counter() - started
        return cls(rows_in, rows_in - rows_rejected, rows_rejected, seconds, output, rejects)

    def summary(self) -> str:
        rate = self.rows_scored / self.seconds if self.seconds else 0.0
        rejected = f", {self.rows_rejected} rejected -> {self.rejects}" if self.rejects else ""
        return (
            f"scored {self.rows_scored} of {self.rows_in} rows in {self.seconds:.2f} s ({rate:,.0f} rows/s)"
            f" -> {self.output}{rejected}"
        )


def check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise BatchError(f"{path}: expected a .csv or .parquet file")
    return suffix


def read_chunks(
    path: Path, chunk_rows: int, *, lenient: bool = False, text_columns: Sequence[str] = ()
) -> Iterator[pa.Table]:
    """The input as Arrow tables of about ``chunk_rows`` rows, in file order.

    CSV is read by Arrow's streaming reader. ``text_columns`` (the model's
    inputs) are read as text and cast by the caller: a word
    among numbers is then a row to name, not a read error, and the text can
    be written back as it was. Any other column is typed from the first
    block, and a value that does not fit stops the reader; ``lenient`` reads
    through pandas instead, and the caller retries with it.
    """
    if not path.is_file():
        raise BatchError(f"{path}: input file not found")
    if check_format(path) == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield pa.Table.from_batches([batch])
    elif lenient:
        for frame in pd.read_csv(path, chunksize=chunk_rows):
            yield pa.Table.from_pandas(frame, preserve_index=False)
    else:
        block = max(1 << 16, chunk_rows * 40)  # ~40 bytes per row of a few numbers
        read = pa_csv.ReadOptions(block_size=block)
        convert = pa_csv.ConvertOptions(  # an empty field is a null, as in pandas
            strings_can_be_null=True, column_types=dict.fromkeys(text_columns, pa.string())
        )
        with pa_csv.open_csv(path, read_options=read, convert_options=convert) as reader:
            for batch in reader:
                yield pa.Table.from_batches([batch])


class AtomicTableWriter:
    """Append tables to a temporary file; ``commit`` renames it into place, ``abort`` removes it.

    Writing runs on a thread of its own (Arrow's writers release the GIL), so
    formatting a chunk's text overlaps with reading and scoring the next one:
    for CSV, number formatting is the largest single cost of a batch. At most
    ``pending`` chunks wait, so memory stays bounded whatever the file size.
    """

    def __init__(self, path: Path, pending: int = 2) -> None:
        self.path = path
        self.format = check_format(path)
        if not path.parent.is_dir():
            raise BatchError(f"{path.parent}: output directory does not exist")
        for stale in remove_stale_partials(path):
            logger.info("removed %s, left by a run that was killed", stale)
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=pending)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, table: pa.Table) -> None:
        """Queue a table (blocks while ``pending`` tables wait); a failed earlier write is raised here."""
        self._raise_failure()
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name=f"write-{self.path.name}", daemon=True)
            self._thread.start()
        self._queue.put(table)

    def commit(self, empty: pa.Schema) -> None:
        self.seal(empty)
        self.publish()

    def seal(self, empty: pa.Schema) -> None:
        """Write what is queued and close the temporary file; a failed write is raised here, before any rename."""
        self._finish()
        self._raise_failure()
        if self._writer is None:  # no rows: still a valid, empty file with the right columns
            self._write_now(empty.empty_table())
        assert self._writer is not None
        self._writer.close()

    def publish(self) -> None:
        """Rename the sealed file into place (one rename: a reader sees the old file or the new one)."""
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        self._finish()
        if self._writer is not None:
            self._writer.close()
        self.temporary.unlink(missing_ok=True)

    def _finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        while (table := self._queue.get()) is not None:
            if self._error is None:  # after a failure, keep taking tables so the producer never blocks
                try:
                    self._write_now(table)
                except BaseException as exc:  # handed to the producer at its next write or commit
                    self._error = exc

    def _write_now(self, table: pa.Table) -> None:
        if self.format == ".csv":
            table = _decoded(table)  # CSV holds values, not dictionary indices
        if self._writer is None:
            self._schema = table.schema
            opened = pq.ParquetWriter if self.format == ".parquet" else pa_csv.CSVWriter
            self._writer = opened(str(self.temporary), table.schema)
        self._writer.write_table(table.cast(self._schema) if table.schema != self._schema else table)


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns as plain values; a one-value column (lineage) is repeated, not decoded row by row."""
    columns = []
    for column in table.columns:
        if not pa.types.is_dictionary(column.type):
            columns.append(column)
        elif column.num_chunks == 1 and len(column.chunk(0).dictionary) == 1:
            columns.append(pa.repeat(column.chunk(0).dictionary[0], len(column)))
        else:
            columns.append(column.cast(column.type.value_type))
    return pa.Table.from_arrays(columns, names=table.column_names)


def _is_clean(column: pa.ChunkedArray) -> bool:
    return (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) and column.null_count == 0


@dataclass(frozen=True)
class _Measured:
    """One input column as its kind's array (NaN or None where unreadable), and which rows were null or unreadable."""

    values: np.ndarray
    null: np.ndarray | None = None
    word: np.ndarray | None = None


def _measure(column: pa.ChunkedArray, described: Column) -> _Measured:
    """The column as its contract kind: numbers in one vectorised step when clean, else named row by row."""
    if described.kind == "categorical":
        values = np.empty(len(column), dtype=object)
        values[:] = column.to_pylist()
        if column.null_count == 0:
            return _Measured(values)
        return _Measured(values, np.fromiter((v is None for v in values), dtype=bool, count=len(values)),
                         np.zeros(len(values), dtype=bool))  # fmt: skip
    if described.kind == "boolean":
        items = column.to_pylist()
        flags = np.array([_flag(v) for v in items], dtype=np.float64)
        null = np.fromiter((v is None for v in items), dtype=bool, count=len(items))
        word = np.isnan(flags) & ~null
        return _Measured(flags, null, word) if null.any() or word.any() else _Measured(flags)
    if _is_clean(column):
        return _Measured(column.to_numpy().astype(np.float64, copy=False))
    if pa.types.is_string(column.type) and column.null_count == 0:
        try:
            return _Measured(pc.cast(column, pa.float64()).to_numpy())
        except pa.ArrowInvalid:
            pass  # a word somewhere: the slow path says which rows
    values = column.to_pandas()
    null = values.isna().to_numpy()
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return _Measured(numbers, null, np.isnan(numbers) & ~null)


_FLAGS = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, True: 1.0, False: 0.0}


def _flag(value: object) -> float:
    found = _FLAGS.get(value.strip().lower() if isinstance(value, str) else value)  # type: ignore[arg-type]
    return np.nan if found is None else found


def _measurements(scorer: Scorer, table: pa.Table) -> dict[str, _Measured]:
    return {name: _measure(table.column(name), scorer.contract.column(name)) for name in scorer.input_columns}


def _invalid_rows(scorer: Scorer, rows: int, measured: dict[str, _Measured]) -> pd.Series:
    """The reason each unscorable row cannot be scored, by row position (empty when all are fine).

    Words among numbers are named as such, and nulls where the contract
    forbids them; every other value is held to the data contract's domain,
    the check training and the endpoint make.
    """
    contract = scorer.contract
    problems: list[pd.Series] = []
    unreadable = np.zeros(rows, dtype=bool)
    for name, column in measured.items():
        if column.null is None or column.word is None:
            continue  # the common case: clean values, only the domain to check
        forbidden = column.null if not contract.column(name).nullable else np.zeros(rows, dtype=bool)
        unreadable |= forbidden | column.word
        problems.append(pd.Series(f"{name}: null", index=np.flatnonzero(forbidden)))
        what = _kind_text(contract.column(name))
        problems.append(pd.Series(f"{name}: not {what}", index=np.flatnonzero(column.word)))
    if unreadable.any():  # the first example's value stands in (inside every domain): only the others are judged
        first = contract.example_columns()
        readable = {name: np.where(unreadable, first[name][0], column.values) for name, column in measured.items()}
    else:
        readable = {name: column.values for name, column in measured.items()}
    if unreadable.any() or any(not contract.column(name).holds(values) for name, values in readable.items()):
        reasons = contract.row_reasons(readable)
        problems.append(pd.Series(list(reasons.values()), index=list(reasons.keys()), dtype=object))
    problems = [p for p in problems if len(p)]
    if not problems:
        return pd.Series(dtype=object)
    return pd.concat(problems).groupby(level=0).agg("; ".join)


def _kind_text(column: Column) -> str:
    return "true or false" if column.kind == "boolean" else "a number"


#: Lineage column -> the value every row of one run carries.
Lineage = dict[str, str | int | datetime]


def lineage_of(handle: ModelHandle) -> Lineage:
    """The lineage columns every scored row carries: which model version scored it, and when.

    The version is an integer and the time a UTC timestamp, so the lineage can
    be filtered and compared as what it is, not as text.
    """
    return {
        "model_name": handle.name,
        "model_version": int(handle.version) if handle.version.isdigit() else handle.version,
        "model_alias": handle.alias or "",
        "model_run_id": handle.run_id or "",
        "scored_at": datetime.now(UTC).replace(microsecond=0),
    }


def _constant(value: str | int | datetime, rows: int, *, as_text: bool) -> pa.Array:
    """A column holding one value on every row: text stored once (dictionary-encoded), numbers and times typed.

    For a text output (``as_text``: CSV) the value is written once as text and
    repeated: Arrow formats a timestamp per row, which cost more than scoring.
    """
    if as_text and not isinstance(value, str):
        value = value.isoformat() if isinstance(value, datetime) else str(value)
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int8)), pa.array([value]))
    kind = pa.timestamp("ms", tz="UTC") if isinstance(value, datetime) else pa.int64()  # Parquet has no seconds
    return pa.repeat(pa.scalar(value, kind), rows)


def _scored(
    scorer: Scorer, table: pa.Table, columns: dict[str, np.ndarray], lineage: Lineage, *, keep_text: bool
) -> pa.Table:
    """The input table plus prediction, one probability per class, and the lineage columns.

    The inputs are written as scored (numbers as float64, categories as
    text), except numbers from CSV to CSV (``keep_text``), where the text as
    read is written back unchanged: it parsed to exactly these numbers, and
    formatting floats per row would be the largest cost of the whole batch.
    For the same reason a CSV's lineage values are formatted once, not per row.
    """
    predictions = scorer.predict_columns(columns)
    rows = table.num_rows
    for name, values in columns.items():
        numeric = scorer.contract.column(name).is_numeric
        if numeric and not (keep_text and pa.types.is_string(table.schema.field(name).type)):
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
        elif not numeric:
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    table = table.append_column(
        "prediction",
        pa.DictionaryArray.from_arrays(pa.array(predictions.indices.astype(np.int8)), pa.array(scorer.classes)),
    )
    for index, name in enumerate(scorer.classes):
        table = table.append_column(f"probability_{name}", pa.array(predictions.probabilities[:, index]))
    for name, value in lineage.items():
        table = table.append_column(name, _constant(value, rows, as_text=keep_text))
    return table


def check_paths(input_path: Path, output_path: Path, rejects_path: Path | None) -> None:
    """Refuse, before anything is read or written, an output that is the input or the rejects file."""
    output = output_path.resolve()
    if input_path.resolve() == output:
        raise BatchError(f"--output {output_path} is the input file: choose another path")
    if rejects_path is not None and rejects_path.resolve() in {output, input_path.resolve()}:
        which = "output" if rejects_path.resolve() == output else "input"
        raise BatchError(f"--rejects {rejects_path} is also the {which} file: choose another path for rejected rows")


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the temporary files of runs writing ``path`` that were killed (their process is gone): a SIGKILL
    leaves them behind and no later run would. Files of a live run stay. Returns those removed."""
    removed = []
    for candidate in path.parent.glob(f".{path.name}.*.partial"):
        pid = candidate.name.removeprefix(f".{path.name}.").removesuffix(".partial")
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


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
    check_paths(input_path, output_path, rejects_path)
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
    lineage = lineage_of(scorer.handle)
    writer = AtomicTableWriter(output_path)
    rejects = AtomicTableWriter(rejects_path) if rejects_path else None
    rows_in = rows_rejected = 0
    output_schema: pa.Schema | None = None
    try:
        for table in read_chunks(input_path, chunk_rows, lenient=lenient, text_columns=scorer.input_columns):
            scorer.check_names(table.column_names)
            measured = _measurements(scorer, table)
            reasons = _invalid_rows(scorer, table.num_rows, measured)
            measurements = {name: column.values for name, column in measured.items()}
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
                measurements = {name: values[~bad] for name, values in measurements.items()}
            if table.num_rows:
                scored = _scored(scorer, table, measurements, lineage, keep_text=writer.format == ".csv")
                output_schema = output_schema or scored.schema
                writer.write(scored)
            if progress:
                print(f"\r  {rows_in:,} rows read, {rows_in - rows_rejected:,} scored", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
        # Both files are written and closed before either is renamed, so a failure of either publishes neither;
        # the rejects go first: whoever reads the new output finds its rejects beside it.
        writer.seal(output_schema or _empty_output_schema(scorer, lineage))
        if rejects is not None:
            rejects.seal(pa.schema([(c, pa.string()) for c in (*scorer.input_columns, "reject_reason")]))
            rejects.publish()
        writer.publish()
    except BaseException as exc:
        writer.abort()
        if rejects is not None:
            rejects.abort()
        if isinstance(exc, pa.ArrowInvalid) and not lenient and check_format(input_path) == ".csv":
            raise _NeedsLenientRead from exc
        if isinstance(exc, (InputError, ValueError, OSError, pa.ArrowException)) and not isinstance(exc, BatchError):
            raise BatchError(f"{input_path}: {exc}") from exc
        raise
    return BatchResult.of(rows_in, rows_rejected, started, output_path, rejects_path)


def _empty_output_schema(scorer: Scorer, lineage: Lineage) -> pa.Schema:
    """The output's columns when no row was scored: an empty file still has the right header."""
    kinds = {name: scorer.contract.column(name).is_numeric for name in scorer.input_columns}
    empty = {name: np.zeros(0) if numeric else np.empty(0, dtype=object) for name, numeric in kinds.items()}
    table = pa.table({name: pa.array([], pa.float64() if numeric else pa.string()) for name, numeric in kinds.items()})
    return _scored(scorer, table, empty, lineage, keep_text=False).schema
