"""The MLflow UI shows the project's runs as a model-training project: checked in headless Chromium.

A model is trained and validated into a store of its own, ``mlflow server`` serves that store, and Debian's
Chromium renders the pages (``--dump-dom`` after the page's scripts ran) a user opens: the link ``make train``
prints, the experiments' run tables, the registered version. With ``UI_SCREENSHOTS=<dir>`` (``make ui-check``)
each page is also saved as a PNG there, for a person to look at.

MLflow 3.17's UI opens an experiment in its GenAI view (traces, judges, a "Detect Issues" pop-up) unless the
link names the view (``workflowType=machine_learning``): every link the project prints carries it.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.data.contract import CONTRACT
from src.models.model_registry import Registry
from src.models.model_validator import validate_version
from src.models.training import TrainingResult
from src.models.training_plan import TrainingRequest
from src.utils.config import load_model_config, resolve_settings
from src.utils.mlflow_utils import TRAINING_VIEW
from src.utils.processes import ServerProcess, free_port, mlflow_server
from tests.conftest import require_tool, use_store
from tests.pack import EXPERIMENT, MODEL

pytestmark = [pytest.mark.integration, pytest.mark.system]

#: Where ``make train`` says the UI is; the rendered pages are asked of the test's own server instead.
PRINTED_UI = "http://127.0.0.1:5000/"
#: Virtual time the page may take (Chromium stops the clock while a request is pending): a loaded machine only
#: makes the render slower, not shorter.
BUDGET_MS = 20_000
ATTEMPTS = 3


@dataclass(frozen=True)
class Page:
    """A rendered page: its title and its visible text."""

    title: str
    text: str


@dataclass(frozen=True)
class Rendered:
    """The UI of a store holding one trained and validated version."""

    url: str
    training: TrainingResult
    validation_experiment_id: str
    browser: Callable[[str, Callable[[Page], bool]], Page]


def _page(dom: str) -> Page:
    """The title and the text a person sees (scripts, styles and markup dropped)."""
    title = re.search(r"<title>([^<]*)</title>", dom)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
    return Page(title=html.unescape(title.group(1)) if title else "", text=text)


def _browser(chromium: str, profile: Path, screenshots: Path | None) -> Callable[[str, Callable[[Page], bool]], Page]:
    """Render a URL until ``ready`` says the page is complete (a render can stop before the API answered)."""
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
             "--window-size=1600,1000", f"--virtual-time-budget={BUDGET_MS}"]  # fmt: skip

    def render(url: str, ready: Callable[[Page], bool]) -> Page:
        page = Page("", "")
        for _ in range(ATTEMPTS):
            done = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180)
            page = _page(done.stdout)
            if ready(page):
                break
        if screenshots is not None:
            name = re.sub(r"[^a-z0-9]+", "_", url.split("#/", 1)[-1].lower()).strip("_")[:80]
            subprocess.run([*flags, f"--screenshot={screenshots / name}.png", url], capture_output=True, timeout=180)
        return page

    return render


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    chromium = require_tool("chromium", "chromium-browser", "google-chrome", install="apt-get install chromium")
    root = tmp_path_factory.mktemp("ui-store")
    screenshots = Path(os.environ["UI_SCREENSHOTS"]).resolve() if os.environ.get("UI_SCREENSHOTS") else None
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    with use_store(root) as uri:
        training = run_training(TrainingRequest(version="1.0.0", author="alice"))
        assert validate_version(resolve_settings(), load_model_config(), version="1").passed
        gate = resolve_settings().validation_experiment_name
        validation_id = MlflowClient().get_experiment_by_name(gate).experiment_id
        server: ServerProcess = mlflow_server(uri, root / "served", free_port()).start()
        try:
            browser = _browser(chromium, tmp_path_factory.mktemp("chromium-profile"), screenshots)
            yield Rendered(server.url, training, validation_id, browser)
        finally:
            server.stop()


def test_the_link_make_train_prints_opens_the_run_in_the_model_training_view(ui):
    assert PRINTED_UI in ui.training.run_url
    link = ui.url + "/" + ui.training.run_url.split(PRINTED_UI, 1)[1]
    page = ui.browser(link, lambda p: ui.training.run_name in p.text)
    assert page.title == f"Run {ui.training.run_id} - MLflow", page.title
    assert ui.training.run_name in page.text and EXPERIMENT in page.text
    assert "Training of " in page.text  # the run's description
    assert f"Datasets {CONTRACT.name} (" in page.text  # the data set by name and digest, not a path
    for genai in ("Detect Issues", "Judges", "Sessions"):
        assert genai not in page.text, f"the GenAI view's {genai!r} is on the page"


def test_the_training_experiment_lists_training_runs_only(ui):
    link = f"{ui.url}/#/experiments/{ui.training.experiment_id}?{TRAINING_VIEW}"
    page = ui.browser(link, lambda p: "matching run" in p.text)
    assert page.title.startswith("Runs - Experiment"), page.title
    assert "1 matching run" in page.text and ui.training.run_name in page.text
    assert "_validation_" not in page.text and "_monitoring_" not in page.text


def test_the_gates_verdicts_are_runs_of_their_own_experiment(ui):
    link = f"{ui.url}/#/experiments/{ui.validation_experiment_id}?{TRAINING_VIEW}"
    page = ui.browser(link, lambda p: "matching run" in p.text)
    assert "1 matching run" in page.text and "v1.0.0_validation_" in page.text, page.text[:2000]
    assert f"{CONTRACT.name}_held_out (" in page.text, page.text[:2000]  # the evaluated rows by name


def test_the_registered_version_shows_a_verdict_not_a_tag_per_check(ui):
    version = Registry().version(MODEL, "1")
    page = ui.browser(f"{ui.url}/#/models/{MODEL}/versions/1", lambda p: "validation.status" in p.text)
    assert page.title.startswith(f"{MODEL} v1"), page.title
    assert "validation.status passed" in page.text and "validation.summary" in page.text, page.text[:3000]
    assert "validation.check" not in page.text
    assert len(version.tags) <= 20, sorted(version.tags)
