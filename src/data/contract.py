"""The model pack's data contract: what a valid iris flower is, what the model predicts, and a typical flower of each
species.

This file, ``src/features/feature_definitions.py`` and ``configs/*.yaml`` are
the model pack: the only place that names the data set. Training, batch
scoring, the endpoint (and its OpenAPI schema), the feature store, the
validator and monitoring all read this contract; it is logged with every model
version, so a served version is held to the contract it was trained with.

The valid range of each measurement is the physical domain of an iris flower,
not the range of the data set: no iris sepal reaches 30 cm, so a larger value
is a unit or entry error (millimetres typed as centimetres), and a
measurement is always positive and finite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from src.data.schema import Column, DataContract, Example, Target, numeric

if TYPE_CHECKING:
    import pandas as pd


def _length(name: str, description: str, maximum: float) -> Column:
    return numeric(name, description, unit="cm", minimum=0.0, maximum=maximum, exclusive_minimum=True)


CONTRACT = DataContract(
    name="iris",
    description="Fisher's Iris data: four sepal and petal measurements of a flower, and its species.",
    columns=(
        _length("sepal_length_cm", "Length of the sepal", 30.0),
        _length("sepal_width_cm", "Width of the sepal", 20.0),
        _length("petal_length_cm", "Length of the petal", 30.0),
        _length("petal_width_cm", "Width of the petal", 15.0),
    ),
    target=Target("species", ("setosa", "versicolor", "virginica"), "The iris species"),
    #: A request carrying only this key is answered from the online feature store.
    entity_key="flower_id",
    #: A typical flower of each species (Fisher's per-species means, rounded): any usable model gets these right.
    examples=tuple(
        Example(
            label,
            dict(zip(("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"), row, strict=True)),
        )
        for label, row in (
            ("setosa", (5.0, 3.4, 1.5, 0.2)),
            ("versicolor", (5.9, 2.8, 4.3, 1.3)),
            ("virginica", (6.6, 3.0, 5.6, 2.0)),
        )
    ),
)


def load_bundled() -> pd.DataFrame:
    """The rows of ``data.source: bundled``: the copy of Iris that ships with scikit-learn (no download)."""
    import pandas as pd
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.data.set_axis(list(CONTRACT.input_names), axis=1)
    frame[CONTRACT.target.name] = pd.Categorical.from_codes(bunch.target, list(bunch.target_names)).astype(str)
    return frame


def bundled_uri() -> str:
    """Where the bundled rows come from, the lineage of a run trained on them: the package, its version and the
    file inside it (``package://``, which the tracking door resolves), not a path in this machine's venv."""
    from importlib import metadata

    return f"package://scikit-learn@{metadata.version('scikit-learn')}/sklearn/datasets/data/iris.csv"
