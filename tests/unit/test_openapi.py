"""The endpoint's OpenAPI request body: every MLflow payload shape over the model's columns, with their domain."""

from __future__ import annotations

from src.components.openapi import request_schema
from src.components.payloads import JSON_FORMATS
from src.data.contract import RAW_FEATURE_COLUMNS

COLUMNS = tuple(RAW_FEATURE_COLUMNS)


def _variants() -> dict[str, dict]:
    schema = request_schema(COLUMNS)["content"]["application/json"]["schema"]
    return {key: variant["properties"][key] for variant in schema["oneOf"] for key in variant["properties"]}


def test_every_json_format_is_a_variant():
    assert set(_variants()) == set(JSON_FORMATS)


def test_split_columns_are_the_model_columns_and_rows_their_width():
    split = _variants()["dataframe_split"]
    assert split["properties"]["columns"]["items"]["enum"] == list(COLUMNS)
    row = split["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 4
    assert [item["maximum"] for item in row["prefixItems"]] == [30.0, 20.0, 30.0, 15.0]


def test_records_publish_each_measurement_domain_and_refuse_other_keys():
    record = _variants()["dataframe_records"]["items"]["oneOf"][0]
    assert record["required"] == list(COLUMNS) and record["additionalProperties"] is False
    assert record["properties"]["sepal_width_cm"] == {
        "type": "number",
        "exclusiveMinimum": 0.0,
        "maximum": 20.0,
        "description": "Width of the sepal (cm)",
    }


def test_a_column_outside_the_contract_is_still_a_number():
    record = request_schema(("colour",))["content"]["application/json"]["schema"]["oneOf"][1]
    assert record["properties"]["dataframe_records"]["items"]["oneOf"][0]["properties"]["colour"] == {"type": "number"}


def test_the_examples_are_valid_requests():
    content = request_schema(COLUMNS)["content"]
    assert content["application/json"]["example"]["dataframe_split"]["columns"] == list(COLUMNS)
    assert content["text/csv"]["example"].splitlines()[0] == ",".join(COLUMNS)
