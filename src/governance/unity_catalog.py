"""Unity Catalog grants as code: the SQL ``GRANT`` statements ``configs/governance.yaml`` implies.

Unity Catalog's rights are not MLflow's, so each permission is translated:

- READ   -> ``EXECUTE`` on the model (load it, read its versions and aliases);
- EDIT   -> ``EXECUTE``, ``CREATE MODEL VERSION`` and ``MANAGE``: setting an alias needs the model's owner or
            MANAGE, so whoever trains into a model and moves its ``@dev`` needs MANAGE on it;
- MANAGE -> the same: MLflow's MANAGE includes EDIT (a release into the production catalog copies a version
            into it), and Unity Catalog has nothing between MANAGE and ownership;

plus ``USE CATALOG`` and ``USE SCHEMA`` on the catalog and schema of every model a group holds a right on, and
``EXECUTE`` on the production model for the consumers (applications' service principals). Grants go to the
roles' groups (``unity_catalog_group``), never to people. Experiments are workspace objects, not Unity Catalog
securables: their rights stay with the workspace (or the MLflow server), as the MLflow grants do.
"""

from __future__ import annotations

from src.governance.policy import ENVIRONMENTS, stronger
from src.utils.config import GovernanceConfig, Settings

#: Unity Catalog privileges on a registered model for each MLflow permission.
MODEL_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "NO_PERMISSIONS": (),
    "READ": ("EXECUTE",),
    "USE": ("EXECUTE",),
    "EDIT": ("EXECUTE", "CREATE MODEL VERSION", "MANAGE"),
    "MANAGE": ("EXECUTE", "CREATE MODEL VERSION", "MANAGE"),
}


def _quoted(name: str) -> str:
    """A dotted name with each part in backticks (group and object names may hold hyphens)."""
    return ".".join(f"`{part}`" for part in name.split("."))


def grants(config: GovernanceConfig, settings: Settings) -> list[tuple[str, str, str, str]]:
    """Every (privilege, securable type, securable name, group), each once, in a stable order."""
    wanted: dict[tuple[str, str], str] = {}  # (group, model) -> strongest MLflow permission
    for role in config.roles.values():
        for environment in ENVIRONMENTS:
            key = (role.unity_catalog_group, settings.model_name_for(environment))
            wanted[key] = stronger(wanted.get(key, "NO_PERMISSIONS"), role.models[environment])
    for consumer in config.unity_catalog.consumers:
        key = (consumer, settings.model_name_for("production"))
        wanted[key] = stronger(wanted.get(key, "NO_PERMISSIONS"), "READ")
    found: set[tuple[str, str, str, str]] = set()
    for (group, model), permission in wanted.items():
        privileges = MODEL_PRIVILEGES[permission]
        if not privileges:
            continue
        catalog, schema, _ = model.split(".")
        found.add(("USE CATALOG", "CATALOG", catalog, group))
        found.add(("USE SCHEMA", "SCHEMA", f"{catalog}.{schema}", group))
        found.update((privilege, "MODEL", model, group) for privilege in privileges)
    order = {"CATALOG": 0, "SCHEMA": 1, "MODEL": 2}
    return sorted(found, key=lambda g: (order[g[1]], g[2], g[3], g[0]))


def grants_sql(config: GovernanceConfig, settings: Settings) -> str:
    """The grants as one SQL script (idempotent: granting a held privilege again changes nothing)."""
    lines = [
        "-- Unity Catalog grants generated from configs/governance.yaml by `make uc-grants`: do not edit by hand.",
        f"-- promotion_mode: {settings.promotion_mode}; models: "
        + ", ".join(sorted({settings.model_name_for(e) for e in ENVIRONMENTS})),
        "-- Run as the models' owner or a metastore admin (Databricks SQL, a notebook, or `databricks api`).",
        "",
    ]
    lines += [
        f"GRANT {privilege} ON {kind} {_quoted(name)} TO `{group}`;"
        for privilege, kind, name, group in grants(config, settings)
    ]
    return "\n".join(lines) + "\n"
