"""A project made by ``make new-model`` for the Palmer penguins (categories, missing values, gradient boosting),
taken through its whole lifecycle in its own checkout; its model and this repository's loaded side by side; and
``copier update`` bringing it a later template change while its model pack stays its own.

The template is this working tree as a git repository of its own (one commit, then the change), so the test
renders what is here, committed or not. Every command of the new project runs there, in a process of its own
(its ``src`` is not this one), with the suite's latency budget.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml

from pipelines.training_pipeline import run_training
from src.components.scoring import load_scorer
from src.data.contract import CONTRACT
from src.data.schema import DataContract
from src.models.model_loading import model_contract
from src.models.training_plan import TrainingRequest
from src.scaffold.generate import THIS_PROJECTS_SETTINGS
from src.scaffold.pack_writer import PACK_FILES
from src.utils.config import PROJECT_ROOT
from src.utils.processes import ServerProcess
from tests.conftest import SUITE_LATENCY_BUDGET, free_port, use_store

pytestmark = [
    pytest.mark.integration,
    pytest.mark.system,
    pytest.mark.skipif(not (PROJECT_ROOT / "copier.yml").is_file(), reason="a project made from the template is not "
                       "a template itself: it makes no project of its own"),
]  # fmt: skip

EXAMPLE = PROJECT_ROOT / "examples" / "answers" / "penguins.yml"
PENGUINS = "dev_catalog.ml_models.eco_penguins_species_classifier"
IRIS = "dev_catalog.ml_models.ds_iris_species_classifier"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
GENTOO_WITH_GAPS = ["Biscoe", 47.5, 15.0, 217.0, None, None]  # body mass and sex missing
#: Each (module, argv) in turn, as its command line would; the first that does not exit 0 stops the run.
RUN_MAINS = """
import importlib, json, sys
for module, argv in json.loads(sys.argv[1]):
    code = importlib.import_module(module).main(argv)
    if code:
        sys.exit(f"{module} {' '.join(argv)}: exit {code}")
"""


def _git(root: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    return subprocess.run(["git", *identity, *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _template_of_this_tree(destination: Path) -> Path:
    """This repository's files as they are here (tracked or new, committed or not), as a template repository."""
    listed = _git(PROJECT_ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        if (PROJECT_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, destination / name)
    _git(destination, "init", "--quiet", "--initial-branch", "main")
    _git(destination, "add", "--all")
    _git(destination, "commit", "--quiet", "-m", "template v1")
    _git(destination, "tag", "v1")
    return destination


class Project:
    """The generated project: its commands run in its own checkout, on its own embedded store."""

    def __init__(self, root: Path, config: Path) -> None:
        self.root = root
        environ = {k: v for k, v in os.environ.items() if k not in THIS_PROJECTS_SETTINGS}
        self.env = {**environ, "PYTHONPATH": str(root), "ML_MODEL_CONFIG": str(config)}
        self.store = f"sqlite:///{root / 'mlflow.db'}"

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *command], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip

    def ok(self, *command: str) -> str:
        done = self.run(*command)
        assert done.returncode == 0, f"{command}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
        return done.stdout

    def mains(self, *commands: tuple[str, list[str]]) -> str:
        """Run its commands' ``main(argv)`` one after the other in one process of its own: its imports are paid
        once (each command alone is a new interpreter loading MLflow, ~4 s on a busy machine)."""
        return self.ok("-c", RUN_MAINS, json.dumps(commands))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The template (this tree, committed as v1), the project made from it, and what make new-model printed."""
    root = tmp_path_factory.mktemp("new-model")
    template = _template_of_this_tree(root / "template")
    destination = root / "penguins"
    done = subprocess.run([sys.executable, str(template / "scripts" / "new_model.py"), "--answers", str(EXAMPLE),
                           "--dest", str(destination)], cwd=template, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(template)}, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return template, destination, done.stdout


@pytest.fixture(scope="module")
def project(made, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The made project, trained, validated and promoted to production (approved by another person)."""
    _, root, _ = made
    config = yaml.safe_load((root / "configs" / "model_config.yaml").read_text())
    config["validation"]["latency"].update(SUITE_LATENCY_BUDGET)
    suite_config = tmp_path_factory.mktemp("penguins-config") / "model_config.yaml"
    suite_config.write_text(yaml.safe_dump(config))
    here = Project(root, suite_config)
    here.mains(
        ("src.models.train_model", ["--version", "1.0.0", "--author", "alice@example.com"]),
        ("scripts.validate_model", ["--alias", "dev"]),
        ("scripts.promote_model", ["--to", "staging", "--actor", "alice@example.com"]),
        ("scripts.promote_model", ["--to", "production", "--approved-by", "bob@example.com", "--reason", "CHG-1"]),
    )
    return here


def test_the_new_project_has_its_own_names_pack_and_first_commit(made):
    _, root, printed = made
    assert "made " in printed and "review:  src/data/contract.py" in printed
    assert "project: penguins" in (root / ".copier-answers.yml").read_text()
    environment = yaml.safe_load((root / "configs" / "environment.yaml").read_text())
    assert environment["project"] == {"team": "ecology", "team_code": "eco", "project": "penguins",
                                      "model_name": "species_classifier", "owner": "ecology@example.com",
                                      "use_case": yaml.safe_load(EXAMPLE.read_text())["use_case"]}  # fmt: skip
    assert "penguins-release-managers" in (root / "configs" / "governance.yaml").read_text()
    assert "`eco_penguins_species_classifier`" in (root / "deploy" / "unity_catalog" / "grants.sql").read_text()
    assert (root / "data" / "penguins.csv").read_bytes() == (EXAMPLE.parent / "penguins.csv").read_bytes()
    assert "penguins_island_v1" in (root / "docs" / "FEATURE_CATALOG.md").read_text()
    assert _git(root, "status", "--porcelain") == "" and len(_git(root, "log", "--oneline").splitlines()) == 1
    assert not any(p.suffix == ".jinja" for p in root.rglob("*")) and not (root / "copier.yml").exists()


def test_its_lint_checks_of_the_pack_pass(project):
    project.mains(("src.features.lifecycle", ["check"]), ("src.features.catalog", ["--check"]),
                  ("scripts.uc_grants", ["--check"]), ("scripts.model_card", ["--check"]))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "."], cwd=project.root,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_its_endpoint_batch_and_monitoring_serve_its_columns(project, tmp_path):
    port, log = free_port(), tmp_path / "inference.db"
    endpoint = ServerProcess("penguins endpoint", [sys.executable, "scripts/deploy_endpoint.py", "--alias",
                             "production", "--port", str(port), "--inference-log", str(log)], "127.0.0.1", port,
                             "/ping", env=project.env, log=tmp_path / "endpoint.log", cwd=project.root)  # fmt: skip
    url = f"http://127.0.0.1:{port}/invocations"
    record = dict(zip(COLUMNS, GENTOO_WITH_GAPS, strict=True))
    csv = "\n".join([",".join(COLUMNS), ",".join("" if v is None else str(v) for v in GENTOO_WITH_GAPS)]) + "\n"
    payloads = {
        "dataframe_records": json.dumps({"dataframe_records": [record]}),
        "dataframe_split": json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [GENTOO_WITH_GAPS]}}),
        "inputs": json.dumps({"inputs": {c: [v] for c, v in record.items()}}),
        "instances": json.dumps({"instances": [record]}),
    }
    with endpoint:
        for shape, body in payloads.items():
            assert _post(url, body.encode()) == (200, {"predictions": ["Gentoo"]}), shape
        assert _post(url, csv.encode(), "text/csv") == (200, {"predictions": ["Gentoo"]})
        status, refused = _post(url, json.dumps({"dataframe_records": [{**record, "island": "Atlantis"}]}).encode())
        assert status == 400 and refused["field"] == "island"
    project.ok("-m", "src.data.load_data", "sample", str(tmp_path / "sample.parquet"))
    scored = project.ok("pipelines/inference_pipeline.py", "--alias", "production", "--input",
                        str(tmp_path / "sample.parquet"), "--output", str(tmp_path / "scored.parquet"))  # fmt: skip
    assert "scored 344 of 344 rows" in scored
    predictions = pd.read_parquet(tmp_path / "scored.parquet")["prediction"].value_counts().to_dict()
    assert set(predictions) == {"Adelie", "Chinstrap", "Gentoo"}
    judged = project.run("scripts/monitor_model.py", "--alias", "production", "--log", str(log),
                         "--output-dir", str(tmp_path / "reports"))  # fmt: skip
    assert judged.returncode == 0, judged.stdout + judged.stderr
    assert f"{PENGUINS}@production" in judged.stdout and "6 requests" in judged.stdout


# --- its model beside this repository's, in one process -------------------------------------


@pytest.fixture(scope="module")
def both(project: Project) -> Iterator[str]:
    """This repository's Iris model trained into the penguins project's store: one store, two projects' models."""
    with use_store(project.root) as uri:  # its mlflow.db, which the lifecycle above made
        run_training(TrainingRequest(version="1.0.0", author="alice"))
        yield uri


def _examples(contract: DataContract) -> pd.DataFrame:
    return pd.DataFrame(contract.example_columns())


def test_each_model_carries_its_own_contract(both):
    penguins = DataContract.from_dict(model_contract(f"models:/{PENGUINS}@production"))
    assert penguins.name == "penguins" and penguins.column("island").kind == "categorical"
    assert penguins.column("sex").nullable and penguins.entity_key == "penguin_id"
    assert DataContract.from_dict(model_contract(f"models:/{IRIS}@dev")) == CONTRACT


@pytest.mark.parametrize("order", [("iris", "penguins"), ("penguins", "iris")], ids=["iris-first", "penguins-first"])
def test_both_models_predict_their_own_rows_in_one_process(both, order):
    where = {"iris": (IRIS, "dev"), "penguins": (PENGUINS, "production")}
    scorers = {name: load_scorer(where[name][0], alias=where[name][1]) for name in order}
    for name, scorer in scorers.items():
        predicted = scorer.score_frame(_examples(scorer.contract))["prediction"].tolist()
        assert predicted == list(scorer.contract.example_labels), name
    penguins = scorers["penguins"]
    assert penguins.path == "the fitted pipeline"  # categories and imputers: the pipeline itself answers
    gaps = _examples(penguins.contract).assign(sex=None, body_mass_g=float("nan"))
    assert penguins.score_frame(gaps)["prediction"].tolist() == list(penguins.contract.example_labels)


def test_mlflow_s_own_loader_serves_both_side_by_side(both):
    models = {uri: mlflow.pyfunc.load_model(uri) for uri in (f"models:/{IRIS}@dev", f"models:/{PENGUINS}@production")}
    for uri, model in models.items():
        contract = DataContract.from_dict(model.metadata.metadata["data_contract"])
        assert [str(p) for p in model.predict(_examples(contract))] == list(contract.example_labels), uri


# --- copier update -------------------------------------------------------------------------


def test_copier_update_brings_a_platform_change_and_keeps_the_pack(made, project, tmp_path):
    template, made_root, _ = made
    assert _git(made_root, "status", "--porcelain") == ""  # what the lifecycle wrote is ignored: copier needs that
    root = tmp_path / "clone"  # a clone of the project, which the update changes (the other tests read the made one)
    _git(tmp_path, "clone", "--quiet", str(made_root), str(root))
    pack = {name: (root / name).read_bytes() for name in PACK_FILES}
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    processes = template / "src" / "utils" / "processes.py"
    processes.write_text(processes.read_text() + "\n\n#: A platform change of template v2.\nTEMPLATE_V2 = True\n")
    _git(template, "commit", "--quiet", "--all", "-m", "template v2: a platform change")
    _git(template, "tag", "v2")
    copier = Path(sys.executable).with_name("copier")
    done = subprocess.run([str(copier), "update", "--trust", "--defaults", "--quiet", "--vcs-ref", "v2"], cwd=root,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TEMPLATE_V2 = True" in (root / "src" / "utils" / "processes.py").read_text()
    assert {name: (root / name).read_bytes() for name in PACK_FILES} == pack
    updated = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert updated["_commit"] == "v2" and {k: v for k, v in updated.items() if k != "_commit"} == {
        k: v for k, v in answers.items() if k != "_commit"}  # fmt: skip
    clone = Project(root, Path(project.env["ML_MODEL_CONFIG"]))
    tests = clone.run("-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                        "tests/unit/test_contract.py", "tests/unit/test_features.py")  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-2000:]
