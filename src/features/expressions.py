"""Derived features as expressions over input columns: ``log(length_cm / width_cm)``.

A feature's formula is data, not code: it is written in the pack's feature
definitions, fingerprinted by the lifecycle, shown in the catalog, and carried
inside the fitted model (the feature step's state). A model therefore computes
its own features whatever code serves it, and two models of two projects load
side by side in one process.

The language is Python's arithmetic on NumPy arrays and nothing else:
numbers, column names, ``+ - * / ** %``, unary minus, and the functions below.
Anything else (attributes, subscripts, other calls, names that are not
columns) is refused when the expression is compiled, so evaluating one can
only compute.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

from src.utils.errors import ProjectError

#: The functions an expression may call, elementwise.
FUNCTIONS: Mapping[str, Callable[..., np.ndarray]] = {
    "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt,
    "abs": np.abs, "min": np.minimum, "max": np.maximum,
}  # fmt: skip
_OPERATORS: Mapping[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide, ast.Pow: np.power,
    ast.Mod: np.mod,
}  # fmt: skip


class ExpressionError(ProjectError, ValueError):
    """An expression uses something outside the language, or a name that is not an input column."""


@dataclass(frozen=True)
class Expression:
    """A compiled expression: its text, the columns it reads (first use first), and how to compute it."""

    text: str
    inputs: tuple[str, ...]
    _compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]

    def kernel(self) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
        """The bare computation over float64 column arrays: no conversion, no error state (the request path's
        fast form; the caller sets ``np.errstate`` once for all features and checks the result is finite)."""
        if self.inputs == (self.text,):  # a column passed through: the array itself
            name = self.text
            return lambda columns: columns[name]
        if not self.inputs:  # a constant: one value per row, which only evaluate knows how to spread
            return self.evaluate  # type: ignore[return-value]
        return self._compute

    def evaluate(self, columns: Mapping[str, object]) -> np.ndarray:
        """The feature as float64, one value per row of ``columns`` (arrays or a DataFrame's columns)."""
        with np.errstate(all="ignore"):  # a log of zero is -inf, as NumPy says; the contract keeps inputs sane
            values = {name: np.asarray(columns[name], dtype=np.float64) for name in self.inputs}
            result = np.asarray(self._compute(values), dtype=np.float64)
        if result.ndim == 0:  # an expression without a column: one value for every row of the columns given
            name = next(iter(columns), None)  # a mapping and a DataFrame both iterate their column names
            result = np.full(0 if name is None else len(columns[name]), float(result))  # type: ignore[arg-type]
        return result


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"{text!r}: not an expression ({exc.msg})") from None


@functools.lru_cache(maxsize=1024)
def compiled(text: str) -> Expression:
    """``text`` compiled once per process, reading whatever names it uses (the model's own feature step)."""
    return compile_expression(text, None)


def compile_expression(text: str, columns: Collection[str] | None) -> Expression:
    """Check ``text`` against the language and ``columns`` (the names it may read; ``None``: any) and compile it."""
    inputs: list[str] = []

    def build(node: ast.expr) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            constant = float(node.value)
            return lambda values: np.float64(constant)
        if isinstance(node, ast.Name):
            if columns is not None and node.id not in columns:
                raise ExpressionError(f"{text!r}: {node.id!r} is not an input column ({', '.join(sorted(columns))})")
            if node.id not in inputs:
                inputs.append(node.id)
            name = node.id
            return lambda values: values[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            operator, left, right = _OPERATORS[type(node.op)], build(node.left), build(node.right)
            return lambda values: operator(left(values), right(values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand, sign = build(node.operand), -1.0 if isinstance(node.op, ast.USub) else 1.0
            return lambda values: sign * operand(values)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and not node.keywords):  # fmt: skip
            arity = 2 if node.func.id in {"min", "max"} else 1
            if len(node.args) != arity:
                raise ExpressionError(f"{text!r}: {node.func.id} takes {arity} argument(s), got {len(node.args)}")
            function, arguments = FUNCTIONS[node.func.id], [build(a) for a in node.args]
            return lambda values: function(*(argument(values) for argument in arguments))
        shown = ast.unparse(node)
        raise ExpressionError(f"{text!r}: {shown!r} is outside the feature language (numbers, columns, "
                              f"+ - * / ** %, and {', '.join(FUNCTIONS)})")  # fmt: skip

    compute = build(_parse(text))
    return Expression(text.strip(), tuple(inputs), compute)
