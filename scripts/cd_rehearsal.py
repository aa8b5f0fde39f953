"""Rehearse the CD workflows on this machine: the same steps, in the same order, against real servers.

    python scripts/cd_rehearsal.py staging       # make cd-staging: cd-staging.yml's steps
    python scripts/cd_rehearsal.py production    # make cd-production: cd-staging's, then cd-production.yml's

Started here and stopped at the end (process groups, fresh databases dropped):
an ``mlflow server`` with basic-auth on PostgreSQL (its users on PostgreSQL),
configs/governance.yaml applied to it, and a staging and a production endpoint
running as the serving role's identity, each following its alias (the
production endpoint serves @staging as its canary to a quarter of requests,
as ``--challenger staging --canary 25``). A version
is released first so that the endpoints have something to serve (as they do in
a real environment); then ``scripts/release.py`` runs as the workflows run it,
as the CI identity for staging and as the release manager for production (the
first member of each role in configs/governance.yaml).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from src.utils import cli

# Run as `python scripts/...`, the project root is not on the path; the steps are the other scripts' mains.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from src.utils.config import PROJECT_ROOT

POSTGRES = os.environ.get("CD_REHEARSAL_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _member(role: str) -> str:
    """The identity a rehearsal step acts as: the role's first member in configs/governance.yaml."""
    from src.utils.config import load_governance_config

    return load_governance_config().roles[role].members[0]


CI, RELEASE, ENDPOINT = _member("ci_staging"), _member("release_manager"), _member("serving")
APPROVER = "carol@example.com"
#: The share of production requests the canary (@staging) answers in the rehearsal.
CANARY_PERCENT = 25


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python scripts/cd_rehearsal.py", __doc__, profile=False,
                        example="python scripts/cd_rehearsal.py production")  # fmt: skip
    parser.add_argument("target", choices=["staging", "production"], help="which workflow to rehearse")
    parser.add_argument("--postgres", default=POSTGRES, help="PostgreSQL server (an admin DSN) for fresh databases")
    return parser


@contextmanager
def _database(dsn: str, prefix: str) -> Iterator[str]:
    """A fresh database, dropped on the way out."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise cli.UsageError(f"cannot create a database on {dsn}: {exc} (make services starts PostgreSQL)") from None
    try:
        yield dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Rehearsal:
    """The servers of one rehearsal and the identities that act on them."""

    def __init__(self, postgres: str, root: Path) -> None:
        self.postgres, self.root = postgres, root
        self.passwords = {"admin": secrets.token_urlsafe(16)}
        self.url = ""
        self.endpoints: dict[str, str] = {}
        self._exits = ExitStack()

    def __enter__(self) -> Rehearsal:
        from src.governance.auth_server import AuthServer, server_environment
        from src.governance.policy import members
        from src.utils.config import load_governance_config
        from src.utils.processes import free_port, mlflow_server

        print("starting the rehearsal's servers: mlflow server with basic auth on PostgreSQL (~10 s) ...", flush=True)
        backend = self._exits.enter_context(_database(self.postgres, "cd_mlflow"))
        users = self._exits.enter_context(_database(self.postgres, "cd_auth"))
        environment = server_environment(AuthServer(users), self.root / "auth",
                                         {"MLFLOW_AUTH_ADMIN_PASSWORD": self.passwords["admin"]})  # fmt: skip
        port = free_port()
        server = mlflow_server(backend, self.root / "artifacts", port, log=self.root / "mlflow.log",
                               auth_environment=environment)  # fmt: skip
        self._exits.enter_context(server.start())
        self.url = server.url
        self.passwords |= {member: secrets.token_urlsafe(12) for member in members(load_governance_config())}
        return self

    def __exit__(self, *exc: object) -> None:
        self._exits.close()

    @contextmanager
    def as_user(self, user: str) -> Iterator[None]:
        """Commands inside run against the rehearsal's server as ``user``."""
        names = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_REGISTRY_URI",
                 "MLOPS_ACTOR", "ML_ENV")  # fmt: skip
        before = {name: os.environ.get(name) for name in names}
        for name in ("MLFLOW_REGISTRY_URI", "MLOPS_ACTOR", "ML_ENV"):
            os.environ.pop(name, None)
        os.environ |= {"MLFLOW_TRACKING_URI": self.url, "MLFLOW_TRACKING_USERNAME": user,
                       "MLFLOW_TRACKING_PASSWORD": self.passwords[user]}  # fmt: skip
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def environment(self, user: str) -> dict[str, str]:
        """The environment of a process that acts as ``user``."""
        with self.as_user(user):
            return dict(os.environ)

    def apply_governance(self) -> None:
        from scripts import apply_permissions

        passwords = self.root / "users.yaml"
        passwords.write_text(yaml.safe_dump({k: v for k, v in self.passwords.items() if k != "admin"}))
        passwords.chmod(0o600)
        with self.as_user("admin"):
            _check(apply_permissions.main(["--env", "staging", "--passwords", str(passwords)]), "apply permissions")

    def seed(self) -> None:
        """The version already live before the rehearsed release (an environment is never empty)."""
        from scripts import promote_model, validate_model
        from src.models import train_model

        env = ["--env", "staging"]
        with self.as_user(CI):
            _check(train_model.main([*env, "--version", "auto"]), "seed: train")
            _check(validate_model.main([*env, "--alias", "dev"]), "seed: validate")
            _check(promote_model.main([*env, "--to", "staging"]), "seed: staging")
        with self.as_user(RELEASE):
            approval = ["--approved-by", APPROVER, "--reason", "seed"]
            _check(promote_model.main([*env, "--to", "production", *approval]), "seed: production")

    def start_endpoints(self) -> None:
        """The staging and production endpoints, started side by side."""
        from src.utils.processes import ServerProcess, free_port, start_together

        print("starting the staging and production endpoints (~10 s) ...", flush=True)
        endpoints = []
        for alias in ("staging", "production"):
            port = free_port()
            command = [sys.executable, "scripts/deploy_endpoint.py", "--env", "staging", "--alias", alias,
                       "--port", str(port), "--poll-seconds", "0.5",
                       "--inference-log", str(self.root / f"inference_{alias}.db")]  # fmt: skip
            if alias == "production":
                command += ["--challenger", "staging", "--canary", str(CANARY_PERCENT)]
            endpoint = ServerProcess(f"{alias} endpoint", command, "127.0.0.1", port, "/ping",
                                     env=self.environment(ENDPOINT), log=self.root / f"endpoint_{alias}.log",
                                     cwd=PROJECT_ROOT)  # fmt: skip
            endpoints.append(endpoint)
            self.endpoints[alias] = endpoint.url
        start_together(endpoints)
        for endpoint in endpoints:
            self._exits.enter_context(endpoint)

    def release(self, target: str, *extra: str) -> int:
        """``scripts/release.py`` as the workflow runs it, as the workflow's identity."""
        from scripts import release

        url = self.endpoints["production" if target == "canary" else target]
        argv = [target, "--url", url, "--summary", str(self.root / f"summary_{target}.md"), *extra]
        if target in ("production", "canary"):
            argv += ["--approved-by", APPROVER, "--reason", "rehearsal"]
        if target == "canary":
            argv += ["--log", str(self.root / "inference_production.db")]
        with self.as_user(CI if target == "staging" else RELEASE):
            return release.main(argv)


@contextmanager
def load_on(url: str, clients: int = 2) -> Iterator[list[int]]:
    """One-row requests from ``clients`` keep-alive clients while inside (a release must not fail one); yields the
    statuses answered so far (a connection that fails records 0)."""
    import http.client
    import json
    import threading

    from src.data.contract import CONTRACT

    example = CONTRACT.examples[0].values
    body = json.dumps({"dataframe_split": {"columns": list(CONTRACT.input_names),
                                           "data": [[example[c] for c in CONTRACT.input_names]]}})  # fmt: skip
    statuses: list[int] = []
    stop = threading.Event()

    def client(number: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        sent = 0
        while not stop.is_set():
            try:  # a routing key per request: the canary's share is drawn from the keys
                connection.request("POST", "/invocations", body, {"Content-Type": "application/json",
                                                                  "X-Request-Id": f"load-{number}-{sent}"})  # fmt: skip
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            except (OSError, http.client.HTTPException):
                statuses.append(0)
                connection.close()
            sent += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _check(code: int, step: str) -> None:
    if code != 0:
        raise cli.UsageError(f"rehearsal set-up failed at {step} (exit {code}); nothing was released")


def _rehearse(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="cd-rehearsal-") as directory,
        Rehearsal(args.postgres, Path(directory)) as r,
    ):
        r.apply_governance()
        r.seed()
        r.start_endpoints()
        ready = time.monotonic()
        code = r.release("staging")
        if code == 0 and args.target == "production":  # cd-production.yml's default: the canary, watched, promoted
            with load_on(r.endpoints["production"]) as statuses:
                code = r.release("canary", "--watch-seconds", "20", "--min-requests", "20")
            failed = sum(status != 200 for status in statuses)
            print(f"\nproduction endpoint under load through the canary and its promotion: {len(statuses)} "
                  f"requests, {failed} failed")  # fmt: skip
            code = code or (1 if failed else 0)
        for target in ("staging", "canary"):
            summary = Path(directory) / f"summary_{target}.md"
            if summary.is_file():
                print(
                    f"\n--- job summary ({target}), first lines ---\n"
                    + "\n".join(summary.read_text().splitlines()[:12])
                )
        print(f"\nrehearsal of cd-{args.target}: exit {code}; set-up {ready - started:.0f} s, "
              f"release {time.monotonic() - ready:.0f} s, total {time.monotonic() - started:.0f} s")  # fmt: skip
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _rehearse(args))


if __name__ == "__main__":
    sys.exit(main())
