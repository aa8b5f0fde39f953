"""The project's naming conventions, in one place.

Every name that reaches MLflow or the feature store is built and checked here,
so a convention is changed once and enforced everywhere:

- experiment: ``/{team}/{project}/{model_name}``
- run: ``v{model_version}_{context}_{timestamp_or_build_id}``
- registered model: ``{catalog}.{schema}.{team_code}_{project}_{model_name}``
- feature: ``{domain}_{feature_name}_v{version}``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from src.utils.errors import ProjectError

_TEAM = r"[a-z][a-z0-9-]*"
_SLUG = r"[a-z][a-z0-9_]*"
_CODE = r"[a-z][a-z0-9]*"
_SEMVER = r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
_CONTEXT = r"[a-z][a-z0-9-]*"
_BUILD = r"build_[A-Za-z0-9.-]+"
_TIMESTAMP = r"\d{8}_\d{6}"

EXPERIMENT_PATTERN = re.compile(rf"^/(?P<team>{_TEAM})/(?P<project>{_SLUG})/(?P<model_name>{_SLUG})$")
RUN_PATTERN = re.compile(rf"^v(?P<version>{_SEMVER})_(?P<context>{_CONTEXT})_(?P<suffix>{_TIMESTAMP}|{_BUILD})$")
REGISTERED_MODEL_PATTERN = re.compile(rf"^(?P<catalog>{_SLUG})\.(?P<schema>{_SLUG})\.(?P<model>{_CODE}_{_SLUG})$")
FEATURE_PATTERN = re.compile(rf"^(?P<domain>{_CODE})_(?P<feature_name>{_SLUG}?)_v(?P<version>[1-9]\d*)$")
SEMVER_PATTERN = re.compile(rf"^{_SEMVER}$")


class NamingError(ProjectError, ValueError):
    """A name does not follow the project's conventions."""


@dataclass(frozen=True)
class FeatureName:
    """A feature name split into its parts."""

    domain: str
    feature_name: str
    version: int

    def __str__(self) -> str:
        return f"{self.domain}_{self.feature_name}_v{self.version}"


def _require(pattern: re.Pattern[str], value: str, what: str, expected: str) -> re.Match[str]:
    match = pattern.match(value)
    if match is None:
        raise NamingError(f"{what} {value!r} does not follow the convention {expected}")
    return match


def check_identifier(value: str, what: str, *, allow_hyphen: bool = False) -> str:
    """Check one component of a name (team, project, catalog...) and return it."""
    pattern = _TEAM if allow_hyphen else _SLUG
    _require(re.compile(rf"^{pattern}$"), value, what, f"^{pattern}$ (lower case)")
    return value


def experiment_name(team: str, project: str, model_name: str) -> str:
    """Build the experiment path ``/{team}/{project}/{model_name}``."""
    return check_experiment_name(f"/{team}/{project}/{model_name}")


def check_experiment_name(name: str) -> str:
    """Refuse an experiment name that is not ``/{team}/{project}/{model_name}``."""
    _require(EXPERIMENT_PATTERN, name, "experiment", "/{team}/{project}/{model_name}")
    return name


def run_name(
    model_version: str,
    context: str,
    *,
    build_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Build ``v{version}_{context}_{build_<id>|YYYYmmdd_HHMMSS}``.

    A CI build ID wins over the timestamp, so a run can be traced to its build.
    """
    version = model_version.removeprefix("v")
    _require(SEMVER_PATTERN, version, "model version", "MAJOR.MINOR.PATCH (e.g. 1.2.0)")
    suffix = f"build_{build_id}" if build_id else (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return check_run_name(f"v{version}_{context}_{suffix}")


def check_run_name(name: str) -> str:
    """Refuse a run name that is not ``v{version}_{context}_{timestamp_or_build_id}``."""
    _require(RUN_PATTERN, name, "run name", "v{MAJOR.MINOR.PATCH}_{context}_{YYYYmmdd_HHMMSS|build_<id>}")
    return name


def registered_model_name(catalog: str, schema: str, team_code: str, project: str, model_name: str) -> str:
    """Build the three-level name ``{catalog}.{schema}.{team_code}_{project}_{model_name}``."""
    return check_registered_model_name(f"{catalog}.{schema}.{team_code}_{project}_{model_name}")


def check_registered_model_name(name: str) -> str:
    """Refuse a registered model name that is not three-level (Unity Catalog style)."""
    _require(REGISTERED_MODEL_PATTERN, name, "registered model", "{catalog}.{schema}.{team}_{project}_{model_name}")
    return name


def feature_name(domain: str, name: str, version: int) -> str:
    """Build ``{domain}_{feature_name}_v{version}``."""
    return str(parse_feature_name(f"{domain}_{name}_v{version}"))


def parse_feature_name(name: str) -> FeatureName:
    """Split and check ``{domain}_{feature_name}_v{version}``."""
    match = _require(FEATURE_PATTERN, name, "feature", "{domain}_{feature_name}_v{version}")
    return FeatureName(match["domain"], match["feature_name"], int(match["version"]))
