"""The alert webhook: a Slack-compatible JSON POST, retried until a 2xx answer, reported when it never comes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from src.monitoring import alerting
from src.monitoring.monitor import MonitoringResult


def _server(statuses: list[int], received: list[dict]) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None: ...

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _result() -> MonitoringResult:
    return MonitoringResult("m", "production", "last 1000 requests", [], 1000, 0, {}, [], recent_breaches=[True])


def test_an_alert_is_retried_until_the_webhook_accepts_it():
    received: list[dict] = []
    server = _server([500, 503], received)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        assert alerting.send(url, _result(), backoff_s=0.01)
    finally:
        server.shutdown()
    assert len(received) == 3 and received[-1]["text"].startswith("Monitoring alert: m@production")
    assert received[-1]["alias"] == "production"


def test_a_webhook_that_never_answers_is_reported_not_raised():
    assert not alerting.send("http://127.0.0.1:9/hook", _result(), backoff_s=0.01)
