"""Subject ids as the subject-calibration code handles them (shared, private)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

__all__ = ["as_subject_array", "plain", "unique_in_order"]


def plain(value: Any) -> Hashable:
    """A NumPy scalar as the Python value it holds (``np.int64(3)`` -> ``3``)."""
    return value.item() if isinstance(value, np.generic) else value


def unique_in_order(subjects: np.ndarray) -> list[Hashable]:
    """The distinct subjects, as plain Python values, in order of first appearance."""
    _, first = np.unique(subjects, return_index=True)
    return [plain(subjects[i]) for i in sorted(first)]


def as_subject_array(subjects: list[Hashable]) -> np.ndarray:
    """Subjects back as an array of their natural dtype (int, str); empty: object."""
    return np.asarray(subjects) if subjects else np.empty(0, dtype=object)
