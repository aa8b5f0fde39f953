"""Where the inference log's rows go: a SQLite file (embedded) or a PostgreSQL schema every replica shares.

The endpoint's writer (``src.components.inference_log``) hands a sink whole batches, one per table and
column layout; the sink creates its tables, adds the columns a version brings
the first time it logs, appends the rows in one transaction, keeps only the
feedback labels of requests it holds, and deletes what is past the retention.
Both sinks hold the same three tables under the same column names, so
``log_reader`` reads either.

SQLite: one file per host (several workers share it: WAL mode, a busy
timeout). PostgreSQL (``postgresql://...``, a profile's
``inference_log``): one schema, ``inference_log``, written by every replica
of every endpoint; rows carry the model's name, so projects may share it. A
replica adds a column under an advisory lock, so two replicas that see a new
version at once do not race; rows go in with ``COPY``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from src.utils.errors import ProjectError

if TYPE_CHECKING:
    import psycopg

Kind = Literal["text", "number", "time"]

#: The columns every prediction row has; the inputs (one column each, named as in the contract) and one
#: ``probability_<class>`` per class follow, added when a version first logs them. ``served`` is 1 for the answer
#: the client got, 0 for a shadow's (scored beside it, never returned).
PREDICTION_COLUMNS: dict[str, Kind] = {
    "request_id": "text", "row": "number", "ts": "time", "model_name": "text", "model_version": "text",
    "alias": "text", "prediction": "text", "latency_ms": "number", "served": "number",
}  # fmt: skip
REFUSAL_COLUMNS: dict[str, Kind] = {
    "request_id": "text", "ts": "time", "model_name": "text", "model_version": "text", "alias": "text",
    "status": "number", "reason": "text", "field": "text",
}  # fmt: skip
TABLES: dict[str, dict[str, Kind]] = {
    "predictions": PREDICTION_COLUMNS,
    "refusals": REFUSAL_COLUMNS,
    "feedback": {"request_id": "text", "ts": "time", "label": "text"},
}
#: The PostgreSQL schema of the shared log.
SCHEMA = "inference_log"


class SinkError(ProjectError, RuntimeError):
    """The sink refused a batch or cannot be reached; the batch is lost (and counted), the writer goes on."""


@dataclass(frozen=True)
class Batch:
    """Rows of one table with one column layout; ``kinds`` says what each column holds (for a new column's type)."""

    table: str
    columns: tuple[str, ...]
    kinds: tuple[Kind, ...]
    rows: list[tuple[object, ...]]


class LogSink(Protocol):
    """What the writer needs of a sink; ``open`` and everything after it run on the writer's thread."""

    def describe(self) -> str: ...
    def open(self) -> None: ...
    def write(self, batches: Sequence[Batch]) -> int: ...
    def sweep(self, cutoff: str) -> None: ...
    def close(self) -> None: ...


def quoted(name: str) -> str:
    """A column name as an SQL identifier (a contract's names and classes are data: quote them)."""
    return '"' + name.replace('"', '""') + '"'


def is_database_uri(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def open_sink(target: str | Path) -> LogSink:
    """The sink ``target`` names: a ``postgresql://`` URI, else a SQLite file path. Its tables exist on return,
    so an unreachable database or an unwritable path stops the endpoint before it serves."""
    sink: SqliteSink | PostgresSink = PostgresSink(str(target)) if is_database_uri(target) else SqliteSink(Path(target))
    sink.prepare()
    return sink


# --- SQLite -----------------------------------------------------------------------------------------------

#: Bound values per INSERT statement, at most (SQLite allows 32,766).
VALUES_PER_STATEMENT = 30_000


def create_tables(connection: sqlite3.Connection) -> None:
    """The three tables (fixed columns typed; a version's inputs are added untyped) and their indexes."""
    for table, columns in TABLES.items():
        typed = ", ".join(f"{c} {'REAL' if kind == 'number' else 'TEXT'}" for c, kind in columns.items())
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({typed})")
    connection.execute("CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)")
    connection.execute("CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)")
    # feedback is kept only for requests the log holds: found by this index, not a scan
    connection.execute("CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id)")


def existing_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _insert(connection: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
    """Insert in multi-row statements: ``executemany`` steps SQLite once per row and releases the GIL each time,
    and the request thread then has to win the GIL back thousands of times per flush (-24% throughput)."""
    width = len(columns)
    names = ", ".join(quoted(c) for c in columns)
    per_statement = max(1, VALUES_PER_STATEMENT // width)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        marks = ", ".join([f"({', '.join('?' * width)})"] * len(chunk))
        connection.execute(f"INSERT INTO {table} ({names}) VALUES {marks}", [v for row in chunk for v in row])


class SqliteSink:
    """One SQLite file (WAL): the embedded default, shared by the workers of one host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._known: set[str] = set()

    def describe(self) -> str:
        return str(self.path)

    def prepare(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path, timeout=10) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                create_tables(connection)
            connection.close()
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"inference log {self.path}: cannot create it: {exc}") from None

    def open(self) -> None:
        self._connection = sqlite3.connect(self.path, timeout=10)
        # WAL with NORMAL: a commit reaches the OS without an fsync (a killed process loses nothing it committed;
        # a power cut may lose the last ones), which is what a log needs, at a fraction of FULL's cost
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._known = existing_columns(self._connection, "predictions")

    def write(self, batches: Sequence[Batch]) -> int:
        """Append the batches in one transaction; return the feedback labels refused (unknown request IDs)."""
        assert self._connection is not None, "open() first"
        connection, refused = self._connection, 0
        try:
            with connection:
                for batch in batches:
                    if batch.table == "feedback":
                        refused += self._feedback(batch.rows)
                        continue
                    if batch.table == "predictions" and not self._known.issuperset(batch.columns):
                        self._add_columns([c for c in batch.columns if c not in self._known])
                    _insert(connection, batch.table, batch.columns, batch.rows)
        except sqlite3.Error as exc:
            raise SinkError(str(exc)) from None
        return refused

    def _feedback(self, rows: list[tuple[object, ...]]) -> int:
        assert self._connection is not None
        before = self._connection.total_changes
        self._connection.executemany(
            "INSERT INTO feedback (request_id, ts, label) SELECT ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM predictions WHERE request_id = ?)",
            [(*row, row[0]) for row in rows],
        )
        return len(rows) - (self._connection.total_changes - before)

    def _add_columns(self, names: list[str]) -> None:
        """A version's inputs or classes, first seen, join the table. Another process sharing the file may have
        added them meanwhile (several workers): the table is read again, and a column it added is kept."""
        assert self._connection is not None
        self._known |= existing_columns(self._connection, "predictions")
        for name in names:
            if name in self._known:
                continue
            try:  # no declared type: each value keeps its own (a number REAL, a category TEXT)
                self._connection.execute(f"ALTER TABLE predictions ADD COLUMN {quoted(name)}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise
            self._known.add(name)

    def sweep(self, cutoff: str) -> None:
        assert self._connection is not None
        try:
            with self._connection:
                for table in TABLES:
                    self._connection.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,))
        except sqlite3.Error as exc:
            raise SinkError(str(exc)) from None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# --- PostgreSQL -------------------------------------------------------------------------------------------

_PG_TYPES: dict[Kind, str] = {"text": "TEXT", "number": "DOUBLE PRECISION", "time": "TIMESTAMPTZ"}
#: The advisory lock key under which replicas change the shared tables (an arbitrary constant: "inflog").
_DDL_LOCK = 0x696E666C6F67


def _ddl() -> list[str]:
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    for table, columns in TABLES.items():
        typed = ", ".join(f"{c} {_PG_TYPES[kind]}" for c, kind in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({typed})")
    statements += [
        f"CREATE INDEX IF NOT EXISTS predictions_ts ON {SCHEMA}.predictions (ts)",
        f"CREATE INDEX IF NOT EXISTS predictions_request ON {SCHEMA}.predictions (request_id)",
        f"CREATE INDEX IF NOT EXISTS feedback_request ON {SCHEMA}.feedback (request_id)",
        f"CREATE INDEX IF NOT EXISTS refusals_ts ON {SCHEMA}.refusals (ts)",
    ]
    # a log written before a fixed column existed gets it (a shadow's rows need ``served``)
    statements += [f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {c} {_PG_TYPES[kind]}"
                   for table, columns in TABLES.items() for c, kind in columns.items()]  # fmt: skip
    return statements


class PostgresSink:
    """The ``inference_log`` schema of a PostgreSQL database: every replica appends to the same tables."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._known: set[str] = set()

    def describe(self) -> str:
        """The URI without its password (it is printed and logged)."""
        head, at, tail = self.uri.rpartition("@")
        if not at:
            return self.uri
        scheme, _, credentials = head.partition("://")
        return f"{scheme}://{credentials.split(':', 1)[0]}@{tail}"

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        # transactions are explicit; a commit does not wait for the server's WAL flush (a database crash may lose
        # the last few hundred ms of rows, as a killed endpoint loses its last flush): what a log needs
        return psycopg.connect(self.uri, connect_timeout=5, autocommit=True, options="-c synchronous_commit=off")

    def prepare(self) -> None:
        import psycopg

        try:
            with self._connect() as connection, connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                for statement in _ddl():
                    connection.execute(statement)
        except psycopg.Error as exc:
            raise SinkError(f"inference log {self.describe()}: cannot create its tables: {exc}".strip()) from None

    def open(self) -> None:
        import psycopg

        try:
            self._connection = self._connect()
            self._known = self._columns()
        except psycopg.Error:
            self._connection = None  # reconnected at the next write

    def _columns(self) -> set[str]:
        assert self._connection is not None
        rows = self._connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (SCHEMA, "predictions"),
        ).fetchall()
        return {row[0] for row in rows}

    def write(self, batches: Sequence[Batch]) -> int:
        """Append the batches in one transaction (``COPY``); return the feedback labels refused."""
        import psycopg

        try:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
                self._known = self._columns()
            connection, refused = self._connection, 0
            with connection.transaction():
                for batch in batches:
                    if batch.table == "feedback":
                        refused += self._feedback(batch.rows)
                        continue
                    if batch.table == "predictions" and not self._known.issuperset(batch.columns):
                        self._add_columns(batch)
                    names = ", ".join(quoted(c) for c in batch.columns)
                    with connection.cursor().copy(f"COPY {SCHEMA}.{batch.table} ({names}) FROM STDIN") as copy:
                        for row in batch.rows:
                            copy.write_row(row)
        except psycopg.Error as exc:
            self._known = set()  # a rolled-back ALTER added nothing: the next batch asks again (IF NOT EXISTS)
            if self._connection is not None and self._connection.broken:
                self._connection = None  # reconnected at the next write
            raise SinkError(str(exc).strip()) from None
        return refused

    def _feedback(self, rows: list[tuple[object, ...]]) -> int:
        assert self._connection is not None
        cursor = self._connection.cursor()
        kept = 0
        for request_id, ts, label in rows:
            cursor.execute(
                f"INSERT INTO {SCHEMA}.feedback (request_id, ts, label) SELECT %s, %s, %s "
                f"WHERE EXISTS (SELECT 1 FROM {SCHEMA}.predictions WHERE request_id = %s)",
                (request_id, ts, label, request_id),
            )
            kept += cursor.rowcount
        return len(rows) - kept

    def _add_columns(self, batch: Batch) -> None:
        """New columns under the advisory lock (another replica may add the same ones at the same time)."""
        assert self._connection is not None
        connection = self._connection
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        for name, kind in zip(batch.columns, batch.kinds, strict=True):
            if name not in self._known:
                connection.execute(
                    f"ALTER TABLE {SCHEMA}.predictions ADD COLUMN IF NOT EXISTS {quoted(name)} {_PG_TYPES[kind]}"
                )
                self._known.add(name)

    def sweep(self, cutoff: str) -> None:
        import psycopg

        if self._connection is None:
            return
        try:
            with self._connection.transaction():
                for table in TABLES:
                    self._connection.execute(f"DELETE FROM {SCHEMA}.{table} WHERE ts < %s", (cutoff,))
        except psycopg.Error as exc:
            raise SinkError(str(exc).strip()) from None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
