"""The penguins pack's versioned features: the inputs as they come, and one derived ratio."""

from __future__ import annotations

from src.data.contract import CONTRACT
from src.features.versioned import FeatureDefinition, passthrough

DOMAIN = CONTRACT.name
_OWNER = "ecology@example.com"

DEFINITIONS: tuple[FeatureDefinition, ...] = (
    *(passthrough(DOMAIN, c.name, c.description, _OWNER, kind="categorical" if c.kind == "categorical" else "numeric")
      for c in CONTRACT.columns),
    FeatureDefinition(DOMAIN, "bill_ratio", 1, "Bill length over bill depth.", _OWNER,
                      "bill_length_mm / bill_depth_mm"),
)  # fmt: skip
