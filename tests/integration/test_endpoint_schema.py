"""schemathesis against the endpoint's own OpenAPI schema: generated requests, not one 5xx.

``make test`` sends 500 to /invocations (~5 s); ``make test-fuzz`` sends 10,000 (ENDPOINT_FUZZ_REQUESTS).
"""

from __future__ import annotations

import collections
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from src.components.alias_watcher import ModelSlot
from src.components.serving import ServingConfig, create_app

pytestmark = pytest.mark.integration
REQUESTS = int(os.environ.get("ENDPOINT_FUZZ_REQUESTS", "500"))


def test_generated_requests_never_get_a_5xx(memory_scorer):
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name="m", alias="staging", webhook_secret="s"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: collections.Counter[int] = collections.Counter()
    for path, method, examples in [
        ("/invocations", "POST", REQUESTS),
        ("/webhooks/mlflow", "POST", max(50, REQUESTS // 10)),
    ]:
        operation = schema[path][method]

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def send(case) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            assert response.status_code < 500, f"{case.method} {case.path}: {case.body!r} -> {response.text}"

        send()
    assert sum(statuses.values()) >= REQUESTS and statuses[200] > 0, statuses
