"""A training request becomes a checked plan, or is refused before anything is imported or tracked."""

from __future__ import annotations

import pytest

from src.models.training_plan import TrainingRefused, TrainingRequest, plan_training
from src.utils.config import load_environment_config

WHO = load_environment_config().project


@pytest.fixture(scope="module")
def plan():
    return plan_training(TrainingRequest(version="1.2.0", context="full", build_id="42", author="alice"))


def test_the_plan_follows_the_naming_conventions(plan):
    assert plan.run_name == "v1.2.0_full_build_42" and plan.experiment == f"/{WHO.team}/{WHO.project}/{WHO.model_name}"
    assert plan.feature_set_label.endswith(":v1") and plan.author == "alice"


@pytest.mark.parametrize(
    ("request_", "refusal"),
    [
        (TrainingRequest(version="1.2"), "MAJOR.MINOR.PATCH"),
        (TrainingRequest(version="1.0.0", experiment="/other-team/x/y"), "does not belong to this project"),
        (TrainingRequest(version="1.0.0", experiment="no-slashes"), "does not follow the convention"),
    ],
    ids=["version", "foreign-experiment", "bad-experiment"],
)
def test_a_bad_request_is_refused_before_anything_is_tracked(request_, refusal):
    with pytest.raises(TrainingRefused, match=refusal):
        plan_training(request_)
