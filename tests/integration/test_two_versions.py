"""Two versions in one process (a champion and its challenger): each scores as it does alone.

A challenger may come from another commit, with other features. What a
version computes travels with it (its feature formulas, its data contract and
its fitted estimator, in the registered model), and the one endpoint process
interprets both with its own code: this test trains two versions with
different feature sets, loads both in one process, and compares their
probabilities with those of each version loaded alone in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from pipelines.training_pipeline import run_training
from src.components.scoring import load_scorer
from src.data.contract import load_bundled
from src.models.training_plan import TrainingRequest
from src.utils.config import DEFAULT_FEATURE_CONFIG, PROJECT_ROOT
from tests.conftest import use_store
from tests.pack import MODEL, column_arrays

pytestmark = pytest.mark.integration

ALONE = """
import json, sys
import numpy as np
from src.components.scoring import load_scorer
from src.data.contract import load_bundled
from tests.pack import MODEL, column_arrays
scorer = load_scorer(MODEL, version=sys.argv[1])
print(json.dumps(scorer.predict_columns(column_arrays(load_bundled())).probabilities.tolist()))
"""


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Version 1 on the pack's feature set, version 2 on the same set less its last feature (a later commit's)."""
    root = tmp_path_factory.mktemp("two_versions")
    content = yaml.safe_load(DEFAULT_FEATURE_CONFIG.read_text())
    content["features"] = content["features"][:-1]
    content["feature_set"]["version"] += 1
    other = root / "feature_config.yaml"
    other.write_text(yaml.safe_dump(content))
    with use_store(root):
        run_training(TrainingRequest(version="1.0.0", author="alice"))
        run_training(TrainingRequest(version="2.0.0", author="alice", feature_config=other))
        yield root


def _alone(version: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", ALONE, version], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip


def test_a_champion_and_a_challenger_in_one_process_score_as_each_does_alone(versions):
    runs = {version: _alone(version) for version in ("1", "2")}  # side by side, while this process loads both
    champion, challenger = load_scorer(MODEL, version="1"), load_scorer(MODEL, version="2")
    assert champion.handle.features != challenger.handle.features
    inputs = column_arrays(load_bundled())
    together = {"1": champion.predict_columns(inputs).probabilities,
                "2": challenger.predict_columns(inputs).probabilities}  # fmt: skip
    for version, run in runs.items():
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0
        np.testing.assert_array_equal(together[version], np.array(json.loads(out)))
    assert not np.array_equal(together["1"], together["2"])  # two models indeed
