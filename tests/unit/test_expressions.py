"""The feature language: arithmetic and a few functions over input columns, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features.expressions import ExpressionError, compile_expression, compiled

COLUMNS = {"a": np.array([1.0, 4.0]), "b": np.array([2.0, 0.5])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", [1.0, 4.0]),
        ("a / b", [0.5, 8.0]),
        ("log(a * b)", [np.log(2.0), np.log(2.0)]),
        ("-a + 2 ** b % 3", [-1 + (4 % 3), -4 + (2**0.5 % 3)]),
        ("max(a, b) - min(a, b)", [1.0, 3.5]),
        ("sqrt(abs(a - 5))", [2.0, 1.0]),
        ("3", [3.0, 3.0]),
    ],
)
def test_expressions_compute_elementwise_on_arrays_and_frames(text, expected):
    expression = compile_expression(text, COLUMNS)
    np.testing.assert_allclose(expression.evaluate(COLUMNS), expected)
    np.testing.assert_allclose(expression.evaluate(pd.DataFrame(COLUMNS)), expected)


def test_inputs_are_listed_once_in_first_use_order():
    assert compile_expression("b * a + b", COLUMNS).inputs == ("b", "a")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("__import__('os').system('true')", "outside the feature language"),
        ("a.real", "outside the feature language"),
        ("a[0]", "outside the feature language"),
        ("c + 1", "'c' is not an input column"),
        ("log(a, b)", "log takes 1 argument(s), got 2"),
        ("a if b else a", "outside the feature language"),
        ("True + a", "outside the feature language"),
        ("a +", "not an expression"),
    ],
)
def test_anything_else_is_refused_when_compiled(text, words):
    with pytest.raises(ExpressionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(text, COLUMNS)


def test_a_compiled_expression_reads_whatever_names_it_uses():
    assert compiled("x / y").inputs == ("x", "y")
    assert compiled("x / y") is compiled("x / y")  # compiled once per process
