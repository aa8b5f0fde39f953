"""Alert delivery: a JSON POST to a webhook (Slack-compatible ``text``), retried, never failing the pass itself."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from src.monitoring.monitor import MonitoringResult
from src.utils.logging import get_logger

logger = get_logger(__name__)

ATTEMPTS = 3
TIMEOUT_S = 10


def message(result: MonitoringResult) -> dict[str, object]:
    """The alert body: a one-line ``text`` for chat tools, and the facts for machines."""
    drifted = sorted({f for v in result.versions if v.drift for f in v.drift.drifted_features})
    breaches = sum([result.breached, *result.recent_breaches][: result.thresholds.alert_n])
    text = (
        f"Monitoring alert: {result.model}@{result.alias} drifted in {breaches} of the last "
        f"{result.thresholds.alert_n} windows ({result.window}); features: {', '.join(drifted) or 'predictions'}"
    )
    return {"text": text, "model": result.model, "alias": result.alias, "status": result.status,
            "drifted_features": drifted, "versions": [v.version for v in result.versions]}  # fmt: skip


def send(url: str, result: MonitoringResult, backoff_s: float = 1.0) -> bool:
    """POST the monitoring alert, retrying on failure; ``True`` once a 2xx answer came back."""
    return post(url, message(result), backoff_s)


def post(url: str, alert: dict[str, object], backoff_s: float = 1.0) -> bool:
    """POST any alert (a ``text`` line and facts), retrying on failure; ``True`` once a 2xx answer came back.
    Other watchers (the alias guard) alert through the same channel."""
    body = json.dumps(alert).encode()
    for attempt in range(1, ATTEMPTS + 1):
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("alert webhook attempt %d of %d failed: %s", attempt, ATTEMPTS, exc)
        time.sleep(backoff_s * attempt)
    return False
