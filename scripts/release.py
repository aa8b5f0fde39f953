"""The CD steps, in order, as the workflows run them (cd-staging.yml, cd-production.yml) and the rehearsals replay them.

    python scripts/release.py staging --url https://model-staging.internal --build-id 123
    python scripts/release.py production --url https://model.internal --approved-by carol --reason CHG-42 [--version 7]
    python scripts/release.py canary --url https://model.internal --approved-by carol --reason CHG-42

staging: train (the --env profile, build ID in the run name) -> validate (a
failed gate stops here: nothing is promoted) -> promote to @staging -> roll out
to the staging endpoint (it follows its alias; the release checks run live).
production: the version at @staging (a --version that is not it is refused:
production gets exactly what staging validated) -> promote to @production with
the approver and reason -> roll out (a failed check rolls @production back,
recorded) -> monitoring enabled for the version (tag monitoring.enabled_since).
canary: the production endpoint serves @staging as its canary (``make serve
ALIAS=production CHALLENGER=staging CANARY=10``): wait until it serves the
version @staging holds, watch the live figures of both sides for
--watch-seconds (and until the challenger has --min-requests), then promote it
as ``production`` does if it is fit (``src.monitoring.comparison``), else roll
@staging back (recorded in the alias history: the canary then serves the
previous staging version) and exit 1.
Each step prints its own report; --summary FILE (default $GITHUB_STEP_SUMMARY)
gets the verdict, the checks against the champion and the model card in Markdown.
Exit 0 released, 1 stopped by a gate or a failed rollout, 2 could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from src.monitoring.comparison import CanaryRules
from src.utils import cli
from src.utils.config import DEFAULT_ENVIRONMENT_CONFIG
from src.utils.errors import ProjectError

if TYPE_CHECKING:
    from src.components.rollout import RolloutOutcome
    from src.monitoring.comparison import Comparison
    from src.utils.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python scripts/release.py", __doc__, profile=False,
                        example="python scripts/release.py staging --url http://127.0.0.1:8001")  # fmt: skip
    steps = parser.add_subparsers(dest="target", required=True)
    for name in ("staging", "production", "canary"):
        step = steps.add_parser(name, help=f"release to @{name}")
        step.add_argument("--env", default="staging", help="profile whose model carries the aliases (default staging)")
        step.add_argument("--env-config", type=Path, default=DEFAULT_ENVIRONMENT_CONFIG, help="environment YAML")
        step.add_argument("--url", required=True, help=f"the {name} endpoint, e.g. http://127.0.0.1:8001")
        step.add_argument("--timeout", type=float, default=120.0, help="seconds for the endpoint to swap")
        step.add_argument("--max-p99-ms", type=float, default=100.0, help="latency check of the rollout")
        step.add_argument("--summary", type=Path, default=os.environ.get("GITHUB_STEP_SUMMARY"), help="Markdown")
    staging = steps.choices["staging"]
    staging.add_argument("--build-id", default=os.environ.get("BUILD_ID") or os.environ.get("GITHUB_RUN_ID"))
    staging.add_argument("--config", help="model config (thresholds) for training and validation")
    for name in ("production", "canary"):
        production = steps.choices[name]
        production.add_argument("--version", help="the version to release (default: the one at @staging)")
        who = production.add_mutually_exclusive_group(required=True)
        who.add_argument("--approved-by", help="the approver")
        who.add_argument("--approval-from-github", action="store_true",
                         help="the reviewer who approved this run's deployment (GitHub API)")  # fmt: skip
        production.add_argument("--reason", required=True, help="the change ticket or reason")
    canary = steps.choices["canary"]
    canary.add_argument("--watch-seconds", type=float, default=600.0, help="how long the canary is watched at least")
    canary.add_argument("--min-requests", type=int, default=200, help="requests the canary must answer first")
    canary.add_argument("--max-wait-seconds", type=float, help="give up (and roll back) after this (default 3x watch)")
    canary.add_argument("--log", action="append", help="the inference log (default: the profile's, else logs/)")
    canary.add_argument("--latency-ratio", type=float, default=CanaryRules.latency_ratio,
                        help="the canary's p99 may be at most this times the champion's")  # fmt: skip
    return parser


def _step(name: str, detail: str) -> None:
    print(f"\n== {name}: {detail}", flush=True)


def _summary(args: argparse.Namespace, settings: Settings, title: str, model: str, version: str, outcome: str) -> None:
    """The job summary: what happened, then the model card (verdict, checks against the champion, history)."""
    if not args.summary:
        return
    from src.models.model_card import card_of
    from src.utils.config import load_model_card_config

    try:
        text = card_of(settings, model, version, load_model_card_config())
    except ProjectError as exc:
        text = f"(the model card could not be written: {exc})\n"
    with Path(args.summary).open("a", encoding="utf-8") as out:
        out.write(f"# {title}: version {version}\n\n{outcome}\n\n{text.replace('# Model card', '## Model card', 1)}\n")


def _roll_out(args: argparse.Namespace, settings: Settings, alias: str, version: str) -> RolloutOutcome:
    from src.components.rollout import roll_out

    _step("rollout", f"{settings.model_name_for(alias)} version {version} at {args.url}")
    outcome = roll_out(settings, alias, args.url, version, actor=cli.current_actor(None), timeout_s=args.timeout,
                       max_p99_ms=args.max_p99_ms)  # fmt: skip
    for failure in outcome.failures:
        print(f"FAIL {failure}")
    print(outcome.describe())
    return outcome


def staging(args: argparse.Namespace) -> int:
    """Train -> validate -> promote -> roll out; each step gets what the one before produced."""
    from src.models.model_registry import Alias
    from src.models.model_validator import validate_version
    from src.models.promotion import promote
    from src.models.training import execute
    from src.models.training_plan import TrainingRequest, plan_training
    from src.utils.config import load_model_config

    config = {"model_config": Path(args.config)} if args.config else {}
    request = TrainingRequest(version="auto", env=args.env, environment_config=args.env_config,
                              build_id=args.build_id, **config)  # type: ignore[arg-type]  # fmt: skip
    settings = cli.settings_from(args, creates_store=True)  # it trains first
    _step("train", f"--env {args.env} --version auto" + (f" --build-id {args.build_id}" if args.build_id else ""))
    trained = execute(plan_training(request))
    print(trained.summary())
    candidate = trained.registered.version
    _step("validate", f"{trained.registered.name} version {candidate}")
    decision = validate_version(settings, load_model_config(request.model_config), version=candidate)
    print(decision.report())
    if not decision.passed:
        print(f"\nversion {candidate} did not pass the validation gate: nothing was promoted")
        _summary(args, settings, "cd-staging", trained.registered.name, candidate,
                 "**Stopped: the candidate failed the validation gate.**")  # fmt: skip
        return cli.EXIT_FAILED
    _step("promote", f"version {candidate} to @staging")
    move = promote(settings, Alias.STAGING, actor=cli.current_actor(None), expected=candidate)
    print(move.describe())
    released = move.to_version or candidate  # in catalogs mode, the copy's number in the staging catalog
    outcome = _roll_out(args, settings, "staging", released)
    text = "Released to @staging; release checks passed." if outcome.passed else "**The release checks failed.**"
    _summary(args, settings, "cd-staging", move.model, released, text)
    print(f"\ncd-staging: version {released} {'at @staging' if outcome.passed else 'FAILED its rollout'}")
    return cli.EXIT_OK if outcome.passed else cli.EXIT_FAILED


def production(args: argparse.Namespace) -> int:
    """Promote exactly what @staging holds (and validated), roll it out, enable monitoring, or roll back."""
    from src.models.model_registry import Alias, Registry
    from src.models.promotion import Approval, promote

    settings = cli.settings_from(args)
    staged = Registry().version_at(settings.model_name_for("staging"), "staging")
    if staged is None:
        return cli.refuse("nothing holds @staging: release to staging first (cd-staging)")
    if args.version and str(args.version) != staged.version:
        return cli.refuse(f"version {args.version} is not the one staging validated (@staging holds "
                          f"{staged.version}): production gets exactly that version")  # fmt: skip
    if args.approval_from_github:
        args.approved_by = github_approver(os.environ)
    _step("promote", f"version {staged.version} to @production, approved by {args.approved_by}: {args.reason}")
    move = promote(settings, Alias.PRODUCTION, actor=cli.current_actor(None),
                   approval=Approval(args.approved_by, args.reason), expected=staged.version)  # fmt: skip
    print(move.describe())
    released = move.to_version or staged.version  # in catalogs mode, the copy's number in prod's catalog
    outcome = _roll_out(args, settings, "production", released)
    if outcome.passed:
        _enable_monitoring(settings, released)
        text = f"Released to @production (approved by {args.approved_by}: {args.reason}); monitoring enabled."
    else:
        text = "**The release checks failed: @production was rolled back (see the alias history).**"
    _summary(args, settings, "cd-production", move.model, released, text)
    print(f"\ncd-production: version {released} {'at @production' if outcome.passed else 'rolled back'}")
    return cli.EXIT_OK if outcome.passed else cli.EXIT_FAILED


def canary(args: argparse.Namespace) -> int:
    """Watch @staging as the production endpoint's canary; promote it if fit, else roll @staging back."""
    from src.components.rollout import wait_for_challenger
    from src.models.model_registry import Alias, Registry
    from src.models.promotion import rollback

    settings = cli.settings_from(args)
    staged = Registry().version_at(settings.model_name_for("staging"), "staging")
    if staged is None:
        return cli.refuse("nothing holds @staging: release to staging first (cd-staging)")
    _step("canary", f"version {staged.version} (@staging) as the canary of {args.url}")
    started = datetime.now(UTC)
    wait_for_challenger(args.url, "staging", staged.version, timeout_s=args.timeout)
    comparison = _watch(args, settings, started)
    print(comparison.summary())
    if comparison.fit:
        return production(args)
    reason = "canary not fit: " + "; ".join(comparison.problems)
    move = rollback(settings, Alias.STAGING, actor=cli.current_actor(None), reason=reason)
    print(move.describe())
    _summary(args, settings, "cd-canary", settings.model_name_for("staging"), staged.version,
             f"**The canary was not fit ({'; '.join(comparison.problems)}): @staging rolled back.**")  # fmt: skip
    print(f"\ncd-canary: version {staged.version} not released; @staging back at {move.to_version}")
    return cli.EXIT_FAILED


def _watch(args: argparse.Namespace, settings: Settings, since: datetime) -> Comparison:
    """Compare the two sides every few seconds until watched long enough with enough canary traffic (or given up)."""
    import time

    from src.monitoring.comparison import compare
    from src.monitoring.log_reader import WindowSpec, log_sources_for, read_window
    from src.utils.config import load_monitoring_config

    config = load_monitoring_config()
    rules = CanaryRules(min_requests=args.min_requests, latency_ratio=args.latency_ratio)
    spec = WindowSpec(since=since.isoformat(timespec="milliseconds"))
    deadline = time.monotonic() + (args.max_wait_seconds or 3 * args.watch_seconds)
    watched_until = time.monotonic() + args.watch_seconds
    while True:
        time.sleep(min(5.0, max(args.watch_seconds / 10, 0.5)))
        windows = [(alias, read_window(log_sources_for(settings, args.log, config, alias), alias, spec,
                                       model_name=settings.model_name_for(alias)))
                   for alias in ("production", "staging")]  # fmt: skip
        comparison = compare(windows[0], windows[1], rules)
        now = time.monotonic()
        print(
            f"  watched {args.watch_seconds - max(watched_until - now, 0):.0f} s: canary "
            f"{comparison.challenger.requests} requests, champion {comparison.champion.requests}",
            flush=True,
        )
        enough = comparison.challenger.requests >= rules.min_requests
        if (now >= watched_until and enough) or now >= deadline:
            return comparison


def approver_from(records: list[dict[str, object]], environment: str = "production") -> str | None:
    """The login that approved the deployment to ``environment`` in a run's approval records (the latest)."""
    approved = [r for r in records if r.get("state") == "approved"
                and any(isinstance(e, dict) and e.get("name") == environment for e in r.get("environments") or [])]  # type: ignore[union-attr]  # fmt: skip
    user = approved[-1].get("user") if approved else None
    return str(user["login"]) if isinstance(user, dict) and user.get("login") else None


def github_approver(environ: Mapping[str, str]) -> str:
    """Who approved this workflow run's production deployment, read from GitHub's record of it, never typed in."""
    import json
    import urllib.request

    needed = ("GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_TOKEN")
    missing = [name for name in needed if not environ.get(name)]
    if missing:
        raise cli.UsageError(f"--approval-from-github runs in a GitHub workflow: {', '.join(missing)} not set")
    run = f"{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    url = f"{environ['GITHUB_API_URL']}/repos/{run}/approvals"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {environ['GITHUB_TOKEN']}",
                                                   "Accept": "application/vnd.github+json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        approver = approver_from(json.loads(response.read()))
    if approver is None:
        raise cli.UsageError("this run has no approved review for the production environment: nothing to release")
    return approver


def _enable_monitoring(settings: Settings, version: str) -> None:
    """Mark the version as monitored from now on; the scheduled monitoring job judges @production's traffic."""
    from src.models.model_registry import Registry

    model = settings.model_name_for("production")
    since = datetime.now(UTC).isoformat(timespec="seconds")
    Registry().set_version_tags(model, version, {"monitoring.enabled_since": since})
    print(f"\n== monitoring: {model} version {version} monitored since {since} (make monitor, monitoring.yml)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: {"staging": staging, "production": production, "canary": canary}[args.target](args))


if __name__ == "__main__":
    sys.exit(main())
