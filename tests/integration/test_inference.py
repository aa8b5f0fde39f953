"""Inference on a registered model: the scorer resolves an alias once; batch scoring is streamed and all-or-nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

import src.components.batch as inference
from pipelines.training_pipeline import run_training
from src.components.batch import LINEAGE_COLUMNS, BatchError, run_batch
from src.components.scoring import load_scorer
from src.data.contract import CONTRACT
from src.models.training_plan import TrainingRequest
from src.utils.config import PROJECT_ROOT
from tests.conftest import use_store
from tests.pack import NUMERIC, OTHER, REQUIRED

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with use_store(tmp_path_factory.mktemp("inference-store")) as uri:
        yield uri


@pytest.fixture(scope="module")
def registered(store):
    return run_training(TrainingRequest(version="1.0.0", author="alice")).registered


@pytest.fixture(scope="module")
def scorer(registered):
    return load_scorer(registered.name, alias="dev")


@pytest.fixture
def measurements(bundled_frame):
    return (
        bundled_frame.loc[:, list(CONTRACT.input_names)]
        .sample(1000, replace=True, random_state=3)
        .reset_index(drop=True)
    )


def test_scorer_resolves_the_alias_once(scorer, registered):
    assert (scorer.handle.name, scorer.handle.version, scorer.handle.alias) == (registered.name, "1", "dev")
    assert scorer.handle.run_id and scorer.input_columns == CONTRACT.input_names
    assert scorer.handle.features == tuple(scorer.pipeline[0].features)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_scores_every_row_with_lineage(scorer, measurements, tmp_path, suffix):
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    measurements.to_csv(source, index=False) if suffix == ".csv" else measurements.to_parquet(source, index=False)
    result = run_batch(scorer, source, target, chunk_rows=128)
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (1000, 1000, 0)
    output = pd.read_csv(target) if suffix == ".csv" else pd.read_parquet(target)
    expected = scorer.score_frame(measurements)
    assert output["prediction"].astype(str).tolist() == expected["prediction"].tolist()
    pd.testing.assert_frame_equal(output.loc[:, list(CONTRACT.input_names)], measurements, check_dtype=False)
    assert set(LINEAGE_COLUMNS) <= set(output.columns)
    assert output["model_version"].astype(str).unique().tolist() == ["1"]
    assert output["model_alias"].astype(str).unique().tolist() == ["dev"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, target.name])  # no leftovers


def test_a_crash_mid_run_leaves_the_last_output_as_it_was_and_no_rejects(scorer, measurements, tmp_path, monkeypatch):
    """All or nothing: yesterday's output stays whole, no rejects file, no partial file."""
    source, target, rejects = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    measurements.to_parquet(source, index=False)
    measurements.head(3).to_parquet(target, index=False)  # the last good run's output
    yesterday = target.read_bytes()
    original, calls = inference._scored, []

    def crash_on_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated crash while scoring")
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "_scored", crash_on_third_chunk)
    with pytest.raises(MemoryError):
        run_batch(scorer, source, target, rejects_path=rejects, chunk_rows=100)
    assert len(calls) == 3  # it did crash mid-run, after two chunks were written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]
    assert target.read_bytes() == yesterday


def _broken(measurements: pd.DataFrame, text_at: int, gap_at: int) -> pd.DataFrame:
    """Text in ``NUMERIC`` at one row, a gap in the ``REQUIRED`` input at another."""
    bad = measurements.astype({NUMERIC.name: object, REQUIRED.name: object})
    bad.loc[text_at, NUMERIC.name] = "wide"
    bad.loc[gap_at, REQUIRED.name] = None
    return bad


@pytest.mark.skipif(REQUIRED is None, reason="every input of this pack may be missing")
def test_bad_rows_stop_the_run_and_are_named(scorer, measurements, tmp_path):
    bad = _broken(measurements, 5, 700)
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    bad.to_csv(source, index=False)
    with pytest.raises(BatchError, match=rf"row 5: {NUMERIC.name}: not a number; row 700: {REQUIRED.name}: null"):
        run_batch(scorer, source, target, chunk_rows=128)
    assert not target.exists()


@pytest.mark.skipif(REQUIRED is None, reason="every input of this pack may be missing")
def test_bad_rows_can_be_set_aside(scorer, measurements, tmp_path):
    bad = _broken(measurements, 2, 999)
    source, target, rejects = tmp_path / "in.csv", tmp_path / "out.parquet", tmp_path / "rejects.csv"
    bad.to_csv(source, index=False)
    result = run_batch(scorer, source, target, rejects_path=rejects, chunk_rows=128)
    assert (result.rows_scored, result.rows_rejected) == (998, 2)
    set_aside = pd.read_csv(rejects)
    assert set_aside["reject_reason"].tolist() == [f"{NUMERIC.name}: not a number", f"{REQUIRED.name}: null"]
    assert pq.read_metadata(target).num_rows == 998


def test_missing_column_is_refused(scorer, measurements, tmp_path):
    source = tmp_path / "in.parquet"
    measurements.drop(columns=OTHER).to_parquet(source, index=False)
    with pytest.raises(BatchError, match=f"{OTHER}: missing column"):
        run_batch(scorer, source, tmp_path / "out.parquet")


def test_command_line(store, registered, measurements, tmp_path, capsys):
    from pipelines import inference_pipeline  # in-process: the command's main, on this module's store

    source, target = tmp_path / "in.parquet", tmp_path / "preds.parquet"
    measurements.to_parquet(source, index=False)
    command = ["--alias", "dev", "--input", str(source), "--output", str(target)]
    assert inference_pipeline.main(command) == 0
    assert "version 1 (@dev): scored 1000 of 1000 rows" in capsys.readouterr().out
    assert inference_pipeline.main([*command[:3], str(tmp_path / "none.csv"), *command[4:]]) == 2
    assert "input file not found" in capsys.readouterr().err
    assert inference_pipeline.main(["--alias", "production", *command[2:]]) == 2
    assert "holds @production" in capsys.readouterr().err


def test_the_command_runs_as_a_process(store, registered, measurements, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "preds.csv"
    measurements.to_csv(source, index=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
    command = [sys.executable, "pipelines/inference_pipeline.py", "--input", str(source), "--output", str(target)]
    done = subprocess.run([*command, "--alias", "dev"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0 and "scored 1000 of 1000 rows" in done.stdout, done.stderr


@pytest.mark.system  # a JVM and its Python workers: about 20 s on a quiet machine, the slowest single test
def test_spark_engine_scores_like_the_arrow_engine(scorer, measurements, tmp_path):
    from tests.conftest import require_service

    require_service("PySpark (make venv-spark)", lambda: __import__("pyspark"))
    source = tmp_path / "in.parquet"
    measurements.head(200).to_parquet(source, index=False)
    from src.components.spark_batch import run_spark

    spark_result = run_spark(scorer, source, tmp_path / "spark_out")
    arrow_result = run_batch(scorer, source, tmp_path / "arrow_out.parquet")
    assert (spark_result.rows_scored, arrow_result.rows_scored) == (200, 200)
    spark_rows = pd.read_parquet(tmp_path / "spark_out").sort_values(list(CONTRACT.input_names), kind="stable")
    arrow_rows = pd.read_parquet(tmp_path / "arrow_out.parquet").sort_values(list(CONTRACT.input_names), kind="stable")
    assert spark_rows["prediction"].tolist() == arrow_rows["prediction"].astype(str).tolist()
    assert set(LINEAGE_COLUMNS) <= set(spark_rows.columns)
    assert not list(tmp_path.glob(".*partial"))
