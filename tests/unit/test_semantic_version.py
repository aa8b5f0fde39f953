"""The semantic-version rule: one version names one build; ``auto`` takes the next patch."""

from __future__ import annotations

import pytest

from src.models.semantic_version import AUTO, Build, Registered, VersionTaken, next_patch, resolve

MODEL = "dev_catalog.ml_models.ds_iris_species_classifier"


def _build(sha: str = "a" * 40, *, dirty: bool = False, digest: str = "d1", depth: int = 5) -> Build:
    return Build(sha, dirty, digest, {"model.max_depth": depth, "features": "x,y"})


def test_next_patch_follows_the_highest_version_numerically_and_skips_unversioned_rows() -> None:
    assert next_patch([]) == "1.0.0"
    assert next_patch(["1.0.9", "1.0.10", "0.9.99", "", "one"]) == "1.0.11"
    assert next_patch(["2.1.0", "1.9.9"]) == "2.1.1"


def test_auto_takes_the_next_patch_whatever_the_build() -> None:
    registered = [Registered("1", "1.0.0", "f"), Registered("2", "1.1.0", "g")]
    assert resolve(AUTO, _build(dirty=True), registered, MODEL) == "1.1.1"
    assert resolve(AUTO, _build(), [], MODEL) == "1.0.0"


def test_a_new_semantic_version_is_taken_as_asked() -> None:
    assert resolve("2.0.0", _build(dirty=True), [Registered("1", "1.0.0", "f")], MODEL) == "2.0.0"


def test_the_same_build_may_be_registered_again_under_its_version() -> None:
    build = _build()
    assert resolve("1.0.0", build, [Registered("1", "1.0.0", build.fingerprint)], MODEL) == "1.0.0"


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (_build(sha="b" * 40), "a different commit, data or configuration"),
        (_build(digest="d2"), "a different commit, data or configuration"),
        (_build(depth=6), "a different commit, data or configuration"),
        (_build(dirty=True), "this tree has uncommitted changes"),
    ],
)
def test_a_version_registered_for_another_build_is_refused_with_the_next_free_patch(other: Build, why: str) -> None:
    registered = [Registered("12", "1.0.0", "y"), Registered("1", "1.0.0", _build().fingerprint),
                  Registered("4", "1.0.3", "x")]  # fmt: skip
    with pytest.raises(VersionTaken) as refused:
        resolve("1.0.0", other, registered, MODEL)
    message = str(refused.value)
    assert f"already registered as {MODEL} version 1, 12, trained from another build" in message
    assert why in message
    assert "--version 1.0.4" in message


def test_a_dirty_tree_has_no_fingerprint_and_a_clean_one_a_stable_one() -> None:
    assert _build(dirty=True).fingerprint == ""
    assert _build(dirty=True).tag.startswith("none")
    assert _build(sha="unknown").fingerprint == ""
    assert _build().fingerprint == _build().fingerprint != _build(depth=6).fingerprint
