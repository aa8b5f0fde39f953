"""Write the Unity Catalog GRANTs that configs/governance.yaml implies (deploy/unity_catalog/grants.sql).

    python scripts/uc_grants.py                      # catalogs mode, the Unity Catalog layout: write the file
    python scripts/uc_grants.py --check              # exit 1 if the committed file is not what the config gives
    python scripts/uc_grants.py --mode aliases --output -

Nothing here reaches Databricks: an administrator runs the file (Databricks SQL,
a notebook, or the SQL statement API). See src/governance/unity_catalog.py for
how MLflow's permissions become Unity Catalog privileges.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from src.governance.unity_catalog import grants_sql
from src.utils import cli
from src.utils.config import DEFAULT_GOVERNANCE_CONFIG, PROJECT_ROOT, load_governance_config

DEFAULT_OUTPUT = PROJECT_ROOT / "deploy" / "unity_catalog" / "grants.sql"


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python scripts/uc_grants.py", __doc__, example="python scripts/uc_grants.py --check")
    parser.add_argument("--governance", type=Path, default=DEFAULT_GOVERNANCE_CONFIG, help="roles and rights")
    parser.add_argument("--mode", choices=["catalogs", "aliases"], default="catalogs", help="promotion mode")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="file to write, or - for standard output")
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    return parser


def _write(args: argparse.Namespace) -> int:
    settings = cli.settings_from(args, creates_store=True).model_copy(update={"promotion_mode": args.mode})
    text = grants_sql(load_governance_config(args.governance), settings)
    if args.output == "-":
        sys.stdout.write(text)
        return cli.EXIT_OK
    path = Path(args.output)
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            return cli.refuse(f"{path} does not match {args.governance.name}: run make uc-grants", cli.EXIT_FAILED)
        print(f"{path} matches {args.governance.name}")
        return cli.EXIT_OK
    cli.write_atomically(path, text)
    print(f"wrote {path} ({text.count('GRANT ')} grants, {args.mode} mode)")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _write(args))


if __name__ == "__main__":
    sys.exit(main())
