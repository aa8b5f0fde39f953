"""Promote, roll back and audit the model's aliases: dev -> staging -> production.

    python scripts/promote_model.py --to staging
    python scripts/promote_model.py --to production --approved-by alice --reason "CHG-1234"
    python scripts/promote_model.py history [--alias production]
    python scripts/promote_model.py rollback --alias production --reason "INC-42: error rate"

A promotion takes the version at the alias before the target (forward only),
only if it passed validation; production also needs an approver other than
the version's author and a reason. Every move is recorded; exit 0 when
done (or nothing to do), 2 when refused, with the reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from src.utils import cli

if TYPE_CHECKING:
    from src.models.alias_history import AliasEvent
    from src.utils.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/promote_model.py",
        __doc__,
        example='python scripts/promote_model.py --to production --approved-by alice --reason "CHG-1234"',
    )
    cli.actor_option(parser)
    parser.add_argument("--to", choices=["staging", "production"], help="promote to this alias")
    parser.add_argument("--approved-by", help="approver (production; not the version's author)")
    parser.add_argument("--reason", help="reason or change ticket (production)")
    commands = parser.add_subparsers(dest="command")
    history = commands.add_parser("history", parents=[cli.environment_options()], help="every alias move, oldest first")
    history.add_argument("--alias", choices=cli.ALIASES, help="only this alias")
    back = commands.add_parser(
        "rollback", parents=[cli.environment_options()], help="point an alias back at its previous version"
    )
    cli.actor_option(back)
    back.add_argument("--alias", required=True, choices=["staging", "production"])
    back.add_argument("--reason", required=True, help="why (an incident, a ticket)")
    return parser


def _format(events: list[AliasEvent]) -> str:
    """The alias history as a table, oldest move first."""
    if not events:
        return "no alias moves recorded"
    width = max(len("by"), *(len(e.actor) for e in events))
    rows = [f"{'#':>3}  {'when (UTC)':<19}  {'alias':<10}  {'action':<8}  {'from -> to':<12}  {'by':<{width}}  reason"]
    for e in events:
        moved = f"v{e.from_version or '-'} -> v{e.to_version or '-'}"
        approval = f"approved by {e.approved_by}: " if e.approved_by else ""
        when = f"{e.at:%Y-%m-%d %H:%M:%S}"
        rows.append(
            f"{e.sequence:>3}  {when:<19}  {e.alias:<10}  {e.action:<8}  {moved:<12}  {e.actor:<{width}}  "
            f"{approval}{e.reason}"
        )
    return f"{events[0].model}\n" + "\n".join(rows)


def _holders(settings: Settings) -> str:
    from src.models.model_registry import Alias, Registry

    registry = Registry()
    holders = []
    for alias in Alias:
        found = registry.version_at(settings.model_name_for(alias), alias)
        holders.append(f"@{alias.value} = {'v' + found.version if found else '(unset)'}")
    return "now: " + ", ".join(holders)


def _run(args: argparse.Namespace) -> int:
    from src.models.alias_history import AliasHistory
    from src.models.approval import Approval
    from src.models.model_registry import Alias
    from src.models.promotion import promote, rollback

    settings = cli.settings_from(args)
    actor = cli.current_actor(args.actor)
    if args.command == "history":
        models = sorted({settings.model_name_for(alias) for alias in Alias})
        events = AliasHistory(settings.audit_experiment_name).events(alias=args.alias)
        print(_format([e for e in events if e.model in models]))
        print(_holders(settings))
        return cli.EXIT_OK
    if args.command == "rollback":
        move = rollback(settings, Alias(args.alias), actor=actor, reason=args.reason)
    else:
        approval = Approval(approved_by=args.approved_by, reason=args.reason)
        move = promote(settings, Alias(args.to), actor=actor, approval=approval)
    print(move.describe())
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    from src.models.approval import Approval, missing_approval  # light: refusals come before MLflow is imported

    args = _parser().parse_args(argv)
    if args.command is None and args.to is None:
        return cli.refuse("say what to do: --to staging|production, history, or rollback")
    if args.command is None and args.to == "production":
        missing = missing_approval(Approval(approved_by=args.approved_by, reason=args.reason))
        if missing:
            return cli.refuse(f"production needs {' and '.join(missing)}")
    return cli.run(lambda: _run(args), unchanged="no alias moved")


if __name__ == "__main__":
    sys.exit(main())
