"""The feature lifecycle, enforced: LOCAL -> VALIDATED -> REFACTORED -> REGISTERED, one gated step at a time.

    python -m src.features.lifecycle status
    python -m src.features.lifecycle advance <domain>_<feature>_v<version>
    python -m src.features.lifecycle advance NAME [NAME ...] --to REFACTORED   # step by step, each gate checked
    python -m src.features.lifecycle check

Each step has a gate; ``advance`` refuses, with every unmet condition, when
the gate is not met, and otherwise records the new status (who, when) in
``configs/feature_lifecycle.yaml``. A feature is REGISTERED with a fingerprint
of its formula: ``check`` fails when a registered formula changes, because a
changed definition must be a new version.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from src.data.contract import CONTRACT
from src.features.feature_definitions import DEFINITIONS
from src.features.feature_set import FEATURES, get_feature
from src.features.lifecycle_record import (
    LIFECYCLE_FILE,
    FeatureState,
    LifecycleError,
    LifecycleStatus,
    load_states,
    save_states,
)
from src.features.versioned import FeatureDefinition
from src.utils.config import PROJECT_ROOT, FeatureStoreProfile, resolve_settings
from src.utils.naming import NamingError, parse_feature_name

TESTS_DIR = PROJECT_ROOT / "tests"


def registration_store() -> FeatureStoreProfile:
    """The feature store a feature must be applied to before it is REGISTERED: the selected profile's."""
    return resolve_settings().feature_store


def fingerprint(definition: FeatureDefinition) -> str:
    """What a registered feature promises never to change: its formula, inputs and kind."""
    content = "\n".join([definition.formula.text, ",".join(definition.inputs), definition.kind])
    return hashlib.sha256(content.encode()).hexdigest()[:16]


# --- gates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    condition: str
    met: bool
    detail: str


def _reference_inputs() -> dict[str, np.ndarray]:
    """The input columns of the reference data (the configured training data), without the label."""
    from src.data.load_data import load_dataset
    from src.utils.config import load_model_config

    frame = load_dataset(load_model_config().data).features
    return {column: frame[column].to_numpy() for column in frame.columns}


def _validated_gate(definition: FeatureDefinition) -> list[GateResult]:
    inputs = _reference_inputs()
    results = []
    mentioned = any(definition.name in path.read_text(encoding="utf-8") for path in TESTS_DIR.rglob("test_*.py"))
    results.append(GateResult("has unit tests", mentioned, f"named in a test under {TESTS_DIR.name}/"))
    label = CONTRACT.target.name
    results.append(GateResult("no label leakage", label not in definition.inputs,
                              f"computed from the input columns alone, not from {label}"))  # fmt: skip
    if label in definition.inputs:
        return results
    first, second = definition.compute(inputs), definition.compute(inputs)
    if definition.kind == "categorical":
        missing = float(np.mean([v is None for v in first]))
        results.append(GateResult("deterministic", bool(np.array_equal(first, second)), "two computations agree"))
        results.append(GateResult("not constant", len(set(first.tolist()) - {None}) > 1,
                                  f"{len(set(first.tolist()) - {None})} categories on the reference data"))  # fmt: skip
        allowed = any(CONTRACT.column(name).nullable for name in definition.inputs)
        results.append(
            GateResult("no nulls", missing == 0.0 or allowed, f"{missing:.1%} missing on the reference data")
        )
        return results
    results.append(GateResult("deterministic", bool(np.array_equal(first, second, equal_nan=True)),
                              "two computations on the reference data are identical"))  # fmt: skip
    nulls = float(np.mean(~np.isfinite(first)))
    allowed = any(CONTRACT.column(name).nullable for name in definition.inputs)
    results.append(GateResult("no nulls", nulls == 0.0 or (allowed and np.isfinite(first[~np.isnan(first)]).all()),
                              f"{nulls:.1%} null or infinite on the reference data"))  # fmt: skip
    spread = float(np.std(first[np.isfinite(first)])) if np.isfinite(first).any() else 0.0
    results.append(GateResult("not constant", spread > 0.0, f"standard deviation {spread:.4g}"))
    return results


def _refactored_gate(definition: FeatureDefinition) -> list[GateResult]:
    try:
        parse_feature_name(definition.name)
        named = True
    except NamingError:
        named = False
    problems = definition.problems(CONTRACT)
    return [
        GateResult(
            "fits the data contract", not problems, "; ".join(problems) or f"reads {', '.join(definition.inputs)}"
        ),
        GateResult("has an owner", bool(definition.owner.strip()), definition.owner or "no owner"),
        GateResult("has a description", bool(definition.description.strip()), definition.description or "none"),
        GateResult("named by convention", named, "{domain}_{feature_name}_v{version}"),
    ]


def _store_label() -> str:
    from src.features.store_backend import label

    return label(registration_store())


def _registered_gate(definition: FeatureDefinition) -> list[GateResult]:
    from src.features.store_backend import describe
    from src.features.store_repository import registered_features

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


def advance_to(
    name: str, actor: str, status: str | None, path: Path = LIFECYCLE_FILE
) -> list[tuple[LifecycleStatus, LifecycleStatus]]:
    """One step (``status`` None), or step after step until ``status``: each step's gate is checked, so a
    feature stops where a gate is not met (the error says which); a feature already there does not move."""
    steps = [advance(name, actor, path)] if status is None else []
    target = LifecycleStatus(status) if status is not None else None
    while target is not None:
        states = load_states(path)
        current = states.get(name, FeatureState(LifecycleStatus.LOCAL)).status
        if current.at_least(target):
            break
        steps.append(advance(name, actor, path))
    return steps


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
                f"{definition.name}: REGISTERED, but its formula changed (fingerprint {fingerprint(definition)} "
                f"!= {state.fingerprint}); restore it and add the change as a new version"
            )
    return problems


def status_lines(states: dict[str, FeatureState], store: FeatureStoreProfile) -> list[str]:
    """The selected profile's store, then one line per feature: its status and, if REGISTERED, where.

    REGISTERED is a reviewed property of the definition, recorded once against
    the store named in ``registered_in``; each environment builds its own store
    (``make features``), so each line also says whether the store here holds it.
    """
    from src.features.store_backend import built_here, label
    from src.features.store_repository import registered_features

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
    from src.features.store_backend import FeatureStoreUnavailable
    from src.utils import cli
    from src.utils.cli import current_actor, refuse

    parser = cli.parser(
        "python -m src.features.lifecycle",
        __doc__,
        example=f"python -m src.features.lifecycle advance {DEFINITIONS[-1].name}",
        profile=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="every feature and its lifecycle status")
    step = commands.add_parser("advance", help="move features one step (or up to --to), if each gate is met")
    step.add_argument("names", nargs="+", metavar="name")
    step.add_argument("--to", choices=[s.value for s in LifecycleStatus][1:], help="step on until this status")
    step.add_argument("--actor", help="who advances it (default: git user.email)")
    commands.add_parser("check", help="exit 1 if the lifecycle record is inconsistent")
    args = parser.parse_args(argv)
    try:
        if args.command == "advance":
            for name in args.names:
                for before, after in advance_to(name, current_actor(args.actor), args.to):
                    print(f"{name}: {before.value} -> {after.value}")
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
