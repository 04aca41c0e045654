"""Fixtures of the corpus tests: one thread each for torch, BLAS and OpenMP, as in tests/apps."""

from __future__ import annotations

from tests.apps.conftest import _single_threaded  # noqa: F401  (autouse, package-scoped)
