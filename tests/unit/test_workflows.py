"""CI parity: every workflow step runs a make target or a project script, the branch rules' checks exist,
actions are pinned to commit SHAs, and .ci/run runs the targets the README names."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
#: The status checks the seed's branch protection requires.
REQUIRED_CHECKS = {"test-unit", "test-integration", "lint", "model-validation"}


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


def console_scripts() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"])


def _steps(path: Path) -> list[dict]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _commands(run: str) -> list[list[str]]:
    """The simple commands of a run: block (split on newlines, &&, ||, ;)."""
    parts = re.split(r"\n|&&|\|\||;", run)
    return [shlex.split(part) for part in parts if part.strip() and not part.strip().startswith("#")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_step_is_a_make_target_or_a_project_script(path):
    targets = make_targets()
    for step in _steps(path):
        for words in _commands(step.get("run", "")):
            if words[0] == "make":
                named = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
                assert named and set(named) <= targets, f"{path.name}: {words} names no existing make target"
            elif words[0].startswith("venv/bin/mlops-"):
                assert words[0].removeprefix("venv/bin/") in console_scripts(), f"{path.name}: {words[0]} is not ours"
            else:
                interpreter = words[0] in {"python", "bash", "venv/bin/python"} and len(words) > 1
                script = words[1] if interpreter else words[0]
                assert (ROOT / script).is_file(), f"{path.name}: {words} is neither make nor a project script"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(path):
    for step in _steps(path):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_ci_has_the_checks_the_branch_rules_require():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))["jobs"]
    assert set(jobs) >= REQUIRED_CHECKS


def test_every_job_has_least_privilege_permissions():
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert workflow.get("permissions") == {"contents": "read"} or all(
            "permissions" in job for job in workflow["jobs"].values()
        ), path.name


#: Every write a workflow job may hold, and why; any other job reads at most.
WRITES = {
    ("cd-staging.yml", "release"): {"id-token"},  # OIDC to Databricks
    ("cd-production.yml", "release"): {"id-token"},  # OIDC to Databricks
    ("monitoring.yml", "monitor"): {"id-token"},  # OIDC to Databricks
    ("monitoring.yml", "retrain"): {"actions"},  # starts cd-staging.yml on drift
}


def test_a_job_writes_only_what_it_needs_and_oidc_only_from_a_protected_environment():
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, job in workflow["jobs"].items():
            permissions = job.get("permissions", workflow.get("permissions")) or {}
            written = {scope for scope, level in permissions.items() if level == "write"}
            assert written == WRITES.get((path.name, name), set()), (path.name, name, written)
            if "id-token" in written:  # a token for Databricks' federation policy, whose subject is the environment
                assert "environment" in job, (path.name, name)
                assert job["env"]["DATABRICKS_AUTH_TYPE"] == "${{ vars.DATABRICKS_HOST && 'github-oidc' || '' }}"


def test_ci_run_calls_the_readme_commands():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert {"make lint", "make train", "make test"} <= set(lines)
    for line in lines:
        if line.startswith("make "):
            assert set(line.split()[1:]) <= make_targets(), line


def test_the_integration_job_installs_what_its_tests_need():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))["jobs"]
    runs = " ".join(step.get("run", "") for step in jobs["test-integration"]["steps"])
    assert "make venv-spark" in runs and "make services" in runs  # the Spark test and Redis under CI=true


def test_the_git_hooks_are_offline_and_run_make_lint_s_own_checks():
    """Every hook is local (nothing downloaded), calls a tool the venv installs, and is a check `make lint` runs."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    lint = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in config["repos"][0]["hooks"]:
        tool, *options = shlex.split(hook["entry"])
        assert hook["language"] == "system" and tool.startswith("venv/bin/"), hook["id"]
        assert f"$(BIN)/{tool.removeprefix('venv/bin/')}" in lint, f"{hook['id']}: not a check of make lint"
        assert all(option in lint or option == "--force-exclude" for option in options if option.startswith("-"))


def test_dependabot_updates_pip_actions_and_the_base_image_and_leaves_the_feast_held_pins():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert {update["package-ecosystem"] for update in config["updates"]} == {"pip", "github-actions", "docker"}
    held = {rule["dependency-name"] for update in config["updates"] for rule in update.get("ignore", [])}
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    for name in held:  # each held pin is said, where it is pinned, to be Feast's
        (line,) = [line for line in requirements.splitlines() if line.startswith(f"{name}==")]
        assert "feast" in line.lower(), line
