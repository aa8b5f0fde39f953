"""The endpoint's OpenAPI request body: MLflow's payload formats over the model's input columns.

Each column is a number with the data contract's domain (exclusive minimum,
maximum), so a client generated from the schema knows what the endpoint
refuses before it sends anything.
"""

from __future__ import annotations

from src.components.payloads import JSON_FORMATS
from src.data.contract import MEASUREMENT_BY_NAME, json_schema_property


def _column_schema(name: str) -> dict[str, object]:
    return json_schema_property(name) if name in MEASUREMENT_BY_NAME else {"type": "number"}


def request_schema(columns: tuple[str, ...]) -> dict[str, object]:
    """The OpenAPI request body: MLflow's payload formats over the model's input columns."""
    record = {"type": "object", "properties": {name: _column_schema(name) for name in columns},
              "required": list(columns), "additionalProperties": False}  # fmt: skip
    row = {"type": "array", "prefixItems": [_column_schema(name) for name in columns],
           "minItems": len(columns), "maxItems": len(columns)}  # fmt: skip
    split = {"type": "object", "required": ["columns", "data"],
             "properties": {"columns": {"type": "array", "items": {"enum": list(columns)}},
                            "data": {"type": "array", "items": row}}}  # fmt: skip
    rows = {"type": "array", "items": {"oneOf": [record, row]}, "minItems": 1}
    variants = [
        {"type": "object", "required": [key], "properties": {key: split if key == "dataframe_split" else rows}}
        for key in JSON_FORMATS
    ]
    example = {"dataframe_split": {"columns": list(columns), "data": [[5.1, 3.5, 1.4, 0.2]]}}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": variants}, "example": example},
            "text/csv": {
                "schema": {"type": "string"},
                "example": ",".join(columns) + "\n5.1,3.5,1.4,0.2\n",
            },
        },
    }
