"""The payload parser, property-based: whatever the body, the answer is checked columns or an InputError.

A 500 from the endpoint is a parser that raised something else; these tests
generate bodies (any JSON under each MLflow key, any bytes, any CSV) to find one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.components.payloads import JSON_FORMATS, parse_body, parse_keys
from src.components.scoring import InputError
from src.data.contract import CONTRACT
from tests.pack import FIRST, NUMERIC, ROW_A, valid_row

COLUMNS = list(CONTRACT.input_names)
_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
_column_name = st.sampled_from([*COLUMNS, "colour", CONTRACT.entity_key])
_measurement = st.floats(min_value=0.01, max_value=15.0) | st.integers(min_value=1, max_value=15)
_cell = _measurement | _json_leaf
_structured = st.one_of(
    st.fixed_dictionaries(
        {"columns": st.lists(_column_name, max_size=6), "data": st.lists(st.lists(_cell, max_size=6), max_size=4)}
    ),
    st.lists(st.dictionaries(_column_name, _cell, max_size=6), max_size=4),
    st.lists(st.lists(_cell, max_size=6), max_size=4),
    st.dictionaries(_column_name, st.lists(_cell, max_size=4), max_size=6),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _columns_or_input_error(body: bytes, media: str, scorer) -> None:
    try:
        columns = parse_body(body, media, scorer)
    except InputError as refused:
        assert refused.field and str(refused)
        return
    lengths = {len(values) for values in columns.values()}
    assert set(columns) == set(COLUMNS) and len(lengths) == 1 and lengths != {0}
    for name, values in columns.items():
        numeric = CONTRACT.column(name).kind != "categorical"
        assert (values.dtype == np.float64) == numeric and not CONTRACT.column(name).violations(values).any()


@FUZZ
@given(key=st.sampled_from(JSON_FORMATS), value=_structured | _json)
def test_any_json_under_any_key_is_columns_or_an_input_error(memory_scorer, key, value):
    _columns_or_input_error(json.dumps({key: value}).encode(), "application/json", memory_scorer)


@FUZZ
@given(body=st.binary(max_size=200))
def test_any_bytes_are_columns_or_an_input_error(memory_scorer, body):
    for media in ("application/json", "text/csv", "application/octet-stream"):
        _columns_or_input_error(body, media, memory_scorer)


@FUZZ
@given(header=st.lists(_column_name, max_size=6), rows=st.lists(st.lists(st.text(max_size=6), max_size=6), max_size=4))
def test_any_csv_is_columns_or_an_input_error(memory_scorer, header, rows):
    body = "\n".join(",".join(row) for row in [header, *rows]).encode()
    _columns_or_input_error(body, "text/csv", memory_scorer)


@FUZZ
@given(value=_json)
def test_key_only_requests_are_keys_none_or_an_input_error(value):
    for key in JSON_FORMATS:
        try:
            keys = parse_keys(json.dumps({key: value}).encode(), CONTRACT.entity_key)
        except InputError:
            continue
        assert keys is None or all(isinstance(k, int) for k in keys)


@FUZZ
@given(rows=st.lists(valid_row(), min_size=1, max_size=20))
def test_valid_rows_in_every_shape_give_the_same_columns(memory_scorer, rows):
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    shapes = [
        {"dataframe_split": {"columns": COLUMNS, "data": [list(r) for r in rows]}},
        {"dataframe_records": records},
        {"instances": [list(r) for r in rows]},
        {"inputs": {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}},
    ]
    parsed = [parse_body(json.dumps(shape).encode(), "application/json", memory_scorer) for shape in shapes]
    csv = "\n".join([",".join(COLUMNS), *(",".join("" if v is None else repr(v).strip("'") for v in r)
                                           for r in rows)]).encode()  # fmt: skip
    parsed.append(parse_body(csv, "text/csv", memory_scorer))
    for columns in parsed[1:]:
        for name in COLUMNS:
            np.testing.assert_array_equal(columns[name], parsed[0][name])


@FUZZ
@given(rows=st.lists(valid_row(), min_size=1, max_size=50))
def test_compiled_scoring_equals_the_pipeline(memory_scorer, rows):
    """The scorer's NumPy arithmetic against sklearn's own Pipeline, on any valid rows."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    try:
        compiled = memory_scorer.predict_columns(memory_scorer.columns_from_frame(frame))
    except InputError:  # a derived feature that is not finite: the pipeline cannot score it either
        return
    np.testing.assert_allclose(compiled.probabilities, memory_scorer.pipeline.predict_proba(frame), atol=1e-9)
    np.testing.assert_allclose(compiled.probabilities.sum(axis=1), 1.0)


def test_a_split_index_of_the_right_length_is_accepted(memory_scorer):
    body = {"dataframe_split": {"index": [7], "columns": COLUMNS, "data": [ROW_A]}}
    parsed = parse_body(json.dumps(body).encode(), "application/json", memory_scorer)
    assert parsed[NUMERIC.name][0] == FIRST.values[NUMERIC.name]


@pytest.mark.skipif(CONTRACT.entity_key is None, reason="the pack has no entity key")
@pytest.mark.parametrize("shape", ['{{"inputs": {{"{key}": [1, 2]}}}}', '{{"instances": [{{"{key}": 3}}]}}'])
def test_key_only_requests_are_recognised(shape):
    body = shape.format(key=CONTRACT.entity_key).encode()
    assert parse_keys(body, CONTRACT.entity_key) in ([1, 2], [3])


def test_a_csv_with_a_byte_order_mark_is_read_as_batch_reads_it(memory_scorer):
    row = ",".join(str(CONTRACT.examples[0].values[name]) for name in COLUMNS)
    body = ("\ufeff" + ",".join(COLUMNS) + "\n" + row + "\n").encode()
    columns = parse_body(body, "text/csv", memory_scorer)
    assert list(columns) == COLUMNS


def test_a_number_with_underscores_is_not_a_number_in_csv(memory_scorer):
    values = [str(CONTRACT.examples[0].values[name]) for name in COLUMNS]
    values[0] = "1_0"  # float() would read 10.0
    with pytest.raises(InputError):
        parse_body((",".join(COLUMNS) + "\n" + ",".join(values) + "\n").encode(), "text/csv", memory_scorer)
