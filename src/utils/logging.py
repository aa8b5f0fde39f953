"""One logging set-up for every command, so output looks the same everywhere: text, or JSON on request.

``$LOG_LEVEL`` sets the level (default INFO); ``LOG_FORMAT=json`` writes one
JSON object per line (``ts``, ``level``, ``logger``, ``message``, and
``request_id`` or ``exception`` when there is one) for a log collector. MLflow
gives its own loggers a handler of its own when it is imported; ``adopt_mlflow_loggers``
(called by the tracking door once MLflow is loaded) puts the project's format
on it, so MLflow's lines look like the project's. A line logged while the endpoint answers
a request carries that request's ID (``request_context``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(request_suffix)s"
_configured = False
#: The request being answered on this task or thread (the endpoint sets it); None elsewhere.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestId(logging.Filter):
    """Adds the current request's ID to every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request_id = request_id
        record.request_suffix = f" [request {request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: what a log collector (Loki, CloudWatch, Datadog) parses without rules."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            line["request_id"] = record.request_id  # type: ignore[attr-defined]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str | None = None, log_format: str | None = None) -> None:
    """Install the project's handler on the root logger (text or JSON), once per process."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler()
    _project_format(handler, log_format)
    logging.basicConfig(handlers=[handler], level=level or os.environ.get("LOG_LEVEL", "INFO"))
    _configured = True
    adopt_mlflow_loggers()


def _project_format(handler: logging.Handler, log_format: str | None = None) -> None:
    handler.addFilter(_RequestId())
    if (log_format or os.environ.get("LOG_FORMAT", "text")).lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))


#: The loggers ``import mlflow`` gives a handler of its own.
MLFLOW_LOGGERS = ("mlflow", "sqlalchemy.engine", "alembic", "huey")


def adopt_mlflow_loggers() -> None:
    """Put the project's format (text or JSON, with the request ID) on the handlers MLflow installed (their levels
    stay MLflow's); idempotent, and nothing to do before ``import mlflow``."""
    for name in MLFLOW_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _RequestId) for f in handler.filters):
                _project_format(handler)


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the project's format; level from ``$LOG_LEVEL`` (default INFO)."""
    configure()
    return logging.getLogger(name)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Lines logged inside carry ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)
