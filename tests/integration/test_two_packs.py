"""Two projects built on this platform, each with its own model pack: their models load and predict side by side.

The penguins project (tests/packs/penguins: categories, missing values, a
gradient-boosting model) is made as a team would have it and trains from its
own checkout, in a process of its own; the Iris model trains here. Both are
then loaded into this one process, through the platform's scorer and through
MLflow's pyfunc, in both orders: each computes its own features (the fitted
feature step carries its formulas) and predicts its own example rows.
"""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow.pyfunc
import pandas as pd
import pytest

from pipelines.training_pipeline import run_training
from src.components.scoring import load_scorer
from src.data.contract import CONTRACT
from src.data.schema import DataContract
from src.models.model_loading import model_contract
from src.models.training_plan import TrainingRequest
from tests.conftest import use_store
from tests.packs import project_with

pytestmark = pytest.mark.integration

PENGUINS = "dev_catalog.ml_models.eco_penguins_species_classifier"
IRIS = "dev_catalog.ml_models.ds_iris_species_classifier"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """One store holding a model of each project: the penguins one trained in its own checkout and process."""
    root = tmp_path_factory.mktemp("two-packs")
    project = project_with("penguins", root / "penguins")
    with use_store(root / "store") as uri:
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri, "PYTHONPATH": str(project)}
        trained = subprocess.run([sys.executable, "-m", "src.models.train_model", "--version", "1.0.0"],
                                 cwd=project, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert f"model:      {PENGUINS} version 1 (alias @dev)" in trained.stdout
        run_training(TrainingRequest(version="1.0.0", author="alice"))
        yield uri


def _examples(contract: DataContract) -> pd.DataFrame:
    return pd.DataFrame(contract.example_records(), columns=list(contract.input_names))


def test_each_model_carries_its_own_contract(store):
    penguins = DataContract.from_dict(model_contract(f"models:/{PENGUINS}@dev"))
    assert penguins.name == "penguins" and penguins.column("island").kind == "categorical"
    assert penguins.column("sex").nullable and penguins.entity_key == "penguin_id"
    assert DataContract.from_dict(model_contract(f"models:/{IRIS}@dev")) == CONTRACT


@pytest.mark.parametrize("order", [(IRIS, PENGUINS), (PENGUINS, IRIS)], ids=["iris-first", "penguins-first"])
def test_both_models_predict_their_own_rows_in_one_process(store, order):
    scorers = {name: load_scorer(name, alias="dev") for name in order}
    for name, scorer in scorers.items():
        contract = scorer.contract
        predicted = scorer.score_frame(_examples(contract))["prediction"].tolist()
        assert predicted == list(contract.example_labels), name
    penguins = scorers[PENGUINS]
    assert penguins.path == "the fitted pipeline"  # categories and imputers: the pipeline itself answers
    gaps = _examples(penguins.contract).assign(sex=None, body_mass_g=float("nan"))
    assert penguins.score_frame(gaps)["prediction"].tolist() == list(penguins.contract.example_labels)


def test_mlflow_s_own_loader_serves_both_side_by_side(store):
    models = {name: mlflow.pyfunc.load_model(f"models:/{name}@dev") for name in (IRIS, PENGUINS)}
    for name, model in models.items():
        contract = DataContract.from_dict(model.metadata.metadata["data_contract"])
        assert [str(p) for p in model.predict(_examples(contract))] == list(contract.example_labels), name
