"""The MLflow vocabulary: every key spelt once, lists that survive a tag, and nothing of the project imported."""

from __future__ import annotations

from src.utils.keys import ModelMetadata, Param, Tag, join_list, split_list
from tests.unit.test_architecture import SRC, imports_of


def test_a_list_survives_a_tag_and_a_missing_tag_is_an_empty_list():
    assert split_list(join_list(["a_v1", "b_v2"])) == ["a_v1", "b_v2"]
    assert split_list(None) == [] and split_list("") == []


def test_no_key_is_spelt_twice():
    for vocabulary in (Tag, Param, ModelMetadata):
        values = [member.value for member in vocabulary]
        assert len(values) == len(set(values)), vocabulary.__name__


def test_the_vocabulary_imports_nothing_of_the_project():
    assert not {m for m in imports_of(SRC / "utils" / "keys.py") if m.split(".")[0] == "src"}
    assert Tag.VALIDATION_SUMMARY.value.startswith(Tag.VALIDATION_STATUS.value.split(".")[0])
