"""The endpoint's OpenAPI request body: MLflow's payload formats over the model's input columns.

Each column carries its type and domain from the version's data contract (a
number's range, a category's allowed values, whether it may be null), so a
client generated from the schema knows what the endpoint refuses before it
sends anything. The example is the contract's first example row.
"""

from __future__ import annotations

import csv
import io

from src.components.payloads import JSON_FORMATS
from src.data.schema import DataContract


def request_schema(contract: DataContract) -> dict[str, object]:
    """The OpenAPI request body: MLflow's payload formats over the model's input columns."""
    columns = contract.input_names
    schemas = [contract.column(name).json_schema() for name in columns]
    record = {"type": "object", "properties": dict(zip(columns, schemas, strict=True)),
              "required": list(columns), "additionalProperties": False}  # fmt: skip
    row = {"type": "array", "prefixItems": schemas, "minItems": len(columns), "maxItems": len(columns)}
    split = {"type": "object", "required": ["columns", "data"],
             "properties": {"columns": {"type": "array", "items": {"enum": list(columns)}},
                            "data": {"type": "array", "items": row}}}  # fmt: skip
    rows = {"type": "array", "items": {"oneOf": [record, row]}, "minItems": 1}
    variants = [
        {"type": "object", "required": [key], "properties": {key: split if key == "dataframe_split" else rows}}
        for key in JSON_FORMATS
    ]
    first = contract.examples[0].values
    example = {"dataframe_split": {"columns": list(columns), "data": [[first[name] for name in columns]]}}
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([columns, [first[name] for name in columns]])
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": variants}, "example": example},
            "text/csv": {"schema": {"type": "string"}, "example": text.getvalue()},
        },
    }
