"""scikit-learn's estimator checks on the preprocessing transformers (2D input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from skemotion.preprocessing import TemporalStandardScaler

INIT_PARAMS: dict[type[Any], dict[str, Any]] = {TemporalStandardScaler: {}}
"""Constructor arguments per estimator, for the project-wide common tests."""

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}
"""Checks that cannot pass, by estimator class name, with the reason: none."""


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [cls(**params) for cls, params in INIT_PARAMS.items()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)
