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

from mlflow.exceptions import MlflowException

from src.models.model_registry import RegistryError
from src.models.model_validator import ValidationRefused, decision_as_json, validate_version
from src.utils.cli import EXIT_FAILED, EXIT_OK, environment_options, refuse, settings_from
from src.utils.config import DEFAULT_MODEL_CONFIG, ConfigError, load_model_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/validate_model.py", description=__doc__.splitlines()[0], parents=[environment_options()]
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--alias", choices=["dev", "staging", "production"], help="validate the version at this alias")
    target.add_argument("--version", help="validate this version number")
    parser.add_argument("--config", type=Path, default=DEFAULT_MODEL_CONFIG, help="model config (thresholds, budgets)")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("mlflow.models.evaluation").setLevel(logging.WARNING)  # the report says it all
    try:
        model_config = load_model_config(args.config)
        settings = settings_from(args)
        decision = validate_version(settings, model_config, version=args.version, alias=args.alias)
    except (ConfigError, RegistryError, ValidationRefused) as exc:
        return refuse(str(exc))
    except MlflowException as exc:
        return refuse(f"the tracking backend failed: {exc.message}")
    print(decision_as_json(decision) if args.json else decision.report())
    return EXIT_OK if decision.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
