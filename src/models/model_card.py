"""The model card (Mitchell et al., 2019, "Model Cards for Model Reporting"), generated, never hand-written.

Two kinds of facts meet in it. What training knows (data, split, features and
their lifecycle status, metrics per class, the confusion matrix, thresholds)
is built by ``training_facts`` and logged with the run as JSON, so the card of
any version can be rebuilt later from its run. What only the registry knows
later (the version's aliases, its validation verdict against the champion, the
alias history) is read by ``registry_facts``. The words no registry knows
(intended use, out-of-scope uses, factors, ethics, caveats) come from
``configs/model_card.yaml``. ``render`` writes the Markdown; ``summary`` is the
paragraph that becomes the version's description.

``normalized`` blanks what changes with every run (run and version IDs, git
commit, author, times), so ``make lint`` can tell a stale committed card from
a fresh one without a registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from src.utils.config import PROJECT_ROOT, ModelCardConfig, Settings
from src.utils.keys import Tag

if TYPE_CHECKING:
    from src.models.alias_history import AliasHistory
    from src.models.model_registry import Registry

FACTS_ARTIFACT = "model_card/facts.json"
CARD_ARTIFACT = "model_card/MODEL_CARD.md"
#: Rows whose values change with every run or with the registry's later state (blanked by ``normalized``).
VOLATILE_ROWS = ("Version", "Aliases", "Model URI", "Run", "Git commit", "Trained by", "Trained at", "Registered at")
#: Where the registry's later state starts and ends in a card (left out by ``normalized``).
REGISTRY_STATE = re.compile(r"Validation gate and champion comparison:.*?(?=\n## )|(?<=## Alias history\n).*", re.S)


@dataclass(frozen=True)
class FeatureFact:
    name: str
    description: str
    owner: str
    status: str


@dataclass(frozen=True)
class TrainingFacts:
    """What training knows about a version; logged with its run (``FACTS_ARTIFACT``)."""

    model_name: str
    semantic_version: str
    context: str
    owner: str
    author: str
    trained_at: str
    run_id: str | None
    git_commit: str
    model_type: str
    feature_set: str
    features: list[FeatureFact]
    data_source: str
    data_digest: str
    rows: int
    train_rows: int
    val_rows: int
    split: str
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    labels: list[str]
    confusion: list[list[int]]
    thresholds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> TrainingFacts:
        values = dict(content)
        values["features"] = [FeatureFact(**feature) for feature in values["features"]]
        return cls(**values)


@dataclass(frozen=True)
class RegistryFacts:
    """What the registry says about the version now."""

    version: str | None
    aliases: list[str] = field(default_factory=list)
    registered_at: str | None = None
    validation: dict[str, str] = field(default_factory=dict)
    #: The validation run's checks: (name, passed, detail), the champion comparison among them.
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


def summary(facts: TrainingFacts, config: ModelCardConfig) -> str:
    """One paragraph: what the version is and what it is for (the registry's version description)."""
    return (
        f"v{facts.semantic_version} ({facts.context}) by {facts.author}: {facts.model_type} on "
        f"{facts.feature_set}; val_accuracy={facts.metrics.get('val_accuracy', float('nan')):.4f}, "
        f"val_f1_macro={facts.metrics.get('val_f1_macro', float('nan')):.4f}. "
        f"Intended use: {config.intended_use[0]} Out of scope: {config.out_of_scope[0]}"
    )


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _row(label: str, value: object) -> str:
    return f"| {label} | {value} |"


#: The header of a two-column table of facts (a Markdown table needs one; an empty one renders as a blank row).
FACT_HEADER = ["| fact | value |", "|---|---|"]


def _details(facts: TrainingFacts, registry: RegistryFacts) -> list[str]:
    aliases = ", ".join(f"@{alias}" for alias in registry.aliases) or "none"
    return [
        *FACT_HEADER,
        _row("Registered model", f"`{facts.model_name}`"),
        _row("Version", f"{registry.version or 'not registered'} (semantic version {facts.semantic_version})"),
        _row("Aliases", aliases),
        _row("Model", f"{facts.model_type} (scikit-learn Pipeline: features -> scaler -> classifier)"),
        _row("Training context", facts.context),
        _row("Owner", facts.owner),
        _row("Trained by", facts.author),
        _row("Trained at", facts.trained_at),
        _row("Registered at", registry.registered_at or "-"),
        _row("Run", f"`{facts.run_id}`" if facts.run_id else "-"),
        _row("Git commit", f"`{facts.git_commit}`"),
        _row("Model URI", f"`models:/{facts.model_name}/{registry.version or 'N'}`"),  # mlflow.pyfunc.load_model
    ]


def _metrics(facts: TrainingFacts) -> list[str]:
    lines = ["| metric | validation | train | floor |", "|---|---|---|---|"]
    for name in sorted(m for m in facts.metrics if m.startswith("val_")):
        floor = facts.thresholds.get(name)
        train = facts.metrics.get("train_" + name.removeprefix("val_"))
        lines.append(
            f"| {name.removeprefix('val_')} | {facts.metrics[name]:.4f} | "
            f"{'-' if train is None else f'{train:.4f}'} | {'-' if floor is None else f'{floor:g}'} |"
        )
    lines += ["", "Per class, on the validation split:", "", "| class | precision | recall | f1 | support |"]
    lines.append("|---|---|---|---|---|")
    for label in facts.labels:
        scores = facts.per_class[label]
        lines.append(
            f"| {label} | {scores['precision']:.4f} | {scores['recall']:.4f} | {scores['f1-score']:.4f} | "
            f"{int(scores['support'])} |"
        )
    return lines


def _validation(registry: RegistryFacts) -> list[str]:
    if not registry.validation:
        return ["Not validated yet: `make validate` (or `python scripts/validate_model.py --version N`)."]
    verdict = registry.validation
    lines = [
        f"Verdict: **{verdict.get('status', 'unknown').upper()}**; champion compared with: "
        f"{verdict.get('baseline') or 'none (no version at @production)'}.",
        "",
        *FACT_HEADER,
        _row("Validated", verdict.get("at", "-")),
    ]
    if verdict.get("failed"):
        lines.append(_row("Failed checks", verdict["failed"]))
    if registry.checks:  # a list, not a table: a check's detail names columns and classes, and wraps
        lines += ["", "Checks:", ""]
        lines += [f"- `{name}` {'passed' if ok else '**failed**'}: {detail}" for name, ok, detail in registry.checks]
    return lines


def _source(uri: str) -> str:
    """The data's source as a reader needs it (the version's ``data_lineage`` tag keeps the full URI)."""
    if uri.startswith("package://"):  # package://<distribution>@<version>/<module>/<file>
        distribution, _, inside = uri.removeprefix("package://").partition("/")
        name, _, version = distribution.partition("@")
        return f"the copy {name} {version} ships, `{inside}`"
    if "site-packages/" in uri:
        return f"scikit-learn's bundled copy, `{uri.split('site-packages/', 1)[1]}`"
    root = f"file://{PROJECT_ROOT}/"
    return f"`{uri.removeprefix(root)}`"


def _confusion(facts: TrainingFacts) -> list[str]:
    lines = ["| true \\ predicted | " + " | ".join(facts.labels) + " |", "|---" * (len(facts.labels) + 1) + "|"]
    for label, row in zip(facts.labels, facts.confusion, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(n) for n in row) + " |")
    return lines


def render(facts: TrainingFacts, registry: RegistryFacts, config: ModelCardConfig) -> str:
    """The model card as Markdown, in the paper's sections."""
    features = [f"- `{f.name}` ({f.status}, {f.owner}): {f.description}" for f in facts.features]
    sections: list[tuple[str, list[str]]] = [
        ("Model details", _details(facts, registry)),
        ("Intended use", [_bullets(config.intended_use), "", "Intended users:", "", _bullets(config.intended_users)]),
        ("Out-of-scope uses", [_bullets(config.out_of_scope)]),
        ("Factors", [_bullets(config.factors)]),
        ("Metrics", [*_metrics(facts), "", "Validation gate and champion comparison:", "", *_validation(registry)]),
        (
            "Training and evaluation data",
            [
                *FACT_HEADER,
                _row("Source", _source(facts.data_source)),
                _row("Content digest", f"`{facts.data_digest}`"),
                _row("Rows", f"{facts.rows} ({facts.train_rows} training, {facts.val_rows} validation)"),
                _row("Split", facts.split),
            ],
        ),
        ("Quantitative analyses", ["Confusion matrix on the validation split:", "", *_confusion(facts)]),
        ("Features", [f"Feature set `{facts.feature_set}`:", "", *features]),
        ("Ethical considerations", [_bullets(config.ethical_considerations)]),
        (
            "Caveats and recommendations",
            [_bullets(config.caveats), "", "Recommendations:", "", _bullets(config.recommendations)],
        ),
        ("Alias history", [_bullets(registry.history) if registry.history else "No promotion recorded yet."]),
    ]
    out = [
        f"# Model card: {facts.model_name}",
        "",
        "<!-- Generated from the registry and configs/model_card.yaml by `make model-card`; do not edit. -->",
        "",
        summary(facts, config),
    ]
    for title, body in sections:
        out += ["", f"## {title}", "", *body]
    return "\n".join(out) + "\n"


_IDS = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{40}\b")
_TIMES = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")


def same_training(old: str, new: str) -> bool:
    """Whether two cards describe the same training (the registry's later state aside): then the committed card
    stays as it is, and running the README's commands in any order leaves the tree clean."""
    return normalized(old) == normalized(new)


def normalized(card: str) -> str:
    """What the card says about the training alone: volatile rows blanked, IDs and times masked, the semantic
    version and author left out of the summary (how often and by whom ``make train`` ran), the validation verdict
    and alias history left out (they change as the version moves on)."""
    lines = []
    for line in REGISTRY_STATE.sub("...\n", card).splitlines():
        for label in VOLATILE_ROWS:
            if line.startswith(f"| {label} |"):
                line = f"| {label} | ... |"
        line = re.sub(r"^v\S+ (\(\w+\)) by \S+:", r"v... \1 by ...:", line)  # which patch, by whom: volatile
        lines.append(_TIMES.sub("<time>", _IDS.sub("<id>", line)))
    return "\n".join(lines) + "\n"


def registry_facts(registry: Registry, history: AliasHistory, model: str, version: str) -> RegistryFacts:
    """The version's aliases, its validation verdict and checks, and every recorded move that involved it."""
    from src.utils import mlflow_utils

    info = registry.version(model, version)
    tags, validation, checks = info.tags, {}, []
    if tags.get(Tag.VALIDATION_STATUS):
        baseline = tags.get(Tag.VALIDATION_BASELINE)
        validation = {
            "status": tags[Tag.VALIDATION_STATUS],
            "baseline": f"version {baseline} (then at @production)" if baseline else "",
            "at": tags.get(Tag.VALIDATION_AT, "-"),
            "failed": tags.get(Tag.VALIDATION_FAILED_CHECKS, ""),
        }
        run_id = tags.get(Tag.VALIDATION_RUN_ID)
        decision = mlflow_utils.load_json_artifact(run_id, "validation/decision.json") if run_id else None
        checks = [(c["name"], bool(c["passed"]), str(c["detail"])) for c in (decision or {}).get("checks", [])]
    moves = [
        f"{e.at:%Y-%m-%d %H:%M} UTC, @{e.alias}: {f'v{e.from_version}' if e.from_version else '(unset)'} -> "
        f"{f'v{e.to_version}' if e.to_version else '(unset)'} ({e.action}) by {e.actor}"
        + (f", approved by {e.approved_by}" if e.approved_by else "")
        + (f": {e.reason}" if e.reason else "")
        for e in history.events(model)
        if version in (e.from_version, e.to_version)
    ]
    return RegistryFacts(version=version, aliases=sorted(info.aliases), validation=validation, checks=checks,
                         history=moves)  # fmt: skip


def card_of(settings: Settings, model: str, version: str, card_config: ModelCardConfig) -> str:
    """The card of a registered version: what its training logged, what the registry says now, the card config."""
    from src.models.alias_history import AliasHistory
    from src.models.model_registry import Registry, RegistryError
    from src.utils import mlflow_utils

    registry = Registry()
    info = registry.version(model, version)
    logged = mlflow_utils.load_json_artifact(info.run_id, FACTS_ARTIFACT) if info.run_id else None
    if logged is None:
        raise RegistryError(f"version {info.version} of {model} has no {FACTS_ARTIFACT} in its run "
                            "(trained before model cards were logged): train it again")  # fmt: skip
    history = AliasHistory(settings.audit_experiment_name)
    return render(TrainingFacts.from_dict(logged), registry_facts(registry, history, model, info.version), card_config)
