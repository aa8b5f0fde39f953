"""Apply configs/governance.yaml to the MLflow server: users, governed experiments and models, and grants.

    MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=... \\
        python scripts/apply_permissions.py --env staging --passwords secrets/users.yaml
    python scripts/apply_permissions.py --dry-run        # print the changes, make none

The server must run MLflow's basic-auth app (make server AUTH=1) and the
command authenticate as its admin. Idempotent: a second run changes nothing
and says so. Members who do not exist yet are created with the password the
--passwords file (YAML, user: password; never in the repository) gives them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli
from src.utils.config import DEFAULT_GOVERNANCE_CONFIG, ConfigError, load_governance_config, load_yaml


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/apply_permissions.py", __doc__, example="python scripts/apply_permissions.py --dry-run"
    )
    parser.add_argument("--governance", type=Path, default=DEFAULT_GOVERNANCE_CONFIG, help="roles and rights")
    parser.add_argument("--passwords", type=Path, help="YAML file of user: password for members to create")
    parser.add_argument("--dry-run", action="store_true", help="print the changes and make none")
    return parser


def _passwords(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        found = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise cli.UsageError(f"cannot read the passwords file {path}: {exc}") from None
    except ConfigError:  # its text holds passwords: not repeated in the message
        raise cli.UsageError(f"{path}: not valid YAML (or it uses anchors); its content is not shown") from None
    if not isinstance(found, dict) or not all(isinstance(v, str) and v for v in found.values()):
        raise cli.UsageError(f"{path}: expected a mapping of user: password (non-empty strings)")
    return {str(user): password for user, password in found.items()}


def _apply(args: argparse.Namespace) -> int:
    config = load_governance_config(args.governance)  # a bad config is refused before MLflow is imported
    passwords = _passwords(args.passwords)
    settings = cli.settings_from(args)
    if not settings.tracking_uri.startswith(("http://", "https://")):
        raise cli.UsageError(
            f"rights live on a tracking server running the basic-auth app; {settings.tracking_uri} is not one "
            "(set MLFLOW_TRACKING_URI to the server, e.g. after make server AUTH=1)"
        )
    from src.governance import permissions
    from src.governance.auth_client import AuthClient
    from src.models.model_registry import Registry

    client, registry = AuthClient(settings.tracking_uri), Registry()
    state = permissions.server_state(settings, client, registry)
    changes = permissions.plan(config, settings, state)
    if not changes:
        print(f"{settings.tracking_uri} already matches {args.governance.name}: nothing to change")
        return cli.EXIT_OK
    for change in changes:
        print(("would " if args.dry_run else "") + change.describe())
    if args.dry_run:
        print(f"dry run: {len(changes)} change(s), none made")
        return cli.EXIT_OK
    permissions.apply(changes, client, permissions.creators(settings, registry), state.ids, passwords)
    print(f"{len(changes)} change(s) applied to {settings.tracking_uri}")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _apply(args))


if __name__ == "__main__":
    sys.exit(main())
