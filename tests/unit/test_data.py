"""Data loading and validation: good data passes and is fingerprinted; bad data is refused, rows and columns named."""

import numpy as np
import pandas as pd
import pytest

from src.data.contract import CONTRACT, bundled_uri
from src.data.load_data import DataValidationError, dataset_digest, load_dataset, read_table, validate_frame
from src.utils.config import DataConfig
from tests.pack import NUMERIC, REQUIRED, above_range

LABEL = CONTRACT.target.name


def test_the_bundled_data_loads_validated(bundled_frame):
    dataset = load_dataset(DataConfig())
    assert list(dataset.frame.columns) == [*CONTRACT.input_names, LABEL]
    assert len(dataset.frame) == len(bundled_frame)
    assert set(dataset.target) == set(CONTRACT.classes)
    assert dataset.source_uri == bundled_uri()
    assert "site-packages" not in dataset.source_uri  # the data set named, not a path in this venv
    assert list(dataset.features.columns) == list(CONTRACT.input_names)


def test_digest_is_stable_and_content_sensitive(bundled_frame):
    digest = dataset_digest(bundled_frame)
    assert digest == dataset_digest(bundled_frame.copy())
    assert len(digest) == 32
    changed = bundled_frame.copy()
    changed.loc[0, NUMERIC.name] = float(changed.loc[1, NUMERIC.name]) + 0.1
    assert dataset_digest(changed) != digest
    assert dataset_digest(bundled_frame.iloc[::-1]) != digest  # order is part of the content


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_files_load_the_same(bundled_frame, tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        bundled_frame.to_csv(path, index=False)
    else:
        bundled_frame.to_parquet(path, index=False)
    dataset = load_dataset(DataConfig(source="file", path=path))
    assert dataset.source_uri == path.resolve().as_uri()
    assert dataset.digest == dataset_digest(validate_frame(bundled_frame, "bundled"))


def test_integer_numbers_are_coerced_to_float(bundled_frame):
    frame = bundled_frame.dropna(subset=[NUMERIC.name]).reset_index(drop=True)
    frame[NUMERIC.name] = frame[NUMERIC.name].round().astype("int64")
    assert validate_frame(frame, "ints")[NUMERIC.name].dtype == np.float64


def _refused(frame: pd.DataFrame) -> str:
    with pytest.raises(DataValidationError) as error:
        validate_frame(frame, "bad.csv")
    return str(error.value)


@pytest.mark.skipif(REQUIRED is None, reason="every input of this pack may be missing")
def test_a_missing_required_value_names_row_and_column(bundled_frame):
    frame = bundled_frame.dropna(subset=[REQUIRED.name]).reset_index(drop=True)
    frame.loc[7, REQUIRED.name] = None
    message = _refused(frame)
    assert message.startswith("bad.csv: data does not match schema (1 failure(s))")
    assert f"column '{REQUIRED.name}', row 7: missing value" in message


def test_out_of_range_number_names_row_column_and_value(bundled_frame):
    frame = bundled_frame.copy()
    frame.loc[3, NUMERIC.name] = above_range()
    message = _refused(frame)
    assert f"column '{NUMERIC.name}', row 3: outside the allowed range {NUMERIC.allowed}" in message
    assert f"(value {above_range()})" in message


def test_unknown_label_is_refused(bundled_frame):
    frame = bundled_frame.copy()
    frame.loc[5, LABEL] = "rose"
    assert f"column '{LABEL}', row 5: not one of the classes {list(CONTRACT.classes)}" in _refused(frame)


def test_missing_and_extra_columns_are_named(bundled_frame):
    frame = bundled_frame.drop(columns=NUMERIC.name).assign(colour="blue")
    message = _refused(frame)
    assert f"missing column '{NUMERIC.name}'" in message
    assert "unexpected column 'colour'" in message


def test_text_in_a_number_is_refused(bundled_frame):
    frame = bundled_frame.copy()
    frame[NUMERIC.name] = frame[NUMERIC.name].astype(object)
    frame.loc[2, NUMERIC.name] = "wide"
    assert f"column '{NUMERIC.name}', row 2: failed coerce_dtype('float64') (value 'wide')" in _refused(frame)


def test_many_failures_are_summarised(bundled_frame):
    frame = bundled_frame.copy()
    frame[LABEL] = "rose"
    message = _refused(frame)
    assert f"({len(frame)} failure(s))" in message
    assert f"... and {len(frame) - 10} more" in message


def test_empty_frame_is_refused(bundled_frame):
    with pytest.raises(DataValidationError, match=r"bad\.csv: no rows"):
        validate_frame(bundled_frame.iloc[0:0], "bad.csv")


def test_raw_schema_does_not_need_the_label(bundled_frame):
    raw = bundled_frame.drop(columns=LABEL)
    assert list(validate_frame(raw, "request", with_target=False).columns) == list(CONTRACT.input_names)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(DataValidationError, match="data file not found"):
        read_table(tmp_path / "none.csv")


def test_unreadable_parquet_is_refused(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataValidationError, match="cannot read data file"):
        read_table(path)
