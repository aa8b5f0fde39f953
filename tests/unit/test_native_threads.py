"""Serving holds every native thread pool to one thread, and gives the sizes back when asked."""

from __future__ import annotations

import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the gradient boosting uses)
from threadpoolctl import threadpool_info

from src.utils.native_threads import SERVING_THREADS, limit_for_serving


def _sizes() -> dict[str, int]:
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def test_every_native_pool_runs_one_thread_while_serving_and_its_size_comes_back():
    before = _sizes()
    assert before, "no native thread pool loaded: nothing to check"
    with limit_for_serving():
        assert set(_sizes().values()) == {SERVING_THREADS}
    assert _sizes() == before
