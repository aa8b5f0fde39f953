"""The architecture, held by tests: layers, MLflow behind two modules, no import cycles, a unit test per module.

Imports are read from the source (every ``import``, at module level or inside
a function; type-only imports under ``if TYPE_CHECKING`` run nothing and are
left out), so a lazy import cannot hide a violation.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
#: The doors to MLflow (DESIGN: "MLflow behind one door").
#: Tracking (with evaluate), the registry, the alias history, model loading and the tracking server's auth API:
#: a change of MLflow touches one of these.
MLFLOW_DOORS = {
    "src.utils.mlflow_utils",
    "src.models.model_registry",
    "src.models.alias_history",
    "src.models.model_loading",
    "src.governance.auth_client",
}
#: Each src module -> the test module that covers it (the seed's names where it has them): a unit test module,
#: except where the module's job needs a real backend.
UNIT_TESTS = {
    "src.governance.alias_guard": "unit/test_alias_guard",
    "src.governance.auth_client": "integration/test_governance",
    "src.governance.auth_server": "unit/test_auth_server",
    "src.governance.permissions": "unit/test_permissions",
    "src.governance.policy": "unit/test_policy",
    "src.governance.unity_catalog": "unit/test_unity_catalog",
    "src.scaffold.answers": "unit/test_answers",
    "src.scaffold.draft": "unit/test_draft",
    "src.scaffold.pack_writer": "unit/test_pack_writer",
    "src.scaffold.generate": "unit/test_generate",
    "src.models.model_card": "unit/test_model_card",
    "src.components.alias_watcher": "unit/test_alias_watcher",
    "src.components.batch": "unit/test_batch",
    "src.components.endpoint": "unit/test_endpoint",
    "src.components.endpoint_checks": "unit/test_endpoint_checks",
    "src.components.inference_log": "unit/test_inference_log",
    "src.components.traffic": "unit/test_traffic",
    "src.monitoring.comparison": "unit/test_comparison",
    "src.components.shadow": "unit/test_shadow",
    "src.monitoring.log_sinks": "unit/test_log_sinks",
    "src.components.openapi": "unit/test_openapi",
    "src.components.rollout": "unit/test_rollout",
    "src.components.payloads": "unit/test_payloads",
    "src.components.scoring": "unit/test_scoring",
    "src.components.serving": "unit/test_serving",
    "src.components.serving_metrics": "unit/test_serving_metrics",
    "src.components.spark_batch": "unit/test_spark_batch",
    "src.components.webhook": "unit/test_webhook",
    "src.components.workers": "unit/test_workers",
    "src.data.contract": "unit/test_contract",
    "src.data.schema": "unit/test_schema",
    "src.data.load_data": "unit/test_data",
    "src.data.files": "unit/test_data",
    "src.features.catalog": "integration/test_catalog",  # needs an applied Feast store
    "src.features.feature_builder": "unit/test_features",
    "src.features.feature_definitions": "unit/test_features",
    "src.features.feature_set": "unit/test_features",
    "src.features.expressions": "unit/test_expressions",
    "src.features.versioned": "unit/test_versioned",
    "src.features.feature_store": "unit/test_feature_store",
    "src.features.store_backend": "unit/test_store_backend",
    "src.features.store_repository": "unit/test_store_repository",
    "src.features.store_reads": "integration/test_feature_store",  # needs an applied Feast store
    "src.features.lifecycle": "unit/test_lifecycle",
    "src.features.lifecycle_record": "unit/test_lifecycle_record",
    "src.models.alias_lock": "unit/test_alias_lock",
    "src.data.profile": "unit/test_profile",
    "src.utils.keys": "unit/test_keys",
    "src.monitoring.alerting": "unit/test_alerting",
    "src.monitoring.report": "unit/test_report",
    "src.monitoring.monitor": "unit/test_monitor",
    "src.monitoring.log_reader": "unit/test_log_reader",
    "src.monitoring.drift": "unit/test_drift",
    "src.models.approval": "unit/test_approval",
    "src.models.classifier": "unit/test_model",
    "src.models.estimator": "unit/test_estimator",
    "src.models.evaluation": "unit/test_model",
    "src.models.model_registry": "unit/test_model_registry",
    "src.models.alias_history": "unit/test_alias_history",
    "src.models.model_loading": "unit/test_model_loading",
    "src.models.model_validator": "unit/test_model_validator",
    "src.models.verdict": "unit/test_verdict",
    "src.models.promotion": "unit/test_promotion",
    "src.models.train_model": "unit/test_train_model",
    "src.models.training": "unit/test_training",
    "src.models.training_plan": "unit/test_training_plan",
    "src.models.semantic_version": "unit/test_semantic_version",
    "src.utils.cli": "unit/test_cli",
    "src.utils.config": "unit/test_config",
    "src.utils.errors": "unit/test_errors",
    "src.utils.git_info": "unit/test_git_info",
    "src.utils.logging": "unit/test_logging",
    "src.utils.mlflow_utils": "unit/test_mlflow_utils",
    "src.utils.naming": "unit/test_naming",
    "src.utils.native_threads": "unit/test_native_threads",
    "src.utils.processes": "unit/test_processes",
    "src.utils.tracking_store": "unit/test_tracking_store",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> set[str]:
    """Every module a file imports at run time (``from a import b`` counts ``a.b`` when it is a module)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if _is_module(f"{node.module}.{alias.name}")
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _src_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _python_files("src")}


def test_only_the_doors_import_mlflow():
    offenders = {
        name: sorted(m for m in imports_of(path) if m == "mlflow" or m.startswith("mlflow."))
        for name, path in {
            **_src_modules(),
            **{_module_name(p): p for p in _python_files("scripts", "pipelines")},
        }.items()
        if name not in MLFLOW_DOORS
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_request_path_does_not_import_mlflow():
    """Parsing, checking, scoring and batch writing import no MLflow: only loading a model does (``load_scorer``).
    Nor do the alias lock services: a process that only takes a lock should not pay MLflow's import (~2 s)."""
    import subprocess
    import sys

    probe = ("import sys, src.components.serving, src.components.batch, src.models.alias_lock; "
             "print('mlflow' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_src_never_imports_pipelines_or_scripts():
    upward = {
        name: sorted(m for m in imports_of(path) if m.split(".")[0] in {"pipelines", "scripts", "benchmarks", "tests"})
        for name, path in _src_modules().items()
    }
    assert {name: found for name, found in upward.items() if found} == {}


#: src's packages, lowest first: a module may import its own package and the ones below it, never one above.
#: monitoring, governance and scaffold stand side by side (none imports another); scripts and pipelines are above all.
LAYERS = {"utils": 0, "data": 1, "features": 2, "models": 3, "monitoring": 4, "governance": 4, "scaffold": 4,
          "components": 5}  # fmt: skip


def test_imports_run_down_the_layers():
    modules = _src_modules()
    assert {name.split(".")[1] for name in modules if name.count(".") >= 1} == set(LAYERS)
    upward = sorted(
        f"{name} -> {target}"
        for name, path in modules.items()
        if name.count(".") >= 1
        for target in imports_of(path)
        if target in modules and target.count(".") >= 1 and target.split(".")[1] != name.split(".")[1]
        and LAYERS[target.split(".")[1]] >= LAYERS[name.split(".")[1]]
    )  # fmt: skip
    assert upward == []


def test_src_has_no_import_cycles():
    modules = _src_modules()
    graph = {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert cycles == []


def test_every_src_module_has_its_unit_test_module():
    modules = {name for name, path in _src_modules().items() if path.name != "__init__.py"}
    assert modules == set(UNIT_TESTS), "add the new module to UNIT_TESTS (and write its tests)"
    missing = sorted({t for t in UNIT_TESTS.values() if not (ROOT / "tests" / f"{t}.py").is_file()})
    assert missing == []


#: Scripts that run before the virtual environment exists (`make help`): the standard library only, no shared CLI.
STANDALONE = {"make_help.py"}


@pytest.mark.parametrize("folder", ["scripts", "pipelines"])
def test_command_line_faces_use_the_shared_cli(folder):
    faces = [
        p for p in _python_files(folder) if p.name not in {"__init__.py", *STANDALONE} and "__main__" in p.read_text()
    ]
    without = [
        p.name for p in faces if "src.utils.cli" not in imports_of(p) and "src.models.train_model" not in imports_of(p)
    ]
    assert without == []


#: The model pack: the files a team edits for its own model (with configs/, docs/ and tests/).
PACK_FILES = {"src/data/contract.py", "src/features/feature_definitions.py"}
#: Platform files outside src/ that must not name the data set either.
PLATFORM_FILES = ("scripts", "pipelines", "monitoring", "deploy/k8s", "Makefile", "Dockerfile", ".github/workflows")


def _platform_files() -> list[Path]:
    found = [p for p in SRC.rglob("*.py") if str(p.relative_to(ROOT)) not in PACK_FILES]
    for name in PLATFORM_FILES:
        path = ROOT / name
        found += [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    return [path for path in found if "__pycache__" not in path.parts]  # bytecode is not source


def test_no_platform_file_names_the_data_set_or_its_columns():
    """Everything specific to the model lives in the pack: the platform reads names, columns and classes from it."""
    import re

    from src.data.contract import CONTRACT

    words = {CONTRACT.name, CONTRACT.target.name, *CONTRACT.input_names, *CONTRACT.classes}
    words |= {CONTRACT.entity_key} if CONTRACT.entity_key else set()
    pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, sorted(words))) + r")(?![a-z0-9])", re.I)
    named = {
        str(path.relative_to(ROOT)): sorted({m.group(1).lower() for m in pattern.finditer(path.read_text("utf-8"))})
        for path in _platform_files()
    }
    assert {path: found for path, found in named.items() if found} == {}


def test_a_standalone_script_imports_only_the_standard_library():
    for name in STANDALONE:
        imported = {module.split(".")[0] for module in imports_of(ROOT / "scripts" / name)}
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, name
