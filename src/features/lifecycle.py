"""The feature lifecycle, enforced: LOCAL -> VALIDATED -> REFACTORED -> REGISTERED, one gated step at a time.

    python -m src.features.lifecycle status
    python -m src.features.lifecycle advance iris_petal_area_cm2_v1
    python -m src.features.lifecycle check

Each step has a gate; ``advance`` refuses, with every unmet condition, when
the gate is not met, and otherwise records the new status (who, when) in
``configs/feature_lifecycle.yaml``. A feature is REGISTERED with a fingerprint
of its transform's source: ``check`` fails when a registered transform
changes, because a changed definition must be a new version.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from src.features.feature_definitions import DEFINITIONS, FEATURES, FeatureDefinition, get_feature
from src.features.lifecycle_record import (
    LIFECYCLE_FILE,
    FeatureState,
    LifecycleError,
    LifecycleStatus,
    load_states,
    save_states,
)
from src.utils.config import PROJECT_ROOT, FeatureStoreProfile, resolve_settings
from src.utils.naming import NamingError, parse_feature_name

SHARED_MODULE = "src.features.feature_definitions"
TESTS_DIR = PROJECT_ROOT / "tests"


def registration_store() -> FeatureStoreProfile:
    """The feature store a feature must be applied to before it is REGISTERED: the selected profile's."""
    return resolve_settings().feature_store


def fingerprint(definition: FeatureDefinition) -> str:
    """What a registered feature promises never to change: its transform's source, inputs and type."""
    source = inspect.getsource(definition.transform)
    if definition.transform.__name__.startswith("column_"):  # a raw column: the column is the definition
        source = definition.transform.__name__
    content = "\n".join([source, ",".join(definition.inputs), definition.dtype])
    return hashlib.sha256(content.encode()).hexdigest()[:16]


# --- gates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    condition: str
    met: bool
    detail: str


def _reference_raw() -> dict[str, np.ndarray]:
    """The raw measurements of the reference data (bundled Iris), without the label."""
    from src.data.contract import RAW_FEATURE_COLUMNS
    from src.data.load_data import load_bundled_iris

    frame = load_bundled_iris()
    return {column: frame[column].to_numpy() for column in RAW_FEATURE_COLUMNS}


def _validated_gate(definition: FeatureDefinition) -> list[GateResult]:
    raw = _reference_raw()
    results = []
    mentioned = any(definition.name in path.read_text(encoding="utf-8") for path in TESTS_DIR.rglob("test_*.py"))
    results.append(GateResult("has unit tests", mentioned, f"named in a test under {TESTS_DIR.name}/"))
    try:
        with np.errstate(all="ignore"):  # bad values are what the checks below report
            first, second = (np.asarray(definition.transform(raw), dtype=float) for _ in range(2))  # type: ignore[arg-type]
    except KeyError as exc:  # the transform read a column that is not a raw measurement: the label, say
        return [*results, GateResult("no label leakage", False, f"reads {exc} besides the raw measurements")]
    results.append(GateResult("no label leakage", "species" not in definition.inputs,
                              "computed from the raw measurements alone"))  # fmt: skip
    results.append(GateResult("deterministic", bool(np.array_equal(first, second, equal_nan=True)),
                              "two computations on the reference data are identical"))  # fmt: skip
    nulls = float(np.mean(~np.isfinite(first)))
    results.append(GateResult("no nulls", nulls == 0.0, f"{nulls:.1%} null or infinite on the reference data"))
    spread = float(np.std(first[np.isfinite(first)])) if np.isfinite(first).any() else 0.0
    results.append(GateResult("not constant", spread > 0.0, f"standard deviation {spread:.4g}"))
    return results


def _refactored_gate(definition: FeatureDefinition) -> list[GateResult]:
    try:
        parse_feature_name(definition.name)
        named = True
    except NamingError:
        named = False
    module = definition.transform.__module__
    return [
        GateResult("in the shared module", module == SHARED_MODULE, f"transform defined in {module}"),
        GateResult("has an owner", bool(definition.owner.strip()), definition.owner or "no owner"),
        GateResult("has a description", bool(definition.description.strip()), definition.description or "none"),
        GateResult("named by convention", named, "{domain}_{feature_name}_v{version}"),
    ]


def _store_label() -> str:
    from src.features.feature_store import label

    return label(registration_store())


def _registered_gate(definition: FeatureDefinition) -> list[GateResult]:
    from src.features.feature_store import describe, registered_features

    store = registration_store()
    in_store = definition.name in registered_features(store)
    where = describe(store)
    detail = f"in the feature view at {where}" if in_store else f"not applied and materialised at {where}"
    return [GateResult("applied and materialised in the feature store", in_store, detail + " (make features)")]


GATES: dict[LifecycleStatus, Callable[[FeatureDefinition], list[GateResult]]] = {
    LifecycleStatus.VALIDATED: _validated_gate,
    LifecycleStatus.REFACTORED: lambda d: [*_validated_gate(d), *_refactored_gate(d)],
    LifecycleStatus.REGISTERED: lambda d: [*_validated_gate(d), *_refactored_gate(d), *_registered_gate(d)],
}


def advance(name: str, actor: str, path: Path = LIFECYCLE_FILE) -> tuple[LifecycleStatus, LifecycleStatus]:
    """Move one feature one step forward if the next step's gate is met; return (from, to)."""
    definition = get_feature(name)
    states = load_states(path)
    current = states.get(name, FeatureState(LifecycleStatus.LOCAL)).status
    target = current.next
    if target is None:
        raise LifecycleError(f"{name} is already {current.value}: a changed definition is a new version")
    unmet = [r for r in GATES[target](definition) if not r.met]
    if unmet:
        reasons = "; ".join(f"{r.condition} ({r.detail})" for r in unmet)
        raise LifecycleError(f"{name} stays {current.value}: the {target.value} gate is not met: {reasons}")
    registering = target is LifecycleStatus.REGISTERED
    states[name] = FeatureState(
        status=target,
        fingerprint=fingerprint(definition) if registering else None,
        changed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        changed_by=actor,
        registered_in=_store_label() if registering else None,
    )
    save_states(states, path)
    return current, target


def check(path: Path = LIFECYCLE_FILE) -> list[str]:
    """Every problem with the lifecycle record (an empty list when it is consistent)."""
    states = load_states(path)
    problems = [f"{name}: defined but has no lifecycle entry" for name in FEATURES if name not in states]
    problems += [f"{name}: in the lifecycle file but not defined" for name in states if name not in FEATURES]
    for definition in DEFINITIONS:
        state = states.get(definition.name)
        if state and state.status is LifecycleStatus.REGISTERED and not state.registered_in:
            problems.append(f"{definition.name}: REGISTERED, but the record does not name the store (registered_in)")
        if state and state.status is LifecycleStatus.REGISTERED and state.fingerprint != fingerprint(definition):
            problems.append(
                f"{definition.name}: REGISTERED, but its transform changed (fingerprint {fingerprint(definition)} "
                f"!= {state.fingerprint}); restore it and add the change as a new version"
            )
    return problems


def status_lines(states: dict[str, FeatureState], store: FeatureStoreProfile) -> list[str]:
    """The selected profile's store, then one line per feature: its status and, if REGISTERED, where.

    REGISTERED is a reviewed property of the definition, recorded once against
    the store named in ``registered_in``; each environment builds its own store
    (``make features``), so each line also says whether the store here holds it.
    """
    from src.features.feature_store import built_here, label, registered_features

    built = built_here(store) is not False
    held = registered_features(store) if built else set()
    here = f"{label(store)}: " + (f"{len(held)} features applied and materialised" if built else "not built here")
    lines = [f"feature store of this profile: {here}{'' if held else ' (make features)'}"]
    for definition in DEFINITIONS:
        state = states.get(definition.name)
        line = f"{definition.name:<28} {state.status.value if state else 'UNRECORDED':<11}"
        if state and state.status is LifecycleStatus.REGISTERED:
            line += (
                f" registered in {state.registered_in}; {'' if definition.name in held else 'not '}in the store here"
            )
        lines.append(line.rstrip())
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from src.features.feature_store import FeatureStoreUnavailable
    from src.utils import cli
    from src.utils.cli import current_actor, refuse

    parser = cli.parser(
        "python -m src.features.lifecycle",
        __doc__,
        example="python -m src.features.lifecycle advance iris_petal_area_cm2_v1",
        profile=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="every feature and its lifecycle status")
    step = commands.add_parser("advance", help="move a feature one step, if its gate is met")
    step.add_argument("name")
    step.add_argument("--actor", help="who advances it (default: git user.email)")
    commands.add_parser("check", help="exit 1 if the lifecycle record is inconsistent")
    args = parser.parse_args(argv)
    try:
        if args.command == "advance":
            before, after = advance(args.name, current_actor(args.actor))
            print(f"{args.name}: {before.value} -> {after.value}")
            return 0
        if args.command == "check":
            problems = check()
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            return 1 if problems else 0
        for line in status_lines(load_states(), registration_store()):
            print(line)
        return 0
    except (LifecycleError, KeyError, FeatureStoreUnavailable) as exc:
        return refuse(str(exc))


if __name__ == "__main__":
    sys.exit(main())
