"""center_crop: the exact centring rule and each padding policy."""

from __future__ import annotations

import numpy as np
import pytest

from skemotion.audio import center_crop


def test_default_is_the_papers_window() -> None:
    y = np.arange(150_000, dtype=np.float32)
    out = center_crop(y)
    assert out.shape == (140_800,)
    assert out[0] == (150_000 - 140_800) // 2


@pytest.mark.parametrize(("n", "start"), [(7, 1), (8, 1), (9, 2), (5, 0)])
def test_crop_start_is_floor_of_half_surplus(n: int, start: int) -> None:
    out = center_crop(np.arange(n), length=5)
    np.testing.assert_array_equal(out, np.arange(start, start + 5))


def test_crop_is_a_view_and_exact_length_is_identity() -> None:
    y = np.arange(10.0)
    assert np.shares_memory(center_crop(y, length=4), y)
    assert center_crop(y, length=10) is y


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("constant", [0, 1, 2, 3, 0, 0]),
        ("edge", [1, 1, 2, 3, 3, 3]),
        ("reflect", [2, 1, 2, 3, 2, 1]),
    ],
)
def test_pad_modes(mode: str, expected: list[int]) -> None:
    out = center_crop(np.array([1, 2, 3]), length=6, pad_mode=mode)  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, expected)


def test_pad_error_states_both_lengths() -> None:
    with pytest.raises(ValueError, match=r"3 samples.*required length of 6"):
        center_crop(np.zeros(3), length=6, pad_mode="error")
    # a long enough clip is fine under "error"
    assert center_crop(np.zeros(9), length=6, pad_mode="error").shape == (6,)


def test_batch_last_axis() -> None:
    y = np.arange(2 * 3 * 9).reshape(2, 3, 9)
    out = center_crop(y, length=5)
    np.testing.assert_array_equal(out, y[..., 2:7])
    padded = center_crop(y, length=11)
    assert padded.shape == (2, 3, 11)
    np.testing.assert_array_equal(padded[..., 1:10], y)
    assert (padded[..., 0] == 0).all() and (padded[..., 10] == 0).all()


def test_dtype_kept_and_empty_clip() -> None:
    out = center_crop(np.ones(3, dtype=np.float32), length=4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(center_crop(np.zeros(0), length=2), [0.0, 0.0])
    with pytest.raises(ValueError, match="empty"):
        center_crop(np.zeros(0), length=2, pad_mode="edge")


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"length": 2.5}, {"pad_mode": "wrap"}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        center_crop(np.zeros(4), **kwargs)
