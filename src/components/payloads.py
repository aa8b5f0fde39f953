"""MLflow scoring-protocol payloads -> column arrays, without pandas on the request path.

The formats ``mlflow models serve`` accepts on ``POST /invocations``:
``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs`` (JSON)
and CSV with a header. Any of them becomes one array per input column (numbers
as float64, categories as text), checked by the Scorer against the version's
data contract;
a malformed body is an ``InputError`` naming the field. Whatever the body,
the answer is columns or an ``InputError``, never another exception
(``tests/unit/test_payloads.py`` holds that with generated bodies).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from src.components.scoring import InputError, Scorer

JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_MEDIA = "application/json"
CSV_MEDIA = ("text/csv", "application/csv")


class UnsupportedMediaType(InputError):
    """The body is neither JSON nor CSV (HTTP 415)."""


def parse_body(body: bytes, media_type: str, scorer: Scorer) -> dict[str, np.ndarray]:
    """Any body ``mlflow models serve`` accepts, as column arrays checked against the contract's domain."""
    if media_type == JSON_MEDIA:
        columns = parse_json(body, scorer)
    elif media_type in CSV_MEDIA:
        columns = parse_csv(body, scorer)
    else:
        raise UnsupportedMediaType(
            "content-type", f"unsupported content type {media_type!r}: use {JSON_MEDIA} or text/csv"
        )
    scorer.check_domain(columns)
    return columns


def parse_json(body: bytes, scorer: Scorer) -> dict[str, np.ndarray]:
    """A JSON body in any MLflow format, as checked column arrays."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError("(body)", f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict) or len(payload.keys() & set(JSON_FORMATS)) != 1:
        keys = list(payload) if isinstance(payload, dict) else type(payload).__name__
        raise InputError("(body)", f"expected one of the keys {list(JSON_FORMATS)}, got {keys}")
    key = next(k for k in JSON_FORMATS if k in payload)
    value = payload[key]
    if key == "dataframe_split":
        return _from_split(value, scorer)
    if isinstance(value, Mapping):  # {"inputs": {"column": [values]}}
        return _from_columns(value, scorer, key)
    if not isinstance(value, list) or not value:
        raise InputError(key, "expected a non-empty list of rows")
    if all(isinstance(row, Mapping) for row in value):
        return _from_records(value, scorer, key)
    if all(isinstance(row, list) for row in value):
        return _from_rows(scorer.input_columns, value, scorer, key)
    raise InputError(key, "rows must all be objects (column -> value) or all be lists in the signature's column order")


def parse_keys(body: bytes, key: str) -> list[int] | None:
    """The entity keys of a JSON request that carries only ``key`` (an online-lookup request), else ``None``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # parse_json reports it
    if not isinstance(payload, dict) or len(payload) != 1:
        return None
    ((name, value),) = payload.items()
    if name == "dataframe_split" and isinstance(value, Mapping) and value.get("columns") == [key]:
        data = value.get("data")
        if not isinstance(data, list):
            raise InputError("dataframe_split.data", f"expected a list of [{key}] rows")
        values = [row[0] if isinstance(row, list) and len(row) == 1 else row for row in data]
    elif (
        name in {"dataframe_records", "instances", "inputs"}
        and isinstance(value, list)
        and value
        and all(isinstance(row, Mapping) and list(row) == [key] for row in value)
    ):
        values = [row[key] for row in value]
    elif name == "inputs" and isinstance(value, Mapping) and list(value) == [key] and isinstance(value[key], list):
        values = value[key]
    else:
        return None
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InputError(key, f"expected integer {key} values, got {values[:5]}")
    return values


def parse_csv(body: bytes, scorer: Scorer) -> dict[str, np.ndarray]:
    """A CSV body with a header row, as checked column arrays (each cell read as its column's kind)."""
    try:
        # utf-8-sig: a byte-order mark (as Excel writes it) is read as batch reads it, not as part of a name
        reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
        header = next(reader, None)
        rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError("(body)", f"malformed CSV: {exc}") from None
    if header is None:
        raise InputError("(body)", "empty CSV: expected a header row and data rows")
    names = [name.strip() for name in header]
    scorer.check_names(names)
    numeric = [scorer.contract.column(name).kind == "numeric" for name in names]
    parsed = [[_csv_value(cell, number) for cell, number in zip(row, numeric, strict=False)] + row[len(names):]
              for row in rows]  # fmt: skip
    return _from_rows(names, parsed, scorer, "csv")


def _csv_value(cell: str, number: bool) -> object:
    text = cell.strip()
    if not text:
        return None
    if not number or "_" in text:  # float() reads "1_0" as 10.0, which no CSV writer means
        return text
    try:
        return float(text)
    except ValueError:
        return text


def _from_split(value: Any, scorer: Scorer) -> dict[str, np.ndarray]:
    if not isinstance(value, Mapping) or "columns" not in value or "data" not in value:
        raise InputError("dataframe_split", 'expected {"columns": [...], "data": [[...], ...]}')
    columns, data = value["columns"], value["data"]
    if not isinstance(columns, list) or not isinstance(data, list):
        raise InputError("dataframe_split", "columns and data must be lists")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        length = len(index) if isinstance(index, list) else type(index).__name__
        raise InputError("dataframe_split.index", f"index has {length} entries for {len(data)} data rows")
    scorer.check_names(columns)
    return _from_rows(columns, data, scorer, "dataframe_split.data")


def _from_rows(columns: Sequence[str], rows: list[Any], scorer: Scorer, field: str) -> dict[str, np.ndarray]:
    if not rows:
        raise InputError(field, "no rows to score")
    width = len(columns)
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InputError(f"{field}[{index}]", f"expected a list of {width} values ({list(columns)})")
    if scorer.numeric_inputs and {type(value) for row in rows for value in row} <= _PLAIN_NUMBERS:  # one C call
        try:
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:  # an integer beyond float64: the slow path names it
            pass
        else:
            return {name: scorer.parse(name, matrix[:, columns.index(name)]) for name in scorer.input_columns}
    transposed = list(zip(*rows, strict=True))
    return {name: scorer.parse(name, transposed[columns.index(name)]) for name in scorer.input_columns}


#: Types a row may hold for the vectorised path (``bool`` is excluded: ``True`` is not a number).
_PLAIN_NUMBERS = {int, float}


def _from_records(records: list[Mapping[str, Any]], scorer: Scorer, field: str) -> dict[str, np.ndarray]:
    names = list(dict.fromkeys(name for record in records for name in record))
    scorer.check_names(names)
    for index, record in enumerate(records):
        missing = [name for name in scorer.input_columns if name not in record]
        if missing:
            raise InputError(f"{field}[{index}]", f"missing {', '.join(missing)}")
    return {name: scorer.parse(name, [record[name] for record in records]) for name in scorer.input_columns}


def _from_columns(columns: Mapping[str, Any], scorer: Scorer, field: str) -> dict[str, np.ndarray]:
    scorer.check_names(list(columns))
    lengths = {len(values) if isinstance(values, list) else -1 for values in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise InputError(field, "every column must be a list of the same length")
    return {name: scorer.parse(name, columns[name]) for name in scorer.input_columns}
