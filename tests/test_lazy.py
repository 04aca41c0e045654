"""The lazily exported public API: every name resolves to its defining module's object."""

from __future__ import annotations

import importlib

import pytest

import simcse_st
import simcse_st.apps
import simcse_st.evaluation


@pytest.mark.parametrize("package", [simcse_st, simcse_st.apps, simcse_st.evaluation],
                         ids=lambda package: package.__name__)
def test_every_exported_name_resolves_and_unknown_names_fail(package) -> None:
    exports = package._EXPORTS
    for name, module in exports.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name)
    assert dir(package) == sorted(package.__all__)
    assert set(exports) <= set(package.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        package.not_a_name  # noqa: B018
