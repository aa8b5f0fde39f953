"""Serve the model at an alias over REST, or smoke-test a running endpoint.

    python scripts/deploy_endpoint.py --alias staging --port 8001
    python scripts/deploy_endpoint.py smoke --alias staging --url http://127.0.0.1:8001

The endpoint speaks MLflow's scoring protocol (``POST /invocations``) and
follows its alias: a promotion or rollback is picked up by polling (and at
once by a signed MLflow webhook when ``ENDPOINT_WEBHOOK_SECRET`` is set).
``smoke`` checks health, one prediction per species and a refused bad
request; it exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from src.utils.cli import EXIT_FAILED, EXIT_OK, environment_options, refuse, settings_from

SPECIES_EXAMPLES = {
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [6.0, 2.9, 4.5, 1.4],
    "virginica": [6.9, 3.1, 5.7, 2.2],
}
COLUMNS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


def _parser() -> argparse.ArgumentParser:
    common = environment_options()
    common.add_argument("--alias", default="staging", choices=["dev", "staging", "production"])
    parser = argparse.ArgumentParser(prog="python scripts/deploy_endpoint.py", description=__doc__.splitlines()[0],
                                     parents=[common])  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="how often the alias is checked")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger requests get 413")
    parser.add_argument("--inference-log", type=Path, help="SQLite inference log (default: logs/inference_<alias>.db)")
    parser.add_argument(
        "--feature-lookup", action="store_true", help="also serve requests carrying only flower_id (online store)"
    )
    commands = parser.add_subparsers(dest="command")
    smoke = commands.add_parser("smoke", parents=[common], help="check a running endpoint end to end")
    smoke.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8001")
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from src.components.scoring import load_scorer
    from src.components.serving import AliasWatcher, InferenceLog, Metrics, ModelSlot, ServingConfig, create_app
    from src.models.model_registry import Registry

    settings = settings_from(args)
    name = settings.model_name_for(args.alias)
    scorer = load_scorer(name, alias=args.alias)
    config = ServingConfig(
        model_name=name,
        alias=args.alias,
        max_body_bytes=args.max_body_bytes,
        poll_seconds=args.poll_seconds,
        inference_log=args.inference_log or Path("logs") / f"inference_{args.alias}.db",
        webhook_secret=os.environ.get("ENDPOINT_WEBHOOK_SECRET"),
    )
    slot, metrics, registry = ModelSlot(scorer), Metrics(), Registry()

    def resolve() -> str | None:
        found = registry.version_at(name, args.alias)
        return found.version if found else None

    watcher = AliasWatcher(slot, config, metrics, resolve, lambda v: load_scorer(name, alias=args.alias, version=v))
    log = InferenceLog(config.inference_log) if config.inference_log else None
    lookup = None
    if args.feature_lookup:  # imports feast (~4.5 s) only when asked for
        from src.features.feature_store import OnlineLookup, feature_service_of

        if scorer.handle.feature_set is None:
            return refuse(f"version {scorer.handle.version} records no feature set: no feature service to look up")
        # the served model's own feature service, so the lookup serves the features it was trained with
        lookup = OnlineLookup(feature_service_of(scorer.handle.feature_set), settings.feature_store).measurements
    app = create_app(slot, config, metrics=metrics, watcher=watcher, log=log, lookup=lookup)
    print(f"serving {name} version {scorer.handle.version} (@{args.alias}) on http://{args.host}:{args.port}",
          flush=True)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, workers=1, access_log=False, log_level="warning",
                loop="uvloop", http="httptools")  # fmt: skip
    return EXIT_OK


def _call(url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def smoke(args: argparse.Namespace) -> int:
    """Health, one prediction per species, and a bad request answered 4xx."""
    settings = settings_from(args)
    expected_model = settings.model_name_for(args.alias)
    url = args.url.rstrip("/")
    failures: list[str] = []
    try:
        status, health = _call(f"{url}/health")
    except OSError as exc:
        return refuse(f"{url} is not reachable: {exc}")
    if status != 200 or health.get("model_name") != expected_model or health.get("alias") != args.alias:
        failures.append(f"health: status {status}, serving {health.get('model_name')}@{health.get('alias')}, "
                        f"expected {expected_model}@{args.alias}")  # fmt: skip
    for species, row in SPECIES_EXAMPLES.items():
        body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}).encode()
        status, answer = _call(f"{url}/invocations", body)
        if status != 200 or answer.get("predictions") != [species]:
            failures.append(f"{species}: status {status}, answer {answer}")
    status, answer = _call(f"{url}/invocations", json.dumps({"dataframe_records": [{"sepal_length_cm": 5.0}]}).encode())
    if not 400 <= status < 500:
        failures.append(f"bad request: expected a 4xx, got {status} {answer}")
    for failure in failures:
        print(f"FAIL {failure}")
    verdict = "passed" if not failures else f"{len(failures)} check(s) failed"
    print(f"smoke test of {url} ({health.get('model_name')} version {health.get('model_version')}): {verdict}")
    return EXIT_OK if not failures else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    from mlflow.exceptions import MlflowException

    from src.models.model_registry import RegistryError
    from src.utils.config import ConfigError

    args = _parser().parse_args(argv)
    try:
        return smoke(args) if args.command == "smoke" else serve(args)
    except (ConfigError, RegistryError, LookupError, ValueError, RuntimeError) as exc:
        return refuse(str(exc))
    except MlflowException as exc:
        return refuse(f"the tracking backend failed: {exc.message}")


if __name__ == "__main__":
    sys.exit(main())
