"""The endpoint's OpenAPI request body: every MLflow payload shape over the model's columns, with their types and
domains from the version's data contract."""

from __future__ import annotations

from src.components.openapi import request_schema
from src.components.payloads import JSON_FORMATS
from src.data.contract import CONTRACT
from src.data.schema import DataContract, Example, Target, categorical, numeric

COLUMNS = tuple(CONTRACT.input_names)


def _variants(contract: DataContract = CONTRACT) -> dict[str, dict]:
    schema = request_schema(contract)["content"]["application/json"]["schema"]
    return {key: variant["properties"][key] for variant in schema["oneOf"] for key in variant["properties"]}


def test_every_json_format_is_a_variant():
    assert set(_variants()) == set(JSON_FORMATS)


def test_split_columns_are_the_model_columns_and_rows_their_width():
    split = _variants()["dataframe_split"]
    assert split["properties"]["columns"]["items"]["enum"] == list(COLUMNS)
    row = split["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == len(COLUMNS)
    assert row["prefixItems"] == [CONTRACT.column(name).json_schema() for name in COLUMNS]  # each in its place


def test_records_publish_each_measurement_domain_and_refuse_other_keys():
    record = _variants()["dataframe_records"]["items"]["oneOf"][0]
    assert record["required"] == list(COLUMNS) and record["additionalProperties"] is False
    assert record["properties"] == {name: CONTRACT.column(name).json_schema() for name in COLUMNS}


def test_a_bounded_number_publishes_its_bounds():
    contract = DataContract(
        "toy", "?", (numeric("width", "Width", unit="cm", minimum=0, maximum=20, exclusive_minimum=True),),
        Target("kind", ("a", "b")), (Example("a", {"width": 1.0}), Example("b", {"width": 2.0})),
    )  # fmt: skip
    assert _variants(contract)["dataframe_records"]["items"]["oneOf"][0]["properties"]["width"] == {
        "type": "number",
        "exclusiveMinimum": 0.0,
        "maximum": 20.0,
        "description": "Width (cm)",
    }


def test_a_category_is_an_enum_and_a_nullable_column_admits_null():
    contract = DataContract(
        "toy",
        "?",
        (categorical("colour", "Colour", ["red", "blue"]), numeric("size", "Size", nullable=True)),
        Target("kind", ("a", "b")),
        (Example("a", {"colour": "red", "size": 1.0}), Example("b", {"colour": "blue", "size": None})),
    )
    record = _variants(contract)["dataframe_records"]["items"]["oneOf"][0]["properties"]
    assert record["colour"] == {"type": "string", "enum": ["red", "blue"], "description": "Colour"}
    assert record["size"]["anyOf"][1] == {"type": "null"}
    assert request_schema(contract)["content"]["text/csv"]["example"] == "colour,size\nred,1.0\n"


def test_the_examples_are_valid_requests():
    content = request_schema(CONTRACT)["content"]
    assert content["application/json"]["example"]["dataframe_split"]["columns"] == list(COLUMNS)
    assert content["text/csv"]["example"].splitlines()[0] == ",".join(COLUMNS)
