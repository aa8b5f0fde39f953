"""The model pack's versioned feature definitions: every feature the model may be trained on.

A definition is immutable: changing what a feature computes means adding a
new version (``iris_petal_ratio_v2``) beside the old one, so models trained on
``v1`` keep computing exactly what they were trained on. Each formula is an
expression over the input columns of ``src/data/contract.py``
(``src/features/expressions.py`` says what it may use); the fitted model
carries its formulas, so it computes its own features wherever it is served.
Which of these the model uses, and in what order, is ``configs/feature_config.yaml``.
"""

from __future__ import annotations

from src.data.contract import CONTRACT
from src.features.versioned import FeatureDefinition, passthrough

DOMAIN = CONTRACT.name
_OWNER = "data-science@example.com"


def _derived(name: str, version: int, description: str, expression: str) -> FeatureDefinition:
    return FeatureDefinition(DOMAIN, name, version, description, _OWNER, expression)


DEFINITIONS: tuple[FeatureDefinition, ...] = (
    passthrough(DOMAIN, "sepal_length_cm", "Sepal length in centimetres, as measured.", _OWNER),
    passthrough(DOMAIN, "sepal_width_cm", "Sepal width in centimetres, as measured.", _OWNER),
    passthrough(DOMAIN, "petal_length_cm", "Petal length in centimetres, as measured.", _OWNER),
    passthrough(DOMAIN, "petal_width_cm", "Petal width in centimetres, as measured.", _OWNER),
    _derived("petal_ratio", 1, "Petal length divided by petal width.", "petal_length_cm / petal_width_cm"),
    _derived(
        "petal_ratio",
        2,
        "Log of petal length over petal width (v1 on a log scale: symmetric, outlier-robust).",
        "log(petal_length_cm / petal_width_cm)",
    ),
    _derived(
        "petal_area_cm2",
        1,
        "Petal length times petal width, in square centimetres.",
        "petal_length_cm * petal_width_cm",
    ),
    _derived("sepal_ratio", 1, "Sepal length divided by sepal width.", "sepal_length_cm / sepal_width_cm"),
)
