"""Branch rules and ownership as code: the ruleset holds the seed's rules with CI's real job names, every
CODEOWNERS path exists, and the plan prints the calls that apply the committed ruleset."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from scripts import governance_plan
from src.utils.config import PROJECT_ROOT

RULESET = json.loads((PROJECT_ROOT / ".github" / "rulesets" / "main.json").read_text())
#: The seed's main-branch rules: "Require status checks to pass".
SEED_CHECKS = {"test-unit", "test-integration", "lint", "model-validation"}


def _rule(kind: str) -> dict:
    (rule,) = [r for r in RULESET["rules"] if r["type"] == kind]
    return rule.get("parameters", {})


def test_the_required_checks_are_cis_job_names_and_the_seeds():
    jobs = set(yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"])
    checks = {c["context"] for c in _rule("required_status_checks")["required_status_checks"]}
    assert checks == SEED_CHECKS and checks <= jobs
    assert _rule("required_status_checks")["strict_required_status_checks_policy"]  # branch up to date


def test_the_seeds_main_branch_rules_hold_with_no_bypass():
    pull_request = _rule("pull_request")
    assert pull_request["required_approving_review_count"] >= 1 and pull_request["require_code_owner_review"]
    assert {r["type"] for r in RULESET["rules"]} >= {"pull_request", "non_fast_forward", "deletion"}
    assert RULESET["bypass_actors"] == [] and RULESET["enforcement"] == "active"
    assert RULESET["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]


def test_every_codeowners_path_exists_and_names_an_owner():
    lines = [line.split() for line in (PROJECT_ROOT / ".github" / "CODEOWNERS").read_text().splitlines()]
    entries = [words for words in lines if words and not words[0].startswith("#")]
    assert entries
    for path, *owners in entries:
        assert (PROJECT_ROOT / Path(path.strip("/"))).exists(), path
        assert owners and all(owner.startswith("@") for owner in owners), path


def test_the_plan_creates_or_replaces_the_committed_ruleset(capsys):
    assert governance_plan.main(["--repo", "acme/iris"]) == 0
    printed = capsys.readouterr().out
    assert "gh api --method POST repos/acme/iris/rulesets --input .github/rulesets/main.json" in printed
    assert 'gh api --method PUT "repos/acme/iris/rulesets/$id"' in printed
