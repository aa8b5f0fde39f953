"""What every command-line script shares: environment options, the actor, one-line errors."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from src.utils.config import DEFAULT_ENVIRONMENT_CONFIG, Settings, resolve_settings
from src.utils.git_info import git_user_email

#: Exit codes: 0 done, 1 the model was judged and failed, 2 the request was refused or could not run.
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def environment_options() -> argparse.ArgumentParser:
    """Options every command takes to choose its backend (a parent parser)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--env", choices=["dev", "staging", "prod"], help="profile (default: $ML_ENV, else the file's)")
    parser.add_argument("--env-config", type=Path, default=DEFAULT_ENVIRONMENT_CONFIG, help="environment YAML")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Resolve the profile named on the command line, and point MLflow at it."""
    from src.utils.mlflow_utils import configure_tracking

    settings = resolve_settings(args.env, args.env_config)
    configure_tracking(settings)
    return settings


def current_actor(explicit: str | None = None) -> str:
    """Who runs the command: --actor, else $MLOPS_ACTOR, else git user.email, else the login name."""
    return explicit or os.environ.get("MLOPS_ACTOR") or git_user_email() or getpass.getuser()


def refuse(message: str) -> int:
    """Print one clear error line and return the 'refused' exit code."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_REFUSED
