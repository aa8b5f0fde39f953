"""The endpoint's wiring: from a profile and an alias to a running app (scorer, watcher, log, online lookup).

``scripts/deploy_endpoint.py`` parses arguments and hands this app to
uvicorn; tests and benchmarks build the same app in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from src.components.alias_watcher import AliasWatcher, ModelSlot
from src.components.inference_log import InferenceLog
from src.components.scoring import Scorer, load_scorer
from src.components.serving import ServingConfig, create_app
from src.components.serving_metrics import Metrics
from src.models.model_registry import Registry, RegistryError
from src.utils.config import Settings


@dataclass(frozen=True)
class EndpointOptions:
    """What the operator chooses about one endpoint."""

    alias: str
    max_body_bytes: int = 1_000_000
    poll_seconds: float = 10.0
    inference_log: Path | None = None
    webhook_secret: str | None = None
    feature_lookup: bool = False
    log_retention_days: float | None = None
    log_enabled: bool = True

    def log_path(self) -> Path | None:
        if not self.log_enabled:
            return None
        return self.inference_log or Path("logs") / f"inference_{self.alias}.db"


def build_app(settings: Settings, options: EndpointOptions) -> tuple[FastAPI, Scorer]:
    """The app serving the profile's model at ``options.alias``, following the alias; and the scorer it starts with."""
    name = settings.model_name_for(options.alias)
    scorer = load_scorer(name, alias=options.alias)
    config = ServingConfig(
        model_name=name,
        alias=options.alias,
        max_body_bytes=options.max_body_bytes,
        poll_seconds=options.poll_seconds,
        inference_log=options.log_path(),
        webhook_secret=options.webhook_secret,
    )
    slot, metrics, registry = ModelSlot(scorer), Metrics(), Registry()

    def resolve() -> str | None:
        found = registry.version_at(name, options.alias)
        return found.version if found else None

    watcher = AliasWatcher(
        slot,
        model_name=name,
        alias=options.alias,
        poll_seconds=options.poll_seconds,
        metrics=metrics,
        resolve=resolve,
        load=lambda version: load_scorer(name, alias=options.alias, version=version),
    )
    log = None
    if config.inference_log:
        log = InferenceLog(config.inference_log, model_name=name, alias=options.alias,
                           retention_days=options.log_retention_days)  # fmt: skip
    lookup = None
    if options.feature_lookup:  # imports feast (~4.5 s) only when asked for
        from src.features.feature_store import OnlineLookup, feature_service_of

        if scorer.handle.feature_set is None:
            raise RegistryError(
                f"version {scorer.handle.version} records no feature set: no feature service to look up"
            )
        # the served model's own feature service, so the lookup serves the features it was trained with
        lookup = OnlineLookup(feature_service_of(scorer.handle.feature_set), settings.feature_store).measurements
    app = create_app(slot, config, metrics=metrics, watcher=watcher, log=log, lookup=lookup)
    return app, scorer
