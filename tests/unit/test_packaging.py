"""The endpoint packaged for replicas: the Dockerfile and the Kubernetes manifests, checked offline, and
consistent with each other and with the endpoint (port, user, probes, what configures it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.utils.config import PROJECT_ROOT

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
MANIFESTS = sorted((PROJECT_ROOT / "deploy" / "k8s").glob("*.yaml"))
BIN = Path(sys.executable).parent


def _manifest(kind: str) -> dict:
    (found,) = [doc for path in MANIFESTS if (doc := yaml.safe_load(path.read_text()))["kind"] == kind]
    return found


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is missing: it installs with requirements-dev.txt"
    return found


def test_the_dockerfile_is_clean_under_hadolint():
    done = subprocess.run([_tool("hadolint"), "Dockerfile"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install mlflow\n")
    done = subprocess.run([_tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_the_manifests_validate_strictly_and_a_typo_does_not(tmp_path):
    command = [_tool("kubernetes-validate"), "--strict", "-k", "1.30.0"]
    assert subprocess.run([*command, *map(str, MANIFESTS)], capture_output=True).returncode == 0
    broken = tmp_path / "deployment.yaml"
    original = (PROJECT_ROOT / "deploy" / "k8s" / "deployment.yaml").read_text()
    broken.write_text(original.replace("readinessProbe", "readynessProbe"))
    assert subprocess.run([*command, str(broken)], capture_output=True).returncode != 0


def test_the_image_runs_unprivileged_with_pinned_dependencies_and_a_health_check():
    assert re.search(r"^FROM python:3\.11[\w.-]*-slim", DOCKERFILE, re.MULTILINE)
    assert "pip install --no-cache-dir -r requirements.txt" in DOCKERFILE  # requirements.txt pins -c constraints.txt
    requirements = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    assert "-c constraints.txt" in requirements
    assert re.search(r"^USER 10001$", DOCKERFILE, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE and "/ping" in DOCKERFILE


def test_the_deployment_matches_the_image_and_the_endpoint():
    deployment = _manifest("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = int(re.search(r'"--port", "(\d+)"', DOCKERFILE).group(1))
    assert container["ports"][0]["containerPort"] == port and "EXPOSE 8080" in DOCKERFILE
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/ping"
    assert {"requests", "limits"} <= set(container["resources"])
    sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    config = _manifest("ConfigMap")
    assert config["metadata"]["name"] in sources and "model-endpoint-credentials" in sources  # ConfigMap and Secret
    assert {"ALIAS", "MLFLOW_TRACKING_URI", "ML_ENV"} <= set(config["data"])
    assert "$(ALIAS)" in container["args"]
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] and mounted == {"/tmp"}
    # nothing that matters on an emptyDir: the inference log is the shared one (INFERENCE_LOG_URI, in the Secret)
    assert "--inference-log" not in container["args"]
    assert "INFERENCE_LOG_URI" in (PROJECT_ROOT / "deploy" / "k8s" / "configmap.yaml").read_text()


def test_the_service_autoscaler_and_disruption_budget_select_the_deployment():
    labels = _manifest("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert _manifest("Service")["spec"]["selector"] == labels
    assert _manifest("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    hpa = _manifest("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == _manifest("Deployment")["metadata"]["name"]
    assert hpa["minReplicas"] >= 2 > _manifest("PodDisruptionBudget")["spec"]["minAvailable"]


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "constraints.txt",
        "pyproject.toml",
        "setup.py",
        "README.md",
        "src",
        "scripts",
        "pipelines",
        "configs",
    ],
)
def test_what_the_image_copies_is_not_ignored(path):
    allowed = (PROJECT_ROOT / ".dockerignore").read_text()
    assert f"!{path}" in allowed
