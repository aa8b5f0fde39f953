"""Print the GitHub REST calls that apply the main-branch rules kept as code; nothing here reaches GitHub.

    python scripts/governance_plan.py --repo acme/mlflow-enterprise

The ruleset (``.github/rulesets/main.json``: pull request with one approval
and code-owner review, the four required checks on an up-to-date branch, no
deletion, no force push, nobody bypasses) is created when the repository has
none of that name and replaced when it has; ``.github/CODEOWNERS`` takes
effect once it is on the default branch. Run the printed ``gh api`` commands
with a token that may administer the repository.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli
from src.utils.config import PROJECT_ROOT

RULESET = PROJECT_ROOT / ".github" / "rulesets" / "main.json"


def plan(repo: str, ruleset: Path = RULESET) -> list[str]:
    """The calls, in order, as ``gh api`` command lines (the body from the committed file)."""
    content = json.loads(ruleset.read_text(encoding="utf-8"))
    name = content["name"]
    relative = ruleset.relative_to(PROJECT_ROOT) if ruleset.is_relative_to(PROJECT_ROOT) else ruleset
    jq = shlex.quote(f'.[] | select(.name == "{name}") | .id')
    return [
        f"# 1. find the ruleset named {name!r} (empty: none yet)",
        f"id=$(gh api repos/{repo}/rulesets --jq {jq})",
        "# 2. create it, or replace it with the committed one",
        f'if [ -z "$id" ]; then gh api --method POST repos/{repo}/rulesets --input {relative}; '
        f'else gh api --method PUT "repos/{repo}/rulesets/$id" --input {relative}; fi',
        "# 3. check: the rules GitHub now enforces on the default branch",
        f"gh api repos/{repo}/rules/branches/main",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("python scripts/governance_plan.py", __doc__,
                        example="python scripts/governance_plan.py --repo acme/mlflow-enterprise",
                        profile=False)  # fmt: skip
    parser.add_argument("--repo", default="OWNER/REPO", help="the GitHub repository, owner/name")
    args = parser.parse_args(argv)
    print("\n".join(plan(args.repo)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
