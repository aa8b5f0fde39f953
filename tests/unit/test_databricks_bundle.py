"""The Databricks Asset Bundle (databricks.yml), checked offline: every job against the databricks-bundles
package's resource types, the targets' catalogs against the profiles, and every task's command line against the
parser of the console script it runs. What needs the Databricks CLI or a workspace is not run here."""

from __future__ import annotations

import copy
import importlib
import re
import tomllib

import pytest
import yaml
from databricks.bundles.jobs import Job

from src.utils.config import PROJECT_ROOT, load_environment_config, resolve_settings

BUNDLE = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text(encoding="utf-8"))
JOBS = BUNDLE["resources"]["jobs"]
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: What the workspace substitutes before a task runs, with plausible values.
SUBSTITUTIONS = {r"\$\{bundle\.target\}": "prod", r"\{\{job\.run_id\}\}": "123",
                 r"\{\{job\.parameters\.model_version\}\}": "7", r"\{\{job\.parameters\.[a-z_]+\}\}": "x",
                 r"\$\{var\.[a-z_]+\}": "/Volumes/c/s/v/f.parquet"}  # fmt: skip


def _tasks():
    return [(job, task) for job, spec in JOBS.items() for task in spec["tasks"]]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_is_a_job_the_bundle_types_accept(name):
    job = Job.from_dict(copy.deepcopy(JOBS[name]))  # an unknown or misplaced key raises here
    assert job.tasks and all(task.python_wheel_task for task in job.tasks)


def test_a_misspelt_key_is_refused_by_the_bundle_types():
    job = copy.deepcopy(JOBS["model_training"])
    job["tasks"][0]["python_wheel_taks"] = job["tasks"][0].pop("python_wheel_task")
    with pytest.raises(ValueError, match="Unexpected field 'python_wheel_taks'"):
        Job.from_dict(job)


def test_the_targets_are_the_profiles_with_their_catalogs():
    profiles = load_environment_config().profiles
    targets = BUNDLE["targets"]
    assert set(targets) == set(profiles)
    assert {name: target["variables"]["catalog"] for name, target in targets.items()} == {
        name: profile.catalog for name, profile in profiles.items()
    }


@pytest.mark.parametrize(
    ("job", "task"), _tasks(), ids=lambda value: value if isinstance(value, str) else value["task_key"]
)
def test_every_task_runs_a_console_script_with_arguments_its_parser_takes(job, task):
    wheel = task["python_wheel_task"]
    assert wheel["package_name"] == PYPROJECT["name"]
    module, _ = PYPROJECT["scripts"][wheel["entry_point"]].split(":")
    arguments = []
    for parameter in wheel["parameters"]:
        for pattern, value in SUBSTITUTIONS.items():
            parameter = re.sub(pattern, value, parameter)
        arguments.append(parameter)
    parsed = importlib.import_module(module)._parser().parse_args(arguments)  # exits on an unknown option
    assert parsed.env == "prod"


def test_the_deployment_job_starts_when_a_version_of_this_model_is_ready():
    trigger = JOBS["deployment"]["trigger"]["model"]
    model = resolve_settings(environ={}).registered_model_name.rsplit(".", 1)[1]
    assert trigger["condition"] == "MODEL_VERSION_READY"
    assert trigger["securable_name"] == f"${{var.catalog}}.${{var.schema}}.{model}"
    assert [t["task_key"] for t in JOBS["deployment"]["tasks"]] == ["evaluation", "staging", "approval_and_deployment"]
