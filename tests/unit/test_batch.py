"""Arrow batch scoring on the in-memory model: formats, atomic output, rejects, and the data contract."""

from __future__ import annotations

import os
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from src.components.batch import LINEAGE_COLUMNS, AtomicTableWriter, BatchError, check_format, run_batch
from src.data.contract import CONTRACT
from tests.pack import NUMERIC, REQUIRED, above_range


@pytest.fixture
def measurements(bundled_frame):
    return (
        bundled_frame.loc[:, list(CONTRACT.input_names)]
        .sample(300, replace=True, random_state=1)
        .reset_index(drop=True)
    )


@pytest.mark.parametrize(("source", "target"), [(".csv", ".csv"), (".parquet", ".parquet"), (".csv", ".parquet")])
def test_every_row_is_scored_like_the_pipeline(memory_scorer, measurements, tmp_path, source, target):
    path, out = tmp_path / f"in{source}", tmp_path / f"out{target}"
    measurements.to_csv(path, index=False) if source == ".csv" else measurements.to_parquet(path, index=False)
    result = run_batch(memory_scorer, path, out, chunk_rows=64)
    scored = pd.read_csv(out) if target == ".csv" else pd.read_parquet(out)
    assert result.rows_scored == 300 and set(LINEAGE_COLUMNS) <= set(scored.columns)
    assert scored["prediction"].astype(str).tolist() == list(memory_scorer.pipeline.predict(measurements))
    assert "rows/s" in result.summary()


def test_an_empty_input_gives_an_empty_output_with_the_header(memory_scorer, measurements, tmp_path):
    measurements.head(0).to_parquet(tmp_path / "in.parquet", index=False)
    result = run_batch(memory_scorer, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert result.rows_in == 0 and "prediction" in pq.read_schema(tmp_path / "out.parquet").names


def test_nulls_words_and_out_of_domain_values_are_set_aside_with_every_reason(memory_scorer, measurements, tmp_path):
    bad = measurements.astype({NUMERIC.name: object})
    bad.loc[4, NUMERIC.name], bad.loc[5, NUMERIC.name] = "wide", above_range()
    expected = [f"{NUMERIC.name}: not a number", f"{NUMERIC.name}: outside the allowed range {NUMERIC.allowed}"]
    if REQUIRED is not None:  # a pack whose every input may be missing has no null to refuse
        bad = bad.astype({REQUIRED.name: object})
        bad.loc[3, REQUIRED.name] = None
        expected.insert(0, f"{REQUIRED.name}: null")
    bad.to_csv(tmp_path / "in.csv", index=False)
    result = run_batch(memory_scorer, tmp_path / "in.csv", tmp_path / "out.csv", rejects_path=tmp_path / "rej.csv")
    assert (result.rows_scored, result.rows_rejected) == (300 - len(expected), len(expected))
    assert pd.read_csv(tmp_path / "rej.csv")["reject_reason"].tolist() == expected


@pytest.mark.parametrize("name", ["in.json", "in.xlsx"])
def test_only_csv_and_parquet_are_accepted(name, tmp_path):
    with pytest.raises(BatchError, match=r"expected a \.csv or \.parquet file"):
        check_format(tmp_path / name)


def test_a_missing_output_directory_is_refused_before_reading(memory_scorer, measurements, tmp_path):
    measurements.to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(BatchError, match="output directory does not exist"):
        run_batch(memory_scorer, tmp_path / "in.parquet", tmp_path / "nowhere" / "out.parquet")


def test_lineage_is_typed_version_integer_and_time_a_timestamp(memory_scorer, measurements, tmp_path):
    import pyarrow as pa

    measurements.to_parquet(tmp_path / "in.parquet", index=False)
    run_batch(memory_scorer, tmp_path / "in.parquet", tmp_path / "out.parquet")
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("model_version").type == pa.int64()
    assert schema.field("scored_at").type == pa.timestamp("ms", tz="UTC")
    assert pd.read_parquet(tmp_path / "out.parquet")["model_version"].unique().tolist() == [1]


def test_a_misspelt_column_is_named_with_the_close_match(memory_scorer, measurements, tmp_path):
    name = NUMERIC.name
    at = max(i for i in range(len(name) - 1) if name[i] != name[i + 1])
    misspelt = name[:at] + name[at + 1] + name[at] + name[at + 2 :]  # two neighbouring letters swapped
    measurements.rename(columns={name: misspelt}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(BatchError, match=re.escape(f"unknown column(s) {misspelt} (did you mean {name}?)")):
        run_batch(memory_scorer, tmp_path / "in.csv", tmp_path / "out.csv")


def test_csv_lineage_is_the_same_values_as_text(memory_scorer, measurements, tmp_path):
    from datetime import datetime

    measurements.to_csv(tmp_path / "in.csv", index=False)
    run_batch(memory_scorer, tmp_path / "in.csv", tmp_path / "out.csv")
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["model_version"].unique().tolist() == [1]
    (stamp,) = scored["scored_at"].unique().tolist()
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 0


def test_rejects_that_are_the_output_are_refused_before_anything_is_written(memory_scorer, measurements, tmp_path):
    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    measurements.to_csv(path, index=False)
    with pytest.raises(BatchError, match=r"--rejects .* is also the output file"):
        run_batch(memory_scorer, path, out, rejects_path=tmp_path / "." / "out.csv")
    with pytest.raises(BatchError, match=r"--output .* is the input file"):
        run_batch(memory_scorer, path, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_killed_runs_partial_file_is_removed_by_the_next_run(memory_scorer, measurements, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    measurements.to_parquet(path, index=False)
    left = tmp_path / f".out.parquet.{dead.stdout.strip()}.partial"  # as a SIGKILL leaves it
    live = tmp_path / f".out.parquet.{os.getppid()}.partial"  # a run still going: not touched
    left.write_bytes(b"half a file")
    live.write_bytes(b"being written")
    run_batch(memory_scorer, path, out)
    assert not left.exists() and live.exists() and out.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_write_that_fails_on_the_writer_s_thread_is_raised_and_publishes_nothing(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    out.write_bytes(b"the last good run")
    writer = AtomicTableWriter(out, pending=1)
    writer.write(pa.table({"x": [1.0, 2.0]}))
    writer.write(pa.table({"y": ["a"]}))  # not the first table's columns: it fails on the writer's thread
    for _ in range(5):  # after a failure the thread keeps taking tables: the producer never blocks on a full queue
        try:
            writer.write(pa.table({"x": [3.0]}))
        except ValueError:
            break  # handed over at a later write, or at the latest by commit
    with pytest.raises(ValueError, match="field names are not matching"):
        writer.commit(pa.schema([("x", pa.float64())]))
    writer.abort()
    assert out.read_bytes() == b"the last good run" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_when_the_rejects_cannot_be_written_the_output_is_not_published_either(
    memory_scorer, measurements, tmp_path, monkeypatch
):
    """Output and rejects are one result: both are sealed before either is renamed into place."""
    bad = measurements.astype({NUMERIC.name: object})
    bad.loc[4, NUMERIC.name] = "wide"
    bad.to_csv(tmp_path / "in.csv", index=False)
    out, rejected = tmp_path / "out.csv", tmp_path / "rej.csv"
    write_now = AtomicTableWriter._write_now

    def rejects_disk_full(self, table):
        if self.path == rejected:
            raise OSError(28, "No space left on device")
        write_now(self, table)

    monkeypatch.setattr(AtomicTableWriter, "_write_now", rejects_disk_full)
    with pytest.raises(BatchError, match="No space left on device"):
        run_batch(memory_scorer, tmp_path / "in.csv", out, rejects_path=rejected)
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]
