"""Run an MLflow tracking server in the foreground, artifacts served; with --auth, MLflow's basic-auth app.

    python scripts/tracking_server.py --backend-store-uri postgresql://postgres@127.0.0.1:5432/mlflow
    MLFLOW_AUTH_ADMIN_PASSWORD_FILE=secrets/admin python scripts/tracking_server.py --auth \\
        --backend-store-uri postgresql://postgres@127.0.0.1:5432/mlflow \\
        --auth-database-uri postgresql://postgres@127.0.0.1:5432/mlflow_auth

The server runs in its own process group: Ctrl-C stops it whole, workers
included. With --auth, the admin password comes from
MLFLOW_AUTH_ADMIN_PASSWORD or the file MLFLOW_AUTH_ADMIN_PASSWORD_FILE
names, and the server refuses to start with MLflow's documented default; a
PostgreSQL auth database is created if it does not exist. Then apply the
rights of configs/governance.yaml: make apply-permissions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli
from src.utils.config import PROJECT_ROOT
from src.utils.processes import PortInUse, mlflow_server_command, run_foreground


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/tracking_server.py",
        __doc__,
        example="python scripts/tracking_server.py --auth --backend-store-uri sqlite:///mlflow.db",
        profile=False,
    )
    parser.add_argument("--backend-store-uri", default="sqlite:///mlflow.db", help="SQLite or PostgreSQL")
    parser.add_argument("--artifacts", type=Path, default=PROJECT_ROOT / "mlartifacts", help="artifact root")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--auth", action="store_true", help="run MLflow's basic-auth app")
    parser.add_argument("--auth-database-uri", default="sqlite:///basic_auth.db", help="users and grants (--auth)")
    parser.add_argument("--auth-cache-ttl", type=int, default=60, metavar="S",
                        help="trust a checked password S seconds (0: hash it per request, ~0.1 s)")  # fmt: skip
    parser.add_argument("--auth-dir", type=Path, default=PROJECT_ROOT / ".mlflow-auth", help="where its INI goes")
    return parser


def _serve(args: argparse.Namespace) -> int:
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # its job runner costs ~1.9 GB and is not used here
    if args.auth:
        from src.governance.auth_server import AuthServer, server_environment

        server = AuthServer(args.auth_database_uri, auth_cache_ttl_s=args.auth_cache_ttl)
        os.environ.update(server_environment(server, args.auth_dir, os.environ))
        print(f"basic-auth on: admin {server.admin_username}, users in "
              f"{args.auth_database_uri}; now: make apply-permissions", flush=True)  # fmt: skip
    command = mlflow_server_command(args.backend_store_uri, args.artifacts, args.port, host=args.host,
                                    workers=args.workers, auth=args.auth)  # fmt: skip
    try:
        return run_foreground(command, args.host, args.port)
    except PortInUse as exc:
        return cli.refuse(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _serve(args), unchanged="no server was started")


if __name__ == "__main__":
    sys.exit(main())
