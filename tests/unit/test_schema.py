"""The contract's types on their own: each kind of column parses, checks and describes its values; a contract that
cannot hold is refused when it is built."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.data.schema import (
    Column,
    ContractError,
    DataContract,
    Example,
    InputError,
    OutOfContract,
    Target,
    boolean,
    categorical,
    numeric,
)

AGE = numeric("age_years", "Age", unit="years", minimum=0, maximum=130)
ISLAND = categorical("island", "Island", ["Biscoe", "Dream", "Torgersen"])
SEX = categorical("sex", "Sex", ["female", "male"], nullable=True)
MASS = numeric("mass_g", "Body mass", unit="g", minimum=0, exclusive_minimum=True, nullable=True)
SMOKER = boolean("smoker", "Smokes")


def _contract(**changes: object) -> DataContract:
    fields: dict[str, object] = {
        "name": "toy",
        "description": "A toy contract",
        "columns": (AGE, ISLAND, SEX, MASS, SMOKER),
        "target": Target("label", ("no", "yes")),
        "examples": (
            Example("no", {"age_years": 30, "island": "Dream", "sex": "female", "mass_g": 3000.0, "smoker": False}),
            Example("yes", {"age_years": 70, "island": "Biscoe", "sex": None, "mass_g": None, "smoker": True}),
        ),
        "entity_key": "person_id",
    }
    return DataContract(**{**fields, **changes})  # type: ignore[arg-type]


def test_numbers_parse_as_float_and_hold_to_their_range():
    values = AGE.parse([1, 2.5, 130])
    assert values.dtype == np.float64 and AGE.holds(values)
    assert AGE.violations(np.array([-1.0, 0.0, 131.0, math.inf])).tolist() == [True, False, True, True]
    with pytest.raises(InputError, match=r"age_years: expected numbers, got 'old' at row\(s\) 1"):
        AGE.parse([3, "old"])
    with pytest.raises(InputError, match=r"age_years: null value at row\(s\) 0"):
        AGE.parse([None, 3])
    with pytest.raises(InputError, match=r"expected numbers, got True"):
        AGE.parse([True])  # a boolean is not a number


def test_an_exclusive_minimum_and_a_nullable_number():
    values = MASS.parse([None, 1.0, 0.0])
    assert math.isnan(values[0]) and MASS.violations(values).tolist() == [False, False, True]
    assert MASS.allowed == "0 < mass_g (g)" and AGE.allowed == "0 <= age_years <= 130 years"


def test_categories_parse_as_text_and_hold_to_their_values():
    values = ISLAND.parse(["Dream", "Mars"])
    assert values.dtype == object and ISLAND.violations(values).tolist() == [False, True]
    assert ISLAND.reasons(values)[0][1] == "not one of the allowed values island in ['Biscoe', 'Dream', 'Torgersen']"
    with pytest.raises(InputError, match=r"island: expected text, got 3"):
        ISLAND.parse(["Dream", 3])
    with pytest.raises(InputError, match="island: null value"):
        ISLAND.parse([None])
    assert SEX.parse([None, "male"]).tolist() == [None, "male"] and not SEX.violations(SEX.parse([None])).any()


def test_booleans_parse_from_json_and_csv_forms():
    assert SMOKER.parse([True, False, "true", "0", 1]).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    with pytest.raises(InputError, match="smoker: expected true or false, got 'maybe'"):
        SMOKER.parse(["maybe"])


def test_the_small_and_the_vectorised_numeric_checks_agree():
    rng = np.random.default_rng(0)
    for rows in (1, 31, 33, 1000):
        values = rng.uniform(-5.0, 140.0, rows)
        assert AGE.holds(values) == (not AGE.violations(values).any())
        clean = np.abs(values) % 129 + 0.5
        assert AGE.holds(clean) and not AGE.violations(clean).any()
        clean[rng.integers(0, rows)] = np.nan
        assert not AGE.holds(clean) and MASS.holds(np.abs(clean) + 1)  # NaN: missing, allowed only if nullable


def test_the_json_schema_of_each_kind():
    assert ISLAND.json_schema()["enum"] == ["Biscoe", "Dream", "Torgersen"]
    assert SMOKER.json_schema()["type"] == "boolean"
    assert AGE.json_schema() == {"type": "number", "description": "Age (years)", "minimum": 0, "maximum": 130}
    assert {"type": "null"} in SEX.json_schema()["anyOf"]


def test_a_contract_checks_its_columns_and_names_every_violation():
    contract = _contract()
    columns = contract.example_columns()
    assert contract.violations(columns) == []
    columns["island"] = np.array(["Dream", "Atlantis"], dtype=object)
    columns["age_years"] = np.array([200.0, 30.0])
    with pytest.raises(OutOfContract) as refused:
        contract.check(columns)
    assert refused.value.field == "age_years" and "island: not one of the allowed values" in str(refused.value)
    assert contract.row_reasons(columns) == {0: "age_years: outside the allowed range 0 <= age_years <= 130 years",
                                             1: "island: not one of the allowed values island in "
                                                "['Biscoe', 'Dream', 'Torgersen']"}  # fmt: skip


def test_a_whole_number_in_an_example_is_a_float_as_mlflow_s_double_column_wants():
    first = _contract().examples[0].values
    assert (first["age_years"], type(first["age_years"])) == (30.0, float)
    assert (first["smoker"], first["island"]) == (False, "Dream")  # other kinds as written


def test_a_contract_round_trips_through_its_logged_form():
    contract = _contract()
    assert DataContract.from_dict(contract.to_dict()) == contract


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"columns": (AGE, AGE)}, "columns must be distinct"),
        ({"columns": (AGE,), "examples": (Example("no", {"age_years": 1}),)}, r"one example per class at least"),
        ({"examples": (Example("no", {"age_years": 1}), Example("yes", {"age_years": 2}))}, "must give every input"),
        ({"entity_key": "island"}, "the target and the entity key are not input columns"),
    ],
)
def test_a_contract_that_cannot_hold_is_refused(changes, message):
    with pytest.raises(ContractError, match=message):
        _contract(**changes)


def test_an_example_outside_the_domain_is_refused():
    bad = Example("no", {"age_years": 300, "island": "Dream", "sex": "male", "mass_g": 1.0, "smoker": True})
    with pytest.raises(ContractError, match="an example breaks the contract: age_years"):
        _contract(examples=(bad, _contract().examples[1]))


@pytest.mark.parametrize(
    "column",
    [
        lambda: Column("x", "text", "?"),  # type: ignore[arg-type]
        lambda: categorical("x", "?", []),
        lambda: numeric("x", "?", minimum=2, maximum=1),
        lambda: Column("x", "boolean", "?", minimum=0.0),
    ],
)
def test_a_column_that_cannot_hold_is_refused(column):
    with pytest.raises(ContractError):
        column()
