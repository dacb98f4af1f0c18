"""log_mel_spectrogram against librosa, shapes, batching and input errors."""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import pytest

from skemotion.audio import log_mel_spectrogram, mel_filterbank

from ._helpers import tone


def librosa_log_mel(y: np.ndarray, **kw: Any) -> np.ndarray:
    params = {"sr": 48_000, "n_fft": 4800, "hop_length": 1600, "n_mels": 24, "fmax": 17_000.0}
    params.update(kw)
    S = librosa.feature.melspectrogram(y=y, **params)  # type: ignore[arg-type]
    return librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None).swapaxes(-1, -2)


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = 0.05 * rng.standard_normal((3, 140_800)).astype(np.float32)
    return noise + np.stack([tone(140_800, freq=f) for f in (220.0, 1000.0, 6000.0)])


def test_paper_shape_and_dtype(clips: np.ndarray) -> None:
    S = log_mel_spectrogram(clips[0])
    assert S.shape == (88, 24) and S.dtype == np.float32
    assert np.isfinite(S).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_librosa(clips: np.ndarray, dtype: type) -> None:
    y = clips[1].astype(dtype)
    expected = librosa_log_mel(y)
    assert expected.shape == (89, 24)  # centred STFT: 1 + 140800 // 1600 frames
    np.testing.assert_allclose(log_mel_spectrogram(y), expected[:88], atol=2e-3, rtol=0)
    full = log_mel_spectrogram(y, n_frames=89)
    np.testing.assert_allclose(full, expected, atol=2e-3, rtol=0)


def test_matches_librosa_other_parameters() -> None:
    y = tone(16_000 * 2, sr=16_000, freq=500.0) + 0.01
    kw = {"sr": 16_000, "n_fft": 512, "hop_length": 160, "n_mels": 40, "fmin": 50.0, "fmax": None}
    ours = log_mel_spectrogram(y, **kw)  # type: ignore[arg-type]
    assert ours.shape == (200, 40)
    np.testing.assert_allclose(ours, librosa_log_mel(y, **kw)[:200], atol=2e-3)


def test_batch_equals_loop_and_leading_axes(clips: np.ndarray) -> None:
    batch = log_mel_spectrogram(clips)
    assert batch.shape == (3, 88, 24)
    for i, y in enumerate(clips):
        np.testing.assert_allclose(batch[i], log_mel_spectrogram(y), atol=1e-5)
    nested = log_mel_spectrogram(np.stack([clips, clips]))
    assert nested.shape == (2, 3, 88, 24)
    np.testing.assert_allclose(nested[1], batch, atol=1e-5)


def test_silence_is_the_floor_and_top_db_is_per_clip(clips: np.ndarray) -> None:
    silent = log_mel_spectrogram(np.zeros(140_800, dtype=np.float32), amin=1e-10)
    np.testing.assert_allclose(silent, -100.0)
    quiet_and_loud = np.stack([1e-3 * clips[0], clips[0]])
    clipped = log_mel_spectrogram(quiet_and_loud, top_db=30.0)
    for S in clipped:
        assert S.max() - S.min() <= 30.0 + 1e-4
    # per clip: the quiet clip keeps its own (60 dB lower) range
    assert clipped[0].max() == pytest.approx(clipped[1].max() - 60.0, abs=1e-2)


def test_frame_count_rule() -> None:
    assert log_mel_spectrogram(np.zeros(141_000)).shape == (88, 24)
    assert log_mel_spectrogram(np.zeros(1600)).shape == (1, 24)
    with pytest.raises(ValueError, match="fewer than hop_length"):
        log_mel_spectrogram(np.zeros(1599))
    assert log_mel_spectrogram(np.zeros(1599), n_frames=1).shape == (1, 24)
    with pytest.raises(ValueError, match="exceeds"):
        log_mel_spectrogram(np.zeros(3200), n_frames=4)


def test_rejects_integer_and_non_finite_audio() -> None:
    with pytest.raises(TypeError, match="floating point"):
        log_mel_spectrogram(np.zeros(4800, dtype=np.int16))
    y = np.zeros(4800)
    y[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        log_mel_spectrogram(y)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fmax": 30_000.0},
        {"fmin": 18_000.0},
        {"n_mels": 0},
        {"hop_length": 1.5},
        {"amin": 0.0},
        {"top_db": -1.0},
    ],
)
def test_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        log_mel_spectrogram(np.zeros(9600, dtype=np.float32), **kwargs)


def test_mel_filterbank_is_librosa_and_cached() -> None:
    basis = mel_filterbank()
    expected = librosa.filters.mel(sr=48_000, n_fft=4800, n_mels=24, fmax=17_000.0)
    np.testing.assert_allclose(basis, expected, rtol=1e-6)
    assert mel_filterbank() is basis
    assert not basis.flags.writeable
