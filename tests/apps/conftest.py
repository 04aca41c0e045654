"""Fixture of the application tests: torch, BLAS and OpenMP on one thread each (see :func:`_single_threaded`).

The STS-B corpus, all-MiniLM-L6-v2 and the index they share with tests/index are in tests/conftest.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package", autouse=True)
def _single_threaded():
    """Run torch, BLAS and OpenMP (k-means, t-SNE) on one thread each while the application tests run.

    On this shared 2-core machine their thread pools spin against each other and against other processes:
    under load, t-SNE of 150 points took 41 s with the default threads and 0.4 s on one thread.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
