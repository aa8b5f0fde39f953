"""Read a window of served requests out of any number of inference logs: SQLite files, or the shared PostgreSQL log.

A window is the alias's predictions between ``since`` and ``until`` (UTC ISO
times), or its last ``last`` requests, with the refusals and the feedback
labels of the same period; a model name narrows it to one model (a shared log
holds many). A source is a SQLite file or glob, or a ``postgresql://`` URI
(``src.monitoring.log_sinks`` writes both). A missing log, a file that is not
an inference log and rows that cannot be read are errors naming the source:
monitoring never judges a model on data it silently dropped.
"""

from __future__ import annotations

import glob
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src.monitoring.log_sinks import SCHEMA, PostgresSink, is_database_uri, quoted
from src.utils.config import MonitoringConfig, Settings
from src.utils.errors import ProjectError

#: The columns every prediction row has (the served version's inputs and class probabilities follow).
PREDICTION_FIELDS = ("request_id", "row", "ts", "model_version", "prediction", "latency_ms")
NUMERIC_FIELDS = {"row", "latency_ms", "served"}
#: Columns of the log that are not a version's inputs.
NOT_INPUTS = {*PREDICTION_FIELDS, "model_name", "alias", "served"}


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
    """The requests of a window: one row per scored input row, the refusals, the labels that came back.

    ``predictions`` has a ``served`` column: 1 for the answers clients got, 0 for a shadow's."""

    predictions: pd.DataFrame
    refusals: pd.DataFrame
    feedback: pd.DataFrame
    #: The sources read (files, or a database URI without its password).
    files: tuple[str, ...]

    @property
    def requests(self) -> int:
        return int(self.predictions["request_id"].nunique()) + len(self.refusals)


def log_sources(patterns: Sequence[str]) -> list[str]:
    """The sources the patterns name: database URIs as given, files by glob; an error when there are none."""
    found = {pattern for pattern in patterns if is_database_uri(pattern)}
    found |= {str(Path(name)) for pattern in patterns if not is_database_uri(pattern) for name in glob.glob(pattern)}
    if not found:
        raise LogError(f"no inference log at {', '.join(patterns)}: is the endpoint writing one (--inference-log)?")
    return sorted(found)


def log_sources_for(settings: Settings, logs: Sequence[str] | None, config: MonitoringConfig, alias: str) -> list[str]:
    """Where ``alias``'s traffic is: ``logs`` if given, else the profile's shared log, else the config's files."""
    if logs:
        return list(logs)
    return [settings.inference_log] if settings.inference_log else config.log_patterns(alias)


def _where(model_name: str | None, alias: str, spec: WindowSpec, mark: str) -> tuple[str, list[object]]:
    clauses, values = [f"alias = {mark}"], [alias]
    if model_name is not None:
        clauses.append(f"model_name = {mark}")
        values.append(model_name)
    if spec.since:
        clauses.append(f"ts >= {mark}")
        values.append(spec.since)
    if spec.until:
        clauses.append(f"ts < {mark}")
        values.append(spec.until)
    return " AND ".join(clauses), values


#: What one source gives: predictions, refusals, feedback.
_Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def _fields(available: Sequence[str], spec: WindowSpec) -> list[str]:
    """The prediction columns to read: the fixed ones (the time only for "last N": 1M timestamps cost ~0.4 s),
    the role when the log has it, and the inputs."""
    inputs = [name for name in available if name not in NOT_INPUTS and not name.startswith("probability_")]
    fixed = [f for f in PREDICTION_FIELDS if f != "ts" or spec.last is not None]
    return fixed + (["served"] if "served" in available else []) + inputs


def _query(connection: Any, table: str, fields: Sequence[str], where: str, values: list[object]) -> pd.DataFrame:
    rows = connection.execute(f"SELECT {', '.join(quoted(f) for f in fields)} FROM {table} WHERE {where}", values)
    return _frame(rows.fetchall(), fields)


def _read_sqlite(path: str, model_name: str | None, alias: str, spec: WindowSpec) -> _Frames:
    where, values = _where(model_name, alias, spec, "?")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            available = [row[1] for row in connection.execute("PRAGMA table_info(predictions)")]
            predictions = _query(connection, "predictions", _fields(available, spec), where, values)
            refusals = pd.read_sql_query(f"SELECT * FROM refusals WHERE {where}", connection, params=values)
            feedback = pd.read_sql_query("SELECT request_id, label FROM feedback", connection)
    except sqlite3.Error as exc:
        raise LogError(f"{path} is not a readable inference log: {exc}") from None
    return predictions, refusals, feedback


def _read_postgres(uri: str, model_name: str | None, alias: str, spec: WindowSpec) -> _Frames:
    import psycopg

    where, values = _where(model_name, alias, spec, "%s")
    shown = PostgresSink(uri).describe()
    try:
        with psycopg.connect(uri, connect_timeout=5) as connection:
            available = [row[0] for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (SCHEMA, "predictions")).fetchall()]  # fmt: skip
            if not available:
                raise LogError(f"{shown} holds no inference log (no {SCHEMA}.predictions table)")
            predictions = _query(connection, f"{SCHEMA}.predictions", _fields(available, spec), where, values)
            refused = connection.execute(f"SELECT * FROM {SCHEMA}.refusals WHERE {where}", values)
            names = [column.name for column in refused.description or ()]
            refusals = pd.DataFrame(refused.fetchall(), columns=names)
            labels = connection.execute(
                f"SELECT f.request_id, f.label FROM {SCHEMA}.feedback f WHERE EXISTS (SELECT 1 FROM "
                f"{SCHEMA}.predictions p WHERE p.request_id = f.request_id AND {where.replace('alias', 'p.alias')})",
                values,
            )  # a shared log holds every model's labels: only those of this window's model and alias
            feedback = pd.DataFrame(labels.fetchall(), columns=["request_id", "label"])
    except psycopg.Error as exc:
        raise LogError(f"{shown}: cannot read the inference log: {str(exc).strip()}") from None
    if spec.last is not None:  # times as the SQLite log writes them, so "last N" orders both alike
        for frame in (predictions, refusals):
            frame["ts"] = [stamp.isoformat(timespec="milliseconds") for stamp in frame["ts"]]
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


def _check(predictions: pd.DataFrame, path: str) -> None:
    """Refuse rows monitoring cannot judge: no request ID, no prediction, no latency (what every row has; the
    inputs are judged against the version's profile, which knows their kinds)."""
    bad = predictions["request_id"].isna() | predictions["prediction"].isna() | predictions["latency_ms"].isna()
    if bad.any():
        first = predictions.loc[bad, "request_id"].head(3).tolist()
        raise LogError(f"{path}: {int(bad.sum())} corrupt row(s) (no request ID, prediction or latency), "
                       f"first in requests {first}; repair or remove them, nothing was judged")  # fmt: skip


def read_window(patterns: Sequence[str], alias: str, spec: WindowSpec, *, model_name: str | None = None) -> Window:
    """The alias's requests in the window (of ``model_name`` only, if given), from every source the patterns name."""
    sources = log_sources(patterns)
    parts = []
    for source in sources:
        read = _read_postgres if is_database_uri(source) else _read_sqlite
        part = read(source, model_name, alias, spec)
        _check(part[0], PostgresSink(source).describe() if is_database_uri(source) else source)
        parts.append(part)
    predictions = pd.concat([p[0] for p in parts], ignore_index=True)
    if "served" not in predictions:
        predictions["served"] = 1.0  # a log written before shadows existed: every answer was returned
    predictions["served"] = predictions["served"].fillna(1.0)
    refusals = pd.concat([p[1] for p in parts], ignore_index=True)
    feedback = pd.concat([p[2] for p in parts], ignore_index=True).drop_duplicates("request_id", keep="last")
    if spec.last is not None:
        predictions, refusals = _last_requests(predictions, refusals, spec.last)
    shown = tuple(PostgresSink(s).describe() if is_database_uri(s) else s for s in sources)
    return Window(predictions, refusals, feedback, shown)


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
