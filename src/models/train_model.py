"""Training entrypoint (the seed's required name).

    python -m src.models.train_model --config configs/model_config.yaml \\
        --experiment /{team}/{project}/{model_name} --context full --version 1.0.0

A thin command-line face over the training job (``src.models.training``,
the same job ``pipelines/training_pipeline.py`` runs). It checks the request
first (cheap imports only), starts creating a fresh tracking store on the
other core, and only then imports MLflow and scikit-learn, so the two overlap.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from src.models.training_plan import TrainingRequest, plan_training
from src.utils import cli
from src.utils.config import DEFAULT_FEATURE_CONFIG, ConfigError, model_config_path, resolve_settings
from src.utils.tracking_store import prepare_stores


def _experiment() -> str:
    """This project's experiment, for the example (the convention's placeholders if the config does not load)."""
    try:
        return resolve_settings().experiment_name
    except ConfigError:
        return "/{team}/{project}/{model_name}"


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m src.models.train_model",
        "Train, track and register the model (alias @dev).",
        example="python -m src.models.train_model --config configs/model_config.yaml "
        f"--experiment {_experiment()} --context full --version 1.0.0",
    )
    parser.add_argument(
        "--config", type=Path, default=model_config_path(), help="model config YAML ($ML_MODEL_CONFIG or %(default)s)"
    )
    parser.add_argument("--feature-config", type=Path, default=DEFAULT_FEATURE_CONFIG, help="feature config YAML")
    parser.add_argument("--experiment", help="/{team}/{project}/{model_name} (default: from the profile)")
    parser.add_argument("--context", default="full", help="training context, e.g. full or incremental")
    parser.add_argument(
        "--version", required=True, help="semantic version MAJOR.MINOR.PATCH, or 'auto' for the next patch version"
    )
    parser.add_argument(
        "--build-id",
        default=os.environ.get("BUILD_ID") or os.environ.get("GITHUB_RUN_ID"),
        help="CI build ID for the run name (default: $BUILD_ID or $GITHUB_RUN_ID, else a timestamp)",
    )
    parser.add_argument("--author", default=os.environ.get("TRAINED_BY"), help="who trains (default: git user.email)")
    return parser


def _train(args: argparse.Namespace) -> int:
    request = TrainingRequest(
        version=args.version,
        context=args.context,
        model_config=args.config,
        feature_config=args.feature_config,
        environment_config=args.env_config,
        env=args.env,
        experiment=args.experiment,
        build_id=args.build_id,
        author=args.author,
    )
    plan = plan_training(request)
    stores = prepare_stores(plan.settings.tracking_uri, plan.settings.registry_uri)
    from src.models.training import execute  # heavy imports, overlapping the store creation

    result = execute(plan, store_ready=stores.wait)
    print(result.summary())
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Train and register; print a summary, or one clear error and exit 2."""
    args = _parser().parse_args(argv)
    return cli.run(lambda: _train(args), unchanged="@dev did not move (rerun once the server is back)")


def exit_process(code: int) -> None:
    """Exit without the interpreter's final garbage collections.

    MLflow, scikit-learn and friends leave ~3,700 modules loaded; the cyclic
    collections at teardown walk all their objects again (~1.5 s measured).
    Freezing the collector first skips that walk; atexit handlers and module
    cleanup still run.
    """
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    exit_process(main())
