"""Batch inference workflow: score a CSV or Parquet file with the version at an alias.

    python pipelines/inference_pipeline.py --alias production --input data.parquet --output preds.parquet
    python pipelines/inference_pipeline.py --alias staging --input data.csv --output preds.csv --rejects bad.csv
    python pipelines/inference_pipeline.py --alias production --input data.parquet --output preds_dir --engine spark

The workflow: resolve the alias once, load that version (for @staging/@production, only a version a sanctioned
move put there: the alias guard's rule, as the endpoint has it), score with the
chosen engine (``src.components.batch`` on Arrow, or ``src.components.spark_batch``).
Output is all or nothing; a row that breaks the data contract stops the run
with its row number, or goes to ``--rejects`` with the reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python pipelines/inference_pipeline.py",
        __doc__,
        example="python pipelines/inference_pipeline.py --alias production --input data.csv --output preds.csv",
    )
    cli.alias_option(parser, default="production")
    parser.add_argument("--input", type=Path, required=True, help=".csv or .parquet with the raw measurements")
    parser.add_argument("--output", type=Path, required=True, help=".csv or .parquet (written atomically)")
    parser.add_argument("--rejects", type=Path, help="set invalid rows aside here (with the reason) instead of failing")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (memory bound)")
    parser.add_argument(
        "--engine",
        choices=["arrow", "spark"],
        default="arrow",
        help="arrow: streamed in this process (default); spark: mlflow.pyfunc.spark_udf, output is a directory",
    )
    parser.add_argument("--master", default="local[2]", help="Spark master for --engine spark")
    return parser


def _score(args: argparse.Namespace) -> int:
    from src.components.batch import check_format, run_batch
    from src.components.scoring import load_guarded

    check_format(args.input)
    if args.engine == "arrow":
        check_format(args.output)
    settings = cli.settings_from(args)
    model = settings.model_name_for(args.alias)
    print(f"loading {model}@{args.alias} (a few seconds) ...", flush=True)  # the wait is said
    scorer = load_guarded(settings, model, args.alias)
    if args.engine == "spark":
        from src.components.spark_batch import run_spark

        print(f"starting Spark ({args.master}; 10 s or so) ...", flush=True)
        result = run_spark(scorer, args.input, args.output, master=args.master, rejects_dir=args.rejects)
    else:
        result = run_batch(
            scorer,
            args.input,
            args.output,
            rejects_path=args.rejects,
            chunk_rows=args.chunk_rows,
            progress=sys.stderr.isatty(),
        )
    print(f"{scorer.handle.name} version {scorer.handle.version} (@{args.alias}): {result.summary()}")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _score(args))


if __name__ == "__main__":
    sys.exit(main())
