"""Native thread pools (OpenMP, BLAS) held to one thread where one row is scored at a time.

scikit-learn's histogram gradient boosting, and NumPy's BLAS, start a parallel region per call on as many threads
as there are cores. For one row that buys nothing, and when the cores are busy (other workers, other pods, the
load generator) a thread of the region waits for a core: measured on this 2-core machine with both cores busy,
one-row ``predict`` of a gradient-boosting pipeline went from p99 21 ms on one thread to 114 ms on two, and to seconds
under a test suite's load. A serving process scales with workers and replicas, not with threads per request, so
the endpoint and the gate's one-row latency check run on one native thread; batch keeps them all.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

#: Native threads per serving process.
SERVING_THREADS = 1


def limit_for_serving() -> threadpool_limits:
    """Hold every native thread pool of this process to :data:`SERVING_THREADS` from now on.

    The returned limiter restores the previous sizes when used as a context manager or on ``restore_original_limits``.
    """
    return threadpool_limits(limits=SERVING_THREADS)
