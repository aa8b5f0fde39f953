"""The endpoint in-process (ASGI): every MLflow payload shape, every refusal as a 4xx naming the field, limits,
health, metrics, OpenAPI and the webhook. The model is fitted in memory: no MLflow, no process."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from src.components.alias_watcher import ModelSlot
from src.components.serving import ServingConfig, create_app
from src.components.serving_metrics import Metrics
from src.data.contract import CONTRACT
from src.utils.config import resolve_settings
from tests.conftest import signed_webhook
from tests.pack import (
    COLUMNS,
    LABEL_A,
    LABEL_B,
    NUMERIC,
    REQUIRED,
    ROW_A,
    ROW_B,
    above_range,
    csv_cell,
    with_value,
)

SECRET = "test-webhook-secret"
MAX_BODY = 20_000
MODEL = resolve_settings(environ={}).model_name_for("dev")  # the in-memory scorer's
OUT_OF_RANGE = with_value(ROW_A, NUMERIC.name, above_range())


class _Watcher:
    """Counts pokes: the webhook's only effect on the app."""

    def __init__(self) -> None:
        self.pokes = 0

    def poke(self) -> None:
        self.pokes += 1

    def start(self) -> None: ...

    def stop(self) -> None: ...


@pytest.fixture(scope="module")
def watcher():
    return _Watcher()


@pytest.fixture(scope="module")
def client(memory_scorer, watcher):
    config = ServingConfig(model_name=MODEL, alias="staging", max_body_bytes=MAX_BODY, webhook_secret=SECRET)
    app = create_app(ModelSlot(memory_scorer), config, metrics=Metrics(MODEL), watcher=watcher)
    with TestClient(app) as test_client:
        yield test_client


def _request(client, method: str, path: str, body=None, headers=None):
    answer = client.request(method, path, content=body, headers=headers or {"Content-Type": "application/json"})
    return answer.status_code, answer.content


def _invoke(client, payload, content_type: str = "application/json"):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [ROW_A, ROW_B]}},
        {"dataframe_records": [dict(zip(COLUMNS, ROW_A, strict=True)), dict(zip(COLUMNS, ROW_B, strict=True))]},
        {"instances": [dict(zip(COLUMNS, ROW_A, strict=True)), dict(zip(COLUMNS, ROW_B, strict=True))]},
        {"instances": [ROW_A, ROW_B]},
        {"inputs": {c: [ROW_A[i], ROW_B[i]] for i, c in enumerate(COLUMNS)}},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [ROW_A[::-1], ROW_B[::-1]]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances_records", "instances_lists", "inputs_columns", "reordered"],
)
def test_every_mlflow_payload_format(client, payload):
    status, answer = _invoke(client, payload)
    assert (status, answer) == (200, {"predictions": [LABEL_A, LABEL_B]})


def test_csv_payload(client):
    body = ",".join(COLUMNS) + "\n" + ",".join(map(csv_cell, ROW_A)) + "\n"
    assert _invoke(client, body, "text/csv") == (200, {"predictions": [LABEL_A]})


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "field", "message"),
    [
        ("{not json", "application/json", 400, "(body)", "malformed JSON"),
        ({"rows": []}, "application/json", 400, "(body)", "expected one of the keys"),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [with_value(ROW_A, NUMERIC.name, "wide")]}},
            "application/json",
            400,
            NUMERIC.name,
            "expected numbers, got 'wide'",
        ),
        (
            {"dataframe_records": [{COLUMNS[0]: ROW_A[0]}]},
            "application/json",
            400,
            ", ".join(COLUMNS[1:]),
            "missing column",
        ),
        (
            {"dataframe_split": {"columns": [*COLUMNS, "colour"], "data": [[*ROW_A, 1]]}},
            "application/json",
            400,
            "colour",
            "unknown column",
        ),
        pytest.param(
            {"dataframe_split": {"columns": COLUMNS, "data": [with_value(ROW_A, (REQUIRED or NUMERIC).name, None)]}},
            "application/json",
            400,
            (REQUIRED or NUMERIC).name,
            "null value at row(s) 0",
            marks=pytest.mark.skipif(REQUIRED is None, reason="every input of this pack may be missing"),
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": []}},
            "application/json",
            400,
            "dataframe_split.data",
            "no rows",
        ),
        (
            {"instances": [ROW_A[:-1]]},
            "application/json",
            400,
            "instances[0]",
            f"expected a list of {len(COLUMNS)} values",
        ),
        ("a,b\n1,2\n", "text/csv", 400, ", ".join(COLUMNS), "missing column"),
        ("<xml/>", "application/xml", 415, None, "unsupported content type"),
    ],
    ids=[
        "malformed",
        "unknown-format",
        "wrong-type",
        "missing",
        "extra",
        "null",
        "empty",
        "short-row",
        "csv-columns",
        "media-type",
    ],
)
def test_bad_requests_are_4xx_naming_the_field(client, payload, content_type, status, field, message):
    got, answer = _invoke(client, payload, content_type)
    assert got == status
    assert message in answer["message"]
    assert answer.get("field") == field


def test_oversized_body_is_413(client):
    rows = [ROW_A] * 2000  # well over the 20 kB limit set for this endpoint
    status, answer = _invoke(client, {"dataframe_split": {"columns": COLUMNS, "data": rows}})
    assert status == 413 and "over 20000 bytes" in answer["message"]
    assert answer["error_code"] == "REQUEST_LIMIT_EXCEEDED"  # the code MLflow's clients know


def test_a_chunked_body_is_refused_once_it_passes_the_limit(client):
    """No Content-Length to refuse up front: the stream is counted as it comes."""
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW_A] * 2000}}).encode()
    chunks = (body[start : start + 4096] for start in range(0, len(body), 4096))
    answer = client.post("/invocations", content=chunks, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert answer.request.headers.get("transfer-encoding") == "chunked"


def test_health_version_metrics_and_openapi(client):
    port = client
    _invoke(client, {"instances": [ROW_A]})  # one answered and one refused request, for the counters
    _invoke(client, {"instances": [ROW_A[:-1]]})
    health = json.loads(_request(port, "GET", "/health")[1])
    assert health["model_name"] == MODEL
    assert (health["alias"], health["status"]) == ("staging", "ok") and health["loaded_at"]
    assert json.loads(_request(port, "GET", "/version")[1])["mlflow_version"].startswith("3.17")
    metrics = _request(port, "GET", "/metrics")[1].decode()
    served = f'model="{MODEL}"'
    version = health["model_version"]
    answered = f'model_requests_total{{alias="staging",{served},status="200",version="{version}"}}'
    assert answered in metrics and f'{served},status="400",version="{version}"}}' in metrics
    assert "model_request_latency_seconds_bucket" in metrics
    assert f'model_version_info{{alias="staging",{served},version=' in metrics
    schema = json.loads(_request(port, "GET", "/openapi.json")[1])
    body = schema["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    split = next(v for v in body["schema"]["oneOf"] if "dataframe_split" in v["properties"])
    assert split["properties"]["dataframe_split"]["properties"]["columns"]["items"]["enum"] == COLUMNS
    records = next(v for v in body["schema"]["oneOf"] if "dataframe_records" in v["properties"])
    record = records["properties"]["dataframe_records"]["items"]["oneOf"][0]
    published = record["properties"][NUMERIC.name]
    bounded = published.get("anyOf", [published])[0]  # a column that may be missing: a number or null
    assert bounded["maximum"] == NUMERIC.maximum  # the contract's domain, published


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"dataframe_split": {"columns": [*COLUMNS[:-1], COLUMNS[0]], "data": [ROW_A]}}, COLUMNS[0], "duplicate"),
        (
            {"dataframe_split": {"columns": COLUMNS, "index": [0, 1], "data": [ROW_A]}},
            "dataframe_split.index",
            "index has 2 entries for 1 data rows",
        ),
        ({"instances": [with_value(ROW_A, NUMERIC.name, True)]}, NUMERIC.name, "expected numbers, got True"),
        ({"instances": [with_value(ROW_A, NUMERIC.name, 2**70)]}, NUMERIC.name, "outside the allowed range"),
        ({"instances": [with_value(ROW_A, NUMERIC.name, -above_range())]}, NUMERIC.name, "outside the allowed range"),
        ({"instances": [with_value(ROW_A, NUMERIC.name, "5.1")]}, NUMERIC.name, "expected numbers, got '5.1'"),
        ({"inputs": {c: [[1.0]] for c in COLUMNS}}, COLUMNS[0], "expected"),
        ({"dataframe_split": {"columns": list(range(len(COLUMNS))), "data": [ROW_A]}}, "columns", "must be strings"),
    ],
    ids=["duplicate-columns", "index-length", "bool", "huge-int", "negative", "numeric-string", "nested", "int-names"],
)
def test_payloads_mlflow_refuses_are_refused(client, payload, field, message):
    status, answer = _invoke(client, payload)
    assert status == 400 and answer["field"] == field and message in answer["message"], answer


def test_unsupported_media_type_says_so(client):
    status, answer = _invoke(client, "<xml/>", "application/xml")
    assert (status, answer["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_webhook_signature_is_verified(client, watcher):
    data = {"name": MODEL, "alias": "staging", "version": "1"}
    event = {"entity": "model_version_alias", "action": "created", "data": data}
    body, headers = signed_webhook(event, SECRET)
    before = watcher.pokes
    assert _request(client, "POST", "/webhooks/mlflow", body, headers) == (200, b'{"accepted":true}')
    assert watcher.pokes == before + 1
    forged_body, forged = signed_webhook(event, secret="not-the-secret")
    assert _request(client, "POST", "/webhooks/mlflow", forged_body, forged)[0] == 401


def test_a_misspelt_column_is_named_with_the_close_match(client):
    name = NUMERIC.name
    at = max(i for i in range(len(name) - 1) if name[i] != name[i + 1])
    misspelt = name[:at] + name[at + 1] + name[at] + name[at + 2 :]  # two neighbouring letters swapped
    record = dict(zip([misspelt if c == name else c for c in COLUMNS], ROW_A, strict=True))
    status, answer = _invoke(client, {"dataframe_records": [record]})
    assert status == 400 and answer["field"] == name
    assert f"unknown column(s) {misspelt} (did you mean {name}?)" in answer["message"]


@pytest.mark.skipif(CONTRACT.entity_key is None, reason="the pack has no entity key")
def test_a_key_only_request_says_which_flag_serves_it(client):
    key = CONTRACT.entity_key
    status, answer = _invoke(client, {"inputs": {key: [3]}})
    assert status == 400 and answer["field"] == key and "--feature-lookup" in answer["message"]


def test_every_answer_carries_a_request_id_the_clients_own_if_it_sent_one(client):
    given = client.post("/invocations", json={"instances": [ROW_A]}, headers={"X-Request-Id": "order-42"})
    assert given.headers["X-Request-Id"] == "order-42"
    generated = client.post("/invocations", json={"instances": [[1.0]]})
    assert generated.status_code == 400 and len(generated.headers["X-Request-Id"]) == 32
    assert (
        client.post("/invocations", json={"instances": [ROW_A]}, headers={"X-Request-Id": "x" * 500}).headers[
            "X-Request-Id"
        ]
        != "x" * 500
    )


def test_out_of_contract_values_are_counted_apart_from_malformed_requests(client):
    def refused(reason: str) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("model_request_errors_total{") and f'reason="{reason}"' in line:
                return float(line.split()[-1])
        return 0.0

    before = refused("out_of_contract"), refused("bad_input")
    assert client.post("/invocations", json={"instances": [OUT_OF_RANGE]}).status_code == 400
    assert client.post("/invocations", json={"instances": "nope"}).status_code == 400
    assert (refused("out_of_contract"), refused("bad_input")) == (before[0] + 1, before[1] + 1)


def test_feedback_is_logged_and_bad_feedback_refused(memory_scorer, tmp_path):
    import sqlite3

    from src.components.inference_log import InferenceLog

    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="staging", flush_seconds=0.05)
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name=MODEL, alias="staging"), log=log)
    with TestClient(app) as logged:
        answer = logged.post("/invocations", json={"instances": [ROW_A]}, headers={"X-Request-Id": "r1"})
        assert logged.post("/invocations", json={"instances": [OUT_OF_RANGE]}).status_code == 400
        assert answer.status_code == 200
        accepted = logged.post("/feedback", json=[{"request_id": "r1", "label": LABEL_A}])
        assert accepted.status_code == 202 and accepted.json() == {"accepted": 1}
        bad = logged.post("/feedback", json={"request_id": "r1", "label": "not-a-class"})
        assert bad.status_code == 400 and "label must be one of" in bad.json()["message"]
    with sqlite3.connect(tmp_path / "log.db") as connection:
        assert connection.execute("select request_id, prediction from predictions").fetchall() == [("r1", LABEL_A)]
        assert connection.execute("select reason, field from refusals").fetchall() == [
            ("out_of_contract", NUMERIC.name)
        ]
        assert connection.execute("select request_id, label from feedback").fetchall() == [("r1", LABEL_A)]


def test_a_model_that_fails_on_valid_input_answers_mlflow_s_json_500_counted_logged_and_recorded(
    memory_scorer, tmp_path, caplog
):
    """Not Starlette's plain-text 500: the error MLflow's clients parse, the request's headers, a count by reason,
    a refusal row the monitoring pass reads, and the traceback in the endpoint's log under the request ID."""
    import sqlite3

    from src.components.inference_log import InferenceLog
    from src.components.scoring import Scorer

    broken = Scorer(memory_scorer.handle, memory_scorer.pipeline, memory_scorer.contract)

    def crash(columns):
        raise RuntimeError("the estimator's native code gave up")

    broken.predict_columns = crash
    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="staging", flush_seconds=0.05)
    app = create_app(ModelSlot(broken), ServingConfig(model_name=MODEL, alias="staging"), log=log)
    with TestClient(app, raise_server_exceptions=False) as failing, caplog.at_level("ERROR"):
        answer = failing.post("/invocations", json={"instances": [ROW_A]}, headers={"X-Request-Id": "req-42"})
        exposition = failing.get("/metrics").text.splitlines()
        assert failing.post("/invocations", json={"instances": "nope"}).status_code == 400  # input is still input
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error_code"] == "INTERNAL_ERROR" and "RuntimeError" in body["message"] and "req-42" in body["message"]
    assert "native code" not in body["message"]  # what failed inside stays in the log, not in the answer
    assert (answer.headers["X-Request-Id"], answer.headers["X-Model-Version"]) == ("req-42", broken.handle.version)
    assert any(line.startswith("model_request_errors_total{") and 'reason="internal_error"' in line
               and line.endswith(" 1.0") for line in exposition)  # fmt: skip
    assert any(line.startswith("model_requests_total{") and 'status="500"' in line for line in exposition)
    (failed,) = [r for r in caplog.records if "req-42" in r.getMessage()]
    assert failed.exc_info is not None and "native code" in str(failed.exc_info[1])
    with sqlite3.connect(tmp_path / "log.db") as connection:
        rows = connection.execute("select request_id, status, reason from refusals order by status desc").fetchall()
    assert rows[0] == ("req-42", 500, "internal_error")


def test_any_route_s_failure_is_mlflow_s_json_500(memory_scorer, tmp_path):
    from src.components.inference_log import InferenceLog

    class _FullDisk(InferenceLog):
        def feedback(self, labels) -> None:
            raise OSError("No space left on device")

    log = _FullDisk(tmp_path / "log.db", model_name=MODEL, alias="staging", flush_seconds=0.05)
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name=MODEL, alias="staging"), log=log)
    with TestClient(app, raise_server_exceptions=False) as failing:
        answer = failing.post("/feedback", json=[{"request_id": "r1", "label": LABEL_A}])
    assert answer.status_code == 500 and answer.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": "OSError while answering /feedback; the endpoint's log has the traceback",
    }


def test_a_client_that_hangs_up_mid_body_is_its_own_refusal_not_a_server_error(memory_scorer, caplog):
    import asyncio

    metrics = Metrics(MODEL)
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name=MODEL, alias="staging"), metrics=metrics)
    arriving = [{"type": "http.request", "body": b'{"instances": [', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return arriving.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/invocations", "raw_path": b"/invocations", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "server": ("t", 80), "client": ("c", 1)}  # fmt: skip
    with caplog.at_level("ERROR"):
        asyncio.run(app(scope, receive, send))
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 400
    assert not caplog.records  # nothing for an operator to chase
    with TestClient(app) as client:
        exposition = client.get("/metrics").text.splitlines()
    counted = [line for line in exposition if line.startswith("model_request_errors_total{")]
    assert any('reason="disconnected"' in line for line in counted)


def test_feedback_without_a_log_says_so(client):
    answer = client.post("/feedback", json={"request_id": "r1", "label": LABEL_A})
    assert answer.status_code == 404 and "--inference-log" in answer.json()["message"]


def _signed(body: bytes, secret: str = SECRET, stamp: str | None = None) -> dict[str, str]:
    """Headers signing raw bytes as MLflow does (``delivery.timestamp.body``)."""
    import base64
    import hashlib
    import hmac
    import time
    import uuid

    delivery, stamp = str(uuid.uuid4()), stamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp,
            "X-MLflow-Signature": "v1," + base64.b64encode(digest).decode()}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xfe not utf-8", {"X-MLflow-Signature": "v1,abc", "X-MLflow-Delivery-Id": "d"}, 401),
        (b"{}", {"X-MLflow-Timestamp": "9" * 5000}, 401),  # signed, but int() of the timestamp would raise
        (b"\xff\xfe not utf-8", None, 400),  # signed, but no JSON
        (b"not json", None, 400),
        (b"[1, 2]", None, 400),  # JSON, but not an event
        (b"{" + b" " * 70_000 + b"}", {}, 413),  # far over any registry event
    ],
    ids=["non-utf8-unsigned", "huge-timestamp", "non-utf8-signed", "non-json", "json-list", "too-large"],
)
def test_every_malformed_webhook_is_a_4xx(client, body, headers, status):
    # Signed when the test runs (None: signed as is), not when it is collected: a signature is only good for
    # minutes, and the unit tests may run long after collection.
    if headers is None or "X-MLflow-Timestamp" in headers:
        headers = {**_signed(body), **(headers or {})}
    assert client.post("/webhooks/mlflow", content=body, headers=headers).status_code == status


def test_a_replayed_webhook_delivery_is_refused(client, watcher):
    event = {"entity": "model_version_alias", "data": {"name": MODEL, "alias": "staging"}}
    body, headers = signed_webhook(event, SECRET)
    before = watcher.pokes
    assert client.post("/webhooks/mlflow", content=body, headers=headers).status_code == 200
    replay = client.post("/webhooks/mlflow", content=body, headers=headers)
    assert replay.status_code == 409 and "received already" in replay.json()["message"]
    assert watcher.pokes == before + 1


@pytest.fixture
def logged(memory_scorer, tmp_path):
    """An app with an inference log and a feedback token; one request served as ``r1``."""
    from src.components.inference_log import InferenceLog

    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="staging", flush_seconds=0.05)
    config = ServingConfig(model_name=MODEL, alias="staging", max_body_bytes=MAX_BODY, feedback_token="t0ken")
    with TestClient(create_app(ModelSlot(memory_scorer), config, log=log)) as app:
        app.post("/invocations", json={"instances": [ROW_A]}, headers={"X-Request-Id": "r1"})
        yield app


def test_posting_labels_needs_the_feedback_token(logged):
    label = {"request_id": "r1", "label": LABEL_A}
    assert logged.post("/feedback", json=label).status_code == 401
    assert logged.post("/feedback", json=label, headers={"Authorization": "Bearer guess"}).status_code == 401
    assert logged.post("/feedback", json=label, headers={"Authorization": "Bearer t0ken"}).status_code == 202
    refused = [line for line in logged.get("/metrics").text.splitlines() if line.startswith("model_feedback_refused")]
    assert refused and float(refused[0].split()[-1]) == 2.0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"request_id": "x" * 1_000_000, "label": LABEL_A}, 413, "over"),  # over the body limit
        ({"request_id": "x" * 129, "label": LABEL_A}, 400, "at most 128 printable characters"),
        ({"request_id": "r1\n\x1b[31m", "label": LABEL_A}, 400, "printable"),
        ({"request_id": "r1", "label": "not-a-class"}, 400, "label must be one of"),
    ],
    ids=["huge-body", "long-id", "control-characters", "unknown-label"],
)
def test_feedback_is_bounded_like_invocations(logged, body, status, says):
    answer = logged.post("/feedback", json=body, headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == status and says in answer.json()["message"]
