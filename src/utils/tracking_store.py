"""Create a fresh embedded tracking store in another process, while this one works.

A new SQLite store costs MLflow ~2 s of schema migrations before the first
write. The training command starts that work on the second core as soon as
the configuration is known to be valid, and waits for it only before its
first MLflow call. This module imports nothing heavy on purpose: it runs
before ``mlflow`` is imported.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_SQLITE = "sqlite:///"
_CREATE = "import sys, mlflow\nfor uri in sys.argv[1:]: mlflow.MlflowClient(uri).search_experiments(max_results=1)"


@dataclass
class StorePreparation:
    """A running (or absent) store-creation process; ``wait`` joins it."""

    process: subprocess.Popen[bytes] | None = None

    def wait(self) -> None:
        """Block until the store exists. A failed preparation is left to MLflow itself to report.

        The wait is used to load MLflow's SQL store code, which the first
        tracking call needs anyway.
        """
        if self.process is not None:
            importlib.import_module("mlflow.store.tracking.sqlalchemy_store")
            self.process.wait()
            self.process = None


def _is_new_sqlite(uri: str) -> bool:
    return uri.startswith(_SQLITE) and not Path(uri.removeprefix(_SQLITE)).exists()


def prepare_stores(*uris: str) -> StorePreparation:
    """Start creating every new SQLite store among ``uris``; do nothing for existing or remote ones."""
    fresh = sorted({uri for uri in uris if _is_new_sqlite(uri)})
    if not fresh:
        return StorePreparation()
    for uri in fresh:
        Path(uri.removeprefix(_SQLITE)).parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", _CREATE, *fresh], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return StorePreparation(process)
