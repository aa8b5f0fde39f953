"""Unity Catalog grants follow configs/governance.yaml, and the committed SQL is what the config gives."""

from __future__ import annotations

import pytest

from scripts import uc_grants
from src.governance.unity_catalog import grants, grants_sql
from src.utils.config import load_governance_config, resolve_settings

CONFIG = load_governance_config()


@pytest.fixture
def catalogs():
    return resolve_settings(environ={}).model_copy(update={"promotion_mode": "catalogs"})


def _privileges(found, group: str, model: str) -> set[str]:
    return {privilege for privilege, kind, name, who in found if who == group and kind == "MODEL" and name == model}


def _group(role: str) -> str:
    return CONFIG.roles[role].unity_catalog_group


def test_each_groups_model_privileges_follow_its_permission(catalogs):
    found = grants(CONFIG, catalogs)
    prod, staging = catalogs.model_name_for("production"), catalogs.model_name_for("staging")
    consumer = CONFIG.unity_catalog.consumers[0]
    assert _privileges(found, _group("data_scientist"), prod) == {"EXECUTE"}  # READ
    assert _privileges(found, _group("ci_staging"), staging) == {"EXECUTE", "CREATE MODEL VERSION", "MANAGE"}  # EDIT
    assert _privileges(found, _group("release_manager"), prod) == {"EXECUTE", "CREATE MODEL VERSION", "MANAGE"}
    assert _privileges(found, consumer, prod) == {"EXECUTE"}  # a consumer
    assert _privileges(found, consumer, staging) == set()


def test_every_group_with_a_model_right_may_use_its_catalog_and_schema(catalogs):
    found = grants(CONFIG, catalogs)
    for _, kind, name, group in found:
        if kind == "MODEL":
            catalog, schema, _ = name.split(".")
            assert ("USE CATALOG", "CATALOG", catalog, group) in found
            assert ("USE SCHEMA", "SCHEMA", f"{catalog}.{schema}", group) in found


def test_every_role_and_consumer_is_granted_something(catalogs):
    groups = {group for *_, group in grants(CONFIG, catalogs)}
    assert groups == {r.unity_catalog_group for r in CONFIG.roles.values()} | set(CONFIG.unity_catalog.consumers)


def test_names_are_quoted_part_by_part(catalogs):
    sql = grants_sql(CONFIG, catalogs)
    quoted = "`.`".join(catalogs.model_name_for("production").split("."))
    assert f"GRANT EXECUTE ON MODEL `{quoted}` TO `{CONFIG.unity_catalog.consumers[0]}`;" in sql


def test_the_committed_grants_match_the_config(capsys):
    assert uc_grants.main(["--check"]) == 0, capsys.readouterr().err


def test_a_stale_file_is_named(tmp_path, capsys):
    stale = tmp_path / "grants.sql"
    stale.write_text("GRANT nothing;\n")
    assert uc_grants.main(["--check", "--output", str(stale)]) == 1
    assert "does not match governance.yaml: run make uc-grants" in capsys.readouterr().err
