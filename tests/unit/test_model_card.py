"""The model card: every section of Mitchell et al., the summary, and what the staleness check ignores."""

from __future__ import annotations

import dataclasses
import re

import pytest

from scripts import model_card as command
from src.models.model_card import (
    FeatureFact,
    RegistryFacts,
    TrainingFacts,
    normalized,
    render,
    same_training,
    summary,
)
from src.utils.config import PROJECT_ROOT, load_model_card_config

CONFIG = load_model_card_config()
FACTS = TrainingFacts(
    model_name="dev_catalog.ml_models.ds_iris_species_classifier", semantic_version="1.0.0", context="full",
    owner="data-science@example.com", author="alice@example.com", trained_at="2026-12-01T10:00:00+00:00",
    run_id="0123456789abcdef0123456789abcdef", git_commit="0123456789abcdef0123456789abcdef01234567",
    model_type="logistic_regression", feature_set="iris_species_features:v1",
    features=[FeatureFact("iris_petal_area_cm2_v1", "Petal area.", "data-science@example.com", "REGISTERED")],
    data_source="file:///x/site-packages/sklearn/datasets/data/iris.csv", data_digest="abc", rows=150,
    train_rows=120, val_rows=30, split="held-out share 0.2, seed 42",
    metrics={"val_accuracy": 0.9333, "train_accuracy": 0.9667, "val_f1_macro": 0.9333},
    per_class={s: {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 10.0}
               for s in ("setosa", "versicolor", "virginica")},
    labels=["setosa", "versicolor", "virginica"], confusion=[[10, 0, 0], [0, 9, 1], [0, 1, 9]],
    thresholds={"val_accuracy": 0.9},
)  # fmt: skip


def test_the_card_has_every_section_and_the_facts():
    card = render(FACTS, RegistryFacts("1", ["dev"]), CONFIG)
    for section in ("Model details", "Intended use", "Out-of-scope uses", "Factors", "Metrics",
                    "Training and evaluation data", "Quantitative analyses", "Features", "Ethical considerations",
                    "Caveats and recommendations", "Alias history"):  # fmt: skip
        assert f"\n## {section}\n" in card
    assert "| accuracy | 0.9333 | 0.9667 | 0.9 |" in card
    assert "| versicolor | 0 | 9 | 1 |" in card
    assert "scikit-learn's bundled copy, `sklearn/datasets/data/iris.csv`" in card
    assert "Not validated yet" in card and "No promotion recorded yet." in card
    assert "- `iris_petal_area_cm2_v1` (REGISTERED, data-science@example.com): Petal area." in card


def test_the_tables_fit_in_100_columns_and_checks_are_listed():
    checks = [("signature", True, "inputs ['" + "', '".join(f"column_{i}" for i in range(20)) + "']"),
              ("latency_single_row", False, "p99 70 ms > 50 ms")]  # fmt: skip
    verdict = {"status": "failed", "at": "2027-01-02", "failed": "latency_single_row"}
    card = render(FACTS, RegistryFacts("12", ["dev"], validation=verdict, checks=checks), CONFIG)
    rows = [line for line in card.splitlines() if line.startswith("|")]
    assert rows and all(len(row) <= 100 for row in rows), max(rows, key=len)
    assert "- `latency_single_row` **failed**: p99 70 ms > 50 ms" in card and "column_19" in card
    assert not any(re.fullmatch(r"\|(\s*\|)+", row) for row in rows)  # no empty header row


def test_the_summary_says_what_and_what_for():
    text = summary(FACTS, CONFIG)
    assert text.startswith("v1.0.0 (full) by alice@example.com: logistic_regression on iris_species_features:v1")
    assert "Intended use: Classify" in text and "Out of scope:" in text


def test_normalized_ignores_ids_times_author_and_the_later_registry_state():
    first = render(FACTS, RegistryFacts("1", ["dev"]), CONFIG)
    later = dataclasses.replace(FACTS, run_id="f" * 32, git_commit="e" * 40, author="bob",
                                trained_at="2027-01-01T00:00:00+00:00", semantic_version="1.0.7")  # fmt: skip
    history = ["2027-01-02 10:00 UTC, @production: (unset) -> v4 (promote) by carol"]
    promoted = RegistryFacts("4", ["production"], validation={"status": "passed", "at": "2027-01-02"}, history=history)
    assert normalized(first) == normalized(render(later, promoted, CONFIG))
    assert same_training(first, render(later, promoted, CONFIG))  # make docs leaves the committed card as it is
    other = dataclasses.replace(FACTS, metrics={**FACTS.metrics, "val_accuracy": 0.9})
    assert normalized(first) != normalized(render(other, RegistryFacts("1", ["dev"]), CONFIG))


def test_the_committed_card_describes_the_current_training(capsys):
    assert command.main(["--check"]) == 0, capsys.readouterr().err


def _card_fragment(which: str) -> str:
    """A piece of the committed card that a fresh training writes again: a metric, or the intended use."""
    card = (PROJECT_ROOT / "docs" / "MODEL_CARD.md").read_text()
    if which == "metric":
        found = re.search(r"\| accuracy \| [0-9.]+", card)
        assert found, "the committed card has no accuracy row"
        return found.group(0)
    return load_model_card_config().intended_use[0][:24]


@pytest.mark.parametrize("which", ["metric", "intended use"])
def test_a_stale_card_is_named_with_its_first_difference(tmp_path, capsys, which):
    change = _card_fragment(which)
    stale = tmp_path / "MODEL_CARD.md"
    stale.write_text((PROJECT_ROOT / "docs" / "MODEL_CARD.md").read_text().replace(change, change + "0", 1))
    assert command.main(["--check", "--output", str(stale)]) == 1
    assert "is stale (first difference:" in capsys.readouterr().err
