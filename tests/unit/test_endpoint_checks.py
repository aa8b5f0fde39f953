"""Release checks against a live endpoint: the in-memory app served by uvicorn on a free port of 127.0.0.1."""

from __future__ import annotations

import shlex
import threading
import time

import pytest
import uvicorn

from src.components.alias_watcher import ModelSlot
from src.components.endpoint_checks import call, served_version, smoke
from src.components.serving import ServingConfig, create_app
from src.data.contract import CONTRACT
from src.utils.config import resolve_settings
from tests.conftest import free_port

MODEL = resolve_settings(environ={}).model_name_for("dev")  # the in-memory scorer's


@pytest.fixture(scope="module")
def url(memory_scorer):
    port = free_port()
    app = create_app(ModelSlot(memory_scorer), ServingConfig(model_name=MODEL, alias="staging"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test endpoint did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_good_endpoint_passes(url):
    report = smoke(url, expected_model=MODEL, alias="staging", contract=CONTRACT)
    assert report.passed and report.model_version == "1" and "passed" in report.summary()


def test_the_wrong_model_or_alias_fails_the_health_check(url):
    report = smoke(url + "/", expected_model=MODEL, alias="production", contract=CONTRACT)
    assert not report.passed and report.failures[0].startswith("health:")


def test_an_http_error_is_returned_not_raised(url):
    status, body = call(f"{url}/invocations", b"{}")
    assert status == 400 and body["error_code"] == "BAD_REQUEST"


def test_an_unreachable_endpoint_raises_oserror():
    with pytest.raises(OSError):
        smoke(f"http://127.0.0.1:{free_port()}", expected_model=MODEL, alias="staging", contract=CONTRACT)


def test_the_release_checks_cover_every_payload_shape_the_version_and_latency(url):
    from src.components.endpoint_checks import release_checks

    report = release_checks(
        url, expected_model=MODEL, alias="staging", version="1", contract=CONTRACT, max_p99_ms=1000, requests=20
    )
    assert report.passed, report.failures
    wrong = release_checks(
        url, expected_model=MODEL, alias="staging", version="2", contract=CONTRACT, max_p99_ms=0.0001, requests=5
    )
    assert [f.split(":")[0] for f in wrong.failures] == ["version", "latency"]


def test_waiting_for_a_version_returns_what_is_served_when_time_is_up(url):
    from src.components.endpoint_checks import wait_for_version

    assert wait_for_version(url, "1", timeout_s=5) == "1"
    assert wait_for_version(url, "7", timeout_s=0.3, poll_s=0.1) == "1"
    assert wait_for_version(f"http://127.0.0.1:{free_port()}", "1", timeout_s=0.2, poll_s=0.1) is None


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        ({"model_version": "3"}, "3"),
        ({"model_version": "4", "workers": {"11": "4", "12": "4"}}, "4"),
        ({"model_version": "4", "workers": {"11": "4", "12": "3", "13": "4"}},
         "mixed (1 worker(s) on 3, 2 worker(s) on 4)"),
    ],
)  # fmt: skip
def test_a_rollout_counts_only_when_every_worker_serves_the_version(health, expected):
    assert served_version(health) == expected


def test_each_printed_curl_command_is_answered_with_the_example_s_class(url):
    from src.components.endpoint_checks import curl_commands

    commands = curl_commands(url + "/", CONTRACT)
    answers = []
    for command in commands:
        words = shlex.split(command)  # as the shell would split it
        assert words[:3] == ["curl", "-s", f"{url}/invocations"] and words[3] == "-H"
        media = words[4].removeprefix("Content-Type: ")
        status, body = call(words[2], words[6].encode(), media=media)
        answers.append((words[5], status, body.get("predictions")))
    label = CONTRACT.examples[0].label
    assert answers == [(flag, 200, [label]) for flag in ["-d"] * 4 + ["--data-binary"]]
