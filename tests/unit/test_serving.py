"""The endpoint in-process (ASGI): every MLflow payload shape, every refusal as a 4xx naming the field, limits,
health, metrics, OpenAPI and the webhook. The model is fitted in memory: no MLflow, no process."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from src.components.alias_watcher import ModelSlot
from src.components.serving import ServingConfig, create_app
from src.components.serving_metrics import Metrics
from tests.conftest import signed_webhook

COLUMNS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.7, 2.2]
SECRET = "test-webhook-secret"
MAX_BODY = 20_000
MODEL = "dev_catalog.ml_models.ds_iris_species_classifier"


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
        {"dataframe_split": {"columns": COLUMNS, "data": [SETOSA, VIRGINICA]}},
        {"dataframe_records": [dict(zip(COLUMNS, SETOSA, strict=True)), dict(zip(COLUMNS, VIRGINICA, strict=True))]},
        {"instances": [dict(zip(COLUMNS, SETOSA, strict=True)), dict(zip(COLUMNS, VIRGINICA, strict=True))]},
        {"instances": [SETOSA, VIRGINICA]},
        {"inputs": {c: [SETOSA[i], VIRGINICA[i]] for i, c in enumerate(COLUMNS)}},
        {"dataframe_split": {"columns": COLUMNS[::-1], "data": [SETOSA[::-1], VIRGINICA[::-1]]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances_records", "instances_lists", "inputs_columns", "reordered"],
)
def test_every_mlflow_payload_format(client, payload):
    status, answer = _invoke(client, payload)
    assert (status, answer) == (200, {"predictions": ["setosa", "virginica"]})


def test_csv_payload(client):
    body = ",".join(COLUMNS) + "\n" + ",".join(map(str, SETOSA)) + "\n"
    assert _invoke(client, body, "text/csv") == (200, {"predictions": ["setosa"]})


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "field", "message"),
    [
        ("{not json", "application/json", 400, "(body)", "malformed JSON"),
        ({"rows": []}, "application/json", 400, "(body)", "expected one of the keys"),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[5.1, "wide", 1.4, 0.2]]}},
            "application/json",
            400,
            "sepal_width_cm",
            "expected numbers, got 'wide'",
        ),
        (
            {"dataframe_records": [{"sepal_length_cm": 5.0}]},
            "application/json",
            400,
            "sepal_width_cm, petal_length_cm, petal_width_cm",
            "missing column",
        ),
        (
            {"dataframe_split": {"columns": [*COLUMNS, "colour"], "data": [[*SETOSA, 1]]}},
            "application/json",
            400,
            "colour",
            "unknown column",
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[5.1, None, 1.4, 0.2]]}},
            "application/json",
            400,
            "sepal_width_cm",
            "null value at row(s) 0",
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": []}},
            "application/json",
            400,
            "dataframe_split.data",
            "no rows",
        ),
        ({"instances": [SETOSA[:3]]}, "application/json", 400, "instances[0]", "expected a list of 4 values"),
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
    rows = [SETOSA] * 2000  # well over the 20 kB limit set for this endpoint
    status, answer = _invoke(client, {"dataframe_split": {"columns": COLUMNS, "data": rows}})
    assert status == 413 and "over 20000 bytes" in answer["message"]


def test_health_version_metrics_and_openapi(client):
    port = client
    _invoke(client, {"instances": [SETOSA]})  # one answered and one refused request, for the counters
    _invoke(client, {"instances": [SETOSA[:3]]})
    health = json.loads(_request(port, "GET", "/health")[1])
    assert health["model_name"] == "dev.ml_models.ds_iris_species_classifier"
    assert (health["alias"], health["status"]) == ("staging", "ok") and health["loaded_at"]
    assert json.loads(_request(port, "GET", "/version")[1])["mlflow_version"].startswith("3.17")
    metrics = _request(port, "GET", "/metrics")[1].decode()
    served = f'model="{MODEL}"'
    assert f'model_requests_total{{{served},status="200"}}' in metrics and f'{served},status="400"}}' in metrics
    assert "model_request_latency_seconds_bucket" in metrics and f'model_version{{alias="staging",{served}}}' in metrics
    schema = json.loads(_request(port, "GET", "/openapi.json")[1])
    body = schema["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    split = next(v for v in body["schema"]["oneOf"] if "dataframe_split" in v["properties"])
    assert split["properties"]["dataframe_split"]["properties"]["columns"]["items"]["enum"] == COLUMNS
    records = next(v for v in body["schema"]["oneOf"] if "dataframe_records" in v["properties"])
    record = records["properties"]["dataframe_records"]["items"]["oneOf"][0]
    assert record["properties"]["petal_width_cm"]["maximum"] == 15.0  # the contract's domain, published


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"dataframe_split": {"columns": [*COLUMNS[:3], COLUMNS[0]], "data": [[*SETOSA]]}}, COLUMNS[0], "duplicate"),
        (
            {"dataframe_split": {"columns": COLUMNS, "index": [0, 1], "data": [SETOSA]}},
            "dataframe_split.index",
            "index has 2 entries for 1 data rows",
        ),
        ({"instances": [[True, 3.5, 1.4, 0.2]]}, "sepal_length_cm", "expected numbers, got True"),
        ({"instances": [[2**70, 3.5, 1.4, 0.2]]}, "sepal_length_cm", "outside the allowed range"),
        ({"instances": [[-5.1, 3.5, 1.4, 0.2]]}, "sepal_length_cm", "outside the allowed range"),
        ({"instances": [["5.1", 3.5, 1.4, 0.2]]}, "sepal_length_cm", "expected numbers, got '5.1'"),
        ({"inputs": {c: [[1.0]] for c in COLUMNS}}, "sepal_length_cm", "expected numbers"),
        ({"dataframe_split": {"columns": [1, 2, 3, 4], "data": [SETOSA]}}, "columns", "must be strings"),
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
    data = {"name": "dev_catalog.ml_models.ds_iris_species_classifier", "alias": "staging", "version": "1"}
    event = {"entity": "model_version_alias", "action": "created", "data": data}
    body, headers = signed_webhook(event, SECRET)
    before = watcher.pokes
    assert _request(client, "POST", "/webhooks/mlflow", body, headers) == (200, b'{"accepted":true}')
    assert watcher.pokes == before + 1
    forged_body, forged = signed_webhook(event, secret="not-the-secret")
    assert _request(client, "POST", "/webhooks/mlflow", forged_body, forged)[0] == 401


def test_a_misspelt_column_is_named_with_the_close_match(client):
    record = dict(zip([*COLUMNS[:3], "petal_widht_cm"], SETOSA, strict=True))
    status, answer = _invoke(client, {"dataframe_records": [record]})
    assert status == 400 and answer["field"] == "petal_width_cm"
    assert "unknown column(s) petal_widht_cm (did you mean petal_width_cm?)" in answer["message"]


def test_a_key_only_request_says_which_flag_serves_it(client):
    status, answer = _invoke(client, {"inputs": {"flower_id": [3]}})
    assert status == 400 and answer["field"] == "flower_id" and "--feature-lookup" in answer["message"]


def test_every_answer_carries_a_request_id_the_clients_own_if_it_sent_one(client):
    given = client.post("/invocations", json={"instances": [SETOSA]}, headers={"X-Request-Id": "order-42"})
    assert given.headers["X-Request-Id"] == "order-42"
    generated = client.post("/invocations", json={"instances": [[1.0]]})
    assert generated.status_code == 400 and len(generated.headers["X-Request-Id"]) == 32
    assert (
        client.post("/invocations", json={"instances": [SETOSA]}, headers={"X-Request-Id": "x" * 500}).headers[
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
    assert client.post("/invocations", json={"instances": [[5.1, 3.5, 99.0, 0.2]]}).status_code == 400
    assert client.post("/invocations", json={"instances": "nope"}).status_code == 400
    assert (refused("out_of_contract"), refused("bad_input")) == (before[0] + 1, before[1] + 1)


def test_feedback_is_logged_and_bad_feedback_refused(memory_scorer, tmp_path):
    import sqlite3

    from src.components.inference_log import InferenceLog

    log = InferenceLog(tmp_path / "log.db", model_name=MODEL, alias="staging", flush_seconds=0.05)
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name=MODEL, alias="staging"), log=log)
    with TestClient(app) as logged:
        answer = logged.post("/invocations", json={"instances": [SETOSA]}, headers={"X-Request-Id": "r1"})
        assert logged.post("/invocations", json={"instances": [[5.1, 3.5, 99.0, 0.2]]}).status_code == 400
        assert answer.status_code == 200
        accepted = logged.post("/feedback", json=[{"request_id": "r1", "label": "setosa"}])
        assert accepted.status_code == 202 and accepted.json() == {"accepted": 1}
        bad = logged.post("/feedback", json={"request_id": "r1", "label": "rose"})
        assert bad.status_code == 400 and "label must be one of" in bad.json()["message"]
    with sqlite3.connect(tmp_path / "log.db") as connection:
        assert connection.execute("select request_id, prediction from predictions").fetchall() == [("r1", "setosa")]
        assert connection.execute("select reason, field from refusals").fetchall() == [
            ("out_of_contract", "petal_length_cm")
        ]
        assert connection.execute("select request_id, label from feedback").fetchall() == [("r1", "setosa")]


def test_feedback_without_a_log_says_so(client):
    answer = client.post("/feedback", json={"request_id": "r1", "label": "setosa"})
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
        (b"{}", {**_signed(b"{}"), "X-MLflow-Timestamp": "9" * 5000}, 401),  # int() of it would raise
        (b"\xff\xfe not utf-8", _signed(b"\xff\xfe not utf-8"), 400),  # signed, but no JSON
        (b"not json", _signed(b"not json"), 400),
        (b"[1, 2]", _signed(b"[1, 2]"), 400),  # JSON, but not an event
        (b"{" + b" " * 70_000 + b"}", {}, 413),  # far over any registry event
    ],
    ids=["non-utf8-unsigned", "huge-timestamp", "non-utf8-signed", "non-json", "json-list", "too-large"],
)
def test_every_malformed_webhook_is_a_4xx(client, body, headers, status):
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
        app.post("/invocations", json={"instances": [SETOSA]}, headers={"X-Request-Id": "r1"})
        yield app


def test_posting_labels_needs_the_feedback_token(logged):
    label = {"request_id": "r1", "label": "setosa"}
    assert logged.post("/feedback", json=label).status_code == 401
    assert logged.post("/feedback", json=label, headers={"Authorization": "Bearer guess"}).status_code == 401
    assert logged.post("/feedback", json=label, headers={"Authorization": "Bearer t0ken"}).status_code == 202
    refused = [line for line in logged.get("/metrics").text.splitlines() if line.startswith("model_feedback_refused")]
    assert refused and float(refused[0].split()[-1]) == 2.0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"request_id": "x" * 1_000_000, "label": "setosa"}, 413, "over"),  # over the body limit
        ({"request_id": "x" * 129, "label": "setosa"}, 400, "at most 128 printable characters"),
        ({"request_id": "r1\n\x1b[31m", "label": "setosa"}, 400, "printable"),
        ({"request_id": "r1", "label": "rose"}, 400, "label must be one of"),
    ],
    ids=["huge-body", "long-id", "control-characters", "unknown-label"],
)
def test_feedback_is_bounded_like_invocations(logged, body, status, says):
    answer = logged.post("/feedback", json=body, headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == status and says in answer.json()["message"]
