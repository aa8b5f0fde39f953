"""The alias guard's webhook listener: a secret never on the command line, bounded bodies, signed deliveries."""

from __future__ import annotations

import argparse
import http.client
import threading

import pytest

from scripts import guard_aliases
from src.utils.cli import UsageError
from tests.conftest import signed_webhook

SECRET = "guard-listener-secret"


@pytest.fixture
def listener():
    wake = threading.Event()
    server = guard_aliases._listen(0, SECRET, wake)
    yield server.server_address[1], wake
    server.shutdown()


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/")
    for key, value in headers.items():
        connection.putheader(key, value)
    connection.endheaders()
    connection.send(body)
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_signed_delivery_wakes_the_guard_once(listener):
    port, wake = listener
    body, headers = signed_webhook({"entity": "model_version_alias"}, SECRET)
    assert _post(port, body.encode(), {**headers, "Content-Length": str(len(body))}) == 200
    assert wake.is_set()
    wake.clear()
    assert _post(port, body.encode(), {**headers, "Content-Length": str(len(body))}) == 409  # a replay
    assert not wake.is_set()


@pytest.mark.parametrize(
    ("length", "status"), [("10" * 20, 413), ("-1", 400), ("abc", 400)], ids=["huge", "negative", "not-a-number"]
)
def test_a_declared_length_is_bounded_before_anything_is_read(listener, length, status):
    port, wake = listener
    assert _post(port, b"", {"Content-Length": length}) == status
    assert not wake.is_set()


def test_the_secret_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET", "from-the-environment")
    assert guard_aliases.webhook_secret(argparse.Namespace(webhook_secret_file=secret_file)) == "from-a-file"
    assert guard_aliases.webhook_secret(argparse.Namespace(webhook_secret_file=None)) == "from-the-environment"
    with pytest.raises(UsageError, match="cannot read the webhook secret file"):
        guard_aliases.webhook_secret(argparse.Namespace(webhook_secret_file=tmp_path / "missing"))
    with pytest.raises(SystemExit):
        guard_aliases._parser().parse_args(["--webhook-secret", "visible-in-ps"])
