"""A new model project from this template: copier renders the platform with the team's names, then the model
pack is written from the answers and the data file.

Every answer is checked before anything is written (``check``); a failure
after that removes the half-made directory. The new project is a git
repository with one commit, so ``copier update`` can bring it later template
changes (copier needs a clean, tracked tree) while the pack, which
``copier.yml`` lists under ``_skip_if_exists``, stays the team's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from src.data.files import DataValidationError, file_sha256, read_table
from src.data.schema import DataContract
from src.models.estimator import EstimatorError, build_classifier
from src.scaffold import pack_writer
from src.scaffold.answers import Answers, AnswersError
from src.scaffold.draft import draft_contract
from src.utils.config import PROJECT_ROOT

#: Environment variables that point a command at this project's stores or configs, not the new project's.
THIS_PROJECTS_SETTINGS = frozenset(
    {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "ML_ENV", "ML_MODEL_CONFIG", "FEATURE_STORE_DIR",
     "UNITY_CATALOG_NAME", "ALIAS_LOCK_URI", "PYTHONPATH"}
)  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A checked set of answers and what they make: the contract drafted from the data file."""

    answers: Answers
    frame: pd.DataFrame
    contract: DataContract
    digest: str


@dataclass(frozen=True)
class NewProject:
    """What ``generate`` made."""

    path: Path
    contract: DataContract
    written: tuple[str, ...]
    commit: str


def check(answers: Answers, destination: Path) -> Plan:
    """Every answer that can be wrong, checked before anything is written: the destination, the data file, the
    target and the estimator."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise AnswersError(f"{destination}: exists and is not an empty directory (a new project needs its own)")
    try:
        frame = read_table(answers.data)
    except DataValidationError as exc:
        raise AnswersError(f"data: {exc}") from None
    if frame.empty:
        raise AnswersError(f"data: {answers.data} has no rows")
    try:
        build_classifier(answers.model_spec, seed=0)
    except EstimatorError as exc:
        message = str(exc).replace("model.estimator:", "estimator:").replace("model.params:", "params:")
        raise AnswersError(message) from None
    contract = draft_contract(answers, frame)
    return Plan(answers, frame, contract, file_sha256(answers.data))


def pack_files(plan: Plan) -> dict[str, str]:
    """The text of every pack file of the new project, by its path there."""
    answers, contract = plan.answers, plan.contract
    labels = plan.frame[answers.target].map(str).value_counts(normalize=True)
    shares = {label: float(labels[label]) for label in contract.classes}
    return {
        pack_writer.CONTRACT_FILE: pack_writer.contract_text(contract, answers, plan.digest),
        pack_writer.DEFINITIONS_FILE: pack_writer.definitions_text(contract, answers),
        pack_writer.MODEL_CONFIG_FILE: pack_writer.model_config_text(answers),
        pack_writer.FEATURE_CONFIG_FILE: pack_writer.feature_config_text(contract),
        pack_writer.LIFECYCLE_FILE: pack_writer.lifecycle_text(contract),
        pack_writer.MODEL_CARD_FILE: pack_writer.model_card_text(contract, answers, len(plan.frame), shares),
        pack_writer.CONTRACT_TESTS_FILE: pack_writer.contract_tests_text(),
        pack_writer.FEATURE_TESTS_FILE: pack_writer.feature_tests_text(contract),
    }


#: What a new project derives from its pack, as the commands ``make docs`` and ``make uc-grants`` would run them
#: (module, arguments), in one process of the new project: the drafted features taken through their lifecycle
#: gates into the feature store, then the catalog, the Unity Catalog grants and the first model card.
DERIVE_STEPS = (
    ("src.features.lifecycle", ["advance", "{features}", "--to", "REFACTORED", "--actor", "make new-model"]),
    ("src.features.feature_store", ["apply"]),
    ("src.features.lifecycle", ["advance", "{features}", "--to", "REGISTERED", "--actor", "make new-model"]),
    ("src.features.catalog", []),
    ("scripts.uc_grants", []),
    ("scripts.model_card", ["--preview"]),
)
_DERIVE = """
import importlib, sys
for module, argv in {steps!r}:
    if importlib.import_module(module).main(argv) != 0:
        sys.exit(f"{{module}} {{' '.join(argv)}} failed")
"""


def derive(destination: Path, features: Sequence[str]) -> None:
    """Run ``DERIVE_STEPS`` in the new project (its own ``src``), stopping at the first that fails."""
    steps = [(module, [a for arg in argv for a in (features if arg == "{features}" else [arg])])
             for module, argv in DERIVE_STEPS]  # fmt: skip
    _run(destination, "-c", _DERIVE.format(steps=steps))


def render(template: Path, destination: Path, answers: Answers, vcs_ref: str | None = None) -> None:
    """copier renders the template (this repository, at ``vcs_ref``: HEAD by default) with the team's names."""
    from copier import run_copy
    from copier.errors import DirtyLocalWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DirtyLocalWarning)
        run_copy(str(template), str(destination), data=answers.template_data(), defaults=True, overwrite=True,
                 quiet=True, vcs_ref=vcs_ref or "HEAD")  # fmt: skip
    if any(issubclass(w.category, DirtyLocalWarning) for w in caught):
        print(f"note: {template} has uncommitted changes: copier rendered them too", file=sys.stderr)


def _run(destination: Path, *command: str) -> str:
    """A command of the new project, run there with this interpreter (the new project has no venv yet)."""
    env = {k: v for k, v in os.environ.items() if k not in THIS_PROJECTS_SETTINGS}
    env["PYTHONPATH"] = str(destination)
    done = subprocess.run([sys.executable, *command], cwd=destination, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AnswersError(f"the new project's {' '.join(command)} failed: {done.stderr.strip()[-600:]}")
    return done.stdout


def _commit(destination: Path, message: str) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=destination, check=True, capture_output=True, text=True).stdout

    git("init", "--quiet", "--initial-branch", "main")
    git("add", "--all")
    git("-c", "user.name=make new-model", "-c", "user.email=new-model@localhost", "commit", "--quiet", "-m", message)
    return git("rev-parse", "HEAD").strip()


def generate(plan: Plan, destination: Path, template: Path = PROJECT_ROOT, vcs_ref: str | None = None) -> NewProject:
    """Render the template into ``destination``, write the pack and the data file, derive the generated docs,
    and commit; on any failure the directory is removed again."""
    created = not destination.exists()
    try:
        render(template, destination, plan.answers, vcs_ref)
        written = pack_files(plan)
        for name, text in written.items():
            (destination / name).write_text(text, encoding="utf-8")
        data = destination / pack_writer.data_path(plan.answers)
        data.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plan.answers.data, data)
        python_files = [str(destination / name) for name in written if name.endswith(".py")]
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", *python_files], check=True)
        derive(destination, [f"{plan.contract.name}_{column}_v1" for column in plan.contract.input_names])
        commit = _commit(destination, f"New model project {plan.answers.project} (make new-model)")
    except BaseException:
        if created:
            shutil.rmtree(destination, ignore_errors=True)
        else:
            for child in destination.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return NewProject(destination, plan.contract, (*written, pack_writer.data_path(plan.answers)), commit)
