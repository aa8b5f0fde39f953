"""The auth server's start-up: no default or short admin password, a private config file, a shared secret key."""

from __future__ import annotations

import stat

import pytest

from src.governance.auth_server import (
    DOCUMENTED_DEFAULT_PASSWORD,
    AuthServer,
    AuthSetupRefused,
    admin_password,
    server_environment,
    split_password,
    write_config,
)

GOOD = "a-long-enough-secret"


def test_the_password_comes_from_the_environment_or_its_file(tmp_path):
    secret = tmp_path / "admin"
    secret.write_text(GOOD + "\n")
    assert admin_password({"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD}) == GOOD
    assert admin_password({"MLFLOW_AUTH_ADMIN_PASSWORD_FILE": str(secret)}) == GOOD


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "needs an admin password: set MLFLOW_AUTH_ADMIN_PASSWORD"),
        ({"MLFLOW_AUTH_ADMIN_PASSWORD": DOCUMENTED_DEFAULT_PASSWORD}, "documented default admin password"),
        ({"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}, "shorter than 12 characters"),
        ({"MLFLOW_AUTH_ADMIN_PASSWORD_FILE": "/nonexistent/secret"}, "cannot read the admin password file"),
    ],
)
def test_an_unsafe_or_missing_password_is_refused(environ, expected):
    with pytest.raises(AuthSetupRefused, match=expected):
        admin_password(environ)


def test_the_config_file_is_private_and_holds_no_password(tmp_path):
    path = write_config(AuthServer("sqlite:///auth.db", default_permission="READ"), tmp_path / "auth")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "default_permission = READ" in text and "database_uri = sqlite:///auth.db" in text
    assert "password" not in text.replace("admin_username", "")


def test_the_environment_carries_a_secret_key_unless_given(tmp_path):
    server = AuthServer(f"sqlite:///{tmp_path / 'auth.db'}")
    drawn = server_environment(server, tmp_path, {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD})
    again = server_environment(server, tmp_path, {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD})
    assert len(drawn["MLFLOW_FLASK_SERVER_SECRET_KEY"]) == 64 and drawn != again
    given = {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD, "MLFLOW_FLASK_SERVER_SECRET_KEY": "shared"}
    assert server_environment(server, tmp_path, given)["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "shared"


def test_a_refused_password_writes_no_config(tmp_path):
    with pytest.raises(AuthSetupRefused):
        server_environment(AuthServer("sqlite:///a.db"), tmp_path / "auth", {})
    assert not (tmp_path / "auth").exists()


def test_an_auth_database_name_that_is_not_an_identifier_is_refused(tmp_path):
    with pytest.raises(AuthSetupRefused, match="letters, digits and underscores"):
        server_environment(AuthServer("postgresql://postgres@127.0.0.1:5432/a;b"), tmp_path,
                           {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD})  # fmt: skip


def test_an_existing_config_file_is_made_private_again(tmp_path):
    directory = tmp_path / "auth"
    directory.mkdir()
    (directory / "basic_auth.ini").write_text("[mlflow]\n")
    (directory / "basic_auth.ini").chmod(0o644)
    path = write_config(AuthServer("sqlite:///auth.db"), directory)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_database_password_goes_to_the_environment_not_the_file(tmp_path):
    server = AuthServer("postgresql://auth:s%40cret@db.example:5432/mlflow_auth")
    path = write_config(server, tmp_path / "auth")
    assert "database_uri = postgresql://auth@db.example:5432/mlflow_auth" in path.read_text()
    assert "cret" not in path.read_text()
    assert split_password(server.database_uri) == ("postgresql://auth@db.example:5432/mlflow_auth", "s@cret")


def test_the_sqlite_user_database_is_its_owners_only(tmp_path):
    database = tmp_path / "basic_auth.db"
    database.touch(mode=0o644)
    server_environment(AuthServer(f"sqlite:///{database}"), tmp_path, {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD})
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    fresh = tmp_path / "new" / "basic_auth.db"
    server_environment(AuthServer(f"sqlite:///{fresh}"), tmp_path, {"MLFLOW_AUTH_ADMIN_PASSWORD": GOOD})
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
