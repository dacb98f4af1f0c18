"""Log-mel spectrograms, batched over clips."""

from __future__ import annotations

import functools
from numbers import Integral, Real

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

__all__ = ["log_mel_spectrogram", "mel_filterbank"]

# Upper bound on the windowed-frame buffer of one batch chunk (in samples): a
# (n_clips, n_frames, n_fft) copy of a large batch would not fit in memory.
_CHUNK_SAMPLES = 1 << 22


def mel_filterbank(
    *,
    sr: int = 48_000,
    n_fft: int = 4800,
    n_mels: int = 24,
    fmin: float = 0.0,
    fmax: float | None = 17_000.0,
) -> np.ndarray:
    """Slaney-normalised mel filterbank, cached across calls.

    This is :func:`librosa.filters.mel` (``htk=False``, ``norm="slaney"``), computed
    once per parameter set: building it costs about as much as the transform of a
    whole clip.

    Parameters
    ----------
    sr : int, default=48_000
        Sampling rate in Hz.
    n_fft : int, default=4800
        FFT size.
    n_mels : int, default=24
        Number of mel bands.
    fmin, fmax : float, default=0.0, 17_000.0
        Lowest and highest frequency in Hz; ``fmax=None`` means ``sr / 2``.

    Returns
    -------
    mel_basis : np.ndarray, shape (n_mels, 1 + n_fft // 2), float32
        Read-only; copy it before modifying.

    Examples
    --------
    >>> from skemotion.audio import mel_filterbank
    >>> mel_filterbank().shape
    (24, 2401)
    """
    fmax_ = float(sr) / 2 if fmax is None else float(fmax)
    return _cached_mel(int(sr), int(n_fft), int(n_mels), float(fmin), fmax_)


@functools.lru_cache(maxsize=32)
def _cached_mel(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa  # only here: its import (numba) is slow and nothing else needs it

    basis = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float32
    )
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=32)
def _cached_sparse_mel(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, dtype: str
) -> tuple[scipy.sparse.csr_array, int]:
    """The filterbank as a sparse (n_mels, n_bins) matrix, cut after its last nonzero bin.

    Each FFT bin feeds at most two triangular filters, so the sparse product does ~1/8
    of the dense work and needs no BLAS: a multi-threaded BLAS on these small GEMMs
    was slower than the FFT itself on a busy machine, and oversubscribes thread workers.
    """
    basis = _cached_mel(sr, n_fft, n_mels, fmin, fmax)
    nonzero = np.flatnonzero(basis.any(axis=0))
    n_bins = int(nonzero[-1]) + 1 if nonzero.size else 1
    return scipy.sparse.csr_array(basis[:, :n_bins].astype(dtype)), n_bins


@functools.lru_cache(maxsize=32)
def _cached_window(n_fft: int, dtype: str) -> np.ndarray:
    # Periodic Hann, the window librosa.stft uses by default.
    window = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(dtype)
    window.flags.writeable = False
    return window


def log_mel_spectrogram(
    y: np.ndarray,
    *,
    sr: int = 48_000,
    n_mels: int = 24,
    n_fft: int = 4800,
    hop_length: int = 1600,
    fmin: float = 0.0,
    fmax: float | None = 17_000.0,
    n_frames: int | None = None,
    amin: float = 1e-10,
    top_db: float | None = None,
) -> np.ndarray:
    """Log-power mel spectrogram, time first, of one clip or a batch of clips.

    Defaults are the paper's (Supplementary, "Feature Engineering"): 24 mel bands, a
    4800-sample Hann window, hop 1600, ``fmax`` 17 kHz, which on the 140,800-sample
    centre crop of a 48 kHz clip gives the 88 x 24 matrix the paper feeds TIM-Net.

    The result equals::

        S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                           n_mels=n_mels, fmin=fmin, fmax=fmax)
        librosa.power_to_db(S, ref=1.0, amin=amin, top_db=top_db)[..., :n_frames].swapaxes(-1, -2)

    i.e. a centred STFT (frame ``t`` centred on sample ``t * hop_length``, the signal
    zero-padded by ``n_fft // 2`` on both sides), power 2, a Slaney mel filterbank
    and ``10 * log10(max(S, amin))`` (dB relative to 1.0, no ``top_db`` clipping by
    default). The frames are computed with one FFT call per batch chunk rather than
    one per clip, and the filterbank is cached.

    Frame count: a centred STFT has ``1 + n_samples // hop_length`` frames (89 on
    140,800 samples), the last one centred on the clip's final edge and half made
    of padding. By default it is dropped, keeping ``n_samples // hop_length`` frames
    (88, one per video frame at 30 fps, as in the paper).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,) or (..., n_samples), floating
        Audio at ``sr``; leading axes are a batch of equally long clips.
    sr : int, default=48_000
        Sampling rate of ``y`` in Hz.
    n_mels : int, default=24
        Number of mel bands.
    n_fft : int, default=4800
        Window and FFT length in samples (100 ms at 48 kHz).
    hop_length : int, default=1600
        Step between frames in samples (one 30 fps video frame at 48 kHz).
    fmin : float, default=0.0
        Lowest frequency of the filterbank in Hz.
    fmax : float or None, default=17_000.0
        Highest frequency in Hz, at most ``sr / 2``; ``None`` means ``sr / 2``.
    n_frames : int or None, default=None
        Number of frames to keep, from the start. ``None`` keeps
        ``n_samples // hop_length``; at most ``1 + n_samples // hop_length``.
    amin : float, default=1e-10
        Floor on the mel power before the logarithm (silence gives
        ``10 * log10(amin)`` = -100 dB instead of ``-inf``).
    top_db : float or None, default=None
        If given, clip each clip's values to ``max - top_db`` (per clip, unlike
        :func:`librosa.power_to_db` on a batch, which uses the batch maximum).

    Returns
    -------
    S_db : np.ndarray, shape (n_frames, n_mels) or (..., n_frames, n_mels), float32
        Log-mel spectrogram in dB, time first (the TIM-Net input layout).

    Raises
    ------
    TypeError
        If ``y`` is not floating point (scale integer PCM to [-1, 1] first).
    ValueError
        If ``y`` holds NaN or infinity, is shorter than ``hop_length``, or a
        parameter is out of range.

    See Also
    --------
    skemotion.audio.LogMelSpectrogram : the same from file paths, as a transformer.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.audio import log_mel_spectrogram
    >>> t = np.arange(140_800) / 48_000
    >>> y = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    >>> log_mel_spectrogram(y).shape
    (88, 24)
    >>> log_mel_spectrogram(np.stack([y, 0.5 * y])).shape
    (2, 88, 24)
    """
    _check_int("sr", sr, 1)
    _check_int("n_mels", n_mels, 1)
    _check_int("n_fft", n_fft, 2)
    _check_int("hop_length", hop_length, 1)
    if n_frames is not None:
        _check_int("n_frames", n_frames, 1)
    fmax_ = float(sr) / 2 if fmax is None else fmax
    if not isinstance(fmin, Real) or not isinstance(fmax_, Real):
        raise ValueError(f"fmin and fmax must be real numbers, got {fmin!r} and {fmax!r}.")
    if not 0 <= fmin < fmax_ <= sr / 2:
        raise ValueError(
            f"Need 0 <= fmin < fmax <= sr / 2 = {sr / 2:g} Hz, got fmin={fmin}, fmax={fmax_}."
        )
    if not isinstance(amin, Real) or amin <= 0:
        raise ValueError(f"amin must be a positive number, got {amin!r}.")
    if top_db is not None and (not isinstance(top_db, Real) or top_db < 0):
        raise ValueError(f"top_db must be a non-negative number or None, got {top_db!r}.")

    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        raise TypeError(
            f"Audio must be floating point, got dtype {y.dtype}; "
            "scale integer PCM to [-1, 1] first (e.g. y / 32768 for int16)."
        )
    if y.ndim == 0:
        raise ValueError("y must have at least one axis (the samples), got a scalar.")
    n_samples = y.shape[-1]
    max_frames = 1 + n_samples // hop_length
    if n_frames is None:
        n_frames = n_samples // hop_length
        if n_frames == 0:
            raise ValueError(
                f"Clip has {n_samples} samples, fewer than hop_length={hop_length}: "
                "no full frame; pad it (see center_crop) or pass n_frames."
            )
    elif n_frames > max_frames:
        raise ValueError(
            f"n_frames={n_frames} exceeds the {max_frames} frames of a "
            f"{n_samples}-sample clip with hop_length={hop_length}."
        )
    if not np.isfinite(y).all():
        raise ValueError("Audio contains NaN or infinity.")

    # Compute in the input precision (float32 stays float32, as in librosa.stft).
    work = np.float32 if y.dtype.itemsize <= 4 else np.float64
    batch_shape = y.shape[:-1]
    flat = y.reshape(-1, n_samples).astype(work, copy=False)

    # Bins above fmax carry zero weight: they are dropped before squaring.
    basis, n_bins = _cached_sparse_mel(
        int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax_), np.dtype(work).name
    )
    window = _cached_window(n_fft, np.dtype(work).name)

    out = np.empty((flat.shape[0], n_frames, n_mels), dtype=np.float32)
    pad = n_fft // 2
    needed = (n_frames - 1) * hop_length + n_fft
    chunk = max(1, _CHUNK_SAMPLES // (n_frames * n_fft))
    for lo in range(0, flat.shape[0], chunk):
        block = flat[lo : lo + chunk]
        padded = np.zeros((block.shape[0], needed), dtype=work)
        stop = min(n_samples, needed - pad)
        padded[:, pad : pad + stop] = block[:, :stop]
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)
        frames = frames[:, : (n_frames - 1) * hop_length + 1 : hop_length]
        spec = scipy.fft.rfft(frames * window, axis=-1, overwrite_x=True)[..., :n_bins]
        power = spec.real**2 + spec.imag**2
        mel = (basis @ power.reshape(-1, n_bins).T).T.reshape(block.shape[0], n_frames, n_mels)
        np.maximum(mel, amin, out=mel)
        db = 10.0 * np.log10(mel)
        if top_db is not None:
            floor = db.max(axis=(-2, -1), keepdims=True) - top_db
            np.maximum(db, floor, out=db)
        out[lo : lo + chunk] = db
    return out.reshape((*batch_shape, n_frames, n_mels))


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
