"""The CD steps, in order, as the workflows run them (cd-staging.yml, cd-production.yml) and the rehearsals replay them.

    python scripts/release.py staging --url https://model-staging.internal --build-id 123
    python scripts/release.py production --url https://model.internal --approved-by carol --reason CHG-42 [--version 7]

staging: train (the --env profile, build ID in the run name) -> validate (a
failed gate stops here: nothing is promoted) -> promote to @staging -> roll out
to the staging endpoint (it follows its alias; the release checks run live).
production: the version at @staging (a --version that is not it is refused:
production gets exactly what staging validated) -> promote to @production with
the approver and reason -> roll out (a failed check rolls @production back,
recorded) -> monitoring enabled for the version (tag monitoring.enabled_since).
Each step prints its own report; --summary FILE (default $GITHUB_STEP_SUMMARY)
gets the verdict, the checks against the champion and the model card in Markdown.
Exit 0 released, 1 stopped by a gate or a failed rollout, 2 could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from src.utils import cli

# Run as `python scripts/...`, the project root is not on the path; the steps are the other scripts' mains.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python scripts/release.py", __doc__, profile=False,
                        example="python scripts/release.py staging --url http://127.0.0.1:8001")  # fmt: skip
    steps = parser.add_subparsers(dest="target", required=True)
    for name in ("staging", "production"):
        step = steps.add_parser(name, help=f"release to @{name}")
        step.add_argument("--env", default="staging", help="profile whose model carries the aliases (default staging)")
        step.add_argument("--url", required=True, help=f"the {name} endpoint, e.g. http://127.0.0.1:8001")
        step.add_argument("--timeout", type=float, default=120.0, help="seconds for the endpoint to swap")
        step.add_argument("--max-p99-ms", type=float, default=100.0, help="latency check of the rollout")
        step.add_argument("--summary", type=Path, default=os.environ.get("GITHUB_STEP_SUMMARY"), help="Markdown")
    staging = steps.choices["staging"]
    staging.add_argument("--build-id", default=os.environ.get("BUILD_ID") or os.environ.get("GITHUB_RUN_ID"))
    staging.add_argument("--config", help="model config (thresholds) for training and validation")
    production = steps.choices["production"]
    production.add_argument("--version", help="the version to release (default: the one at @staging)")
    who = production.add_mutually_exclusive_group(required=True)
    who.add_argument("--approved-by", help="the approver")
    who.add_argument("--approval-from-github", action="store_true",
                     help="the reviewer who approved this run's deployment (GitHub API)")  # fmt: skip
    production.add_argument("--reason", required=True, help="the change ticket or reason")
    return parser


def _step(name: str, command: Callable[[list[str]], int], argv: list[str]) -> int:
    print(f"\n== {name}: {' '.join(argv)}", flush=True)
    return command(argv)


def _rollout(args: argparse.Namespace, alias: str, version: str) -> list[str]:
    return ["rollout", "--env", args.env, "--alias", alias, "--url", args.url, "--version", version,
            "--timeout", str(args.timeout), "--max-p99-ms", str(args.max_p99_ms)]  # fmt: skip


def _version_at(env: str, alias: str) -> str | None:
    from src.models.model_registry import Registry
    from src.utils import mlflow_utils
    from src.utils.config import resolve_settings

    settings = resolve_settings(env)
    mlflow_utils.configure_tracking(settings)
    found = Registry().version_at(settings.model_name_for(alias), alias)
    return found.version if found else None


def _summary(args: argparse.Namespace, title: str, alias: str, version: str, outcome: str) -> None:
    """The job summary: what happened, then the model card (verdict, checks against the champion, history)."""
    if not args.summary:
        return
    from scripts import model_card

    with tempfile.TemporaryDirectory() as directory:
        card = Path(directory) / "card.md"
        made = model_card.main(["--env", args.env, "--alias", alias, "--output", str(card)]) == 0
        text = card.read_text(encoding="utf-8") if made else "(the model card could not be written)\n"
    with Path(args.summary).open("a", encoding="utf-8") as out:
        out.write(f"# {title}: version {version}\n\n{outcome}\n\n{text.replace('# Model card', '## Model card', 1)}\n")


def staging(args: argparse.Namespace) -> int:
    from scripts import deploy_endpoint, promote_model, validate_model
    from src.models import train_model

    env = ["--env", args.env]
    config = ["--config", args.config] if args.config else []
    build = ["--build-id", args.build_id] if args.build_id else []
    if _step("train", train_model.main, [*env, "--version", "auto", *build, *config]) != 0:
        return cli.EXIT_REFUSED
    candidate = str(_version_at(args.env, "dev"))
    verdict = _step("validate", validate_model.main, [*env, "--version", candidate, *config])
    if verdict != 0:
        print(f"\nversion {candidate} did not pass the validation gate: nothing was promoted")
        _summary(args, "cd-staging", "dev", candidate, "**Stopped: the candidate failed the validation gate.**")
        return verdict
    if _step("promote", promote_model.main, [*env, "--to", "staging"]) != 0:
        return cli.EXIT_REFUSED
    rolled = _step("rollout", deploy_endpoint.main, _rollout(args, "staging", candidate))
    outcome = "Released to @staging; release checks passed." if rolled == 0 else "**The release checks failed.**"
    _summary(args, "cd-staging", "staging", candidate, outcome)
    print(f"\ncd-staging: version {candidate} {'at @staging' if rolled == 0 else 'FAILED its rollout'}")
    return rolled


def production(args: argparse.Namespace) -> int:
    from scripts import deploy_endpoint, promote_model

    env = ["--env", args.env]
    validated = _version_at(args.env, "staging")
    if validated is None:
        return cli.refuse("nothing holds @staging: release to staging first (cd-staging)")
    if args.version and str(args.version) != validated:
        return cli.refuse(f"version {args.version} is not the one staging validated (@staging holds {validated}): "
                          "production gets exactly that version")  # fmt: skip
    if args.approval_from_github:
        args.approved_by = github_approver(os.environ)
    approval = ["--approved-by", args.approved_by, "--reason", args.reason]
    if _step("promote", promote_model.main, [*env, "--to", "production", *approval]) != 0:
        return cli.EXIT_REFUSED
    released = str(_version_at(args.env, "production"))  # in catalogs mode, the copy's number in prod's catalog
    rolled = _step("rollout", deploy_endpoint.main, _rollout(args, "production", released))
    if rolled == 0:
        _enable_monitoring(args.env, released)
        outcome = f"Released to @production (approved by {args.approved_by}: {args.reason}); monitoring enabled."
    else:
        outcome = "**The release checks failed: @production was rolled back (see the alias history).**"
    _summary(args, "cd-production", "production", released, outcome)
    print(f"\ncd-production: version {released} {'at @production' if rolled == 0 else 'rolled back'}")
    return rolled


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


def _enable_monitoring(env: str, version: str) -> None:
    """Mark the version as monitored from now on; the scheduled monitoring job judges @production's traffic."""
    from src.models.model_registry import Registry
    from src.utils.config import resolve_settings

    model = resolve_settings(env).model_name_for("production")
    since = datetime.now(UTC).isoformat(timespec="seconds")
    Registry().set_version_tags(model, version, {"monitoring.enabled_since": since})
    print(f"\n== monitoring: {model} version {version} monitored since {since} (make monitor, monitoring.yml)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: {"staging": staging, "production": production}[args.target](args))


if __name__ == "__main__":
    sys.exit(main())
