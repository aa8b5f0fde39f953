"""MLflow registry webhooks: check a delivery's HMAC signature and freshness before acting on it.

MLflow signs ``{delivery_id}.{timestamp}.{payload}`` with HMAC-SHA256 and
sends ``v1,<base64>``; a delivery older than ``WEBHOOK_MAX_AGE_S`` is refused
so a captured one cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

WEBHOOK_MAX_AGE_S = 300


def verify_webhook(secret: str, headers: Mapping[str, str], payload: bytes, now: float | None = None) -> bool:
    """Check an MLflow webhook's HMAC-SHA256 signature (``v1,<base64>``) and its freshness."""
    signature = headers.get("x-mlflow-signature", "")
    delivery, timestamp = headers.get("x-mlflow-delivery-id", ""), headers.get("x-mlflow-timestamp", "")
    if not (signature.startswith("v1,") and delivery and timestamp.isdigit()):
        return False
    if abs((now or time.time()) - int(timestamp)) > WEBHOOK_MAX_AGE_S:
        return False
    signed = f"{delivery}.{timestamp}.{payload.decode('utf-8')}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(signature.removeprefix("v1,"), expected)
