"""A second model pack, for the platform's own tests: the Palmer penguins, with categories and missing values.

The platform is run against it as a project of its own (tests/packs/__init__.py
makes one): it must train, validate, serve and score a pack whose inputs
include categories and gaps, and whose model is a gradient-boosting one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from src.data.schema import DataContract, Example, Target, categorical, numeric

if TYPE_CHECKING:
    import pandas as pd

CONTRACT = DataContract(
    name="penguins",
    description="Palmer Archipelago penguins: bill, flipper and mass measurements, island and sex, and the species.",
    columns=(
        numeric(
            "bill_length_mm",
            "Length of the bill",
            unit="mm",
            minimum=0,
            maximum=100,
            exclusive_minimum=True,
            nullable=True,
        ),
        numeric(
            "bill_depth_mm",
            "Depth of the bill",
            unit="mm",
            minimum=0,
            maximum=50,
            exclusive_minimum=True,
            nullable=True,
        ),
        numeric(
            "flipper_length_mm",
            "Length of the flipper",
            unit="mm",
            minimum=0,
            maximum=300,
            exclusive_minimum=True,
            nullable=True,
        ),
        numeric("body_mass_g", "Body mass", unit="g", minimum=0, maximum=10000, exclusive_minimum=True, nullable=True),
        categorical("island", "Island of the Palmer Archipelago", ["Biscoe", "Dream", "Torgersen"]),
        categorical("sex", "Sex of the penguin", ["female", "male"], nullable=True),
    ),
    target=Target("species", ("Adelie", "Chinstrap", "Gentoo"), "The penguin species"),
    entity_key="penguin_id",
    examples=(
        Example(
            "Adelie",
            {
                "bill_length_mm": 38.8,
                "bill_depth_mm": 18.3,
                "flipper_length_mm": 190.0,
                "body_mass_g": 3700.0,
                "island": "Torgersen",
                "sex": "male",
            },
        ),
        Example(
            "Chinstrap",
            {
                "bill_length_mm": 48.8,
                "bill_depth_mm": 18.4,
                "flipper_length_mm": 196.0,
                "body_mass_g": 3730.0,
                "island": "Dream",
                "sex": "female",
            },
        ),
        Example(
            "Gentoo",
            {
                "bill_length_mm": 47.5,
                "bill_depth_mm": 15.0,
                "flipper_length_mm": 217.0,
                "body_mass_g": 5080.0,
                "island": "Biscoe",
                "sex": None,
            },
        ),
    ),
)


def load_bundled() -> pd.DataFrame:
    """The 344 penguins of the palmerpenguins package (it ships them: no download)."""
    from palmerpenguins import load_penguins

    return load_penguins().drop(columns=["year"])


def bundled_uri() -> str:
    from importlib import resources

    return resources.files("palmerpenguins").joinpath("data", "penguins.csv").as_uri()  # type: ignore[attr-defined]
