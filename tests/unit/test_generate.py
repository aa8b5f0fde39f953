"""make new-model's two halves: every wrong answer refused before anything is written, and the template rendered
with the default answers is this repository, file for file (the example and the template cannot drift)."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from src.scaffold.answers import AnswersError, parse_answers
from src.scaffold.generate import check, render
from src.utils.config import PROJECT_ROOT

#: copier.yml's defaults: the Iris project's names.
IRIS = {"team": "data-science", "team_code": "ds", "project": "iris", "model_name": "species_classifier",
        "owner": "data-science@example.com",
        "use_case": "Classify iris flowers into species from four sepal and petal measurements",
        "description": "Enterprise-grade MLflow reference implementation on the Iris data set"}  # fmt: skip
#: Files of the template that a rendered project does not have, and the file it has that the template does not.
TEMPLATE_ONLY = ("copier.yml",)
RENDERED_ONLY = {".copier-answers.yml"}
#: A project made from the template has no copier.yml: it is not a template itself.
IS_TEMPLATE = (PROJECT_ROOT / "copier.yml").is_file()


@pytest.fixture
def answers(tmp_path):
    pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "label": ["a", "b", "a", "b"]}).to_csv(tmp_path / "d.csv", index=False)
    content = {**{k: v for k, v in IRIS.items() if k != "description"}, "project": "toy", "data": "d.csv",
               "target": "label", "estimator": "sklearn.linear_model.LogisticRegression"}  # fmt: skip
    return lambda **change: parse_answers({**content, **change}, "answers.yml", tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"estimator": "sklearn.linear_model.NoSuchModel"},
            "estimator: cannot import sklearn.linear_model.NoSuchModel",
        ),
        ({"estimator": "sklearn.svm.SVC"}, "estimator: sklearn.svm.SVC has no predict_proba"),
        ({"estimator": "pandas.DataFrame"}, "estimator: pandas.DataFrame is not a scikit-learn-compatible"),
        ({"params": {"C": 1.0, "max_iters": 5}}, "params: max_iters not a parameter of LogisticRegression"),
        ({"data": "missing.csv"}, "data: .*missing.csv: data file not found"),
        ({"target": "colour"}, "target: 'colour' is not a column of d.csv"),
    ],
)
def test_a_wrong_answer_is_refused_before_anything_is_written(answers, tmp_path, change, message):
    destination = tmp_path / "new-project"
    with pytest.raises(AnswersError, match=message):
        check(answers(**change), destination)
    assert not destination.exists()


def test_a_destination_that_holds_files_is_refused(answers, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(AnswersError, match="exists and is not an empty directory"):
        check(answers(), tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert check(answers(), tmp_path / "empty").contract.classes == ("a", "b")


def _project_files(root: Path) -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return {name for name in listed if (root / name).is_file()}


@pytest.mark.skipif(not IS_TEMPLATE, reason="a project made from the template is not a template itself")
def test_the_template_with_the_default_answers_is_this_repository(tmp_path):
    rendered = tmp_path / "iris"
    render(PROJECT_ROOT, rendered, parse_answers({**IRIS, "data": "x.csv", "target": "species",
                                                  "estimator": "sklearn.linear_model.LogisticRegression"},
                                                 "defaults", tmp_path))  # fmt: skip
    ours = {n for n in _project_files(PROJECT_ROOT) if not n.endswith(".jinja") and not n.startswith(TEMPLATE_ONLY)}
    theirs = {str(p.relative_to(rendered)) for p in rendered.rglob("*") if p.is_file()} - RENDERED_ONLY
    assert theirs == ours
    differ = [name for name in sorted(ours) if (rendered / name).read_bytes() != (PROJECT_ROOT / name).read_bytes()]
    assert differ == [], "a .jinja file no longer renders its file with the default answers"
    recorded = (rendered / ".copier-answers.yml").read_text()
    assert "project: iris" in recorded and f"_src_path: {PROJECT_ROOT}" in recorded
