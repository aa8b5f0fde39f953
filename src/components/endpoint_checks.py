"""Release checks of a live endpoint over HTTP: the expected model, each example row right, bad input refused.

The example rows come from the data contract the served version was trained
with (one per class at least), the same ones the validator and the alias
watcher's smoke check use.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src.data.schema import DataContract, Example


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


def call(
    url: str, body: bytes | None = None, timeout_s: float = 10.0, media: str = "application/json"
) -> tuple[int, dict]:
    """One JSON request: (status, decoded body); an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": media})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def smoke(url: str, *, expected_model: str, alias: str, contract: DataContract) -> CheckReport:
    """Health, each example row predicted as its class, and a bad request answered 4xx. Raises ``OSError`` if
    unreachable."""
    url = url.rstrip("/")
    failures: list[str] = []
    status, health = call(f"{url}/health")
    if status != 200 or health.get("model_name") != expected_model or health.get("alias") != alias:
        failures.append(f"health: status {status}, serving {health.get('model_name')}@{health.get('alias')}, "
                        f"expected {expected_model}@{alias}")  # fmt: skip
    columns = list(contract.input_names)
    for example in contract.examples:
        row = [example.values[name] for name in columns]
        body = json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()
        status, answer = call(f"{url}/invocations", body)
        if status != 200 or answer.get("predictions") != [example.label]:
            failures.append(f"{example.label}: status {status}, answer {answer}")
    first = contract.examples[0].values
    incomplete = json.dumps({"dataframe_records": [{name: first[name] for name in columns[1:]}]})  # one column short
    status, answer = call(f"{url}/invocations", incomplete.encode())
    if not 400 <= status < 500:
        failures.append(f"bad request: expected a 4xx, got {status} {answer}")
    return CheckReport(url, health.get("model_name"), health.get("model_version"), failures)


def payloads(contract: DataContract, example: Example) -> dict[str, tuple[bytes, str]]:
    """One example row in every payload shape of MLflow's scoring protocol."""
    columns = list(contract.input_names)
    row = [example.values[name] for name in columns]
    record = dict(zip(columns, row, strict=True))
    as_json = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": [row]}},
        "dataframe_records": {"dataframe_records": [record]},
        "instances": {"instances": [row]},
        "inputs": {"inputs": {c: [v] for c, v in record.items()}},
    }
    shapes = {name: (json.dumps(body).encode(), "application/json") for name, body in as_json.items()}
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([columns, ["" if v is None else v for v in row]])
    shapes["csv"] = (text.getvalue().encode(), "text/csv")
    return shapes


def curl_commands(url: str, contract: DataContract) -> list[str]:
    """A copy-paste-ready ``curl`` for each payload shape, each sending one example row of the contract.

    The docs cannot list a project's columns, so the endpoint's users get them from the contract itself
    (``python scripts/deploy_endpoint.py examples``)."""
    target = f"{url.rstrip('/')}/invocations"
    commands = []
    for body, media in payloads(contract, contract.examples[0]).values():  # one row shows every shape
        data = "--data-binary" if media == "text/csv" else "-d"
        commands.append(f"curl -s {target} -H {shlex.quote(f'Content-Type: {media}')} {data} "
                        f"{shlex.quote(body.decode())}")  # fmt: skip
    return commands


def served_version(health: dict[str, Any]) -> str:
    """The version an endpoint serves, from its ``/health``: under several workers, every worker's, or
    ``"mixed (...)"`` while some have not swapped yet (a request may then get either)."""
    workers = health.get("workers") or {}
    versions = sorted({str(version) for version in workers.values()}) or [str(health.get("model_version"))]
    if len(versions) == 1:
        return versions[0]
    counts = {version: sum(str(v) == version for v in workers.values()) for version in versions}
    return "mixed (" + ", ".join(f"{count} worker(s) on {version}" for version, count in counts.items()) + ")"


def wait_for_version(url: str, version: str, timeout_s: float, poll_s: float = 1.0) -> str | None:
    """Poll ``/health`` until the endpoint (every worker of it) serves ``version``; the version it serves
    when the time is up (``None`` if it never answered)."""
    deadline = time.monotonic() + timeout_s
    serving: str | None = None
    while True:
        try:
            status, health = call(f"{url.rstrip('/')}/health", timeout_s=5)
            serving = served_version(health) if status == 200 else serving
        except OSError:
            pass
        if serving == str(version) or time.monotonic() >= deadline:
            return serving
        time.sleep(poll_s)


def release_checks(url: str, *, expected_model: str, alias: str, version: str, contract: DataContract,
                   max_p99_ms: float, requests: int = 200) -> CheckReport:  # fmt: skip
    """``smoke``, plus the expected version, every payload shape, and the p99 of one-row requests."""
    url = url.rstrip("/")
    report = smoke(url, expected_model=expected_model, alias=alias, contract=contract)
    failures = list(report.failures)
    if report.model_version != str(version):
        failures.append(f"version: serving {report.model_version}, expected {version}")
    example = contract.examples[0]
    shapes = payloads(contract, example)
    for shape, (body, media) in shapes.items():
        status, answer = call(f"{url}/invocations", body, media=media)
        if status != 200 or answer.get("predictions") != [example.label]:
            failures.append(f"payload {shape}: status {status}, answer {answer}")
    body, media = shapes["instances"]
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        call(f"{url}/invocations", body, media=media)
        timings.append((time.perf_counter() - started) * 1000)
    p99 = float(np.percentile(timings, 99))
    if p99 > max_p99_ms:
        failures.append(f"latency: p99 {p99:.1f} ms over {requests} one-row requests > {max_p99_ms:g} ms")
    return CheckReport(url, report.model_name, report.model_version, failures)
