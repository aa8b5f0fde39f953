"""The endpoint's wiring: from a profile and an alias to a running app (scorer, watcher, log, online lookup).

``scripts/deploy_endpoint.py`` parses arguments and hands this app to
uvicorn; tests and benchmarks build the same app in-process. Under several
workers each worker process calls ``worker_app`` to build its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from src.components.alias_watcher import AliasWatcher, ModelSlot
from src.components.inference_log import InferenceLog
from src.components.scoring import Scorer, load_guarded, load_scorer
from src.components.serving import Challenger, ServingConfig, create_app
from src.components.serving_metrics import Metrics
from src.components.traffic import TrafficPlan
from src.components.workers import Nudge, forget_dead_workers, metrics_dir
from src.models.model_registry import Registry, RegistryError
from src.utils.config import Settings
from src.utils.errors import ProjectError
from src.utils.logging import get_logger
from src.utils.mlflow_utils import configure_tracking
from src.utils.native_threads import limit_for_serving

logger = get_logger(__name__)


class EndpointRefused(ProjectError, RuntimeError):
    """The endpoint will not start on this alias: nothing it may serve."""


@dataclass(frozen=True)
class EndpointOptions:
    """What the operator chooses about one endpoint."""

    alias: str
    max_body_bytes: int = 1_000_000
    off_loop_bytes: int = 65_536
    poll_seconds: float = 10.0
    #: A SQLite file or a ``postgresql://`` URI; None: the profile's shared log, else ``logs/inference_<alias>.db``.
    inference_log: Path | str | None = None
    webhook_secret: str | None = None
    #: Required as ``Authorization: Bearer <token>`` on ``POST /feedback`` when set.
    feedback_token: str | None = None
    feature_lookup: bool = False
    log_retention_days: float | None = None
    log_enabled: bool = True
    #: Serve @staging/@production only where a sanctioned move in the alias history put them (the alias guard).
    alias_guard: bool = True
    #: The directory several workers share (metrics, webhook nudges); None for a single process.
    shared_dir: Path | None = None
    #: A challenger beside ``alias`` (canary or shadow; ``src.components.traffic``); None: ``alias`` answers all.
    plan: TrafficPlan | None = None

    def log_target(self, shared: str | None = None) -> Path | str | None:
        """Where this endpoint logs: the option, else the profile's shared log (``shared``), else a file per alias."""
        if not self.log_enabled:
            return None
        return self.inference_log or shared or Path("logs") / f"inference_{self.alias}.db"


def _guard(settings: Settings, name: str, alias: str) -> Callable[[str], str | None]:
    """Why a version of ``name@alias`` must not be served (None: it may), from the alias history and the gate."""
    from src.governance.alias_guard import Records, refusal

    records = Records.of(settings)
    return lambda version: refusal(records, name, alias, version)


def _first_scorer(settings: Settings, name: str, alias: str, guarded: bool) -> Scorer:
    """The alias's version, or the version the guard's rule puts there (``load_guarded``), else no start."""
    from src.governance.alias_guard import NothingSanctioned

    try:
        return load_guarded(settings, name, alias) if guarded else load_scorer(name, alias=alias)
    except NothingSanctioned as refused:
        raise EndpointRefused(str(refused)) from None


def _follower(
    settings: Settings, options: EndpointOptions, alias: str, metrics: Metrics
) -> tuple[ModelSlot, AliasWatcher]:
    """One alias as served: its first version (as the guard allows) in a slot, and the watcher that follows it."""
    name = settings.model_name_for(alias)
    refuse = _guard(settings, name, alias) if options.alias_guard else None
    slot, registry = ModelSlot(_first_scorer(settings, name, alias, options.alias_guard)), Registry()

    def resolve() -> str | None:
        found = registry.version_at(name, alias)
        return found.version if found else None

    watcher = AliasWatcher(
        slot,
        model_name=name,
        alias=alias,
        poll_seconds=options.poll_seconds,
        metrics=metrics,
        resolve=resolve,
        load=lambda version: load_scorer(name, alias=alias, version=version),
        refuse=refuse,
        why_missing=lambda: (
            "the alias is not set"
            if registry.model_exists(name)
            else "the model no longer exists "
            "under this name (renamed or deleted: the alias guard puts a renamed one back)"
        ),
    )
    return slot, watcher


def build_app(settings: Settings, options: EndpointOptions) -> tuple[FastAPI, Scorer]:
    """The app serving the profile's model at ``options.alias`` (and the plan's challenger), following the aliases;
    and the scorer it starts with."""
    name = settings.model_name_for(options.alias)
    plan = options.plan
    if plan is not None and plan.champion != options.alias:
        raise EndpointRefused(f"the traffic plan's champion @{plan.champion} is not the served alias @{options.alias}")
    if plan is not None and plan.challenger is not None and options.feature_lookup:
        raise EndpointRefused("a challenger with --feature-lookup is not served: the online lookup reads the "
                              "champion's feature service, which another version may not share")  # fmt: skip
    config = ServingConfig(
        model_name=name,
        alias=options.alias,
        max_body_bytes=options.max_body_bytes,
        off_loop_bytes=options.off_loop_bytes,
        poll_seconds=options.poll_seconds,
        inference_log=options.log_target(settings.inference_log),
        webhook_secret=options.webhook_secret,
        feedback_token=options.feedback_token,
        plan=plan if plan is not None and plan.challenger is not None else None,
    )
    shared_metrics = metrics_dir(options.shared_dir) if options.shared_dir else None
    metrics = Metrics(name, shared_metrics)
    slot, watcher = _follower(settings, options, options.alias, metrics)
    scorer = slot.scorer
    challenger = None
    if config.plan is not None and config.plan.challenger is not None:
        challenger_slot, challenger_watcher = _follower(settings, options, config.plan.challenger, metrics)
        challenger = Challenger(challenger_slot, challenger_watcher)
    log = None
    if config.inference_log:
        log = InferenceLog(config.inference_log, model_name=name, alias=options.alias,
                           retention_days=options.log_retention_days)  # fmt: skip
        if challenger is not None and config.plan is not None:
            log.model_names[config.plan.challenger or ""] = challenger.slot.scorer.handle.name
    lookup = None
    if options.feature_lookup:  # imports feast (~4.5 s) only when asked for
        from src.features.store_reads import OnlineLookup
        from src.features.store_repository import feature_service_of

        if scorer.handle.feature_set is None:
            raise RegistryError(
                f"version {scorer.handle.version} records no feature set: no feature service to look up"
            )
        # the served model's own feature service, so the lookup serves the features it was trained with
        lookup = OnlineLookup(feature_service_of(scorer.handle.feature_set), settings.feature_store).inputs
    notify = None
    if options.shared_dir is not None:
        nudge = Nudge(options.shared_dir / "alias-moved")
        nudge.follow(watcher.poke)
        if challenger is not None and challenger.watcher is not None:
            nudge.follow(challenger.watcher.poke)
        notify = nudge.send
    app = create_app(slot, config, metrics=metrics, watcher=watcher, log=log, lookup=lookup, notify=notify,
                     challenger=challenger)  # fmt: skip
    return app, scorer


def worker_app(settings: Settings, options: EndpointOptions) -> FastAPI:
    """One worker's app: uvicorn calls this (pickled as a ``partial``) in each spawned worker process."""
    configure_tracking(settings)  # a spawned process starts with MLflow pointed nowhere
    limit_for_serving()  # each worker scores on one native thread (src/utils/native_threads.py)
    if options.shared_dir is not None:
        dead = forget_dead_workers(metrics_dir(options.shared_dir))
        if dead:
            logger.warning("replacing worker(s) %s, which died", ", ".join(map(str, dead)))
    app, scorer = build_app(settings, options)
    logger.info("worker %d serves version %s", os.getpid(), scorer.handle.version)
    return app
