"""Property-based tests of center_crop: exact length, centring, padding policy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skemotion.audio import center_crop
from skemotion.audio._crop import PadMode

FAST = settings(max_examples=60, deadline=None)

signals = st.integers(0, 400).flatmap(
    lambda n: arrays(np.float32, n, elements=st.floats(-1, 1, width=32))
)
lengths = st.integers(1, 400)
modes = st.sampled_from(["constant", "reflect", "edge"])


@FAST
@given(y=signals, length=lengths, mode=modes)
def test_output_has_exactly_the_target_length(y: np.ndarray, length: int, mode: PadMode) -> None:
    if len(y) == 0 and mode != "constant":
        with pytest.raises(ValueError, match="empty clip"):
            center_crop(y, length=length, pad_mode=mode)
        return
    out = center_crop(y, length=length, pad_mode=mode)
    assert out.shape == (length,) and out.dtype == y.dtype


@FAST
@given(y=signals, length=lengths)
def test_crop_keeps_the_centred_window(y: np.ndarray, length: int) -> None:
    n = len(y)
    if n < length:
        return
    out = center_crop(y, length=length)
    start = (n - length) // 2
    np.testing.assert_array_equal(out, y[start : start + length])
    # the kept window's centre is within half a sample of the clip's, the odd sample at the end
    assert 0 <= (n - length) - 2 * start <= 1


@FAST
@given(y=signals, length=lengths, mode=modes)
def test_padding_surrounds_the_whole_clip(y: np.ndarray, length: int, mode: PadMode) -> None:
    n = len(y)
    if n >= length or (n == 0 and mode != "constant"):
        return
    out = center_crop(y, length=length, pad_mode=mode)
    left = (length - n) // 2
    right = length - n - left
    assert 0 <= right - left <= 1
    np.testing.assert_array_equal(out[left : left + n], y)
    before, after = out[:left], out[left + n :]
    if mode == "constant":
        assert not before.any() and not after.any()
    elif mode == "edge":
        assert (before == y[0]).all() and (after == y[-1]).all()
    else:  # reflect: padding values all come from the clip
        assert np.isin(np.concatenate([before, after]), y).all()


@FAST
@given(y=signals, length=lengths)
def test_error_policy_refuses_short_clips_only(y: np.ndarray, length: int) -> None:
    if len(y) < length:
        with pytest.raises(ValueError, match=f"{len(y)} samples, shorter than"):
            center_crop(y, length=length, pad_mode="error")
    else:
        assert len(center_crop(y, length=length, pad_mode="error")) == length


@FAST
@given(
    n_channels=st.integers(1, 3),
    n=st.integers(1, 200),
    length=lengths,
    mode=modes,
)
def test_channels_are_cropped_alike(n_channels: int, n: int, length: int, mode: PadMode) -> None:
    y = np.arange(n_channels * n, dtype=np.float64).reshape(n_channels, n)
    out = center_crop(y, length=length, pad_mode=mode)
    assert out.shape == (n_channels, length)
    for channel in range(n_channels):
        np.testing.assert_array_equal(
            out[channel], center_crop(y[channel], length=length, pad_mode=mode)
        )
