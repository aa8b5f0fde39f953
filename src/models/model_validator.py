"""The validation gate: one decision per model version, recorded on the version and in a run.

A version passes only if every check passes:

- contract: it loads through ``mlflow.pyfunc``; it carries the data contract
  it was trained with; its signature has inputs (that contract's input
  columns) and outputs; its input example predicts; its
  requirements are pinned, and are what this environment runs (the metrics
  below describe the model under its own pins, or the gate says why not); its
  feature step computes the feature set it was registered with; the held-out
  data is the data it was trained on;
- governance: every feature it uses has reached ``validation.min_feature_status``
  in the feature lifecycle (REGISTERED by default: in the feature store,
  fingerprinted);
- metrics: ``mlflow.models.evaluate`` on the training run's held-out rows,
  judged by ``mlflow.validate_evaluation_results`` against the configured
  floors and against the champion (the version at ``production``) evaluated
  on the same rows;
- behaviour: each example row of its contract is predicted as its class, and
  predictions do not change under small noise on the numbers or under
  column order;
- latency: one-row and batch prediction within the configured budget.

Validation never moves an alias; the promotion policy reads its verdict.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from src.data.contract import CONTRACT
from src.data.load_data import load_dataset
from src.data.schema import DataContract
from src.features import lifecycle_record
from src.features.lifecycle_record import FeatureState, LifecycleStatus, load_states
from src.features.store_backend import built_here, label
from src.models.classifier import split_dataset
from src.models.model_loading import download_model, load_pyfunc
from src.models.model_registry import Alias, Registry, VersionInfo
from src.models.verdict import DECISION_FILE, decision_digest
from src.utils import mlflow_utils
from src.utils.config import ModelConfig, Settings, SplitConfig
from src.utils.errors import ProjectError
from src.utils.keys import ModelMetadata, Param, Tag, join_list, split_list
from src.utils.naming import run_name
from src.utils.native_threads import limit_for_serving

if TYPE_CHECKING:
    from mlflow.models import EvaluationResult
    from mlflow.pyfunc import PyFuncModel

#: Our metric names -> mlflow.models.evaluate's, and whether larger is better.
EVALUATE_METRICS: dict[str, tuple[str, bool]] = {
    "val_accuracy": ("accuracy_score", True),
    "val_f1_macro": ("f1_score", True),
    "val_precision_macro": ("precision_score", True),
    "val_recall_macro": ("recall_score", True),
    "val_log_loss": ("log_loss", False),
}

#: Noise a model must not react to: this share of each numeric input's standard deviation (on the held-out rows).
NOISE_FRACTION = 0.01
#: MLflow's longest parameter value.
MAX_PARAM_CHARS = 6000
MIN_NOISE_AGREEMENT = 0.95


class ValidationRefused(ProjectError, ValueError):
    """The version to validate cannot be found or its training run is unreadable."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, verdict and a sentence a person can act on."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ValidationDecision:
    """The verdict on one version, with every check, the metrics and the baseline used."""

    model: str
    version: str
    checks: tuple[CheckResult, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_version: str | None = None
    run_id: str | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.passed)

    def report(self) -> str:
        lines = [f"Validation of {self.model} version {self.version}: {'PASSED' if self.passed else 'FAILED'}"]
        lines += [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        baseline = f"version {self.baseline_version} (@production)" if self.baseline_version else "none"
        lines.append(f"  champion baseline: {baseline}")
        if self.run_id:
            lines.append(f"  validation run: {self.run_id}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _HeldOut:
    frame: pd.DataFrame  # the input columns + the target
    digest_matches: bool
    detail: str
    source_uri: str  # where the data set was read
    name: str  # what the validation run's inputs call these rows

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.loc[:, list(CONTRACT.input_names)]


def resolve_candidate(settings: Settings, registry: Registry, version: str | None, alias: str | None) -> VersionInfo:
    """The version to validate: by number (in the dev model) or by alias."""
    if (version is None) == (alias is None):
        raise ValidationRefused("name exactly one of --version or --alias")
    if version is not None:
        return registry.version(settings.model_name_for(Alias.DEV), version)
    if alias not in {a.value for a in Alias}:
        raise ValidationRefused(f"unknown alias {alias!r}; expected one of: dev, staging, production")
    model = settings.model_name_for(alias)
    found = registry.version_at(model, alias)
    if found is None:
        raise ValidationRefused(f"no version of {model} holds @{alias}")
    return found


def _held_out(candidate: VersionInfo, model_config: ModelConfig) -> _HeldOut:
    """The training run's validation rows, rebuilt from its own split parameters."""
    if candidate.run_id is None:
        raise ValidationRefused(f"version {candidate.version} has no training run to take its held-out rows from")
    params = mlflow_utils.run_params(candidate.run_id)
    split = SplitConfig(test_size=float(params[Param.SPLIT_TEST_SIZE]), stratify=params[Param.SPLIT_STRATIFY] == "True")
    dataset = load_dataset(model_config.data)
    held_out = split_dataset(dataset, split, int(params[Param.RANDOM_SEED]))
    frame = held_out.X_val.assign(**{CONTRACT.target.name: held_out.y_val.to_numpy()}).reset_index(drop=True)
    trained_on = params.get(Param.DATA_DIGEST)
    matches = trained_on == dataset.digest
    detail = (
        f"{len(frame)} held-out rows of the data it was trained on (digest {dataset.digest[:12]})"
        if matches
        else f"configured data (digest {dataset.digest[:12]}) is not the training data ({(trained_on or '?')[:12]})"
    )
    return _HeldOut(frame, matches, detail, dataset.source_uri, f"{dataset.name}_held_out")


def _check(name: str, test: Callable[[], tuple[bool, str]]) -> CheckResult:
    """Run one check; an exception is a failed check with its message, never a crash."""
    try:
        passed, detail = test()
    except Exception as exc:  # any error inside a check is that check's failure
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")
    return CheckResult(name, passed, detail)


def logged_contract(model: PyFuncModel) -> DataContract | None:
    """The data contract the version was logged with, if any."""
    content = (model.metadata.metadata or {}).get(ModelMetadata.CONTRACT)
    return DataContract.from_dict(content) if content else None


def _contract_checks(model: PyFuncModel, local: Path, candidate: VersionInfo) -> list[CheckResult]:
    contract = logged_contract(model)

    def data_contract() -> tuple[bool, str]:
        if contract is None:
            return False, "no data contract logged with the model (ModelMetadata.CONTRACT)"
        same = contract.to_dict() == CONTRACT.to_dict()
        return True, f"{contract.name}: {len(contract.columns)} input columns" + (
            "" if same else " (not this checkout's contract: the metrics below use this checkout's data)"
        )

    def signature() -> tuple[bool, str]:
        inputs, outputs = model.metadata.get_input_schema(), model.metadata.get_output_schema()
        names = inputs.input_names() if inputs else []
        expected = list(contract.input_names) if contract else list(CONTRACT.input_names)
        ok = names == expected and outputs is not None
        return ok, f"inputs {names}, outputs {'present' if outputs else 'missing'}"

    def input_example() -> tuple[bool, str]:
        example = model.input_example
        if example is None:
            return False, "no input example logged"
        predicted = [str(p) for p in model.predict(example)]
        classes = contract.classes if contract else CONTRACT.classes
        return set(predicted) <= set(classes), f"predicts {predicted}"

    def pinned() -> tuple[bool, str]:
        lines = [line for line in (local / "requirements.txt").read_text().splitlines() if line.strip()]
        loose = [line for line in lines if "==" not in line]
        return not loose, f"{len(lines)} requirements, unpinned: {loose or 'none'}"

    def environment() -> tuple[bool, str]:
        requirements = (local / "requirements.txt").read_text().splitlines()
        python = model.metadata.flavors.get("python_function", {}).get("python_version")
        differences = environment_differences(requirements, python)
        pins = sum("==" in line for line in requirements)
        return not differences, "; ".join(differences) or f"this environment runs its {pins} pins"

    def features() -> tuple[bool, str]:
        inside = list(model.get_raw_model()[0].features)
        registered = split_list(candidate.tags.get(Tag.FEATURES))
        logged = list(model.metadata.metadata.get(ModelMetadata.FEATURES, []))
        ok = inside == registered == logged
        return ok, f"feature step computes {inside}" + ("" if ok else f"; registered {registered}; logged {logged}")

    return [
        _check("data_contract", data_contract),
        _check("signature", signature),
        _check("input_example", input_example),
        _check("requirements_pinned", pinned),
        _check("environment", environment),
        _check("feature_set", features),
    ]


def environment_differences(requirements: list[str], python_version: str | None) -> list[str]:
    """What differs between a model's pins (``name==version`` lines, Python ``major.minor``) and this environment.

    The gate's own form of MLflow's load-time warning (which this module
    turns off: it indexes every installed distribution, ~0.9 s): a version
    evaluated under other libraries than it pins has not been shown to
    behave as measured. Loose lines are ``requirements_pinned``'s concern.
    """
    differences = []
    running = ".".join(platform.python_version_tuple()[:2])
    if python_version and ".".join(python_version.split(".")[:2]) != running:
        differences.append(f"python {python_version} pinned, {platform.python_version()} here")
    for line in requirements:
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" not in requirement:
            continue
        name, pinned = (part.strip() for part in requirement.split("==", 1))
        name = name.split("[", 1)[0]
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            differences.append(f"{name} {pinned} pinned, not installed here")
            continue
        if installed != pinned:
            differences.append(f"{name} {pinned} pinned, {installed} here")
    return differences


def _where_registered(used: list[str], states: dict[str, FeatureState], settings: Settings) -> str:
    """Which store the registrations were checked against, and whether this profile's store is built here."""
    stores = sorted({states[name].registered_in or "" for name in used if states[name].registered_in})
    if not stores:
        return ""
    store = settings.feature_store
    here = label(store)
    if built_here(store) is not False:
        note = ""
    else:  # name this profile's store only when it is not the one the features were registered in
        note = "; not built on this machine" + ("" if here in stores else f" ({here})") + ": make features"
    return f" (registered in {', '.join(stores)}{note})"


def _governance_checks(candidate: VersionInfo, model_config: ModelConfig, settings: Settings) -> list[CheckResult]:
    """A version may leave dev only on features whose lifecycle has reached the configured status."""

    def feature_lifecycle() -> tuple[bool, str]:
        required = LifecycleStatus(model_config.validation.min_feature_status)
        states = load_states(lifecycle_record.LIFECYCLE_FILE)
        used = split_list(candidate.tags.get(Tag.FEATURES))
        behind = {
            name: states[name].status.value if name in states else "UNRECORDED"
            for name in used
            if name not in states or not states[name].status.at_least(required)
        }
        if behind:
            listed = ", ".join(f"{name} is {status}" for name, status in behind.items())
            return False, f"{listed}; this gate needs {required.value} features (validation.min_feature_status)"
        if not used:
            return False, "no features tag"
        return (
            True,
            f"all {len(used)} features are {required.value} or beyond{_where_registered(used, states, settings)}",
        )

    return [_check("feature_lifecycle", feature_lifecycle)]


CHAMPION_PREFIX = "champion_"


def _evaluate(model: PyFuncModel, held_out: _HeldOut, *, prefix: str = "") -> EvaluationResult:
    """``mlflow.models.evaluate`` into the active run; the champion's metrics and plots carry a prefix."""
    return mlflow_utils.evaluate_classifier(
        model,
        held_out.frame,
        target=CONTRACT.target.name,
        labels=CONTRACT.classes,
        name=held_out.name,
        source_uri=held_out.source_uri,
        prefix=prefix,
    )


def _metric_checks(
    candidate_result: EvaluationResult,
    champion_result: EvaluationResult | None,
    model_config: ModelConfig,
) -> list[CheckResult]:
    """Floors from config, tightened by the champion's score minus the allowed regression."""
    policy = model_config.validation
    checks = []
    for ours in sorted(set(policy.thresholds) | (set(policy.champion.metrics) if champion_result else set())):
        theirs, greater_is_better = EVALUATE_METRICS[ours]
        bounds = []
        if ours in policy.thresholds:
            bounds.append((policy.thresholds[ours], "floor" if greater_is_better else "ceiling"))
        if champion_result is not None and ours in policy.champion.metrics:
            allowed = policy.champion.max_regression * (1 if greater_is_better else -1)
            bounds.append((champion_result.metrics[CHAMPION_PREFIX + theirs] - allowed, "champion"))
        limit, origin = (max if greater_is_better else min)(bounds, key=lambda bound: bound[0])
        value = candidate_result.metrics[theirs]
        passed = mlflow_utils.meets_threshold(candidate_result, theirs, limit, greater_is_better=greater_is_better)
        relation = ">=" if greater_is_better else "<="
        checks.append(CheckResult(f"metric_{ours}", passed, f"{value:.4f} {relation} {limit:.4f} ({origin})"))
    return checks


def _behaviour_checks(model: PyFuncModel, held_out: _HeldOut) -> list[CheckResult]:
    contract = logged_contract(model) or CONTRACT

    def examples() -> tuple[bool, str]:
        rows = pd.DataFrame(contract.example_columns())  # parsed: an example's 190 is the float the schema takes
        predicted = tuple(str(p) for p in model.predict(rows))
        expected = contract.example_labels
        return predicted == expected, f"example rows predicted {list(predicted)}, expected {list(expected)}"

    def noise() -> tuple[bool, str]:
        rows = held_out.features
        numeric = [c.name for c in contract.columns if c.kind == "numeric" and c.name in rows]
        if not numeric:
            return True, "no numeric input to add noise to"
        noisy = rows.copy()
        spread = rows[numeric].std().fillna(0.0).to_numpy()
        shift = np.random.default_rng(0).uniform(-1, 1, (len(rows), len(numeric))) * spread * NOISE_FRACTION
        noisy[numeric] = rows[numeric].to_numpy(dtype=float) + shift
        agreement = float(np.mean(model.predict(rows) == model.predict(noisy)))
        detail = f"{agreement:.0%} unchanged under noise of ±{NOISE_FRACTION:.0%} of each numeric input's spread"
        return agreement >= MIN_NOISE_AGREEMENT, detail

    def column_order() -> tuple[bool, str]:
        rows = held_out.features
        same = bool(np.array_equal(model.predict(rows), model.predict(rows[rows.columns[::-1]])))
        return same, "same predictions with columns reversed" if same else "predictions depend on column order"

    return [
        _check("example_rows", examples),
        _check("invariant_to_small_noise", noise),
        _check("invariant_to_column_order", column_order),
    ]


def _p99_ms(
    predict: Callable[[], object],
    repeats: int,
    budget_ms: float | None = None,
    rounds: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """p99 latency in ms; over budget, measured again (up to ``rounds`` times) and the best kept.

    With ~50 repeats the p99 is close to the slowest call, so one pause of a
    busy machine (another job, a GC) would fail a model that is not slow; a
    model that is slow is slow in every round. ``clock`` (seconds) is the
    wall clock; the unit tests drive this logic with a clock of their own.
    """
    predict()  # warm-up
    best = float("inf")
    for _ in range(rounds):
        timings = []
        for _ in range(repeats):
            started = clock()
            predict()
            timings.append((clock() - started) * 1000)
        best = min(best, float(np.percentile(timings, 99)))
        if budget_ms is None or best <= budget_ms:
            break
    return best


def _latency_checks(model: PyFuncModel, held_out: _HeldOut, model_config: ModelConfig) -> list[CheckResult]:
    budget = model_config.validation.latency
    one_row = held_out.features.iloc[:1]
    batch = held_out.features.sample(budget.batch_rows, replace=True, random_state=0)

    def single() -> tuple[bool, str]:
        with limit_for_serving():  # as the endpoint scores one row: on one native thread
            p99 = _p99_ms(lambda: model.predict(one_row), budget.repeats, budget.single_row_p99_ms)
        return p99 <= budget.single_row_p99_ms, f"p99 {p99:.2f} ms <= {budget.single_row_p99_ms:g} ms"

    def batched() -> tuple[bool, str]:
        p99 = _p99_ms(lambda: model.predict(batch), max(5, budget.repeats // 5), budget.batch_p99_ms)
        return p99 <= budget.batch_p99_ms, f"{budget.batch_rows} rows: p99 {p99:.2f} ms <= {budget.batch_p99_ms:g} ms"

    return [_check("latency_single_row", single), _check("latency_batch", batched)]


def _record(decision: ValidationDecision, run_id: str) -> ValidationDecision:
    """Write the verdict into its validation run: the decision as JSON, and as parameters (MLflow never lets a
    parameter change, so the run's verdict is final) with the decision's digest (src/models/verdict.py)."""
    decision = replace(decision, run_id=run_id)
    status = "passed" if decision.passed else "failed"
    text = json.dumps(
        {**asdict(decision), "passed": decision.passed, "failed_checks": list(decision.failed_checks)},
        indent=2, default=str,
    )  # fmt: skip
    mlflow_utils.log_text(text, DECISION_FILE)
    failed = join_list(decision.failed_checks)
    mlflow_utils.set_tags({Tag.VALIDATION_STATUS: status, Tag.VALIDATION_FAILED_CHECKS: failed})
    mlflow_utils.log_params({
        Param.VALIDATION_FAILED_CHECKS: failed[:MAX_PARAM_CHARS],
        Param.DECISION_SHA256: decision_digest(text),
        Param.VALIDATION_STATUS: status,
    })  # fmt: skip
    return decision


def summary(decision: ValidationDecision) -> str:
    """The verdict in one line for the registry's tag cell: how many checks passed, and which failed."""
    passed = sum(check.passed for check in decision.checks)
    failed = f"; failed: {', '.join(decision.failed_checks)}" if decision.failed_checks else ""
    return f"{passed} of {len(decision.checks)} checks passed{failed}"


def _publish(decision: ValidationDecision, registry: Registry) -> None:
    """Copy the finished run's verdict onto the version's tags, for the registry UI and the model card: a status and
    a one-line summary (the checks themselves are the run's ``validation/decision.json``, not a tag each: 15 tags
    made the registry page's tag cell a tall stack)."""
    tags = {  # the status last: a write cut short never shows a verdict without its details
        Tag.VALIDATION_FAILED_CHECKS: join_list(decision.failed_checks),
        Tag.VALIDATION_RUN_ID: decision.run_id or "",
        Tag.VALIDATION_AT: datetime.now(UTC).isoformat(timespec="seconds"),
        Tag.VALIDATION_BASELINE: decision.baseline_version or "",
        Tag.VALIDATION_SUMMARY: summary(decision),
        Tag.VALIDATION_STATUS: "passed" if decision.passed else "failed",
    }
    registry.set_version_tags(decision.model, decision.version, tags)


def validate_version(
    settings: Settings,
    model_config: ModelConfig,
    *,
    version: str | None = None,
    alias: str | None = None,
    registry: Registry | None = None,
) -> ValidationDecision:
    """Validate one version, record the decision in the gate's experiment and on the version, and return it.

    Moves no alias. The verdict counts once its run has finished (src/models/verdict.py): a validation cut short
    leaves the version's previous verdict in force.
    """
    registry = registry or Registry()
    candidate = resolve_candidate(settings, registry, version, alias)
    held_out = _held_out(candidate, model_config)
    champion = registry.version_at(settings.model_name_for(Alias.PRODUCTION), Alias.PRODUCTION)
    if champion is not None and champion.tags.get(Tag.COPIED_FROM, champion.uri) == candidate.uri:
        champion = None  # the candidate is the champion: nothing to compare with
    if champion is not None and champion.version == candidate.version and champion.name == candidate.name:
        champion = None
    with verdict_run(settings, candidate, champion) as run_id:
        decision = _record(_judge(candidate, champion, held_out, model_config, settings), run_id)
    _publish(decision, registry)
    return decision


@contextmanager
def verdict_run(settings: Settings, candidate: VersionInfo, champion: VersionInfo | None) -> Iterator[str]:
    """The validation run in the gate's experiment, naming what it judges before it judges it (its ID)."""
    experiment_id = mlflow_utils.ensure_validation_experiment(settings)
    name = run_name(candidate.tags.get(Tag.MODEL_VERSION, "0.0.0"), "validation")
    run_tags = {
        Tag.VALIDATION_MODEL: candidate.name,
        Tag.VALIDATION_VERSION: candidate.version,
        Tag.VALIDATION_BASELINE: champion.version if champion else "",
        Tag.AUTHOR: candidate.tags.get(Tag.AUTHOR, ""),
    }
    against = f"the champion, version {champion.version}" if champion else "its thresholds (no champion yet)"
    description = f"The validation gate on {candidate.name} version {candidate.version}, against {against}"
    with mlflow_utils.tracked_run(experiment_id, name, run_tags, description) as run:
        mlflow_utils.log_params({
            Param.VALIDATED_MODEL: candidate.name,
            Param.VALIDATED_VERSION: candidate.version,
            Param.VALIDATED_RUN: candidate.run_id or "",
        })  # fmt: skip
        yield run.info.run_id


def _judge(
    candidate: VersionInfo,
    champion: VersionInfo | None,
    held_out: _HeldOut,
    model_config: ModelConfig,
    settings: Settings,
) -> ValidationDecision:
    """Every check of the gate on the candidate (and the champion, if any, as its baseline)."""
    checks = [CheckResult("held_out_data", held_out.digest_matches, held_out.detail)]
    with tempfile.TemporaryDirectory() as directory:
        local = download_model(candidate.source, Path(directory))
        try:
            model = load_pyfunc(local, check_environment=False)  # the environment check below says it
        except Exception as exc:  # a model that does not load fails the gate
            checks.append(CheckResult("loads", False, f"{type(exc).__name__}: {exc}"))
            return ValidationDecision(candidate.name, candidate.version, tuple(checks))
        checks.append(CheckResult("loads", True, "loads through mlflow.pyfunc"))
        checks += _contract_checks(model, local, candidate)
        checks += _governance_checks(candidate, model_config, settings)
        candidate_result = _evaluate(model, held_out)  # the loaded model: no second load
    champion_result = None
    if champion is not None:  # the baseline, judged in this environment like the candidate: no pin warning
        baseline = load_pyfunc(champion.uri, check_environment=False)
        champion_result = _evaluate(baseline, held_out, prefix=CHAMPION_PREFIX)
    checks += _metric_checks(candidate_result, champion_result, model_config)
    checks += _behaviour_checks(model, held_out)
    checks += _latency_checks(model, held_out, model_config)
    return ValidationDecision(
        model=candidate.name,
        version=candidate.version,
        checks=tuple(checks),
        metrics=dict(candidate_result.metrics),
        baseline_version=champion.version if champion else None,
    )


def decision_as_json(decision: ValidationDecision) -> str:
    return json.dumps({**asdict(decision), "passed": decision.passed}, indent=2, default=str)
