"""Read a window of served requests out of any number of inference logs (one per replica, or shared).

A window is the alias's predictions between ``since`` and ``until`` (UTC ISO
times), or its last ``last`` requests, with the refusals and the feedback
labels of the same period. A missing log, a file that is not an inference log
and rows that cannot be read are errors naming the file: monitoring never
judges a model on data it silently dropped.
"""

from __future__ import annotations

import glob
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.utils.errors import ProjectError

#: The columns every prediction row has (the served version's inputs and class probabilities follow).
PREDICTION_FIELDS = ("request_id", "row", "ts", "model_version", "prediction", "latency_ms")
NUMERIC_FIELDS = {"row", "latency_ms"}
#: Columns of the log that are not a version's inputs.
NOT_INPUTS = {*PREDICTION_FIELDS, "model_name", "alias"}


class LogError(ProjectError, ValueError):
    """An inference log is missing, unreadable or holds rows that cannot be read; nothing was judged."""


@dataclass(frozen=True)
class WindowSpec:
    """Which requests to judge: a time range, or the last N requests."""

    since: str | None = None
    until: str | None = None
    last: int | None = None

    def describe(self) -> str:
        if self.last is not None:
            return f"last {self.last} requests"
        return f"{self.since or 'the beginning'} .. {self.until or 'now'}"


@dataclass(frozen=True)
class Window:
    """The requests of a window: one row per scored input row, the refusals, the labels that came back."""

    predictions: pd.DataFrame
    refusals: pd.DataFrame
    feedback: pd.DataFrame
    files: tuple[Path, ...]

    @property
    def requests(self) -> int:
        return int(self.predictions["request_id"].nunique()) + len(self.refusals)


def log_files(patterns: Sequence[str]) -> list[Path]:
    """The files the patterns name (globs allowed); an error naming the patterns when there are none."""
    files = sorted({Path(found) for pattern in patterns for found in glob.glob(pattern)})
    if not files:
        raise LogError(f"no inference log at {', '.join(patterns)}: is the endpoint writing one (--inference-log)?")
    return files


def _where(alias: str, spec: WindowSpec, *, time_column: str = "ts") -> tuple[str, list[object]]:
    clauses, values = ["alias = ?"], [alias]
    if spec.since:
        clauses.append(f"{time_column} >= ?")
        values.append(spec.since)
    if spec.until:
        clauses.append(f"{time_column} < ?")
        values.append(spec.until)
    return " AND ".join(clauses), values


def _read(path: Path, alias: str, spec: WindowSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    where, values = _where(alias, spec)
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            # the time is needed only to find the last N requests: 1M timestamps cost ~0.4 s to read
            available = [row[1] for row in connection.execute("PRAGMA table_info(predictions)")]
            inputs = [name for name in available if name not in NOT_INPUTS and not name.startswith("probability_")]
            fields = [f for f in PREDICTION_FIELDS if f != "ts" or spec.last is not None] + inputs
            listed = ", ".join(quoted(f) for f in fields)
            rows = connection.execute(f"SELECT {listed} FROM predictions WHERE {where}", values)
            predictions = _frame(rows.fetchall(), fields)
            refusals = pd.read_sql_query(f"SELECT * FROM refusals WHERE {where}", connection, params=values)
            feedback = pd.read_sql_query("SELECT request_id, label FROM feedback", connection)
    except sqlite3.Error as exc:
        raise LogError(f"{path} is not a readable inference log: {exc}") from None
    return predictions, refusals, feedback


def _frame(rows: list[tuple[object, ...]], fields: Sequence[str]) -> pd.DataFrame:
    """Rows to columns in bulk: numbers as float arrays (a non-number becomes NaN, which ``_check`` reports)."""
    table = np.array(rows, dtype=object) if rows else np.empty((0, len(fields)), dtype=object)
    data: dict[str, np.ndarray] = {}
    for index, name in enumerate(fields):
        column = table[:, index]
        if name in NUMERIC_FIELDS:
            try:
                column = column.astype(float)
            except (TypeError, ValueError):
                column = pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype=float)
        data[name] = column
    return pd.DataFrame(data)


def _check(predictions: pd.DataFrame, path: Path) -> None:
    """Refuse rows monitoring cannot judge: no request ID, no prediction, no latency (what every row has; the
    inputs are judged against the version's profile, which knows their kinds)."""
    bad = predictions["request_id"].isna() | predictions["prediction"].isna() | predictions["latency_ms"].isna()
    if bad.any():
        first = predictions.loc[bad, "request_id"].head(3).tolist()
        raise LogError(f"{path}: {int(bad.sum())} corrupt row(s) (no request ID, prediction or latency), "
                       f"first in requests {first}; repair or remove them, nothing was judged")  # fmt: skip


def quoted(name: str) -> str:
    """A column name as an SQL identifier (the inference log names its input columns after the contract's)."""
    return '"' + name.replace('"', '""') + '"'


def read_window(patterns: Sequence[str], alias: str, spec: WindowSpec) -> Window:
    """The alias's requests in the window, from every log the patterns name."""
    files = log_files(patterns)
    parts = [_read(path, alias, spec) for path in files]
    for path, (predictions, _, _) in zip(files, parts, strict=True):
        _check(predictions, path)
    predictions = pd.concat([p[0] for p in parts], ignore_index=True)
    refusals = pd.concat([p[1] for p in parts], ignore_index=True)
    feedback = pd.concat([p[2] for p in parts], ignore_index=True).drop_duplicates("request_id", keep="last")
    if spec.last is not None:
        predictions, refusals = _last_requests(predictions, refusals, spec.last)
    return Window(predictions, refusals, feedback, tuple(files))


def _last_requests(predictions: pd.DataFrame, refusals: pd.DataFrame, count: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``count`` requests (answered or refused), by time."""
    stamps = pd.concat([
        predictions.groupby("request_id", sort=False)["ts"].first().reset_index(),
        refusals[["request_id", "ts"]],
    ])  # fmt: skip
    kept = set(stamps.sort_values("ts").tail(count)["request_id"])
    return predictions[predictions["request_id"].isin(kept)], refusals[refusals["request_id"].isin(kept)]


def percentiles(latencies: np.ndarray) -> dict[str, float]:
    """p50, p95 and p99 of per-request latencies in milliseconds."""
    if len(latencies) == 0:
        return {}
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"latency_p50_ms": float(p50), "latency_p95_ms": float(p95), "latency_p99_ms": float(p99)}
