"""What a production move needs from people: an approver and a reason, checked before anything heavy runs.

Kept apart from the promotion policy (which reads the registry, and so imports
MLflow) so ``scripts/promote_model.py`` can refuse a production move that lacks
them in a fraction of a second, naming everything missing at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Approval:
    """Who approved a move and why (a reason or a change ticket)."""

    approved_by: str | None = None
    reason: str | None = None


#: No approver and no reason: enough for staging, never for production.
NO_APPROVAL = Approval()


def missing_approval(approval: Approval) -> list[str]:
    """What a production move still lacks, every item at once."""
    missing = []
    if not approval.approved_by:
        missing.append("an approval: --approved-by NAME")
    if not approval.reason:
        missing.append("a reason or change ticket: --reason TEXT")
    return missing
