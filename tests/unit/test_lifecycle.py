"""The feature lifecycle: each gate is enforced, every step is recorded, registered formulas cannot change."""

import shutil

import pytest
import yaml

from src.features import lifecycle
from src.features.feature_set import FEATURES, get_feature
from src.features.lifecycle import LifecycleError, LifecycleStatus, advance, check, fingerprint, load_states
from src.features.versioned import FeatureDefinition
from src.utils.config import FeatureStoreProfile


@pytest.fixture
def record(tmp_path):
    """A copy of the lifecycle file to change."""
    path = tmp_path / "feature_lifecycle.yaml"
    shutil.copy(lifecycle.LIFECYCLE_FILE, path)
    return path


def test_shipped_record_is_consistent():
    assert check() == []
    assert set(load_states()) == set(FEATURES)


def test_a_feature_advances_one_step_and_the_step_is_recorded(record):
    assert advance("iris_sepal_ratio_v1", "alice", record) == (LifecycleStatus.LOCAL, LifecycleStatus.VALIDATED)
    state = load_states(record)["iris_sepal_ratio_v1"]
    assert (state.status, state.changed_by) == (LifecycleStatus.VALIDATED, "alice") and state.changed_at
    assert record.read_text().startswith("# Lifecycle state of every feature version")  # header kept
    assert advance("iris_sepal_ratio_v1", "alice", record)[1] is LifecycleStatus.REFACTORED


def test_registration_needs_the_feature_store(record, tmp_path, monkeypatch):
    monkeypatch.setattr(lifecycle, "registration_store", lambda: FeatureStoreProfile(directory=tmp_path / "none"))
    with pytest.raises(
        LifecycleError, match="REGISTERED gate is not met: applied and materialised in the feature store"
    ):
        advance("iris_petal_ratio_v1", "alice", record)
    assert load_states(record)["iris_petal_ratio_v1"].status is LifecycleStatus.REFACTORED


def _untested(name: str, formula: str, owner: str = "someone") -> FeatureDefinition:
    return FeatureDefinition("iris", name, 1, "a description", owner, formula)


@pytest.mark.parametrize(
    ("definition", "condition"),
    [
        (_untested("tmp_constant", "petal_length_cm * 0 + 1"), "not constant"),
        (_untested("tmp_nulls", "petal_length_cm / 0 * 0"), "no nulls"),
        (_untested("tmp_leak", "species"), "no label leakage"),
        (_untested("tmp_untested", "petal_length_cm + 1"), "has unit tests"),
    ],
    ids=["constant", "nulls", "leakage", "untested"],
)
def test_validated_gate_names_what_is_unmet(monkeypatch, record, definition, condition):
    monkeypatch.setitem(lifecycle.__dict__, "get_feature", lambda name: definition)
    with pytest.raises(LifecycleError, match=f"VALIDATED gate is not met: .*{condition}"):
        advance(definition.name, "alice", record)


def test_refactored_gate_needs_the_contract_s_columns_and_an_owner(monkeypatch, record):
    definition = _untested("tmp_local", "stem_length_cm + 1", owner=" ")
    results = {r.condition: r.met for r in lifecycle._refactored_gate(definition)}
    assert results == {"fits the data contract": False, "has an owner": False, "has a description": True,
                       "named by convention": True}  # fmt: skip


def test_a_changed_registered_formula_fails_the_check(record):
    definition = get_feature("iris_petal_ratio_v1")
    content = yaml.safe_load(record.read_text())
    content["features"]["iris_petal_ratio_v1"] = {"status": "REGISTERED", "fingerprint": fingerprint(definition)}
    record.write_text(yaml.safe_dump(content))
    (unnamed,) = check(record)
    assert unnamed == "iris_petal_ratio_v1: REGISTERED, but the record does not name the store (registered_in)"
    content["features"]["iris_petal_ratio_v1"]["registered_in"] = "feature_store/ (project iris)"
    record.write_text(yaml.safe_dump(content))
    assert check(record) == []
    content["features"]["iris_petal_ratio_v1"]["fingerprint"] = "0123456789abcdef"  # registered with another body
    record.write_text(yaml.safe_dump(content))
    (problem,) = check(record)
    assert "iris_petal_ratio_v1: REGISTERED, but its formula changed" in problem


def test_fingerprint_follows_the_formula():
    assert fingerprint(get_feature("iris_petal_ratio_v1")) != fingerprint(get_feature("iris_petal_ratio_v2"))
    assert fingerprint(get_feature("iris_petal_ratio_v1")) == fingerprint(get_feature("iris_petal_ratio_v1"))


def test_unrecorded_and_unknown_features_are_reported(record):
    content = yaml.safe_load(record.read_text())
    del content["features"]["iris_sepal_ratio_v1"]
    content["features"]["iris_ghost_v1"] = {"status": "LOCAL"}
    record.write_text(yaml.safe_dump(content))
    assert sorted(check(record)) == [
        "iris_ghost_v1: in the lifecycle file but not defined",
        "iris_sepal_ratio_v1: defined but has no lifecycle entry",
    ]


def test_status_says_where_a_feature_was_registered_and_that_the_store_here_is_not_built(tmp_path):
    nowhere = FeatureStoreProfile(directory=tmp_path / "none", project="iris")
    header, *lines = lifecycle.status_lines(load_states(), nowhere)
    assert (
        header == f"feature store of this profile: {tmp_path / 'none'} (project iris): not built here (make features)"
    )
    by_name = {line.split()[0]: line for line in lines}
    assert by_name["iris_sepal_ratio_v1"].split() == ["iris_sepal_ratio_v1", "LOCAL"]
    assert by_name["iris_petal_area_cm2_v1"] == (
        "iris_petal_area_cm2_v1       REGISTERED  registered in feature_store/ (project iris); not in the store here"
    )
