"""Decoding audio from sound files and from the audio track of video containers."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from ..utils._optional import import_optional

__all__ = ["VIDEO_EXTENSIONS", "load_audio"]

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4a", ".mov", ".mkv", ".webm", ".avi"})
"""File name suffixes decoded with PyAV (FFmpeg) instead of soundfile (libsndfile)."""


def load_audio(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    mono: bool = True,
    dtype: npt.DTypeLike = np.float32,
) -> tuple[np.ndarray, int]:
    """Load a sound file, or the first audio stream of a video file, as floats.

    Sound files (wav, flac, ogg and anything else libsndfile reads) are read with
    :mod:`soundfile`. Video containers (``.mp4``, ``.m4a``, ``.mov``, ``.mkv``,
    ``.webm``, ``.avi``) are decoded with PyAV, which is an optional dependency
    (``pip install skemotion[video]``) imported only when such a file is loaded.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    sr : int or None, default=None
        Target sampling rate in Hz. ``None`` keeps the file's own rate. Otherwise
        the signal is resampled with soxr's high-quality ("HQ") filter.
    mono : bool, default=True
        Average the channels into one (the channel mean, as in the paper). With
        ``mono=False`` a multi-channel file is returned as ``(n_channels, n_samples)``
        and a single-channel file as ``(n_samples,)``, like :func:`librosa.load`.
    dtype : numpy floating dtype, default=np.float32
        Dtype of the returned samples, which lie in ``[-1, 1]`` for integer PCM.

    Returns
    -------
    y : np.ndarray, shape (n_samples,) or (n_channels, n_samples)
        The decoded signal.
    sr : int
        Its sampling rate: the requested ``sr``, or the file's rate.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be decoded, holds no audio stream or no samples. The
        message names the file.
    ImportError
        If a video file is given and PyAV is not installed.

    Examples
    --------
    >>> import tempfile, numpy as np, soundfile as sf
    >>> from skemotion.audio import load_audio
    >>> path = tempfile.mkdtemp() + "/tone.wav"
    >>> t = np.arange(48_000) / 48_000
    >>> sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 48_000)
    >>> y, sr = load_audio(path, sr=16_000)
    >>> y.shape, y.dtype, sr
    ((16000,), dtype('float32'), 16000)
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}.")
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0):
        raise ValueError(f"sr must be a positive integer or None, got {sr!r}.")

    file = Path(os.fspath(path))
    if not file.exists():
        raise FileNotFoundError(f"Audio file not found: '{file}'.")
    if file.is_dir():
        raise ValueError(f"Expected an audio file, got the directory '{file}'.")

    if file.suffix.lower() in VIDEO_EXTENSIONS:
        y, native_sr = _read_av(file)
    else:
        y, native_sr = _read_soundfile(file)

    if y.shape[-1] == 0:
        raise ValueError(f"Audio file '{file}' contains no samples (zero-length audio).")

    if mono and y.ndim == 2:
        # The paper mixes stereo RAVDESS clips to mono by the channel mean.
        y = y.mean(axis=0)
    if sr is not None and sr != native_sr:
        y = _resample(y, orig_sr=native_sr, target_sr=int(sr))
        native_sr = int(sr)
    return np.ascontiguousarray(y, dtype=dtype), int(native_sr)


def _read_soundfile(file: Path) -> tuple[np.ndarray, int]:
    try:
        data, native_sr = sf.read(file, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"Cannot decode audio file '{file}': {exc}") from exc
    _check_complete(file, n_read=data.shape[0])
    # soundfile is (n_samples, n_channels); the library works channel-first.
    y = data.T
    return (y[0] if y.shape[0] == 1 else y), int(native_sr)


def _read_centre_window(path: str | os.PathLike[str], *, sr: int, length: int) -> np.ndarray | None:
    """The central ``length`` samples of a sound file, decoding nothing else.

    The same samples as ``center_crop(load_audio(path, sr=sr)[0], length=length)`` (mono
    mixdown included), read with a seek: the log-mel features use 140,800 of a RAVDESS
    clip's ~180,000 samples. Returns None whenever the shortcut does not apply, and the
    caller decodes the whole file: a video container, a file at another rate than ``sr``
    (resampling needs the whole signal), one shorter than ``length`` (it is padded), one
    of float samples (a NaN anywhere in it is an error the full read names), one that
    cannot be read, or one whose header announces more samples than it holds (the full
    read names the truncation).

    Parameters
    ----------
    path : str or path-like
    sr : int
        The rate the caller wants; the file must already be at it.
    length : int
        Number of central samples.

    Returns
    -------
    y : ndarray of shape (length,), float32, or None
    """
    file = Path(os.fspath(path))
    if file.suffix.lower() in VIDEO_EXTENSIONS:
        return None
    try:
        with sf.SoundFile(file) as sound:
            n_frames = sound.frames
            if sound.samplerate != sr or n_frames < length or not sound.seekable():
                return None
            # Float samples may hold NaN anywhere, which the whole read reports; integer
            # PCM (RAVDESS's 16-bit wav and flac) cannot.
            if sound.subtype in ("FLOAT", "DOUBLE"):
                return None
            if _missing_data_bytes(sound.extra_info) is not None:
                return None
            # The last sample must be there, or the header's length (and so the centre)
            # is not the file's.
            sound.seek(n_frames - 1)
            if sound.read(1, dtype="float32", always_2d=True).shape[0] != 1:
                return None
            sound.seek((n_frames - length) // 2)
            data = sound.read(length, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if data.shape[0] != length or not data.size:
        return None
    return np.ascontiguousarray(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])


# WAV/RIFF header field "data : <declared bytes> (should be <bytes present>)" that libsndfile
# reports, in its extra_info, for a file cut short after its header was written.
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Sizes streaming writers put in the header when the length is not known yet: not a sign
# of truncation, the data simply runs to the end of the file.
_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF, 0x7FFFFFFF})


def _missing_data_bytes(extra_info: str | None) -> tuple[int, int] | None:
    """(declared, present) sample bytes of a WAV data chunk cut short, or None."""
    match = _SHORT_DATA_CHUNK.search(extra_info or "")
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    return (declared, present) if declared not in _UNKNOWN_SIZES and present < declared else None


def _check_complete(file: Path, *, n_read: int) -> None:
    """Raise if the header of ``file`` announces more audio than the file holds.

    libsndfile silently reads what is there: a wav cut short by an interrupted copy
    would otherwise become a shorter clip, padded with silence by the centre crop.
    """
    try:
        info = sf.info(file)
    except (sf.LibsndfileError, RuntimeError, TypeError):  # read already succeeded
        return
    missing = _missing_data_bytes(info.extra_info)
    if missing is not None:
        declared, present = missing
        raise ValueError(
            f"{file}: truncated audio file, its header declares {declared} bytes of "
            f"samples but only {present} are present (copy or download it again)"
        )
    if 0 < n_read < info.frames:
        raise ValueError(
            f"{file}: truncated audio file, its header declares {info.frames} samples but "
            f"only {n_read} could be decoded (copy or download it again)"
        )


# Decoders may stop up to a codec frame short of the container's duration (AAC frames are
# 1024 samples, plus encoder delay): a shortfall beyond this many samples is truncation.
_AV_SHORTFALL = 4096


def _read_av(file: Path) -> tuple[np.ndarray, int]:
    av = import_optional(
        "av",
        extra="video",
        needed_for=f"Reading audio from the video file '{file}'",
        package="PyAV",
    )

    try:
        container: Any = av.open(str(file))
    except av.FFmpegError as exc:
        raise ValueError(f"Cannot open media file '{file}': {exc}") from exc
    with container:
        if not container.streams.audio:
            raise ValueError(f"Media file '{file}' has no audio stream.")
        stream = container.streams.audio[0]
        native_sr = stream.codec_context.sample_rate or stream.rate
        if not native_sr:
            raise ValueError(f"Media file '{file}' has an audio stream without a sample rate.")
        # Decoders emit packed or planar ints or floats depending on the codec; convert
        # every frame to planar float32 so that to_ndarray() is (n_channels, n_samples).
        expected = None
        if stream.duration and stream.time_base:
            expected = int(stream.duration * stream.time_base * native_sr)
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        except av.FFmpegError as exc:
            raise ValueError(f"Cannot decode the audio stream of '{file}': {exc}") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32), int(native_sr)
    y = np.concatenate(chunks, axis=-1).astype(np.float32, copy=False)
    if expected is not None and y.shape[-1] < expected - _AV_SHORTFALL:
        # A truncated mp4 whose index (moov) comes first decodes without any error,
        # only shorter: the index still gives the full duration.
        raise ValueError(
            f"{file}: truncated media file, its audio stream should last {expected} "
            f"samples but only {y.shape[-1]} could be decoded (copy or download it again)"
        )
    return (y[0] if y.shape[0] == 1 else y), int(native_sr)


def _resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    # soxr wants (n_samples, n_channels) and keeps float32 as float32.
    x = np.ascontiguousarray(y.T, dtype=np.float32)
    out = soxr.resample(x, orig_sr, target_sr, quality="HQ")
    return np.asarray(out).T
