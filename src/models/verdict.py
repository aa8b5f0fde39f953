"""The validation verdict as only the gate can have written it: the latest finished run of the gate's experiment.

A version's ``validation.*`` tags are for people (the registry UI, the model
card); whoever holds EDIT on the registered model can write them, a data
scientist included. What counts is the gate's own record: the newest FINISHED
run in the validation experiment (``..._validation``, written only by CI:
configs/governance.yaml) that judged this model and version. Its verdict is
logged as run parameters, which MLflow never lets anyone change, with the
digest of its decision artifact beside it. Promotion, the alias guard, the
endpoint's watcher and batch all ask this module, so a forged tag moves
nothing and is named as forged.

A copy in another catalog (``promotion_mode: catalogs``) is judged by the
verdict on the version it was copied from: MLflow records that version as
the copy's source, and the copy keeps its training run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from src.models.model_registry import VersionInfo
from src.utils import mlflow_utils
from src.utils.config import Settings
from src.utils.keys import Param, Tag

#: The decision artifact of a validation run; its SHA-256 is the run's ``validation.decision_sha256``.
DECISION_FILE = "validation/decision.json"
PASSED = "passed"


@dataclass(frozen=True)
class Judged:
    """The registered version a verdict is about: the version itself, or the one a copy was made from."""

    model: str
    version: str


def judged_version(version: VersionInfo) -> Judged:
    """Which version's verdict applies to ``version`` (a cross-catalog copy: the version copied)."""
    origin = version.source if version.source.startswith("models:/") else version.tags.get(Tag.COPIED_FROM, "")
    name, _, number = origin.removeprefix("models:/").rpartition("/")
    if name and number.isdigit() and "@" not in name:
        return Judged(name, number)
    return Judged(version.name, version.version)


def decision_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Verdicts:
    """Reads the gate's verdict on a version; ``problem`` says, in one line, why it does not count as passed."""

    def __init__(self, settings: Settings) -> None:
        self._experiment_name = settings.validation_experiment_name
        self._experiment_id: str | None = None

    def problem(self, version: VersionInfo) -> str | None:
        """``None`` if the gate passed this version; otherwise what is missing or does not match."""
        label = f"version {version.version} of {version.name}"
        judged = judged_version(version)
        run = self._latest_run(judged)
        if run is None:
            forged = version.tags.get(Tag.VALIDATION_STATUS)
            tail = f"; its tag {Tag.VALIDATION_STATUS.value}={forged} is not the gate's" if forged else ""
            return (f"{label} has not been validated (no verdict in the gate's experiment {self._experiment_name}"
                    f"{tail}): run scripts/validate_model.py --version {judged.version}")  # fmt: skip
        mismatch = _mismatch(run, version)
        if mismatch is not None:
            return f"{label}: validation run {run.run_id} {mismatch}"
        if run.params.get(Param.VALIDATION_STATUS) != PASSED:
            failed = run.params.get(Param.VALIDATION_FAILED_CHECKS) or "see the run"
            claimed = version.tags.get(Tag.VALIDATION_STATUS)
            tail = f"; its tag {Tag.VALIDATION_STATUS.value}={claimed} is not the gate's" if claimed == PASSED else ""
            return f"{label} failed validation ({failed}) in run {run.run_id}{tail}"
        return None

    def passed(self, version: VersionInfo) -> bool:
        return self.problem(version) is None

    def _latest_run(self, judged: Judged) -> mlflow_utils.FinishedRun | None:
        if self._experiment_id is None:
            self._experiment_id = mlflow_utils.experiment_id(self._experiment_name)
            if self._experiment_id is None:
                return None  # looked up again next time: the gate may create it meanwhile
        wanted = {Param.VALIDATED_MODEL.value: judged.model, Param.VALIDATED_VERSION.value: judged.version}
        return mlflow_utils.latest_finished_run(self._experiment_id, wanted)


def _mismatch(run: mlflow_utils.FinishedRun, version: VersionInfo) -> str | None:
    """What in the run does not fit the version or its own decision (``None``: it all matches)."""
    trained_by = run.params.get(Param.VALIDATED_RUN, "")
    if trained_by != (version.run_id or ""):
        return f"judged the model of training run {trained_by or '(none)'}, not this version's {version.run_id}"
    text = mlflow_utils.load_text_artifact(run.run_id, DECISION_FILE)
    if text is None:
        return f"has no {DECISION_FILE}"
    if decision_digest(text) != run.params.get(Param.DECISION_SHA256):
        return f"holds a {DECISION_FILE} that does not match the digest it logged"
    try:
        decision = json.loads(text)
    except ValueError:
        return f"holds a {DECISION_FILE} that is not JSON"
    passed = isinstance(decision, dict) and decision.get("passed") is True
    logged = run.params.get(Param.VALIDATION_STATUS)
    if passed != (logged == PASSED):
        return f"logged {Param.VALIDATION_STATUS.value}={logged} but its decision says otherwise"
    return None
