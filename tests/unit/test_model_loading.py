"""Loading a registered version: the native pipeline (skops), its features, feature set and data contract from the
MLmodel file; a URI that is not a model is one RegistryError."""

from __future__ import annotations

import pytest

from src.data.contract import CONTRACT
from src.data.schema import DataContract
from src.models.model_loading import load_native_model, model_contract
from src.models.model_registry import RegistryError
from tests.conftest import use_store


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from pipelines.training_pipeline import run_training
    from src.models.training_plan import TrainingRequest

    with use_store(tmp_path_factory.mktemp("loading")):
        yield run_training(TrainingRequest(version="1.0.0", author="alice")).registered


def test_a_version_loads_with_what_its_mlmodel_says(registered):
    loaded = load_native_model(registered.uri)
    assert loaded.input_names == CONTRACT.input_names and loaded.feature_set.endswith(":v1")
    assert loaded.features == tuple(loaded.native[0].features)
    assert DataContract.from_dict(loaded.contract) == CONTRACT
    assert DataContract.from_dict(model_contract(registered.uri)) == CONTRACT  # read without loading the model


def test_a_uri_that_is_no_model_is_a_registry_error(registered):
    with pytest.raises(RegistryError, match="cannot load models:/nope/1"):
        load_native_model("models:/nope/1")
    with pytest.raises(RegistryError, match="cannot read models:/nope/1"):
        model_contract("models:/nope/1")
