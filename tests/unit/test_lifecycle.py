"""The feature lifecycle: each gate is enforced, every step is recorded, registered formulas cannot change.

The steps are taken by a probe feature of this file (``probe_doubled_v1``: the gate's "has unit tests" finds its
name here) over the pack's first bounded numeric input; the checks of the record use the pack's own features.
"""

import shutil

import pytest
import yaml

from src.data.contract import CONTRACT
from src.features import lifecycle
from src.features.feature_definitions import DEFINITIONS
from src.features.feature_set import FEATURES
from src.features.lifecycle import LifecycleError, LifecycleStatus, advance, check, fingerprint, load_states
from src.features.versioned import FeatureDefinition
from src.utils.config import FeatureStoreProfile
from tests.pack import NUMERIC

PROBE = "probe_doubled_v1"
FIRST = DEFINITIONS[0].name


def _probe(name: str = "doubled", formula: str = f"{NUMERIC.name} * 2", owner: str = "someone") -> FeatureDefinition:
    return FeatureDefinition("probe", name, 1, "a description", owner, formula)


@pytest.fixture
def record(tmp_path, monkeypatch):
    """A copy of the lifecycle file to change, with the probe feature defined and LOCAL."""
    path = tmp_path / "feature_lifecycle.yaml"
    shutil.copy(lifecycle.LIFECYCLE_FILE, path)
    content = yaml.safe_load(path.read_text())
    content["features"][PROBE] = {"status": "LOCAL"}
    path.write_text("# Lifecycle state of every feature version\n" + yaml.safe_dump(content))
    monkeypatch.setitem(lifecycle.__dict__, "get_feature", lambda name: _probe() if name == PROBE else None)
    return path


def test_shipped_record_is_consistent():
    assert check() == []
    assert set(load_states()) == set(FEATURES)


def test_a_feature_advances_one_step_and_the_step_is_recorded(record):
    assert advance(PROBE, "alice", record) == (LifecycleStatus.LOCAL, LifecycleStatus.VALIDATED)
    state = load_states(record)[PROBE]
    assert (state.status, state.changed_by) == (LifecycleStatus.VALIDATED, "alice") and state.changed_at
    assert record.read_text().startswith("# Lifecycle state of every feature version")  # header kept
    assert advance(PROBE, "alice", record)[1] is LifecycleStatus.REFACTORED


def test_advance_to_steps_through_each_gate_and_stops_where_one_is_unmet(record, tmp_path, monkeypatch):
    monkeypatch.setattr(lifecycle, "registration_store", lambda: FeatureStoreProfile(directory=tmp_path / "none"))
    steps = lifecycle.advance_to(PROBE, "alice", "REFACTORED", record)
    assert [after for _, after in steps] == [LifecycleStatus.VALIDATED, LifecycleStatus.REFACTORED]
    assert lifecycle.advance_to(PROBE, "alice", "VALIDATED", record) == []  # already beyond: nothing moves
    with pytest.raises(LifecycleError, match="REGISTERED gate is not met: applied and materialised in the feature"):
        lifecycle.advance_to(PROBE, "alice", "REGISTERED", record)
    assert load_states(record)[PROBE].status is LifecycleStatus.REFACTORED


@pytest.mark.parametrize(
    ("definition", "condition"),
    [
        (_probe("constant", f"{NUMERIC.name} * 0 + 1"), "not constant"),
        (_probe("nulls", f"{NUMERIC.name} / 0"), "no nulls"),  # infinite: never a value, gaps or not
        (_probe("leak", CONTRACT.target.name), "no label leakage"),
        (_probe("untested", f"{NUMERIC.name} + 1"), "has unit tests"),
    ],
    ids=["constant", "nulls", "leakage", "untested"],
)
def test_validated_gate_names_what_is_unmet(monkeypatch, record, definition, condition):
    monkeypatch.setitem(lifecycle.__dict__, "get_feature", lambda name: definition)
    with pytest.raises(LifecycleError, match=f"VALIDATED gate is not met: .*{condition}"):
        advance(definition.name, "alice", record)


def test_refactored_gate_needs_the_contract_s_columns_and_an_owner():
    definition = _probe("local", "stem_length_cm + 1", owner=" ")
    results = {r.condition: r.met for r in lifecycle._refactored_gate(definition)}
    assert results == {"fits the data contract": False, "has an owner": False, "has a description": True,
                       "named by convention": True}  # fmt: skip


def test_a_changed_registered_formula_fails_the_check(tmp_path):
    path = tmp_path / "feature_lifecycle.yaml"
    content = yaml.safe_load(lifecycle.LIFECYCLE_FILE.read_text())
    content["features"][FIRST] = {"status": "REGISTERED", "fingerprint": fingerprint(DEFINITIONS[0])}
    path.write_text(yaml.safe_dump(content))
    (unnamed,) = check(path)
    assert unnamed == f"{FIRST}: REGISTERED, but the record does not name the store (registered_in)"
    content["features"][FIRST]["registered_in"] = "feature_store/ (project p)"
    path.write_text(yaml.safe_dump(content))
    assert check(path) == []
    content["features"][FIRST]["fingerprint"] = "0123456789abcdef"  # registered with another body
    path.write_text(yaml.safe_dump(content))
    (problem,) = check(path)
    assert f"{FIRST}: REGISTERED, but its formula changed" in problem


def test_fingerprint_follows_the_formula():
    assert fingerprint(_probe()) == fingerprint(_probe())
    assert fingerprint(_probe()) != fingerprint(_probe(formula=f"{NUMERIC.name} * 3"))


def test_unrecorded_and_unknown_features_are_reported(tmp_path):
    path = tmp_path / "feature_lifecycle.yaml"
    content = yaml.safe_load(lifecycle.LIFECYCLE_FILE.read_text())
    del content["features"][FIRST]
    content["features"]["probe_ghost_v1"] = {"status": "LOCAL"}
    path.write_text(yaml.safe_dump(content))
    assert sorted(check(path)) == sorted([
        "probe_ghost_v1: in the lifecycle file but not defined",
        f"{FIRST}: defined but has no lifecycle entry",
    ])  # fmt: skip


def test_status_says_where_a_feature_was_registered_and_that_the_store_here_is_not_built(tmp_path):
    nowhere = FeatureStoreProfile(directory=tmp_path / "none", project="p")
    states = load_states()
    header, *lines = lifecycle.status_lines(states, nowhere)
    assert header == f"feature store of this profile: {tmp_path / 'none'} (project p): not built here (make features)"
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == {d.name for d in DEFINITIONS}
    for name, state in states.items():
        if state.status is LifecycleStatus.REGISTERED:
            assert by_name[name] == (f"{name:<28} REGISTERED  registered in {state.registered_in}; "
                                     "not in the store here")  # fmt: skip
        else:
            assert by_name[name].split() == [name, state.status.value]
