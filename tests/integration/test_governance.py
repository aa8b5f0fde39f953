"""Rights enforced by a real ``mlflow server --app-name basic-auth`` on PostgreSQL (its users on PostgreSQL too).

One server per module: ``configs/governance.yaml`` is applied to it by
``scripts/apply_permissions.py`` as the admin, then every member is probed on
every governed resource (read, edit, manage) and must hold exactly what the
config grants. The lifecycle runs with each role's own credentials, and the
catalogs mode is applied beside it (its own catalogs) to show what MLflow
enforces per environment there.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from scripts import apply_permissions, promote_model, validate_model
from src.governance import permissions
from src.governance.auth_client import AuthClient
from src.governance.auth_server import AuthServer, server_environment
from src.governance.policy import Resource, desired_grants, governed, members
from src.models import train_model
from src.models.alias_history import AliasHistory
from src.models.model_registry import Alias, Registry
from src.utils.config import CONFIG_DIR, PERMISSION_ORDER, PROJECT_ROOT, load_governance_config, resolve_settings
from src.utils.processes import ServerProcess, mlflow_server
from tests.conftest import SERVER_CLIENT, eventually, free_port, fresh_database
from tests.pack import EXPERIMENT, MODEL

pytestmark = [pytest.mark.integration, pytest.mark.system]

CONFIG = load_governance_config()
SCIENTIST, CI, RELEASE, AUDITOR = (
    "alice@example.com",
    "ci-staging",
    "release-manager@example.com",
    "auditor@example.com",
)


@dataclass
class AuthTrackingServer:
    url: str
    admin_password: str
    passwords: dict[str, str]
    passwords_file: Path
    process: ServerProcess


@pytest.fixture(scope="module")
def server(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthTrackingServer]:
    root = tmp_path_factory.mktemp("auth-server")
    passwords = {member: secrets.token_urlsafe(12) for member in members(CONFIG)}
    passwords_file = root / "users.yaml"
    passwords_file.write_text(yaml.safe_dump(passwords))
    admin = secrets.token_urlsafe(16)
    with fresh_database(postgres_dsn, "mlflow_gov") as backend, fresh_database(postgres_dsn, "mlflow_auth") as users:
        environment = server_environment(AuthServer(users), root / "auth", {"MLFLOW_AUTH_ADMIN_PASSWORD": admin})
        port = free_port()
        process = mlflow_server(backend, root / "artifacts", port, auth_environment=environment).start()
        try:
            yield AuthTrackingServer(f"http://127.0.0.1:{port}", admin, passwords, passwords_file, process)
        finally:
            process.stop()


@contextmanager
def as_user(server: AuthTrackingServer, user: str | None) -> Iterator[None]:
    """Commands and clients inside speak to the server as ``user`` (None: as nobody)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", server.url)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        patch.delenv("ML_ENV", raising=False)
        patch.delenv("MLOPS_ACTOR", raising=False)
        for name, value in SERVER_CLIENT.items():
            patch.setenv(name, value)
        if user is None:
            patch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
            patch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        else:
            password = server.admin_password if user == "admin" else server.passwords[user]
            patch.setenv("MLFLOW_TRACKING_USERNAME", user)
            patch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        yield


def _apply(server: AuthTrackingServer, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    with as_user(server, "admin"), redirect_stdout(out):
        code = apply_permissions.main(["--passwords", str(server.passwords_file), *extra])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def applied(server: AuthTrackingServer) -> str:
    """The config applied once; what the first run printed."""
    code, printed = _apply(server)
    assert code == 0, printed
    return printed


def _probe(server: AuthTrackingServer, user: str, resource: Resource, resource_id: str) -> str:
    """The strongest of READ, EDIT, MANAGE that ``user`` can exercise on the resource (harmlessly)."""
    client, auth = MlflowClient(server.url, server.url), AuthServiceClient(server.url)
    if resource.type == "experiment":
        steps = [
            ("READ", lambda: client.get_experiment(resource_id)),
            ("EDIT", lambda: client.set_experiment_tag(resource_id, "governance.probe", user)),
        ]
    else:
        steps = [
            ("READ", lambda: client.get_registered_model(resource_id)),
            ("EDIT", lambda: client.set_registered_model_tag(resource_id, "governance.probe", user)),
        ]
    steps.append(("MANAGE", lambda: auth.grant_user_permission(user, resource.type, resource_id, "READ")))
    held = "NO_PERMISSIONS"
    with as_user(server, user):
        for permission, action in steps:
            try:
                action()
            except MlflowException as exc:
                if exc.error_code == "PERMISSION_DENIED":
                    break
                assert exc.error_code == "RESOURCE_ALREADY_EXISTS", exc  # a manager's grant it already holds
            held = permission
    return held


def test_apply_creates_the_users_and_rights_and_a_second_run_changes_nothing(server, applied):
    assert "create user alice@example.com" in applied
    assert f"grant MANAGE on registered model {MODEL}" in applied
    code, again = _apply(server)
    assert code == 0 and "nothing to change" in again


def test_a_dry_run_prints_the_changes_and_makes_none(server, applied):
    model = resolve_settings(environ={}).model_name_for("production")
    with as_user(server, "admin"):
        AuthClient(server.url).revoke(AUDITOR, "registered_model", model)
    try:
        code, printed = _apply(server, "--dry-run")
        assert code == 0
        assert f"would grant READ on registered model {model} to {AUDITOR}" in printed
        assert "1 change(s), none made" in printed
        assert "1 change(s), none made" in _apply(server, "--dry-run")[1]  # still missing: nothing was made
    finally:
        assert _apply(server)[0] == 0


def test_each_member_holds_exactly_what_the_config_grants(server, applied):
    settings = resolve_settings(environ={"MLFLOW_TRACKING_URI": server.url})
    ids = {}
    with as_user(server, "admin"):
        client = MlflowClient(server.url, server.url)
        for resource in governed(settings):
            ids[resource] = (
                resource.name
                if resource.type == "registered_model"
                else client.get_experiment_by_name(resource.name).experiment_id
            )
    wanted = {(g.user, g.resource): g.permission for g in desired_grants(CONFIG, settings)}
    found, expected = {}, {}
    for user in members(CONFIG):
        for resource in governed(settings):
            expected[(user, resource.name)] = wanted.get((user, resource), CONFIG.default_permission)
            found[(user, resource.name)] = _probe(server, user, resource, ids[resource])
    assert found == expected
    assert {p for p in expected.values()} <= set(PERMISSION_ORDER)


def test_a_refusal_names_the_user_and_the_permission_that_is_missing(server, applied, capsys):
    with as_user(server, AUDITOR):
        code = train_model.main(["--version", "auto"])
    error = capsys.readouterr().err
    assert code == 2
    assert f"refused user {AUDITOR} (403): it needs EDIT on experiment {EXPERIMENT}" in error
    with as_user(server, None):
        assert validate_model.main(["--alias", "dev"]) == 2
    assert "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in capsys.readouterr().err


@pytest.fixture(scope="module")
def released(server: AuthTrackingServer, applied: str) -> dict[str, str]:
    """Version 1 trained, validated and at @staging by CI, then released by the release manager, each with its
    own credentials (the data scientist tried first and was refused); what each step printed."""
    approval = ["--approved-by", "carol@example.com", "--reason", "CHG-7"]
    steps: dict[str, str] = {}
    for name, user, command in [
        ("train", CI, lambda: train_model.main(["--version", "auto"])),
        ("validate", CI, lambda: validate_model.main(["--alias", "dev"])),
        ("staging", CI, lambda: promote_model.main(["--to", "staging"])),
        ("scientist production", SCIENTIST, lambda: promote_model.main(["--to", "production", *approval])),
        ("production", RELEASE, lambda: promote_model.main(["--to", "production", *approval])),
        ("history", RELEASE, lambda: promote_model.main(["history", "--alias", "production"])),
    ]:
        out, err = io.StringIO(), io.StringIO()
        with as_user(server, user), redirect_stdout(out), redirect_stderr(err):
            code = command()
        steps[name] = f"{code}\n{out.getvalue()}{err.getvalue()}"
    return steps


def test_the_lifecycle_runs_with_each_roles_own_credentials(server, released):
    assert all(released[step].startswith("0\n") for step in ("train", "validate", "staging", "production"))
    refused = released["scientist production"]
    assert refused.startswith("2\n")
    assert f"refused user {SCIENTIST} (403): it needs EDIT on experiment" in refused
    with as_user(server, AUDITOR):
        registry, model = Registry(), resolve_settings().model_name_for("production")
        production, staging = registry.version_at(model, Alias.PRODUCTION), registry.version_at(model, Alias.STAGING)
    assert production is not None and staging is not None and production.version == staging.version
    last = released["history"].strip().splitlines()[-2]
    assert RELEASE in last and "approved by carol@example.com: CHG-7" in last  # the server's user, not a claim


def test_a_verdict_written_by_hand_is_refused(server, released, capsys):
    """The data scientist may tag a version "passed"; only CI may write the gate's experiment, and only its
    runs count: the forged tag is named as forged and nothing moves."""
    settings = resolve_settings(environ={"MLFLOW_TRACKING_URI": server.url})
    model = settings.model_name_for("dev")
    with as_user(server, SCIENTIST):
        assert train_model.main(["--version", "auto"]) == 0
        client = MlflowClient(server.url, server.url)
        forged = client.get_model_version_by_alias(model, "dev").version
        client.set_model_version_tag(model, forged, "validation.status", "passed")  # MLflow lets EDIT do this
        client.set_model_version_tag(model, forged, "validation.failed_checks", "")
        gate = client.get_experiment_by_name(settings.validation_experiment_name).experiment_id
        with pytest.raises(MlflowException) as refused:
            client.create_run(gate)  # a verdict of one's own in the gate's experiment
        assert refused.value.error_code == "PERMISSION_DENIED"
    capsys.readouterr()
    with as_user(server, CI):
        staging_before = Registry().version_at(model, "staging")
        assert promote_model.main(["--to", "staging"]) == 2
        assert Registry().version_at(model, "staging") == staging_before
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"version {forged} of {model} has not been validated" in error[0]
    assert "its tag validation.status=passed is not the gate's" in error[0]


def test_a_renamed_model_is_renamed_back_by_the_guard(server, released, capsys):
    """MLflow's basic-auth lets EDIT rename a model; the guard finds it by its registration tag and renames it
    back, recorded in the alias history."""
    from scripts import guard_aliases

    model = resolve_settings(environ={}).model_name_for("production")
    with as_user(server, SCIENTIST):
        MlflowClient(server.url, server.url).rename_registered_model(model, "dev_catalog.ml_models.elsewhere")
    try:
        with as_user(server, "alias-guard"):
            assert guard_aliases.main([]) == 1  # something was put back
            assert Registry().model_exists(model)
            last = AliasHistory(resolve_settings().audit_experiment_name).events(model, "*")[-1]
        assert (last.action, last.actor) == ("guard_rename", "alias-guard")
        assert f"{model} had been renamed to dev_catalog.ml_models.elsewhere: renamed back" in capsys.readouterr().out
    finally:
        with as_user(server, "admin"):
            if not Registry().model_exists(model):
                MlflowClient(server.url, server.url).rename_registered_model("dev_catalog.ml_models.elsewhere", model)


def _health(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return json.loads(response.read())


def test_an_out_of_band_production_move_is_never_served_and_is_put_back(server, released, tmp_path):
    """In aliases mode the data scientist's EDIT moves @production with MLflow's own client; the endpoint never
    serves that version, and the guard puts the alias back by its next pass and records it."""
    model = resolve_settings(environ={}).model_name_for("production")
    credentials = {"MLFLOW_TRACKING_URI": server.url, **SERVER_CLIENT}
    environ = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_REGISTRY_URI", "ML_ENV", "MLOPS_ACTOR"}}
    port, period = free_port(), 2.0

    def env(user: str) -> dict[str, str]:
        return {**environ, **credentials, "MLFLOW_TRACKING_USERNAME": user,
                "MLFLOW_TRACKING_PASSWORD": server.passwords[user]}  # fmt: skip

    endpoint = ServerProcess("endpoint", [sys.executable, "scripts/deploy_endpoint.py", "--alias", "production",
                                          "--port", str(port), "--poll-seconds", "0.3", "--no-inference-log"],
                             "127.0.0.1", port, "/ping", env=env(CONFIG.roles["serving"].members[0]),
                             log=tmp_path / "endpoint.log", cwd=PROJECT_ROOT)  # fmt: skip
    guard_log = (tmp_path / "guard.log").open("wb")
    endpoint.launch()  # the endpoint and the guard start while the data scientist trains
    guard = subprocess.Popen([sys.executable, "scripts/guard_aliases.py", "--every", str(period)],
                             cwd=PROJECT_ROOT, env=env("alias-guard"), stdout=guard_log,
                             stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def lines() -> list[str]:
        return [line for line in (tmp_path / "guard.log").read_text().splitlines() if "@production" in line]

    try:
        with as_user(server, SCIENTIST):
            assert train_model.main(["--version", "auto"]) == 0
            client = MlflowClient(server.url, server.url)
            rogue = client.get_model_version_by_alias(model, "dev").version
        with endpoint.wait_healthy(), as_user(server, SCIENTIST):
            served = str(_health(port)["model_version"])
            assert rogue != served
            eventually(lambda: lines() or guard.poll() is not None, "the guard's first pass")
            assert guard.poll() is None, "the guard stopped"
            client.set_registered_model_alias(model, "production", rogue)  # MLflow lets EDIT do this
            moved, passes_before, seen = time.monotonic(), len(lines()), set()

            def put_back() -> bool:
                seen.add(str(_health(port)["model_version"]))
                return client.get_model_version_by_alias(model, "production").version == served

            eventually(put_back, "the guard putting @production back")
            back_after = time.monotonic() - moved
            for _ in range(10):  # the endpoint, asked again once the alias is back
                seen.add(str(_health(port)["model_version"]))
            restore = eventually(lambda: [i for i, line in enumerate(lines()) if "guard_restore" in line],
                                 "the guard's report of the restore")  # fmt: skip
    finally:
        os.killpg(guard.pid, signal.SIGTERM)
        guard.wait(timeout=30)
        endpoint.stop()
    guard_log.close()
    printed = (tmp_path / "guard.log").read_text()
    assert seen == {served}, f"the endpoint served {seen}; guard said: {printed[-1500:]}"
    # restored by the pass running when the alias moved, or by the next one: counted in passes, not seconds
    assert restore[0] - passes_before <= 1, printed[-1500:]
    assert f"guard_restore: {model}@production version {rogue} -> version {served}" in printed
    print(f"alias back {back_after:.1f} s after the move (guard period {period:.0f} s)")
    with as_user(server, AUDITOR):
        last = AliasHistory(resolve_settings().audit_experiment_name).events(model, "production")[-1]
    assert (last.action, last.actor, last.from_version, last.to_version) == (
        "guard_restore",
        "alias-guard",
        rogue,
        served,
    )


@pytest.fixture(scope="module")
def catalogs(server, applied, tmp_path_factory) -> dict[str, str]:
    """The catalogs mode applied beside the aliases one, on catalogs of its own: the model of each environment."""
    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["promotion_mode"] = "catalogs"
    for profile, catalog in (("dev", "gov_dev"), ("staging", "gov_staging"), ("prod", "gov_prod")):
        content["profiles"][profile]["catalog"] = catalog
    path = tmp_path_factory.mktemp("catalogs") / "environment.yaml"
    path.write_text(yaml.safe_dump(content))
    settings = resolve_settings(path=path, environ={"MLFLOW_TRACKING_URI": server.url})
    with as_user(server, "admin"):
        client, registry = AuthClient(server.url), Registry()
        state = permissions.server_state(settings, client, registry)
        changes = permissions.plan(CONFIG, settings, state)
        permissions.apply(changes, client, permissions.creators(settings, registry), state.ids, server.passwords)
        assert permissions.plan(CONFIG, settings, permissions.server_state(settings, client, registry)) == []
    return {environment: settings.model_name_for(environment) for environment in ("dev", "staging", "production")}


def _as(server: AuthTrackingServer, user: str, action) -> str:
    """``ok``, or the error code the server answered ``user`` with."""
    with as_user(server, user):
        try:
            action(MlflowClient(server.url, server.url))
        except MlflowException as exc:
            return exc.error_code
    return "ok"


def test_in_catalogs_mode_a_data_scientist_cannot_touch_staging_or_production(server, catalogs):
    with as_user(server, "admin"):
        admin = MlflowClient(server.url, server.url)
        run = admin.create_run(admin.get_experiment_by_name(EXPERIMENT).experiment_id)
        for name in catalogs.values():
            admin.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)

    def new_version(name: str):
        return lambda c: c.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)

    def move_alias(name: str, alias: str):
        return lambda c: c.set_registered_model_alias(name, alias, "1")

    assert _as(server, SCIENTIST, new_version(catalogs["dev"])) == "ok"
    assert _as(server, SCIENTIST, move_alias(catalogs["dev"], "dev")) == "ok"
    for environment, alias in (("staging", "staging"), ("production", "production")):
        assert _as(server, SCIENTIST, new_version(catalogs[environment])) == "PERMISSION_DENIED"
        assert _as(server, SCIENTIST, move_alias(catalogs[environment], alias)) == "PERMISSION_DENIED"
    assert _as(server, CI, move_alias(catalogs["staging"], "staging")) == "ok"
    assert _as(server, CI, move_alias(catalogs["production"], "production")) == "PERMISSION_DENIED"
    assert _as(server, RELEASE, move_alias(catalogs["production"], "production")) == "ok"
    assert _as(server, AUDITOR, move_alias(catalogs["staging"], "staging")) == "PERMISSION_DENIED"
