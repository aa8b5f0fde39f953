"""The alias history: every move of an alias, recorded as a run in an audit experiment of the tracking backend.

The registry keeps no history of alias moves, so every move is also recorded
here: durable, shared by everyone who uses the same backend, and readable with
MLflow's own tools. A move is begun (a RUNNING run), then confirmed once the
alias moved, or abandoned: an interrupted move never reads as done.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException

from src.models.model_registry import failure


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: who moved it, from which version to which, and why."""

    sequence: int
    at: datetime
    model: str
    alias: str
    action: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str
    approved_by: str | None
    run_id: str


class AliasHistory:
    """The durable log of alias moves: one run per move in an audit experiment.

    A move is written in two steps around the alias change: the run is
    created RUNNING before, and FINISHED after. Only FINISHED moves are
    history; a move whose alias change failed ends FAILED and is not shown.
    """

    def __init__(self, experiment_name: str, client: MlflowClient | None = None) -> None:
        self._client = client or MlflowClient()
        self._experiment_name = experiment_name
        self._experiment_id: str | None = None

    def ensure(self) -> str:
        """The audit experiment's ID, created if it does not exist yet."""
        return self._experiment()

    def _experiment(self) -> str:
        if self._experiment_id is None:
            try:
                found = self._client.get_experiment_by_name(self._experiment_name)
                self._experiment_id = (
                    found.experiment_id
                    if found is not None
                    else self._client.create_experiment(self._experiment_name, tags={"purpose": "registry audit"})
                )
            except MlflowException as exc:
                raise failure(
                    "cannot open the audit experiment", exc, f"READ on experiment {self._experiment_name}"
                ) from exc
        return str(self._experiment_id)

    def begin(
        self,
        *,
        model: str,
        alias: str,
        action: str,
        from_version: str | None,
        to_version: str | None,
        actor: str,
        reason: str,
        approved_by: str | None,
    ) -> str:
        """Open the record of a move (before the alias changes); return its run ID."""
        sequence = self._last_sequence(model) + 1
        now = datetime.now(UTC)
        tags = {
            "audit.sequence": f"{sequence:09d}",  # zero-padded: string order is numeric order
            "audit.at": now.isoformat(timespec="seconds"),
            "audit.model": model,
            "audit.alias": alias,
            "audit.action": action,
            "audit.from_version": from_version or "",
            "audit.to_version": to_version or "",
            "audit.actor": actor,
            "audit.reason": reason,
            "audit.approved_by": approved_by or "",
        }
        run_name = f"{action}_{alias}_v{from_version or 'none'}_to_v{to_version or 'none'}"
        try:
            run = self._client.create_run(self._experiment(), tags=tags, run_name=run_name)
        except MlflowException as exc:
            raise failure(
                "cannot record the move in the audit experiment", exc, f"EDIT on experiment {self._experiment_name}"
            ) from exc
        return str(run.info.run_id)

    def confirm(self, run_id: str) -> None:
        try:
            self._client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        except MlflowException as exc:
            raise failure(
                "cannot confirm the move in the audit experiment", exc, f"EDIT on experiment {self._experiment_name}"
            ) from exc

    def abandon(self, run_id: str) -> None:
        """Mark a move that did not happen (best effort: it is not history either way)."""
        with suppress(MlflowException):
            self._client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))

    def open_moves(self, model: str, alias: str) -> list[AliasEvent]:
        """Moves begun but neither confirmed nor abandoned (their process died), oldest first. Read under the
        alias lock, they belong to no live promotion: the caller finishes or abandons each."""
        return self.events(model, alias, status="RUNNING")

    def events(
        self, model: str | None = None, alias: str | None = None, *, status: str = "FINISHED"
    ) -> list[AliasEvent]:
        """Confirmed moves, oldest first (``status="RUNNING"``: the open ones)."""
        filters = [f"attributes.status = '{status}'"]
        if model:
            filters.append(f"tags.`audit.model` = '{model}'")
        if alias:
            filters.append(f"tags.`audit.alias` = '{alias}'")
        try:
            runs = self._search(" and ".join(filters))
        except MlflowException as exc:
            raise failure("cannot read the alias history", exc, f"READ on experiment {self._experiment_name}") from exc
        events = [self._event(run) for run in runs]
        return sorted(events, key=lambda event: (event.model, event.sequence))

    def _search(self, filter_string: str) -> list[object]:
        if self._client.get_experiment_by_name(self._experiment_name) is None:
            return []
        runs: list[object] = []
        token = None
        while True:
            page = self._client.search_runs([self._experiment()], filter_string, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _last_sequence(self, model: str) -> int:
        """The highest sequence number used for ``model`` (any status); called under the alias lock."""
        try:
            if self._client.get_experiment_by_name(self._experiment_name) is None:
                return 0
            runs = self._client.search_runs(
                [self._experiment()],
                f"tags.`audit.model` = '{model}'",
                max_results=1,
                order_by=["tags.`audit.sequence` DESC"],
            )
        except MlflowException as exc:
            raise failure("cannot read the alias history", exc, f"READ on experiment {self._experiment_name}") from exc
        return int(runs[0].data.tags["audit.sequence"]) if runs else 0

    @staticmethod
    def _event(run: object) -> AliasEvent:
        tags = run.data.tags  # type: ignore[attr-defined]
        return AliasEvent(
            sequence=int(tags["audit.sequence"]),
            at=datetime.fromisoformat(tags["audit.at"]),
            model=tags["audit.model"],
            alias=tags["audit.alias"],
            action=tags["audit.action"],
            from_version=tags["audit.from_version"] or None,
            to_version=tags["audit.to_version"] or None,
            actor=tags["audit.actor"],
            reason=tags["audit.reason"],
            approved_by=tags["audit.approved_by"] or None,
            run_id=run.info.run_id,  # type: ignore[attr-defined]
        )
