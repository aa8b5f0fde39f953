"""The pack files make new-model writes: the contract file builds the drafted contract and loads its pinned data,
the configs parse as the platform reads them, and the tests it writes name every feature."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.data.files import DataValidationError, file_sha256
from src.features.lifecycle_record import LifecycleStatus, load_states
from src.scaffold import pack_writer
from src.scaffold.answers import read_answers
from src.scaffold.draft import draft_contract
from src.scaffold.generate import check, pack_files
from src.utils.config import PROJECT_ROOT, load_feature_config, load_model_card_config, load_model_config

EXAMPLE = PROJECT_ROOT / "examples" / "answers" / "penguins.yml"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The penguins pack's files, written under a project-shaped folder with the data file in place."""
    root = tmp_path_factory.mktemp("pack")
    shutil.copytree(PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    plan = check(read_answers(EXAMPLE), root / "new")
    files = pack_files(plan)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "data").mkdir()
    shutil.copyfile(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")  # ruff's settings, as in a project
    shutil.copyfile(plan.answers.data, root / pack_writer.data_path(plan.answers))
    return root, files


def _contract_module(root: Path) -> dict[str, object]:
    namespace: dict[str, object] = {"__file__": str(root / pack_writer.CONTRACT_FILE), "__name__": "pack_contract"}
    exec(compile((root / pack_writer.CONTRACT_FILE).read_text(), pack_writer.CONTRACT_FILE, "exec"), namespace)
    return namespace


def test_the_contract_file_builds_the_drafted_contract_and_loads_its_pinned_data(written):
    root, _ = written
    module = _contract_module(root)
    drafted = draft_contract(read_answers(EXAMPLE), pd.read_csv(EXAMPLE.parent / "penguins.csv"))
    assert module["CONTRACT"].to_dict() == drafted.to_dict()
    frame = module["load_bundled"]()
    assert set(frame.columns) == {*drafted.input_names, "species"}  # neither the dropped year nor another column
    assert module["DATA_SHA256"] == file_sha256(root / "data" / "penguins.csv")
    assert module["bundled_uri"]().endswith("/data/penguins.csv")


def test_an_edited_data_file_is_refused_by_the_contract(written, tmp_path):
    root, _ = written
    copy = tmp_path / "project"
    shutil.copytree(root, copy)
    with (copy / "data" / "penguins.csv").open("a") as data:
        data.write("Adelie,Dream,40.0,18.0,190,3700,male,2009\n")
    with pytest.raises(DataValidationError, match="the file changed; if on purpose, record the new digest"):
        _contract_module(copy)["load_bundled"]()


def test_the_configs_parse_as_the_platform_reads_them(written):
    root, _ = written
    model = load_model_config(root / pack_writer.MODEL_CONFIG_FILE)
    assert model.model.estimator == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert dict(model.model.params) == {"max_iter": 100, "learning_rate": 0.1}
    assert model.data.source == "bundled"
    features = load_feature_config(root / pack_writer.FEATURE_CONFIG_FILE)
    assert features.features[0] == "penguins_island_v1" and len(features.features) == 6
    states = load_states(root / pack_writer.LIFECYCLE_FILE)
    assert set(states) == set(features.features) and {s.status for s in states.values()} == {LifecycleStatus.LOCAL}
    card = load_model_card_config(root / pack_writer.MODEL_CARD_FILE)
    assert card.intended_use[0].startswith("Classify a penguin")


def test_the_written_tests_name_every_feature(written):
    _, files = written
    for name in load_feature_config(written[0] / pack_writer.FEATURE_CONFIG_FILE).features:
        assert f"'{name}'" in files[pack_writer.FEATURE_TESTS_FILE]


def test_the_python_files_are_valid_and_formatted_by_ruff(written, tmp_path):
    root, files = written
    python = [str(root / name) for name in files if name.endswith(".py")]
    for name in python:
        compile(Path(name).read_text(), name, "exec")
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", *python], check=True)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", *python], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
