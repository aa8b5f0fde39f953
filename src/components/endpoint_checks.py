"""Release checks of a live endpoint over HTTP: the expected model, each species right, bad input refused.

The canonical flowers come from the data contract, the same ones the
validator and the alias watcher's smoke check use.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from src.data.contract import CANONICAL_FLOWERS, RAW_FEATURE_COLUMNS


@dataclass(frozen=True)
class CheckReport:
    """What the checks found: the version answering, and every failure (empty when all passed)."""

    url: str
    model_name: str | None
    model_version: str | None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        verdict = "passed" if self.passed else f"{len(self.failures)} check(s) failed"
        return f"smoke test of {self.url} ({self.model_name} version {self.model_version}): {verdict}"


def call(url: str, body: bytes | None = None, timeout_s: float = 10.0) -> tuple[int, dict]:
    """One JSON request: (status, decoded body); an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def smoke(url: str, *, expected_model: str, alias: str) -> CheckReport:
    """Health, one prediction per species, and a bad request answered 4xx. Raises ``OSError`` if unreachable."""
    url = url.rstrip("/")
    failures: list[str] = []
    status, health = call(f"{url}/health")
    if status != 200 or health.get("model_name") != expected_model or health.get("alias") != alias:
        failures.append(f"health: status {status}, serving {health.get('model_name')}@{health.get('alias')}, "
                        f"expected {expected_model}@{alias}")  # fmt: skip
    for species, row in CANONICAL_FLOWERS.items():
        body = json.dumps({"dataframe_split": {"columns": list(RAW_FEATURE_COLUMNS), "data": [list(row)]}}).encode()
        status, answer = call(f"{url}/invocations", body)
        if status != 200 or answer.get("predictions") != [species]:
            failures.append(f"{species}: status {status}, answer {answer}")
    incomplete = json.dumps({"dataframe_records": [{RAW_FEATURE_COLUMNS[0]: 5.0}]}).encode()
    status, answer = call(f"{url}/invocations", incomplete)
    if not 400 <= status < 500:
        failures.append(f"bad request: expected a 4xx, got {status} {answer}")
    return CheckReport(url, health.get("model_name"), health.get("model_version"), failures)
