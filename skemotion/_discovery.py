"""The public estimators of skemotion, found from its subpackages' ``__all__``.

The one place that knows which estimators the library has: the estimator checks
(``tests/test_common.py``), the persistence allow-list and its parameter tests all read
this list, so a new public estimator is checked and can be saved as soon as it is
exported, without a hand-kept list to update.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]

# Not subpackages of estimators: the test suite and the command-line module.
_NOT_SUBPACKAGES = frozenset({"tests", "cli"})


@functools.cache
def all_estimators() -> tuple[tuple[str, type], ...]:
    """Every public skemotion estimator class, as ``(name, class)`` sorted by name.

    Like :func:`sklearn.utils.discovery.all_estimators`: a class exported in the
    ``__all__`` of a public subpackage is an estimator when it subclasses
    :class:`~sklearn.base.BaseEstimator` or has both ``fit`` and ``get_params``.

    Returns
    -------
    estimators : tuple of (str, type)
    """
    import skemotion

    found: dict[str, type] = {}
    for module in pkgutil.iter_modules(skemotion.__path__):
        if module.name.startswith("_") or module.name in _NOT_SUBPACKAGES:
            continue
        package = importlib.import_module(f"skemotion.{module.name}")
        for name in getattr(package, "__all__", ()):
            obj = getattr(package, name)
            if not inspect.isclass(obj):
                continue
            duck = hasattr(obj, "fit") and hasattr(obj, "get_params")
            if duck or issubclass(obj, BaseEstimator):
                found[name] = obj
    return tuple(sorted(found.items()))
