"""Champion against challenger on the same window: who answers worse, and is the challenger fit to take over.

Both sides are read from the same inference log over the same period. For a
shadow (the challenger scored the very requests the champion answered), the
agreement rate of their predictions row by row; for either mode, the drift of
the challenger's class shares from the champion's (chi-square of the two count
vectors and PSI), their latencies, their refusal shares, and their live
accuracy where labels came back on ``/feedback``. The challenger is judged
fit when it has enough traffic (``min_requests``), refuses no larger a share
than the champion plus ``refusal_margin``, is no slower at p99 than
``latency_ratio`` times the champion (or ``latency_floor_ms``, whichever is
larger: sub-millisecond models are compared by noise otherwise), its class
shares do not drift from the champion's (both tests, as in ``drift``), and its
live accuracy is at most ``accuracy_margin`` below the champion's when both
have ``min_labels`` labels. A release step (``scripts/release.py canary``)
promotes on a fit verdict and rolls the canary back otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from src.monitoring.drift import EPSILON, psi, shares
from src.monitoring.log_reader import Window, percentiles


@dataclass(frozen=True)
class CanaryRules:
    """What a challenger must show before it may take over (the defaults suit one-row traffic of a few hundred)."""

    min_requests: int = 200
    refusal_margin: float = 0.02
    latency_ratio: float = 1.5
    latency_floor_ms: float = 5.0
    prediction_alpha: float = 0.01
    prediction_psi: float = 0.2
    min_labels: int = 50
    accuracy_margin: float = 0.05


@dataclass(frozen=True)
class Side:
    """One alias's figures in the window."""

    alias: str
    versions: tuple[str, ...]
    requests: int
    rows: int
    refused: int
    refused_share: float
    latency: dict[str, float]
    class_shares: dict[str, float]
    labelled: int
    accuracy: float | None


@dataclass(frozen=True)
class Comparison:
    """The two sides, how they differ, and the verdict on the challenger."""

    champion: Side
    challenger: Side
    #: Shadow only: the share of rows both scored on which they predicted the same class (None: no common rows).
    agreement: float | None
    common_rows: int
    share_chi2_pvalue: float
    share_psi: float
    fit: bool
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{side.alias:>12}: versions {', '.join(side.versions) or '-'}, {side.requests} requests, "
                 f"{side.refused_share:.1%} refused, p99 {side.latency.get('latency_p99_ms', float('nan')):.2f} ms, "
                 f"accuracy {'-' if side.accuracy is None else f'{side.accuracy:.3f} ({side.labelled} labels)'}"
                 for side in (self.champion, self.challenger)]  # fmt: skip
        agreement = "-" if self.agreement is None else f"{self.agreement:.1%} of {self.common_rows} rows"
        lines.append(f"  agreement {agreement}; class shares PSI {self.share_psi:.3f} (p {self.share_chi2_pvalue:.3g})")
        verdict = "FIT to take over" if self.fit else "NOT FIT: " + "; ".join(self.problems)
        lines.append(f"  challenger @{self.challenger.alias}: {verdict}")
        return "\n".join(lines)


def _side(alias: str, window: Window) -> Side:
    predictions = window.predictions
    first_rows = predictions[predictions["row"] == 0]
    answered = int(predictions["request_id"].nunique())
    refused = len(window.refusals)
    counts = predictions["prediction"].value_counts()
    total = int(counts.sum())
    labelled, accuracy = _accuracy(predictions, window.feedback)
    return Side(
        alias=alias,
        versions=tuple(sorted({str(v) for v in predictions["model_version"]}, key=lambda v: (len(v), v))),
        requests=answered + refused,
        rows=len(predictions),
        refused=refused,
        refused_share=refused / (answered + refused) if answered + refused else 0.0,
        latency=percentiles(first_rows["latency_ms"].to_numpy(dtype=float)),
        class_shares={str(k): int(v) / total for k, v in counts.items()} if total else {},
        labelled=labelled,
        accuracy=accuracy,
    )


def _accuracy(predictions: pd.DataFrame, feedback: pd.DataFrame) -> tuple[int, float | None]:
    """Accuracy over one-row requests with a label (a label names a request, not a row)."""
    if feedback.empty or predictions.empty:
        return 0, None
    one_row = predictions.groupby("request_id")["row"].transform("max") == 0
    labelled = predictions[one_row & predictions["request_id"].isin(feedback["request_id"])]
    if labelled.empty:
        return 0, None
    truth = labelled["request_id"].map(feedback.drop_duplicates("request_id").set_index("request_id")["label"])
    return len(labelled), float((labelled["prediction"] == truth).mean())


def _agreement(champion: pd.DataFrame, challenger: pd.DataFrame) -> tuple[float | None, int]:
    """Row-by-row agreement on the requests both scored (the challenger's shadow rows)."""
    shadow = challenger[challenger["served"] == 0]
    if shadow.empty:
        return None, 0
    joined = champion.merge(shadow, on=["request_id", "row"], suffixes=("_champion", "_challenger"))
    if joined.empty:
        return None, 0
    return float((joined["prediction_champion"] == joined["prediction_challenger"]).mean()), len(joined)


def _share_drift(champion: pd.DataFrame, challenger: pd.DataFrame) -> tuple[float, float]:
    """Chi-square p-value and PSI of the challenger's class counts against the champion's."""
    classes = sorted(set(champion["prediction"]) | set(challenger["prediction"]))
    if not classes or champion.empty or challenger.empty:
        return 1.0, 0.0
    ours = np.array([np.count_nonzero(champion["prediction"] == c) for c in classes], dtype=float)
    theirs = np.array([np.count_nonzero(challenger["prediction"] == c) for c in classes], dtype=float)
    table = np.vstack([ours, theirs]) + EPSILON
    pvalue = float(stats.chi2_contingency(table)[1]) if len(classes) > 1 else 1.0
    return pvalue, psi(shares(ours), shares(theirs))


def compare(champion: tuple[str, Window], challenger: tuple[str, Window], rules: CanaryRules) -> Comparison:
    """Judge the challenger against the champion over the same window (``(alias, window)`` each)."""
    ours, theirs = _side(*champion), _side(*challenger)
    agreement, common = _agreement(champion[1].predictions, challenger[1].predictions)
    pvalue, index = _share_drift(champion[1].predictions, challenger[1].predictions)
    problems = []
    if theirs.requests < rules.min_requests:
        problems.append(f"{theirs.requests} requests, fewer than the {rules.min_requests} a verdict needs")
    if theirs.refused_share > ours.refused_share + rules.refusal_margin:
        problems.append(f"refuses {theirs.refused_share:.1%} of requests, the champion {ours.refused_share:.1%}")
    our_p99, their_p99 = ours.latency.get("latency_p99_ms"), theirs.latency.get("latency_p99_ms")
    if our_p99 is not None and their_p99 is not None:
        budget = max(rules.latency_ratio * our_p99, rules.latency_floor_ms)
        if their_p99 > budget:
            problems.append(f"p99 {their_p99:.2f} ms over {budget:.2f} ms ({rules.latency_ratio}x the champion's)")
    if pvalue < rules.prediction_alpha and index >= rules.prediction_psi:
        problems.append(f"its class shares differ from the champion's (PSI {index:.3f}, p {pvalue:.2g})")
    if ours.accuracy is not None and theirs.accuracy is not None and min(ours.labelled, theirs.labelled) >= \
            rules.min_labels and theirs.accuracy < ours.accuracy - rules.accuracy_margin:  # fmt: skip
        problems.append(f"live accuracy {theirs.accuracy:.3f}, the champion {ours.accuracy:.3f}")
    return Comparison(ours, theirs, agreement, common, pvalue, index, not problems, problems)
