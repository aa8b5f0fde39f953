"""What governance.yaml means per promotion mode: the strongest permission on a shared model, one per catalog."""

from __future__ import annotations

import pytest

from src.governance.policy import Grant, Resource, desired_grants, governed, members, stronger
from src.utils.config import load_governance_config, resolve_settings

NO_OVERRIDES: dict[str, str] = {}


@pytest.fixture
def catalogs(write_config):
    return resolve_settings(path=write_config("environment.yaml", {"promotion_mode": "catalogs"}), environ=NO_OVERRIDES)


@pytest.fixture
def aliases():
    return resolve_settings(environ=NO_OVERRIDES)


def _held(grants: list[Grant], user: str) -> dict[str, str]:
    return {grant.resource.name: grant.permission for grant in grants if grant.user == user}


def test_stronger_follows_mlflows_order():
    assert stronger("READ", "EDIT") == "EDIT"
    assert stronger("MANAGE", "USE") == "MANAGE"
    assert stronger("NO_PERMISSIONS", "READ") == "READ"


def test_aliases_mode_governs_one_model_and_four_experiments(aliases):
    kinds = sorted(r.type for r in governed(aliases))
    assert kinds == ["experiment"] * 4 + ["registered_model"]
    assert Resource("experiment", aliases.validation_experiment_name) in governed(aliases)
    assert Resource("experiment", aliases.monitoring_experiment_name) in governed(aliases)
    assert Resource("registered_model", aliases.model_name_for("production")) in governed(aliases)


def test_aliases_mode_gives_the_strongest_of_the_three_environments(aliases):
    grants = desired_grants(load_governance_config(), aliases)
    model = aliases.model_name_for("dev")
    assert _held(grants, "alice@example.com")[model] == "EDIT"  # dev EDIT wins over production READ
    assert _held(grants, "release-manager@example.com")[model] == "MANAGE"
    assert _held(grants, "auditor@example.com")[model] == "READ"


def test_only_the_monitoring_job_writes_the_monitoring_passes(aliases):
    config = load_governance_config()
    grants = desired_grants(config, aliases)
    experiment = aliases.monitoring_experiment_name
    writers = {member for member in members(config) if _held(grants, member).get(experiment) == "EDIT"}
    assert writers == set(config.roles["monitoring"].members) and writers


def test_catalogs_mode_gives_a_permission_per_environment(catalogs):
    grants = desired_grants(load_governance_config(), catalogs)
    alice = _held(grants, "alice@example.com")
    assert alice[catalogs.model_name_for("dev")] == "EDIT"
    assert alice[catalogs.model_name_for("staging")] == "READ"
    assert alice[catalogs.model_name_for("production")] == "READ"
    assert _held(grants, "ci-staging")[catalogs.model_name_for("staging")] == "EDIT"
    assert len({r.name for r in governed(catalogs) if r.type == "registered_model"}) == 3


def test_a_grant_equal_to_the_default_is_left_to_the_default(write_config, aliases):
    path = write_config("governance.yaml", {"default_permission": "READ"})
    grants = desired_grants(load_governance_config(path), aliases)
    assert "auditor@example.com" not in {g.user for g in grants}  # READ everywhere: the default says it


def test_members_maps_each_person_to_the_role():
    assert members(load_governance_config())["ci-staging"] == "ci_staging"
