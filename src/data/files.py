"""Data files as the platform reads them: a CSV or Parquet table, and a pack's pinned data file.

Kept apart from ``load_data`` (which validates rows against the contract) so
that a model pack's ``load_bundled`` can read its own file without importing
the module that imports the pack.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from src.utils.errors import ProjectError


class DataValidationError(ProjectError, ValueError):
    """The data does not match the contract's schema; the message names rows and columns."""


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error when it cannot be read."""
    if not path.is_file():
        raise DataValidationError(f"{path}: data file not found")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise DataValidationError(f"{path}: cannot read data file: {exc}") from exc


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataValidationError(f"{path}: cannot read the data file: {exc.strerror or exc}") from None
    return digest.hexdigest()


def read_pinned_table(path: Path, sha256: str) -> pd.DataFrame:
    """A data file a model pack ships, refused unless its bytes are the ones the pack recorded: a pack's
    ``load_bundled`` (a training run must not silently learn from an edited copy)."""
    found = file_sha256(path)
    if found != sha256:
        raise DataValidationError(f"{path}: its SHA-256 is {found[:16]}..., the pack recorded "
                                  f"{sha256[:16]}...: the file changed; if on purpose, record the new digest "
                                  "(DATA_SHA256 in src/data/contract.py)")  # fmt: skip
    return read_table(path)
