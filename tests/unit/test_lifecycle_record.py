"""The lifecycle record: read, written atomically with its header, and what it lets into the feature store."""

from __future__ import annotations

import shutil

import pytest

from src.features.lifecycle_record import (
    LIFECYCLE_FILE,
    FeatureState,
    LifecycleError,
    LifecycleStatus,
    load_states,
    save_states,
    store_ready,
)


@pytest.fixture
def record(tmp_path):
    path = tmp_path / "feature_lifecycle.yaml"
    shutil.copy(LIFECYCLE_FILE, path)
    return path


def test_statuses_are_ordered():
    assert LifecycleStatus.REGISTERED.at_least(LifecycleStatus.VALIDATED)
    assert not LifecycleStatus.LOCAL.at_least(LifecycleStatus.VALIDATED)
    assert LifecycleStatus.LOCAL.next is LifecycleStatus.VALIDATED and LifecycleStatus.REGISTERED.next is None


def test_saving_keeps_the_header_and_round_trips(record):
    states = load_states(record)
    states["iris_petal_ratio_v2"] = FeatureState(LifecycleStatus.VALIDATED, changed_by="alice")
    save_states(states, record)
    header = [line for line in LIFECYCLE_FILE.read_text().splitlines() if line.startswith("#")]
    assert [line for line in record.read_text().splitlines() if line.startswith("#")] == header
    assert load_states(record) == states


def test_only_refactored_or_registered_features_enter_the_store(record):
    states = load_states(record)
    ready = store_ready(record)
    assert ready and all(states[name].status.at_least(LifecycleStatus.REFACTORED) for name in ready)
    first = ready[0]
    save_states({**states, first: FeatureState(LifecycleStatus.VALIDATED)}, record)
    assert first not in store_ready(record)


def test_an_invalid_entry_names_the_feature(record):
    record.write_text("features:\n  iris_petal_ratio_v1:\n    status: FINISHED\n")
    with pytest.raises(LifecycleError, match="feature iris_petal_ratio_v1: invalid entry"):
        load_states(record)
