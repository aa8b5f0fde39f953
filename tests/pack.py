"""What the platform's tests take from the model pack, so the same suite runs for any pack.

A test of the platform (serving, batch, monitoring, the gate) needs rows it can send, a row of each of two
classes, a numeric column with a range to break, and the names the model is published under. They come from
the pack (``src/data/contract.py``, ``configs/``), never from a data set the test knows by name; tests of the
pack itself (its contract, its features) may name its values.
"""

from __future__ import annotations

from src.data.contract import CONTRACT
from src.data.schema import Column, Example
from src.utils.config import resolve_settings

#: The names the pack's model is published under (configs/environment.yaml, the embedded default profile).
_NAMES = resolve_settings(environ={})
MODEL: str = _NAMES.model_name_for("dev")
EXPERIMENT: str = _NAMES.experiment_name
#: The registered model's own name, the last part of its three-level name: ``{team_code}_{project}_{model_name}``.
MODEL_SHORT: str = MODEL.rsplit(".", 1)[1]

COLUMNS: list[str] = list(CONTRACT.input_names)
FIRST: Example = CONTRACT.examples[0]
#: An example of another class than ``FIRST``'s.
SECOND: Example = next(example for example in CONTRACT.examples if example.label != FIRST.label)
ROW_A: list[object] = [FIRST.values[name] for name in COLUMNS]
ROW_B: list[object] = [SECOND.values[name] for name in COLUMNS]
LABEL_A, LABEL_B = FIRST.label, SECOND.label
#: A numeric input with an upper bound: the column the tests put wrong numbers in.
NUMERIC: Column = next(c for c in CONTRACT.columns if c.kind == "numeric" and c.maximum is not None)
NUMERIC_AT: int = COLUMNS.index(NUMERIC.name)
#: An input other than ``NUMERIC``: the one a drift test leaves alone.
OTHER: str = next(name for name in COLUMNS if name != NUMERIC.name)
#: An input that may not be missing, if the pack has one.
REQUIRED: Column | None = next((c for c in CONTRACT.columns if not c.nullable), None)


def with_value(row: list[object], column: str, value: object) -> list[object]:
    """``row`` with ``column``'s value replaced."""
    changed = list(row)
    changed[COLUMNS.index(column)] = value
    return changed


def column_arrays(frame, names=COLUMNS) -> dict:  # pandas frame -> {name: NumPy array}
    """Input columns as the scorer and the monitor take them: numbers as float (a gap is NaN), categories as
    objects (a gap is None)."""
    import pandas as pd

    return {name: frame[name].to_numpy(dtype=float) if CONTRACT.column(name).is_numeric
            else frame[name].map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
            for name in names}  # fmt: skip


def rotated_label(label: str) -> str:
    """Another class than ``label``: the next one, in the contract's order."""
    classes = CONTRACT.classes
    return classes[(classes.index(label) + 1) % len(classes)]


def csv_cell(value: object) -> str:
    """A value as a CSV cell (a missing value is an empty cell)."""
    return "" if value is None else str(value)


def above_range(column: Column = NUMERIC) -> float:
    """A number the column's range refuses."""
    assert column.maximum is not None
    return float(column.maximum) * 10 + 1


#: Whether every input is a number that may not be missing (the shape the scorer's NumPy fast paths serve).
NUMERIC_ONLY: bool = all(c.kind == "numeric" and not c.nullable for c in CONTRACT.columns)


def valid_value(column: Column):  # -> hypothesis strategy (imported here only: not every test needs it)
    """Any value the column's contract allows (not only ones like the bundled data's)."""
    from hypothesis import strategies as st

    if column.kind == "numeric":
        values = st.floats(min_value=column.minimum, max_value=column.maximum,
                           exclude_min=column.exclusive_minimum, allow_nan=False)  # fmt: skip
    elif column.kind == "categorical":
        values = st.sampled_from(column.values)
    else:
        values = st.booleans()
    return values | st.none() if column.nullable else values


def valid_row():  # -> hypothesis strategy of lists, in COLUMNS order
    """One row inside the contract's domain."""
    from hypothesis import strategies as st

    return st.tuples(*(valid_value(CONTRACT.column(name)) for name in COLUMNS)).map(list)
