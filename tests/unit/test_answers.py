"""The answers of make new-model: the example parses, and each wrong answer is one line naming it."""

from pathlib import Path

import pytest
import yaml

from src.scaffold.answers import AnswersError, parse_answers, read_answers
from src.utils.config import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "answers" / "penguins.yml"
MINIMAL = {
    "team": "ecology", "team_code": "eco", "project": "penguins", "model_name": "species_classifier",
    "owner": "ecology@example.com", "use_case": "Classify penguins", "data": "penguins.csv", "target": "species",
    "estimator": "sklearn.linear_model.LogisticRegression",
}  # fmt: skip


def test_the_example_answers_parse_with_the_data_beside_them():
    answers = read_answers(EXAMPLE)
    assert answers.data == EXAMPLE.parent / "penguins.csv" and answers.data.is_file()
    assert answers.template_data()["project"] == "penguins"
    assert answers.identity.team_code == "eco" and answers.model_spec.params == {"max_iter": 100, "learning_rate": 0.1}
    assert answers.columns["island"].description == "Island of the Palmer Archipelago"


def test_only_names_data_target_and_estimator_are_required(tmp_path):
    answers = parse_answers(MINIMAL, "answers.yml", tmp_path)
    assert answers.data == tmp_path / "penguins.csv"
    assert answers.catalogs.prod == "prod_catalog" and answers.schema_name == "ml_models"
    assert answers.entity_key is None and dict(answers.columns) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": None}, "target: required answer is missing"),
        ({"colour": "blue"}, "colour: unknown answer"),
        ({"team": "Data Science"}, "team: String should match pattern"),
        ({"data": "penguins.xlsx"}, "data: expected a .csv or .parquet file (got 'penguins.xlsx')"),
        ({"estimator": "LogisticRegression"}, "estimator: String should match pattern"),
        ({"columns": {"island": {"kind": "text"}}}, "columns.island.kind: Input should be"),
    ],
)
def test_a_wrong_answer_is_one_line_naming_it(tmp_path, change, message):
    content = {k: v for k, v in {**MINIMAL, **change}.items() if v is not None}
    with pytest.raises(AnswersError, match="^answers.yml: " + message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_answers(content, "answers.yml", tmp_path)
    assert "\n" not in str(e.value)


def test_a_file_that_is_not_answers_is_refused(tmp_path):
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    (tmp_path / "broken.yml").write_text("team: [unclosed\n")
    with pytest.raises(AnswersError, match="expected a mapping of answers, got list"):
        read_answers(tmp_path / "list.yml")
    with pytest.raises(AnswersError, match=r"broken\.yml: not valid YAML"):
        read_answers(tmp_path / "broken.yml")
    with pytest.raises(AnswersError, match="cannot read the answers file"):
        read_answers(Path(tmp_path / "missing.yml"))


def test_the_readme_s_answers_example_parses(tmp_path):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Adapt it to your model", 1)[1].split("```yaml\n", 1)[1]
    answers = parse_answers(yaml.safe_load(block.split("```", 1)[0]), "README.md", tmp_path)
    assert (answers.project, answers.target, answers.columns["bill_length_mm"].unit) == ("penguins", "species", "mm")
