"""Validate a registered model version: exit 0 if it passed, 1 if it failed, 2 if it could not be validated.

    python scripts/validate_model.py --alias dev
    python scripts/validate_model.py --version 3 --env staging

The decision (every check, the metrics, the champion it was compared with)
is printed, written on the version as ``validation.*`` tags, and kept in a
validation run. No alias moves.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli
from src.utils.config import load_model_config, model_config_path


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/validate_model.py", __doc__, example="python scripts/validate_model.py --alias dev"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--alias", choices=cli.ALIASES, help="validate the version at this alias")
    target.add_argument("--version", help="validate this version number")
    parser.add_argument("--config", type=Path, default=model_config_path(),
                        help="model config: thresholds, budgets ($ML_MODEL_CONFIG or %(default)s)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    return parser


def _validate(args: argparse.Namespace) -> int:
    model_config = load_model_config(args.config)  # a bad config is refused before MLflow is imported
    from src.models.model_validator import decision_as_json, validate_version

    logging.getLogger("mlflow.models.evaluation").setLevel(logging.WARNING)  # the report says it all
    settings = cli.settings_from(args)
    decision = validate_version(settings, model_config, version=args.version, alias=args.alias)
    print(decision_as_json(decision) if args.json else decision.report())
    return cli.EXIT_OK if decision.passed else cli.EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _validate(args), unchanged="the version's verdict (validation.status) is unchanged")


if __name__ == "__main__":
    sys.exit(main())
