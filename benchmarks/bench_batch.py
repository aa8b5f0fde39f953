"""Benchmark: the batch pipeline (read, validate, score, write) vs the model's raw predict in memory.

On 1,000,000 rows of the pack's bundled data (sampled with replacement) in
Parquet and CSV. Target: the pipeline at >= 0.5x (Parquet) and >= 0.3x (CSV) the rows/s
of the logged model's own ``predict`` on the same rows already in memory.

Usage: ``python benchmarks/bench_batch.py [--rows N]`` (``make bench-batch``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._model import train_into

TARGET = {".parquet": 0.5, ".csv": 0.3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as directory:
        work = Path(directory)
        name = train_into(work)
        from src.components.batch import run_batch
        from src.components.scoring import load_scorer
        from src.data.contract import CONTRACT, load_bundled

        scorer = load_scorer(name, alias="dev")
        frame = load_bundled().loc[:, list(CONTRACT.input_names)]
        frame = frame.sample(rows, replace=True, random_state=0).reset_index(drop=True)
        frame.to_parquet(work / "input.parquet", index=False)
        frame.to_csv(work / "input.csv", index=False)

        started = time.perf_counter()
        scorer.pipeline.predict(frame)
        raw = rows / (time.perf_counter() - started)
        started = time.perf_counter()
        scorer.predict_columns({c: frame[c].to_numpy() for c in CONTRACT.input_names})
        compiled = rows / (time.perf_counter() - started)
        print(f"raw Pipeline.predict in memory:     {raw:>12,.0f} rows/s")
        print(f"scorer in memory ({scorer.path}): {compiled:>12,.0f} rows/s")
        for suffix in (".parquet", ".csv"):
            result = run_batch(scorer, work / f"input{suffix}", work / f"output{suffix}")
            rate = result.rows_scored / result.seconds
            verdict = "meets" if rate / raw >= TARGET[suffix] else "misses"
            print(
                f"pipeline {suffix[1:]:<8} -> {suffix[1:]:<8}    {rate:>12,.0f} rows/s  "
                f"= {rate / raw:.2f}x raw ({verdict} >= {TARGET[suffix]}x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
