"""A contract drafted from a data file: kinds, widened ranges, gaps, categories, a valid example per class, and a
clear refusal for a target or column that cannot make a classifier."""

import numpy as np
import pandas as pd
import pytest

from src.scaffold.answers import AnswersError, ColumnAnswer, parse_answers
from src.scaffold.draft import MAX_CATEGORIES, draft_column, draft_contract

NAMES = {"team": "risk", "team_code": "rk", "project": "churn", "model_name": "churn_classifier",
         "owner": "risk@example.com", "use_case": "Predict churn", "data": "churn.csv",
         "estimator": "sklearn.linear_model.LogisticRegression"}  # fmt: skip


def _answers(tmp_path, **more):
    return parse_answers({**NAMES, "target": "churned", **more}, "answers.yml", tmp_path)


def _frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    churned = np.arange(rows) % 2
    return pd.DataFrame({
        "customer_id": np.arange(rows),
        "tenure_months": (churned * 20 + rng.integers(1, 10, rows)).astype(int),
        "monthly_fee": np.where(np.arange(rows) == 3, np.nan, rng.uniform(10.0, 90.0, rows)),
        "plan": rng.choice(["basic", "plus", "pro"], rows),
        "paperless": rng.choice([True, False], rows),
        "churned": churned,
    })  # fmt: skip


def test_a_binary_integer_target_is_two_classes_with_a_valid_example_each(tmp_path):
    contract = draft_contract(_answers(tmp_path, entity_key="customer_id"), _frame())
    assert contract.classes == ("0", "1") and contract.entity_key == "customer_id"
    assert contract.input_names == ("tenure_months", "monthly_fee", "plan", "paperless")  # not the key, not the label
    assert sorted(contract.example_labels) == ["0", "1"]
    assert contract.violations(contract.example_columns()) == []
    assert all(v is not None for e in contract.examples for v in e.values.values())  # complete rows chosen


def test_kinds_gaps_and_categories_are_read_off_the_file(tmp_path):
    columns = draft_contract(_answers(tmp_path, drop=["customer_id"]), _frame()).by_name
    assert [columns[n].kind for n in ("tenure_months", "monthly_fee", "plan", "paperless")] == [
        "numeric", "numeric", "categorical", "boolean"]  # fmt: skip
    assert columns["monthly_fee"].nullable and not columns["tenure_months"].nullable
    assert columns["plan"].values == ("basic", "plus", "pro")
    assert "review" in columns["plan"].description


def test_a_range_is_the_observed_one_widened_and_stays_non_negative():
    column = draft_column("fee", pd.Series([10.0, 20.0, 30.0]), ColumnAnswer())
    assert column.minimum == 0.0 and 30.0 < column.maximum <= 50.0  # half the span, rounded outwards
    negative = draft_column("delta", pd.Series([-5.0, 5.0]), ColumnAnswer())
    assert negative.minimum < -5.0 and negative.maximum > 5.0


def test_what_the_team_says_wins_over_the_file():
    said = ColumnAnswer(kind="categorical", values=("1", "2", "3", "4"), description="Store grade", nullable=True)
    column = draft_column("grade", pd.Series([1, 2, 2, 3]), said)
    assert (column.kind, column.values, column.description, column.nullable) == (
        "categorical", ("1", "2", "3", "4"), "Store grade", True)  # fmt: skip
    bounded = draft_column("age", pd.Series([20.0, 60.0]), ColumnAnswer(minimum=18, maximum=120, unit="years"))
    assert (bounded.minimum, bounded.maximum, bounded.unit) == (18, 120, "years")


@pytest.mark.parametrize(
    ("change", "answers", "message"),
    [
        (lambda f: f, {"target": "cancelled"}, "target: 'cancelled' is not a column of churn.csv"),
        (lambda f: f.assign(churned=0), {}, "has one class only"),
        (lambda f: _frame(60).assign(churned=np.arange(60)), {}, "distinct values: a classifier needs labels"),
        (lambda f: f.assign(churned=f.churned.where(f.index != 5)), {}, "is missing in rows \\[5\\]"),
        (
            lambda f: _frame(300).assign(note=[f"free text {i}" for i in range(300)]),
            {},
            "columns.note: 300 distinct values: an identifier or free text",
        ),
        (lambda f: f, {"drop": ["segment"]}, "columns: 'segment' is not a column of churn.csv"),
        (lambda f: f, {"columns": {"plan": {"kind": "numeric"}}}, "columns.plan: declared numeric, but the file"),
        (lambda f: f[["churned"]], {}, "has no input column beside the target"),
    ],
)
def test_a_file_that_cannot_make_a_classifier_is_refused_naming_why(tmp_path, change, answers, message):
    with pytest.raises(AnswersError, match=message):
        draft_contract(_answers(tmp_path, **answers), change(_frame()))


def test_a_category_may_have_at_most_the_bound_of_values(tmp_path):
    many = pd.Series([f"v{i}" for i in range(MAX_CATEGORIES)])
    assert len(draft_column("code", many, ColumnAnswer()).values) == MAX_CATEGORIES
