"""One logging set-up for every command, so output looks the same everywhere."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_configured = False


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the project's format; level from ``$LOG_LEVEL`` (default INFO)."""
    global _configured
    if not _configured:
        logging.basicConfig(format=_FORMAT, datefmt="%H:%M:%S", level=os.environ.get("LOG_LEVEL", "INFO"))
        _configured = True
    return logging.getLogger(name)
