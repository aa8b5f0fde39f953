"""What ``mlflow server --app-name basic-auth`` needs to start safely: its config file, admin secret and keys.

MLflow's auth app reads an INI file (``MLFLOW_AUTH_CONFIG_PATH``): the user
database (PostgreSQL on a shared set-up), the admin's name, the permission
of users without a grant. The admin password never goes into that file: it
comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` or from a secret file
(``MLFLOW_AUTH_ADMIN_PASSWORD_FILE``, as a Kubernetes or Docker secret is
mounted), and a server is never started with MLflow's documented default
password or a short one. Only the first start uses it: MLflow creates the
admin then, and later starts keep the admin's current password.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from src.utils.errors import ProjectError

#: The admin password MLflow's documentation used to ship (``basic_auth.ini``); never acceptable.
DOCUMENTED_DEFAULT_PASSWORD = "password1234"
MIN_PASSWORD_LENGTH = 12
ENV_PASSWORD = "MLFLOW_AUTH_ADMIN_PASSWORD"
ENV_PASSWORD_FILE = "MLFLOW_AUTH_ADMIN_PASSWORD_FILE"
ENV_SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"


class AuthSetupRefused(ProjectError, ValueError):
    """The auth server cannot start safely as configured; nothing was started."""


@dataclass(frozen=True)
class AuthServer:
    """The basic-auth app's settings."""

    database_uri: str
    admin_username: str = "admin"
    default_permission: str = "NO_PERMISSIONS"
    #: How long a checked password is trusted (MLflow's default, 0, hashes it on every request: ~0.1 s of
    #: scrypt here, most of a training run's time against the server). A changed or deleted user's old
    #: password keeps working for at most this long.
    auth_cache_ttl_s: int = 60


def admin_password(environ: Mapping[str, str]) -> str:
    """The admin password from the environment or its secret file; refused if missing, default or short."""
    password = environ.get(ENV_PASSWORD)
    source = ENV_PASSWORD
    if not password and environ.get(ENV_PASSWORD_FILE):
        path = Path(environ[ENV_PASSWORD_FILE])
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthSetupRefused(f"cannot read the admin password file {path} ({ENV_PASSWORD_FILE}): {exc}") from None
        source = str(path)
    if not password:
        raise AuthSetupRefused(f"the auth server needs an admin password: set {ENV_PASSWORD} or {ENV_PASSWORD_FILE}")
    if password == DOCUMENTED_DEFAULT_PASSWORD:
        raise AuthSetupRefused(
            f"{source} holds MLflow's documented default admin password: anyone could administer the server; "
            "choose another"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthSetupRefused(f"the admin password from {source} is shorter than {MIN_PASSWORD_LENGTH} characters")
    return password


def split_password(uri: str) -> tuple[str, str | None]:
    """A database URI without its password, and the password (``None`` if it has none)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, None
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def write_config(server: AuthServer, directory: Path) -> Path:
    """Write the auth app's INI file (its owner's only, even if it existed; it holds no password: a database
    password goes to the server as ``PGPASSWORD``) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "basic_auth.ini"
    text = (
        "[mlflow]\n"
        f"default_permission = {server.default_permission}\n"
        f"database_uri = {split_password(server.database_uri)[0]}\n"
        f"admin_username = {server.admin_username}\n"
        f"auth_cache_ttl_seconds = {server.auth_cache_ttl_s}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # O_CREAT's mode applies to a new file only
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def server_environment(server: AuthServer, directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables ``mlflow server --app-name basic-auth`` starts with (checked first: a refusal starts nothing).

    The Flask secret key signs the CSRF tokens of the auth app's forms; every
    worker of one server must share it, so one is drawn per start unless the
    environment gives one (several servers behind a balancer must).
    """
    password = admin_password(environ)
    ensure_database(server.database_uri)
    database_password = split_password(server.database_uri)[1]
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(write_config(server, directory)),
        ENV_PASSWORD: password,
        ENV_SECRET_KEY: environ.get(ENV_SECRET_KEY) or secrets.token_hex(32),
        **({"PGPASSWORD": database_password} if database_password else {}),
    }


def ensure_database(uri: str) -> None:
    """Create the PostgreSQL database of ``uri`` if it does not exist (the auth app creates its tables, not it);
    a SQLite file (it holds password hashes) is made its owner's only."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        path.chmod(0o600)
        return
    if not uri.startswith(("postgresql://", "postgresql+psycopg://")):
        return
    import psycopg

    conninfo = uri.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = conninfo.rpartition("/")
    name = name.split("?", 1)[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise AuthSetupRefused(f"the auth database name {name!r} in {uri} must be letters, digits and underscores")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise AuthSetupRefused(f"cannot prepare the auth database {name} at {base}: {exc}") from None
