"""The training job's steps before MLflow: data -> fit -> evaluate -> plots, and the params and tags it logs."""

from __future__ import annotations

import pytest

from src.data.contract import CONTRACT, load_bundled
from src.models import training
from src.models.training_plan import TrainingRequest, plan_training
from src.utils.git_info import GitInfo
from src.utils.keys import Param, Tag


@pytest.fixture(scope="module")
def plan():
    return plan_training(TrainingRequest(version="1.2.0", context="full", build_id="42", author="alice"))


@pytest.fixture(scope="module")
def trained(plan):
    return training._train(plan)


def test_training_fits_evaluates_and_draws_without_mlflow(trained):
    assert trained.metrics["val_accuracy"] > 0.8 and set(trained.metrics) >= {"train_accuracy", "val_f1_macro"}
    assert trained.importance_png.startswith(b"\x89PNG") and trained.confusion_png.startswith(b"\x89PNG")
    assert trained.trusted_types  # the feature step, at least


def test_the_input_example_has_one_row_per_species(trained):
    example = training._input_example(trained.split)
    assert len(example) == len(CONTRACT.classes) and sorted(trained.model.predict(example)) == sorted(CONTRACT.classes)


def test_params_and_tags_use_the_contract_keys(plan, trained):
    git = GitInfo("a" * 40, "main", dirty=False)
    build = training._build(plan, trained, git)
    params, tags = training._params(plan, trained), training._run_tags(plan, git, build)
    assert {Param.DATA_DIGEST, Param.SPLIT_TEST_SIZE, Param.RANDOM_SEED, Param.FEATURES} <= set(params)
    assert params[Param.DATA_ROWS] == len(load_bundled())
    assert tags[Tag.BUILD_ID] == "42" and tags[Tag.AUTHOR] == "alice" and tags[Tag.GIT_DIRTY] == "false"
    assert tags[Tag.BUILD_FINGERPRINT] == build.fingerprint != ""


def test_the_build_is_the_code_the_data_and_the_parameters_but_not_where_the_data_lies(plan, trained):
    git = GitInfo("a" * 40, "main", dirty=False)
    build = training._build(plan, trained, git)
    assert Param.DATA_URI not in build.configuration and build.data_digest == trained.dataset.digest
    assert build.configuration[Param.RANDOM_SEED] == plan.model_config.random_seed
    assert training._build(plan, trained, GitInfo("a" * 40, "main", dirty=True)).tag.startswith("none")
