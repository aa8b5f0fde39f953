"""The endpoint's wiring: options, and a clear refusal when the alias holds no version."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.components.endpoint import EndpointOptions, build_app
from src.data.contract import CONTRACT
from src.models.model_registry import RegistryError
from src.utils.config import resolve_settings


def test_each_alias_gets_its_own_inference_log_unless_the_profile_shares_one():
    assert EndpointOptions(alias="staging").log_target() == Path("logs") / "inference_staging.db"
    assert EndpointOptions(alias="dev", inference_log=Path("x.db")).log_target("postgresql://h/db") == Path("x.db")
    assert EndpointOptions(alias="dev").log_target("postgresql://h/db") == "postgresql://h/db"
    assert EndpointOptions(alias="dev", log_enabled=False).log_target("postgresql://h/db") is None


def test_an_unset_alias_is_refused_with_its_name(store_uri):
    from src.utils.mlflow_utils import configure_tracking

    settings = resolve_settings()
    configure_tracking(settings)
    with pytest.raises(RegistryError, match="holds @production"):
        build_app(settings, EndpointOptions(alias="production"))


def test_the_examples_command_prints_one_curl_per_payload_shape_of_this_project_s_contract(capsys):
    from scripts.deploy_endpoint import main

    assert main(["examples", "--url", "http://endpoint.internal:8080"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("curl -s http://endpoint.internal:8080/invocations") == 5
    assert all(f'"{name}"' in printed for name in CONTRACT.input_names)
