"""The training command's face: refusals come in under a second, before MLflow is imported; --help has an example."""

from __future__ import annotations

import subprocess
import sys

import pytest

from src.models import train_model
from src.utils.config import PROJECT_ROOT, load_environment_config

PROBE = (
    "import sys; from src.models.train_model import main; code = main(sys.argv[1:]); "
    "print('mlflow' in sys.modules); sys.exit(code)"
)


def test_a_bad_version_is_refused_before_mlflow_is_imported():
    done = subprocess.run([sys.executable, "-c", PROBE, "--version", "one"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stdout.strip() == "False"
    assert done.stderr.startswith("error: model version 'one' does not follow the convention")


def test_help_ends_with_the_readme_command(capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's --help exits; a normal return would be a bug too
        train_model.main(["--help"])
    assert exit_.value.code == 0
    who = load_environment_config().project
    experiment = f"/{who.team}/{who.project}/{who.model_name}"
    assert f"--experiment {experiment} --context full --version 1.0.0" in capsys.readouterr().out
