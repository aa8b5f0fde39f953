"""The REST endpoint: MLflow's scoring protocol on FastAPI, with health, metrics, an inference log and alias hot-swap.

Drop-in for ``mlflow models serve``: ``POST /invocations`` takes the same
payloads and answers ``{"predictions": [...]}``; ``GET /ping`` and ``/health``
answer the same way. On top: ``/version``, Prometheus ``/metrics``
(``serving_metrics``), an OpenAPI schema built from the version's data contract
(``openapi``), a 4xx naming the field for every bad request, an inference log
written off the request path (``inference_log``), true labels on ``/feedback``,
and an alias watcher (``alias_watcher``) woken by a signed registry webhook
(``webhook``) or by polling. A traffic plan may add a challenger alias, which
answers a share of requests (canary) or scores them off the request path
(shadow; ``traffic``, ``shadow``). ``Routes`` holds one method per route; this
module only wires them into the app.

Prediction runs inline on the event loop: for a model that answers in ~20 us,
a thread hop costs more than it saves (DESIGN: -35% throughput, p99 spikes).
Only a body of ``off_loop_bytes`` or more (~1,000 rows) is parsed, scored and
encoded on a thread, so a few large requests do not stall the small ones.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from src.components.alias_watcher import AliasWatcher, ModelSlot
from src.components.inference_log import InferenceLog
from src.components.openapi import request_schema
from src.components.payloads import JSON_MEDIA, UnsupportedMediaType, parse_body, parse_keys
from src.components.scoring import Columns, InputError, OutOfContract, Predictions, Scorer
from src.components.serving_metrics import Lane, Metrics
from src.components.shadow import ShadowScorer
from src.components.traffic import Router, TrafficPlan
from src.components.webhook import WEBHOOK_MAX_BODY_BYTES, WebhookVerifier
from src.utils.logging import REQUEST_ID, get_logger

logger = get_logger(__name__)

#: A key-only request's features, looked up in the online store (``KeyError``: unknown key; ``ConnectionError``).
Lookup = Callable[[list[int]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ServingConfig:
    """How the endpoint serves: which model and alias, limits, watcher and log."""

    model_name: str
    alias: str
    max_body_bytes: int = 1_000_000
    #: Bodies from this size on are parsed and scored on a thread, so a few large requests cannot stall every
    #: small one (head-of-line blocking); the default is ~1,000 rows of four columns as JSON.
    off_loop_bytes: int = 65_536
    poll_seconds: float = 10.0
    inference_log: Path | str | None = None
    webhook_secret: str | None = None
    #: If set, ``POST /feedback`` needs ``Authorization: Bearer <token>`` (``ENDPOINT_FEEDBACK_TOKEN``).
    feedback_token: str | None = None
    #: A challenger beside ``alias`` (canary or shadow); None: ``alias`` answers everything.
    plan: TrafficPlan | None = None

    @property
    def traffic(self) -> TrafficPlan:
        return self.plan or TrafficPlan(self.alias)


@dataclass
class Challenger:
    """The plan's second alias as served: its slot (hot-swapped like the champion's) and its watcher."""

    slot: ModelSlot
    watcher: AliasWatcher | None = None


#: HTTP status -> the ``error_code`` MLflow's clients know.
_ERROR_CODES = {404: "RESOURCE_DOES_NOT_EXIST", 413: "REQUEST_LIMIT_EXCEEDED", 415: "UNSUPPORTED_MEDIA_TYPE",
                503: "TEMPORARILY_UNAVAILABLE"}  # fmt: skip


def _error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> Response:
    code = _ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    body = {"error_code": code, "message": message}
    if field:
        body["field"] = field
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _json(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


#: The header that carries a request's ID: the client's if it sends one, else generated; always answered.
REQUEST_ID_HEADER = "X-Request-Id"
#: The headers that say which version, under which alias, answered a scoring request.
VERSION_HEADER, ALIAS_HEADER = "X-Model-Version", "X-Model-Alias"
_MAX_REQUEST_ID = 128


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if 0 < len(given) <= _MAX_REQUEST_ID and given.isprintable() else uuid.uuid4().hex


def feedback_labels(body: bytes, classes: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(request_id, label)`` pairs from a feedback body, or a ValueError naming what is wrong."""
    try:
        content = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    items = content if isinstance(content, list) else [content]
    labels = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or not item["request_id"]:
            raise ValueError(f'item {index}: expected {{"request_id": "...", "label": "..."}}')
        if len(item["request_id"]) > _MAX_REQUEST_ID or not item["request_id"].isprintable():
            raise ValueError(f"item {index}: a request_id is at most {_MAX_REQUEST_ID} printable characters")
        if item.get("label") not in classes:
            raise ValueError(f"item {index}: label must be one of {list(classes)}, got {item.get('label')!r}")
        labels.append((item["request_id"], item["label"]))
    if not labels:
        raise ValueError("no feedback items")
    return labels


@dataclass(frozen=True)
class _Answer:
    """A scored request: its inputs, predictions, labels and their counts, and the response body."""

    columns: Columns
    predictions: Predictions
    labels: list[str]
    counts: dict[str, int]
    body: bytes


class _Refusal(Exception):
    """A request the endpoint answers with an error: status, reason (the metric's label), message, field."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field


class Routes:
    """The endpoint's routes over one model slot: each method answers one route."""

    def __init__(
        self,
        slot: ModelSlot,
        config: ServingConfig,
        metrics: Metrics,
        *,
        watcher: AliasWatcher | None,
        log: InferenceLog | None,
        lookup: Lookup | None,
        notify: Callable[[], None] | None,
        challenger: Challenger | None = None,
    ) -> None:
        self.slot, self.config, self.metrics = slot, config, metrics
        self.watcher, self.log, self.lookup, self.notify = watcher, log, lookup, notify
        self.webhooks = WebhookVerifier(config.webhook_secret) if config.webhook_secret else None
        self._feedback_refused_reported = 0
        plan = config.traffic
        if (plan.challenger is None) != (challenger is None):
            raise ValueError("a traffic plan with a challenger needs the challenger's slot, and only then")
        self.plan, self.router, self.challenger = plan, Router(plan), challenger
        self._canary = challenger is not None and plan.mode == "canary"
        self.shadow = None
        if challenger is not None and plan.mode == "shadow":
            self.shadow = ShadowScorer(challenger.slot, plan.challenger or "", metrics, log)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """The watchers, the shadow scorer and the log run while the app does."""
        watchers = [w for w in (self.watcher, self.challenger.watcher if self.challenger else None) if w is not None]
        for watcher in watchers:
            watcher.start()
        if self.log is not None:
            self.log.start()
        if self.shadow is not None:
            self.shadow.start()
        try:
            yield
        finally:
            for watcher in watchers:
                watcher.stop()
            if self.shadow is not None:
                self.shadow.close()  # before the log closes: its last answers are logged
            if self.log is not None:
                self.log.close()

    # --- POST /invocations -----------------------------------------------------------

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = _request_id(request)
        token = REQUEST_ID.set(request_id)  # a line logged while answering names the request
        try:
            return await self._invoke(request, request_id, started)
        finally:
            REQUEST_ID.reset(token)

    async def _invoke(self, request: Request, request_id: str, started: float) -> Response:
        key = request.headers.get(self.plan.key_header) if self.challenger is not None else None
        if self._canary and self.router.picks_challenger(key):
            alias, slot = self.plan.challenger or "", self.challenger.slot  # type: ignore[union-attr]
        else:
            alias, slot = self.config.alias, self.slot
        scorer = slot.scorer  # one version for the whole request, even if a swap happens meanwhile
        version = scorer.handle.version
        lane = self.metrics.lane(alias, version)
        headers = {REQUEST_ID_HEADER: request_id, VERSION_HEADER: version, ALIAS_HEADER: alias}
        try:
            payload, media, answer = await self._score(request, scorer, request_id, alias, lane)
            response = Response(answer.body, media_type="application/json", headers=headers)
        except _Refusal as refused:
            response = self._refused(refused, request_id, version, alias, lane, headers)
        except Exception as exc:  # the model or a store failed on valid input: MLflow's JSON error, counted, logged
            logger.exception("request %s failed in version %s", request_id, version)
            failed = _Refusal(500, "internal_error", f"scoring failed ({type(exc).__name__}); the endpoint's log "
                              f"has the traceback under request {request_id}")  # fmt: skip
            response = self._refused(failed, request_id, version, alias, lane, headers)
        else:
            if self.shadow is not None and self.router.picks_challenger(key):
                self.shadow.submit(request_id, payload, media, answer.labels)
        lane.latency.observe(time.perf_counter() - started)
        lane.requests(str(response.status_code)).inc()
        return response

    def _refused(
        self, refused: _Refusal, request_id: str, version: str, alias: str, lane: Lane, headers: dict[str, str]
    ) -> Response:
        """A request not answered: counted by reason, written to the inference log's refusals, answered in JSON."""
        lane.errors(refused.reason).inc()
        if self.log is not None:
            self.log.refuse(request_id, version, refused.status, refused.reason, refused.field, alias=alias)
        return _error(refused.status, refused.message, refused.field, headers)

    async def _score(
        self, request: Request, scorer: Scorer, request_id: str, alias: str, lane: Lane
    ) -> tuple[bytes, str, _Answer]:
        payload = await self._body(request)
        media = request.headers.get("content-type", JSON_MEDIA).split(";")[0].strip().lower()
        started = time.perf_counter()
        # A large body is parsed, scored and answered on a thread, so small ones go on meanwhile; a small one
        # stays on the loop: a thread hop per request would cost a third of one-row throughput (DESIGN).
        if len(payload) >= self.config.off_loop_bytes:
            answer = await asyncio.to_thread(self._answer, payload, media, scorer)
        else:
            answer = self._answer(payload, media, scorer)
        for label, count in answer.counts.items():
            lane.rows(label).inc(count)
        if self.log is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            self.log.predict(request_id, scorer.handle.version, answer.columns, answer.labels,
                             answer.predictions.probabilities, latency_ms, scorer.classes, alias=alias)  # fmt: skip
        return payload, media, answer

    def _answer(self, payload: bytes, media: str, scorer: Scorer) -> _Answer:
        """Parse, check, score and encode one body (no shared state touched: it may run on a worker thread)."""
        columns = self._columns(payload, media, scorer)
        try:
            predictions = scorer.predict_columns(columns)
        except InputError as exc:  # valid inputs whose derived feature is not a number (a ratio over ~0)
            raise _Refusal(400, "bad_input", str(exc), exc.field) from None
        labels = predictions.labels.tolist()
        return _Answer(columns, predictions, labels, dict(Counter(labels)), orjson.dumps({"predictions": labels}))

    async def _body(self, request: Request, limit: int | None = None) -> bytes:
        """The body, refused (413) as soon as it is known to exceed the limit: declared or streamed."""
        limit = limit or self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _Refusal(413, "too_large", f"request body over {limit} bytes")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _Refusal(413, "too_large", f"request body over {limit} bytes")
        except ClientDisconnect:  # the client's doing, not the endpoint's: not an internal error
            raise _Refusal(400, "disconnected", "the client closed the connection before the body ended") from None
        return bytes(body)

    def _columns(self, payload: bytes, media: str, scorer: Scorer) -> Columns:
        """The request's inputs, parsed and checked against the contract, or looked up by their entity key."""
        key = scorer.contract.entity_key
        try:
            keys = parse_keys(payload, key) if key and self.lookup is not None and media == JSON_MEDIA else None
            if keys is None:
                return parse_body(payload, media, scorer)
            columns = self._looked_up(keys, key or "")
            scorer.check_domain(columns)
            return columns
        except UnsupportedMediaType as exc:
            raise _Refusal(415, "media_type", str(exc)) from None
        except OutOfContract as exc:
            raise _Refusal(400, "out_of_contract", str(exc), exc.field) from None
        except InputError as exc:
            if key and self.lookup is None and media == JSON_MEDIA and _carries_only(payload, key):
                message = (f"a request carrying only {key} is answered by an endpoint started with --feature-lookup "
                           f"(make serve FEATURE_LOOKUP=1); this one takes {list(scorer.input_columns)}")  # fmt: skip
                raise _Refusal(400, "bad_input", message, key) from None
            raise _Refusal(400, "bad_input", str(exc), exc.field) from None

    def _looked_up(self, keys: list[int], key: str) -> dict[str, np.ndarray]:
        assert self.lookup is not None
        try:
            return self.lookup(keys)
        except KeyError as exc:
            message = f"no features in the online store for {key} {exc.args[0]}"
            raise _Refusal(404, "unknown_key", message, key) from None
        except ConnectionError as exc:  # the online store is down: no answer rather than a made-up one
            raise _Refusal(503, "store_unavailable", str(exc), key) from None

    # --- the other routes ---------------------------------------------------------------

    async def feedback(self, request: Request) -> Response:
        """True labels for served requests: ``{"request_id": ..., "label": ...}`` or a list of them.

        Labels decide the monitored accuracy, so who may post them is bounded: a token if one is configured, a
        body within the limit, IDs as ``/invocations`` accepts them, labels among the model's classes; the log
        keeps a label only for a request it served (the rest are counted as refused).
        """
        token = self.config.feedback_token
        if token is not None and not _bearer_is(request, token):
            self.metrics.feedback_refused.inc()
            return _error(401, "posting labels needs this endpoint's feedback token (Authorization: Bearer ...)")
        if self.log is None:
            return _error(404, "feedback needs the inference log (--inference-log), which is off on this endpoint")
        try:
            labels = feedback_labels(await self._body(request), self._classes())
        except _Refusal as refused:
            return _error(refused.status, refused.message)
        except ValueError as exc:
            return _error(400, str(exc), "label")
        self.log.feedback(labels)
        self.metrics.feedback.inc(len(labels))
        return _json({"accepted": len(labels)}, status=202)

    def _classes(self) -> tuple[str, ...]:
        """The labels feedback may carry: the champion's classes, and the challenger's."""
        classes = tuple(self.slot.scorer.classes)
        if self.challenger is not None:
            classes += tuple(c for c in self.challenger.slot.scorer.classes if c not in classes)
        return classes

    def ping(self) -> Response:
        return Response("\n", media_type="application/json")

    def health(self) -> dict[str, object]:
        slot, current = self.slot, self.slot.scorer.handle
        workers = self.metrics.worker_versions(self.config.alias)
        slots = [slot, *([self.challenger.slot] if self.challenger else [])]
        return {
            "status": "ok" if all(_healthy(s) for s in slots) else "degraded",
            "model_name": current.name,
            "model_version": current.version,
            "alias": self.config.alias,
            "run_id": current.run_id,
            "features": list(current.features),
            "loaded_at": slot.loaded_at.isoformat(timespec="seconds"),
            "last_alias_check": slot.last_checked.isoformat(timespec="seconds") if slot.last_checked else None,
            "last_reload_error": slot.last_reload_error,
            "registry_error": slot.registry_error,
            "alias_error": slot.alias_error,
            **({"worker": str(os.getpid()), "workers": workers} if workers else {}),
            **({"traffic": self._traffic()} if self.challenger else {}),
        }

    def _traffic(self) -> dict[str, object]:
        """The plan as served: the challenger's alias, version, mode, share and state."""
        assert self.challenger is not None
        slot, plan = self.challenger.slot, self.plan
        return {
            "plan": plan.describe(),
            "champion": {"alias": plan.champion, "version": self.slot.scorer.handle.version},
            "challenger": {
                "alias": plan.challenger,
                "model_name": slot.scorer.handle.name,
                "version": slot.scorer.handle.version,
                "mode": plan.mode,
                "percent": plan.percent,
                "key_header": plan.key_header,
                "loaded_at": slot.loaded_at.isoformat(timespec="seconds"),
                "last_reload_error": slot.last_reload_error,
                "registry_error": slot.registry_error,
                "alias_error": slot.alias_error,
                **({"workers": w} if (w := self.metrics.worker_versions(plan.challenger or "")) else {}),
            },
        }

    def version(self) -> dict[str, str]:
        return {"mlflow_version": metadata.version("mlflow"), "model_version": self.slot.scorer.handle.version}

    def prometheus(self) -> Response:
        if self.log is not None:
            self.metrics.dropped(self.log.dropped)
            refused = self.log.feedback_refused  # counted by the log's writer: reported here, as it grows
            self.metrics.feedback_refused.inc(refused - self._feedback_refused_reported)
            self._feedback_refused_reported = refused
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def webhook(self, request: Request) -> Response:
        if self.webhooks is None:
            return _error(404, "webhooks are not enabled on this endpoint (no secret configured)")
        try:
            payload = await self._body(request, WEBHOOK_MAX_BODY_BYTES)
        except _Refusal as refused:
            return _error(refused.status, refused.message)
        refusal = self.webhooks.problem(request.headers, payload)
        if refusal is not None:
            return _error(refusal.status, refusal.message)
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return _error(400, "a signed delivery whose body is not JSON")
        if not isinstance(event, dict):
            return _error(400, "a signed delivery whose body is not a JSON object")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        names = {self.slot.scorer.handle.name, self.config.model_name}
        if self.challenger is not None:
            names.add(self.challenger.slot.scorer.handle.name)
        relevant = event.get("entity") == "model_version_alias" and data.get("name") in names
        watcher = self._watcher_of(str(data.get("alias")), str(data.get("name")))
        if relevant and watcher is not None:
            watcher.poke()
            if self.notify is not None:
                self.notify()
        return _json({"accepted": bool(relevant)})

    def _watcher_of(self, alias: str, name: str) -> AliasWatcher | None:
        """The watcher following ``name@alias``, if this endpoint serves it."""
        if alias == self.config.alias and name in {self.config.model_name, self.slot.scorer.handle.name}:
            return self.watcher
        if self.challenger is not None and alias == self.plan.challenger \
                and name == self.challenger.slot.scorer.handle.name:  # fmt: skip
            return self.challenger.watcher
        return None


def _healthy(slot: ModelSlot) -> bool:
    return all(error is None for error in (slot.last_reload_error, slot.registry_error, slot.alias_error))


def _bearer_is(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _carries_only(body: bytes, key: str) -> bool:
    """Whether a refused body was a key-only (online lookup) request: its refusal then names the missing flag."""
    try:
        return parse_keys(body, key) is not None
    except InputError:
        return False


def create_app(
    slot: ModelSlot,
    config: ServingConfig,
    *,
    metrics: Metrics | None = None,
    watcher: AliasWatcher | None = None,
    log: InferenceLog | None = None,
    lookup: Lookup | None = None,
    notify: Callable[[], None] | None = None,
    challenger: Challenger | None = None,
) -> FastAPI:
    """The FastAPI application serving ``slot``; the watchers and log are started and stopped with it.

    ``notify`` is called when a registry webhook says an alias moved (beside
    waking this app's watcher): under several workers it wakes the others.
    ``challenger`` serves the second alias of ``config.plan``.
    """
    metrics = metrics or Metrics(config.model_name)
    scorer = slot.scorer
    metrics.serving(config.alias, scorer.handle.version)
    if challenger is not None and config.plan is not None and config.plan.challenger is not None:
        metrics.serving(config.plan.challenger, challenger.slot.scorer.handle.version)
    routes = Routes(slot, config, metrics, watcher=watcher, log=log, lookup=lookup, notify=notify,
                    challenger=challenger)  # fmt: skip
    app = FastAPI(
        title=f"{config.model_name}@{config.alias}",
        summary=f"Traffic: {config.traffic.describe()}",
        version=scorer.handle.version,
        description=f"{scorer.contract.description} MLflow scoring protocol (POST /invocations): predicts "
        f"{scorer.contract.target.name} ({', '.join(scorer.classes)}).",
        lifespan=routes.lifespan,
    )
    body = {"requestBody": request_schema(scorer.contract)}
    # Scoring requests are answered by a plain Starlette route in front of the API route, which stays for the
    # OpenAPI document: FastAPI's dependency resolution costs ~50 us of a one-row request's ~190 us.
    app.router.routes.append(Route("/invocations", routes.invocations, methods=["POST"], include_in_schema=False))
    app.add_api_route("/invocations", routes.invocations, methods=["POST"], openapi_extra=body)
    app.add_api_route("/feedback", routes.feedback, methods=["POST"])
    app.add_api_route("/ping", routes.ping, methods=["GET"])
    app.add_api_route("/health", routes.health, methods=["GET"])
    app.add_api_route("/version", routes.version, methods=["GET"])
    app.add_api_route("/metrics", routes.prometheus, methods=["GET"])
    app.add_api_route("/webhooks/mlflow", routes.webhook, methods=["POST"])
    app.add_exception_handler(Exception, _internal_error)
    return app


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Any other route's failure in MLflow's JSON (Starlette's is plain text); the server still logs the traceback."""
    return _error(500, f"{type(exc).__name__} while answering {request.url.path}; the endpoint's log has the traceback")
