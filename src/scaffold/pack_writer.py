"""The model pack of a new project, as file texts: its contract, features, model config and card.

These are the files a team owns after ``make new-model`` (README, "The model
pack"); ``copier update`` never touches them (``copier.yml``:
``_skip_if_exists``). Each text says what was drafted from the data, so the
team knows what to review; the Python files are formatted by ruff afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from src.data.schema import Column, DataContract
from src.scaffold.answers import Answers

CONTRACT_FILE = "src/data/contract.py"
DEFINITIONS_FILE = "src/features/feature_definitions.py"
MODEL_CONFIG_FILE = "configs/model_config.yaml"
FEATURE_CONFIG_FILE = "configs/feature_config.yaml"
LIFECYCLE_FILE = "configs/feature_lifecycle.yaml"
MODEL_CARD_FILE = "configs/model_card.yaml"
CONTRACT_TESTS_FILE = "tests/unit/test_contract.py"
FEATURE_TESTS_FILE = "tests/unit/test_features.py"
#: Every file of a pack, by its path in a project (the data file is ``data_path(...)``).
PACK_FILES = (CONTRACT_FILE, DEFINITIONS_FILE, MODEL_CONFIG_FILE, FEATURE_CONFIG_FILE, LIFECYCLE_FILE, MODEL_CARD_FILE,
              CONTRACT_TESTS_FILE, FEATURE_TESTS_FILE)  # fmt: skip


def data_path(answers: Answers) -> str:
    """Where the new project keeps its training data: ``data/<project>.<csv|parquet>``."""
    return f"data/{answers.project}{answers.data.suffix.lower()}"


def _column_call(column: Column) -> str:
    args = [repr(column.name), repr(column.description)]
    if column.kind == "numeric":
        if column.unit:
            args.append(f"unit={column.unit!r}")
        if column.minimum is not None:
            args.append(f"minimum={column.minimum!r}")
        if column.maximum is not None:
            args.append(f"maximum={column.maximum!r}")
    elif column.kind == "categorical":
        args.append(repr(list(column.values)))
    if column.nullable:
        args.append("nullable=True")
    return f"{column.kind}({', '.join(args)})"


def contract_text(contract: DataContract, answers: Answers, digest: str) -> str:
    """``src/data/contract.py``: the columns, target, entity key and one typical row per class, and the loader of
    the project's data file (which refuses a file whose digest is not the one recorded here)."""
    kinds = sorted({column.kind for column in contract.columns})
    columns = "\n".join(f"        {_column_call(column)}," for column in contract.columns)
    examples = "\n".join(f"        Example({e.label!r}, {dict(e.values)!r})," for e in contract.examples)
    dropped = [answers.entity_key, *answers.drop] if answers.entity_key else list(answers.drop)
    return f'''"""The model pack's data contract: what a valid row is, what the model predicts, a row per class.

Drafted by ``make new-model`` from {answers.data.name}: each numeric range is the observed one widened by half
its span, each category lists the values seen, a column is nullable where the file had gaps. Review it: the
domain is what the endpoint and batch scoring accept, so it should be what the world allows (a physical limit,
a code list), not only what this file happened to hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from src.data.schema import DataContract, Example, Target, {", ".join(kinds)}

if TYPE_CHECKING:
    import pandas as pd

#: The training data, kept in the project: its SHA-256 is checked before every use.
DATA_FILE = Path(__file__).resolve().parents[2] / {data_path(answers)!r}
DATA_SHA256 = {digest!r}
#: Columns of the file that are not inputs.
NOT_INPUTS = {dropped!r}

CONTRACT = DataContract(
    name={contract.name!r},
    description={contract.description!r},
    columns=(
{columns}
    ),
    target=Target({contract.target.name!r}, {contract.classes!r}, {contract.target.description!r}),
    entity_key={contract.entity_key!r},
    #: A typical row of each class (the row nearest its class's medians): any usable model gets these right.
    examples=(
{examples}
    ),
)


def load_bundled() -> pd.DataFrame:
    """The rows of ``data.source: bundled``: the project's data file, refused if it is not the recorded one."""
    from src.data.files import read_pinned_table

    return read_pinned_table(DATA_FILE, DATA_SHA256).drop(columns=NOT_INPUTS, errors="ignore")


def bundled_uri() -> str:
    """Where the bundled rows come from: the lineage of a run trained on them."""
    return DATA_FILE.as_uri()
'''


def definitions_text(contract: DataContract, answers: Answers) -> str:
    """``src/features/feature_definitions.py``: every input column as a version-1 feature."""
    return f'''"""The model pack's versioned features: every input column as it comes (``make new-model`` drafted them).

A definition is immutable: a changed formula is a new version beside the old one. Add derived features as
formulas over the input columns (``src/features/expressions.py`` says what they may use), e.g.

    FeatureDefinition(DOMAIN, "a_ratio", 1, "A over B.", _OWNER, "column_a / column_b")

and list the ones the model uses in ``configs/feature_config.yaml``.
"""

from __future__ import annotations

from src.data.contract import CONTRACT
from src.features.versioned import FeatureDefinition, passthrough

DOMAIN = CONTRACT.name
_OWNER = {answers.owner!r}

DEFINITIONS: tuple[FeatureDefinition, ...] = tuple(
    passthrough(DOMAIN, c.name, c.description, _OWNER, kind="categorical" if c.kind == "categorical" else "numeric")
    for c in CONTRACT.columns
)
'''


def _feature_names(contract: DataContract) -> list[str]:
    return [f"{contract.name}_{column.name}_v1" for column in contract.columns]


def feature_config_text(contract: DataContract) -> str:
    content = {"feature_set": {"name": f"{contract.name}_features", "version": 1}, "feature_source": "local",
               "features": _feature_names(contract)}  # fmt: skip
    return (
        "# Which versioned features the model is trained on (src/features/feature_definitions.py defines them).\n"
        "# local: computed from the input columns; store: read point-in-time from the Feast feature service\n"
        "# <feature_set.name>_v<feature_set.version> (make features first).\n"
        "# Order matters: it is the column order of the model's feature matrix.\n" + _yaml(content)
    )


def lifecycle_text(contract: DataContract) -> str:
    content = {"features": {name: {"status": "LOCAL"} for name in _feature_names(contract)}}
    return (
        "# Lifecycle state of every feature version: LOCAL -> VALIDATED -> REFACTORED -> REGISTERED.\n"
        "# Written by `python -m src.features.lifecycle advance NAME` (which checks the gate of each step), never\n"
        "# by hand. New features start LOCAL (make new-model advanced the drafted ones, each gate checked).\n"
        + _yaml(content)
    )


def model_config_text(answers: Answers) -> str:
    params = _yaml({"params": dict(answers.params)}).rstrip("\n") if answers.params else "params: {}"
    params = "\n".join(f"  {line}" for line in params.splitlines())
    return f"""# Model hyperparameters, data, split and validation floors (make new-model drafted them: review).
# Validated by src/utils/config.py (ModelConfig): unknown keys are errors.

model:
  # Any scikit-learn-compatible classifier with predict_proba, by import path; params are checked against
  # the estimator's own get_params() (a typo is an error naming the key); random_state comes from random_seed.
  estimator: {answers.estimator}
{params}

data:
  # bundled: the project's data file (src/data/contract.py: DATA_FILE, checked against its SHA-256).
  # file: another .csv or .parquet with the contract's columns (path relative to the repo root).
  source: bundled

split:
  test_size: 0.2   # share of rows held out for validation metrics
  stratify: true   # keep class proportions in both splits

random_seed: 42    # same config + seed => same split, model and metrics

validation:
  # What a version must show before it may leave dev (scripts/validate_model.py).
  thresholds:
    val_accuracy: 0.7
    val_f1_macro: 0.7
  # Comparison with the version at @production on the same held-out rows.
  champion:
    metrics: [val_accuracy, val_f1_macro]
    max_regression: 0.0
  # In-process prediction through mlflow.pyfunc, p99 over `repeats` calls.
  latency:
    single_row_p99_ms: 50
    batch_rows: 1000
    batch_p99_ms: 500
    repeats: 50
  # Every feature the version uses must have reached this lifecycle status (LOCAL < VALIDATED < REFACTORED <
  # REGISTERED; configs/feature_lifecycle.yaml): make new-model took the drafted ones to REGISTERED.
  min_feature_status: REGISTERED
"""


def model_card_text(contract: DataContract, answers: Answers, rows: int, shares: Mapping[str, float]) -> str:
    balance = ", ".join(f"{label} {share:.0%}" for label, share in shares.items())
    content: dict[str, list[str]] = {
        "intended_use": [answers.use_case],
        "intended_users": [f"The {answers.team} team and the services it approves (review this list)."],
        "out_of_scope": [f"Rows outside the data contract: the endpoint refuses them ({CONTRACT_FILE})."],
        "factors": [f"Classes in the training data: {balance}."],
        "ethical_considerations": ["To be written by the team before the first release (review)."],
        "caveats": [f"Trained on {rows:,} rows of {answers.data.name}; the contract was drafted from them."],
        "recommendations": ["Retrain when monitoring reports drift (make monitor) or new labelled data arrives."],
    }
    return (
        "# What the model card says that no registry can know: its intended use and its limits.\n"
        "# docs/MODEL_CARD.md is generated from this file and the registry (make model-card ALIAS=...).\n"
        "# make new-model drafted it: write what only the team knows.\n" + _yaml(content)
    )


def contract_tests_text() -> str:
    """``tests/unit/test_contract.py``: the pack's data against its own contract."""
    return '''"""The pack's contract and data: every training row inside the domain, the data file the recorded one,
the examples valid (make new-model wrote these; add the checks only the team knows)."""

import shutil

import pytest

from src.data.contract import CONTRACT, DATA_FILE, DATA_SHA256, load_bundled
from src.data.files import DataValidationError, file_sha256, read_pinned_table
from src.data.load_data import validate_frame


def test_every_training_row_is_inside_the_domain():
    frame = validate_frame(load_bundled(), str(DATA_FILE))
    assert len(frame) > 0 and set(frame[CONTRACT.target.name]) == set(CONTRACT.classes)


def test_the_data_file_is_the_recorded_one():
    assert file_sha256(DATA_FILE) == DATA_SHA256


def test_an_edited_data_file_is_refused(tmp_path):
    edited = tmp_path / DATA_FILE.name
    shutil.copyfile(DATA_FILE, edited)
    edited.write_bytes(edited.read_bytes() + b"\\n")
    with pytest.raises(DataValidationError, match="the file changed"):
        read_pinned_table(edited, DATA_SHA256)


def test_one_valid_example_per_class():
    assert sorted(CONTRACT.example_labels) == sorted(CONTRACT.classes)
    assert CONTRACT.violations(CONTRACT.example_columns()) == []
'''


def feature_tests_text(contract: DataContract) -> str:
    """``tests/unit/test_features.py``: each drafted feature passes its column on (the VALIDATED gate asks that a
    test names every feature)."""
    passing = "\n".join(
        f"    {name!r}: {column.name!r},"
        for name, column in zip(_feature_names(contract), contract.columns, strict=True)
    )
    return f'''"""The pack's features: each input column enters the model as it comes (make new-model wrote these)."""

import numpy as np
import pandas as pd
import pytest

from src.features.feature_definitions import DEFINITIONS
from src.features.feature_set import get_feature

#: feature -> the input column it passes on
PASSTHROUGH = {{
{passing}
}}


@pytest.mark.parametrize(("name", "column"), PASSTHROUGH.items())
def test_each_feature_passes_its_column_on(bundled_frame, name, column):
    values = get_feature(name).compute(bundled_frame)
    if values.dtype == object:
        assert list(values) == [None if pd.isna(v) else str(v) for v in bundled_frame[column]]
    else:
        np.testing.assert_array_equal(values, bundled_frame[column].to_numpy(dtype=float))


def test_every_definition_is_tested_here():
    assert {{d.name for d in DEFINITIONS}} <= set(PASSTHROUGH)
'''


def _yaml(content: Any) -> str:
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=110)
