"""Serve the model at an alias over REST, smoke-test a running endpoint, or follow a rollout to it.

    python scripts/deploy_endpoint.py --alias staging --port 8001
    python scripts/deploy_endpoint.py smoke --alias staging --url http://127.0.0.1:8001
    python scripts/deploy_endpoint.py rollout --alias production --url http://127.0.0.1:8001 --version 4

The endpoint speaks MLflow's scoring protocol (``POST /invocations``) and
follows its alias: a promotion or rollback is picked up by polling (and at
once by a signed MLflow webhook when ``ENDPOINT_WEBHOOK_SECRET`` is set).
``ENDPOINT_FEEDBACK_TOKEN``, if set, is the bearer token ``POST /feedback`` requires.
``smoke`` checks health, each example row of the contract and a refused bad
request; it exits 1 on any failure. ``rollout`` waits until the endpoint serves
the version (``/health``), runs the release checks (``smoke``, the expected
version, every payload shape, a p99 of one-row requests) and exits 1 on any
failure; a production rollout that fails is rolled back to the previous
production version (recorded in the alias history) unless ``--no-rollback``.
``--challenger ALIAS`` adds a second alias beside ``--alias`` (the champion):
``--canary P`` lets it answer P% of requests (sticky by ``--route-key-header``,
``X-Request-Id`` by default), ``--shadow [P]`` has it score P% (default 100) of
them off the request path, logged and never returned (``src.components.traffic``);
``ENDPOINT_CHALLENGER``, ``ENDPOINT_CANARY_PERCENT``, ``ENDPOINT_SHADOW_PERCENT`` and
``ENDPOINT_ROUTE_KEY_HEADER`` set the same (a Kubernetes ConfigMap).
``--workers N`` runs N processes on one socket (``src.components.workers``):
each follows the alias, ``/metrics`` sums them all and ``/health`` lists the
version each serves; ``rollout`` waits until every worker serves the version.
The wiring is ``src.components.endpoint``;
the checks are ``src.components.endpoint_checks``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from src.utils import cli

if TYPE_CHECKING:
    from src.components.traffic import TrafficPlan
    from src.data.schema import DataContract


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percent between 0 and 100, got {text!r}") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"expected a percent between 0 and 100, got {value:g}")
    return value


def _env_percent(name: str) -> float | None:
    """A percent from the environment (a ConfigMap), or None; a bad value stops the command with one line."""
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return _percent(text)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"error: ${name}: {exc}") from None


def _plan(args: argparse.Namespace) -> TrafficPlan | None:
    """The traffic plan the arguments describe (None: the champion alone), or a usage error."""
    from src.components.traffic import PlanError, TrafficPlan

    if args.challenger is None:
        if args.canary is not None or args.shadow is not None:
            raise cli.UsageError("--canary and --shadow need a --challenger alias")
        return None
    if args.canary is None and args.shadow is None:
        raise cli.UsageError(f"--challenger {args.challenger}: say --canary PERCENT or --shadow [PERCENT]")
    mode = "canary" if args.canary is not None else "shadow"
    percent = args.canary if args.canary is not None else args.shadow
    try:
        return TrafficPlan(args.alias, args.challenger, mode, percent, args.route_key_header)
    except PlanError as exc:
        raise cli.UsageError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/deploy_endpoint.py", __doc__, example="python scripts/deploy_endpoint.py --alias staging"
    )
    cli.alias_option(parser, default="staging")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=_positive, default=1,
                        help="processes on one socket, each following the alias (default: 1)")  # fmt: skip
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="how often the alias is checked")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger requests get 413")
    parser.add_argument(
        "--off-loop-bytes",
        type=int,
        default=65_536,
        metavar="N",
        help="bodies of N bytes or more are scored on a thread, so they do not stall small ones",
    )
    parser.add_argument("--inference-log", metavar="FILE_OR_URI",
                        help="a SQLite file or a postgresql:// URI (default: the profile's inference_log, else "
                        "logs/inference_<alias>.db)")  # fmt: skip
    parser.add_argument("--log-retention-days", type=float, help="delete inference-log rows older than this")
    parser.add_argument("--no-alias-guard", action="store_true",
                        help="serve whatever @staging/@production point to, sanctioned or not")  # fmt: skip
    parser.add_argument("--no-inference-log", action="store_true", help="log nothing (monitoring then has no data)")
    traffic = parser.add_argument_group("traffic plan: a challenger beside the champion (--alias)")
    traffic.add_argument("--challenger", choices=cli.ALIASES, default=os.environ.get("ENDPOINT_CHALLENGER") or None,
                         help="the challenger's alias ($ENDPOINT_CHALLENGER)")  # fmt: skip
    share = traffic.add_mutually_exclusive_group()
    share.add_argument("--canary", type=_percent, metavar="PERCENT", default=_env_percent("ENDPOINT_CANARY_PERCENT"),
                       help="the share of requests the challenger answers ($ENDPOINT_CANARY_PERCENT)")  # fmt: skip
    share.add_argument("--shadow", type=_percent, metavar="PERCENT", nargs="?", const=100.0,
                       default=_env_percent("ENDPOINT_SHADOW_PERCENT"),
                       help="the share of requests the challenger also scores, logged and never returned "
                       "(default 100; $ENDPOINT_SHADOW_PERCENT)")  # fmt: skip
    traffic.add_argument("--route-key-header", default=os.environ.get("ENDPOINT_ROUTE_KEY_HEADER") or "X-Request-Id",
                         help="the header whose value pins a request to one side (default X-Request-Id)")  # fmt: skip
    parser.add_argument(
        "--feature-lookup",
        action="store_true",
        help="also serve requests carrying only the contract's entity key (online feature store)",
    )
    commands = parser.add_subparsers(dest="command")
    smoke = commands.add_parser(
        "smoke",
        parents=[cli.environment_options()],
        help="check a running endpoint end to end",
        epilog="example:\n  python scripts/deploy_endpoint.py smoke --alias staging --url http://127.0.0.1:8001",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.alias_option(smoke, default="staging")
    smoke.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8001")
    rollout = commands.add_parser(
        "rollout",
        parents=[cli.environment_options()],
        help="wait for a version at a live endpoint, run the release checks, roll production back on failure",
        epilog="example:\n  python scripts/deploy_endpoint.py rollout --alias production --url http://127.0.0.1:8001 "
        "--version 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.alias_option(rollout, default="staging")
    rollout.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8001")
    rollout.add_argument("--version", required=True, help="the registered version the endpoint must serve")
    rollout.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the endpoint to swap")
    rollout.add_argument("--max-p99-ms", type=float, default=100.0, help="latency check of one-row requests")
    rollout.add_argument("--no-rollback", action="store_true", help="leave @production alone when checks fail")
    cli.actor_option(rollout)
    examples = commands.add_parser(
        "examples",
        help="print a curl command for each payload shape, with an example row of the data contract",
        epilog="example:\n  python scripts/deploy_endpoint.py examples --url http://127.0.0.1:8001",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    examples.add_argument("--url", default="http://127.0.0.1:8001", help="the endpoint (default: make serve's)")
    return parser


def serve(args: argparse.Namespace) -> int:
    from src.components.workers import listening_socket, own_metrics_environment

    plan = _plan(args)
    try:  # a taken port is said in one line, before seconds of model loading, and nothing is started
        listening_socket(args.host, args.port).close()
    except OSError as exc:
        return cli.refuse(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    own_metrics_environment(None)  # not a parent's (Feast's): set again for workers, before they start
    import uvicorn

    from src.components.endpoint import EndpointOptions, build_app
    from src.utils.native_threads import limit_for_serving

    limit_for_serving()  # one row at a time scores fastest on one native thread (src/utils/native_threads.py)
    settings = cli.settings_from(args)
    options = EndpointOptions(
        alias=args.alias,
        max_body_bytes=args.max_body_bytes,
        off_loop_bytes=args.off_loop_bytes,
        poll_seconds=args.poll_seconds,
        inference_log=args.inference_log,
        log_retention_days=args.log_retention_days,
        log_enabled=not args.no_inference_log,
        webhook_secret=os.environ.get("ENDPOINT_WEBHOOK_SECRET"),
        feedback_token=os.environ.get("ENDPOINT_FEEDBACK_TOKEN") or None,
        feature_lookup=args.feature_lookup,
        alias_guard=not args.no_alias_guard,
        plan=plan,
    )
    project_path = list(sys.path)
    app, scorer = build_app(settings, options)  # with several workers: the same checks, before any worker starts
    handle = scorer.handle
    workers = f" with {args.workers} workers" if args.workers > 1 else ""
    print(f"serving {handle.name} version {handle.version} (@{args.alias}) on http://{args.host}:{args.port}"
          f"{workers}", flush=True)  # fmt: skip
    if plan is not None:
        print(f"traffic: {plan.describe()}", flush=True)
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, workers=1, access_log=False, log_level="warning",
                    loop="uvloop", http="httptools")  # fmt: skip
        return cli.EXIT_OK
    from src.components.endpoint import worker_app
    from src.components.workers import serve as serve_workers

    # loading the model put its logged copy of src/ first on sys.path; spawned workers inherit sys.path and
    # must import this checkout's code, not the copy a past training run logged
    sys.path[:] = project_path
    shared = Path(tempfile.mkdtemp(prefix=f"endpoint-{args.port}-"))
    factory = functools.partial(worker_app, settings, dataclasses.replace(options, shared_dir=shared))
    serve_workers(factory, host=args.host, port=args.port, workers=args.workers, shared_dir=shared)
    return cli.EXIT_OK


def _contract(model: str, alias: str, version: str | None = None) -> DataContract:
    """The data contract of the version the checks expect (``version``, else the alias's): its example rows."""
    from src.data.schema import DataContract
    from src.models.model_loading import model_contract
    from src.models.model_registry import Registry, RegistryError

    found = Registry().version(model, version) if version else Registry().version_at(model, alias)
    if found is None:
        raise RegistryError(f"no version of {model} holds @{alias}: nothing to check the endpoint against")
    return DataContract.from_dict(model_contract(found.uri))


def smoke(args: argparse.Namespace) -> int:
    """Health, each example row of the contract predicted as its class, and a bad request answered 4xx.

    The example rows are those of the version the endpoint says it serves (its ``/health``), so a smoke test
    checks what answers, whatever the alias says."""
    from src.components.endpoint_checks import call
    from src.components.endpoint_checks import smoke as check

    settings = cli.settings_from(args)
    model = settings.model_name_for(args.alias)
    try:
        _, health = call(f"{args.url.rstrip('/')}/health")
        served = str(health.get("model_version") or "")
        contract = _contract(str(health.get("model_name") or model), args.alias, served or None)
        report = check(args.url, expected_model=model, alias=args.alias, contract=contract)
    except OSError as exc:
        return cli.refuse(f"{args.url} is not reachable: {exc}")
    for failure in report.failures:
        print(f"FAIL {failure}")
    print(report.summary())
    return cli.EXIT_OK if report.passed else cli.EXIT_FAILED


def rollout(args: argparse.Namespace) -> int:
    """Wait for the version, check it live; a failed production rollout is rolled back and recorded."""
    from src.components.rollout import roll_out

    settings = cli.settings_from(args)
    outcome = roll_out(settings, args.alias, args.url, args.version, actor=cli.current_actor(args.actor),
                       timeout_s=args.timeout, max_p99_ms=args.max_p99_ms, roll_back=not args.no_rollback)  # fmt: skip
    for failure in outcome.failures:
        print(f"FAIL {failure}")
    print(outcome.describe())
    return cli.EXIT_OK if outcome.passed else cli.EXIT_FAILED


def examples(args: argparse.Namespace) -> int:
    """The requests a user can paste, for this project's contract: no registry is read."""
    from src.components.endpoint_checks import curl_commands
    from src.data.contract import CONTRACT

    print("\n".join(curl_commands(args.url, CONTRACT)))
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"smoke": smoke, "rollout": rollout, "examples": examples}
    return cli.run(lambda: commands.get(args.command, serve)(args))


if __name__ == "__main__":
    sys.exit(main())
