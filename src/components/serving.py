"""The REST endpoint: MLflow's scoring protocol on FastAPI, with health, metrics, an inference log and alias hot-swap.

Drop-in for ``mlflow models serve``: ``POST /invocations`` takes the same
payloads and answers ``{"predictions": [...]}``; ``GET /ping`` and ``/health``
answer the same way. On top: ``/version``, Prometheus ``/metrics``
(``serving_metrics``), an OpenAPI schema built from the signature and the data
contract (``openapi``), a 4xx naming the field for every bad request, an
inference log written off the request path (``inference_log``), and an alias
watcher (``alias_watcher``) woken by a signed registry webhook (``webhook``) or
by polling. This module only wires them into the app.

Prediction runs inline on the event loop: for a model that answers in ~20 us,
a thread hop costs more than it saves (DESIGN: -35% throughput, p99 spikes).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from src.components.alias_watcher import AliasWatcher, ModelSlot
from src.components.inference_log import InferenceLog
from src.components.openapi import request_schema
from src.components.payloads import JSON_MEDIA, UnsupportedMediaType, parse_body, parse_keys
from src.components.scoring import InputError, OutOfContract, Scorer
from src.components.serving_metrics import Metrics
from src.components.webhook import verify_webhook
from src.data.contract import ENTITY_KEY, SPECIES


@dataclass(frozen=True)
class ServingConfig:
    """How the endpoint serves: which model and alias, limits, watcher and log."""

    model_name: str
    alias: str
    max_body_bytes: int = 1_000_000
    poll_seconds: float = 10.0
    inference_log: Path | None = None
    webhook_secret: str | None = None


#: HTTP status -> the ``error_code`` MLflow's clients know.
_ERROR_CODES = {404: "RESOURCE_DOES_NOT_EXIST", 413: "REQUEST_LIMIT_EXCEEDED", 415: "UNSUPPORTED_MEDIA_TYPE",
                503: "TEMPORARILY_UNAVAILABLE"}  # fmt: skip


def _error(status: int, message: str, field: str | None = None) -> Response:
    code = _ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    body = {"error_code": code, "message": message}
    if field:
        body["field"] = field
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


#: The header that carries a request's ID: the client's if it sends one, else generated; always answered.
REQUEST_ID_HEADER = "X-Request-Id"
_MAX_REQUEST_ID = 128


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if 0 < len(given) <= _MAX_REQUEST_ID and given.isprintable() else uuid.uuid4().hex


def _feedback_labels(body: bytes) -> list[tuple[str, str]]:
    """``(request_id, species)`` pairs from a feedback body, or a ValueError naming what is wrong."""
    try:
        content = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    items = content if isinstance(content, list) else [content]
    labels = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or not item["request_id"]:
            raise ValueError(f'item {index}: expected {{"request_id": "...", "species": "..."}}')
        if item.get("species") not in SPECIES:
            raise ValueError(f"item {index}: species must be one of {list(SPECIES)}, got {item.get('species')!r}")
        labels.append((item["request_id"], item["species"]))
    if not labels:
        raise ValueError("no feedback items")
    return labels


def _carries_only_keys(body: bytes) -> bool:
    """Whether a refused body was a key-only (online lookup) request: its refusal then names the missing flag."""
    try:
        return parse_keys(body, ENTITY_KEY) is not None
    except InputError:
        return False


def create_app(
    slot: ModelSlot,
    config: ServingConfig,
    *,
    metrics: Metrics | None = None,
    watcher: AliasWatcher | None = None,
    log: InferenceLog | None = None,
    lookup: Callable[[list[int]], dict[str, np.ndarray]] | None = None,
    notify: Callable[[], None] | None = None,
) -> FastAPI:
    """The FastAPI application serving ``slot``; the watcher and log are started and stopped with it.

    ``notify`` is called when a registry webhook says the alias moved (beside
    waking this app's watcher): under several workers it wakes the others.
    """
    metrics = metrics or Metrics()
    handle = slot.scorer.handle
    metrics.model.labels(config.model_name, config.alias).set(float(handle.version))
    app = FastAPI(
        title=f"{config.model_name}@{config.alias}",
        version=handle.version,
        description="Iris species classifier: MLflow scoring protocol (POST /invocations).",
    )

    @app.on_event("startup")
    def _start() -> None:
        if watcher is not None:
            watcher.start()
        if log is not None:
            log.start()

    @app.on_event("shutdown")
    def _stop() -> None:
        if watcher is not None:
            watcher.stop()
        if log is not None:
            log.close()

    @app.post("/invocations", openapi_extra={"requestBody": request_schema(slot.scorer.input_columns)})
    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        scorer = slot.scorer  # one version for the whole request, even if a swap happens meanwhile
        request_id = _request_id(request)
        response = await _score(request, scorer, request_id)
        elapsed = time.perf_counter() - started
        metrics.latency.observe(elapsed)
        metrics.requests.labels(str(response.status_code)).inc()
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    def _refuse(request_id: str, scorer: Scorer, status: int, reason: str, message: str,
                field: str | None = None) -> Response:  # fmt: skip
        metrics.errors.labels(reason).inc()
        if log is not None:
            log.refuse(request_id, scorer.handle.version, status, reason, field)
        return _error(status, message, field)

    async def _score(request: Request, scorer: Scorer, request_id: str) -> Response:
        declared = request.headers.get("content-length")
        too_large = f"request body over {config.max_body_bytes} bytes"
        if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
            return _refuse(request_id, scorer, 413, "too_large", too_large)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_body_bytes:
                return _refuse(request_id, scorer, 413, "too_large", too_large)
        media = request.headers.get("content-type", JSON_MEDIA).split(";")[0].strip().lower()
        payload = bytes(body)
        started = time.perf_counter()
        try:
            keys = parse_keys(payload, ENTITY_KEY) if lookup is not None and media == JSON_MEDIA else None
            if keys is not None:
                try:
                    columns = lookup(keys)  # type: ignore[misc]
                except KeyError as exc:
                    message = f"no features in the online store for {ENTITY_KEY} {exc.args[0]}"
                    return _refuse(request_id, scorer, 404, "unknown_key", message, ENTITY_KEY)
                except ConnectionError as exc:  # the online store is down: no answer rather than a made-up one
                    return _refuse(request_id, scorer, 503, "store_unavailable", str(exc), ENTITY_KEY)
                scorer.check_domain(columns)
            else:
                columns = parse_body(payload, media, scorer)
            predictions = scorer.predict_columns(columns)
        except UnsupportedMediaType as exc:
            return _refuse(request_id, scorer, 415, "media_type", str(exc))
        except OutOfContract as exc:
            return _refuse(request_id, scorer, 400, "out_of_contract", str(exc), exc.field)
        except InputError as exc:
            if lookup is None and media == JSON_MEDIA and _carries_only_keys(payload):
                message = (
                    f"a request carrying only {ENTITY_KEY} is answered by an endpoint started with "
                    "--feature-lookup (make serve FEATURE_LOOKUP=1); this one takes the four measurements"
                )
                return _refuse(request_id, scorer, 400, "bad_input", message, ENTITY_KEY)
            return _refuse(request_id, scorer, 400, "bad_input", str(exc), exc.field)
        labels = predictions.labels.tolist()
        for species in set(labels):
            metrics.rows.labels(species).inc(labels.count(species))
        if log is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            log.predict(request_id, scorer.handle.version, columns, labels, predictions.probabilities, latency_ms)
        return Response(orjson.dumps({"predictions": labels}), media_type="application/json")

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        """True species for served requests: ``{"request_id": ..., "species": ...}`` or a list of them."""
        try:
            labels = _feedback_labels(await request.body())
        except ValueError as exc:
            return _error(400, str(exc), "species")
        if log is None:
            return _error(404, "feedback needs the inference log (--inference-log), which is off on this endpoint")
        log.feedback(labels)
        metrics.feedback.inc(len(labels))
        return Response(orjson.dumps({"accepted": len(labels)}), status_code=202, media_type="application/json")

    @app.get("/ping")
    def ping() -> Response:
        return Response("\n", media_type="application/json")

    @app.get("/health")
    def health() -> dict[str, object]:
        current = slot.scorer.handle
        workers = metrics.worker_versions()
        return {
            "status": "ok" if slot.last_reload_error is None and slot.registry_error is None else "degraded",
            "model_name": current.name,
            "model_version": current.version,
            "alias": config.alias,
            "run_id": current.run_id,
            "features": list(current.features),
            "loaded_at": slot.loaded_at.isoformat(timespec="seconds"),
            "last_alias_check": slot.last_checked.isoformat(timespec="seconds") if slot.last_checked else None,
            "last_reload_error": slot.last_reload_error,
            "registry_error": slot.registry_error,
            **({"worker": str(os.getpid()), "workers": workers} if workers else {}),
        }

    @app.get("/version")
    def version() -> dict[str, str]:
        return {"mlflow_version": metadata.version("mlflow"), "model_version": slot.scorer.handle.version}

    @app.get("/metrics")
    def prometheus() -> Response:
        if log is not None:
            metrics.log_dropped.set(log.dropped)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/webhooks/mlflow")
    async def webhook(request: Request) -> Response:
        if not config.webhook_secret:
            return _error(404, "webhooks are not enabled on this endpoint (no secret configured)")
        payload = await request.body()
        if not verify_webhook(config.webhook_secret, dict(request.headers), payload):
            return _error(401, "invalid or stale webhook signature")
        event = orjson.loads(payload)
        data = event.get("data", {})
        relevant = event.get("entity") == "model_version_alias" and data.get("name") == config.model_name
        if relevant and data.get("alias") == config.alias and watcher is not None:
            watcher.poke()
            if notify is not None:
                notify()
        return Response(orjson.dumps({"accepted": bool(relevant)}), media_type="application/json")

    return app
