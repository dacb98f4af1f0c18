"""Decoding the frames of a video file with PyAV, and choosing which frames to keep."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils._optional import import_optional

__all__ = [
    "FRAME_MODES",
    "SHORT_POLICIES",
    "VideoInfo",
    "iter_frames",
    "load_video",
    "read_frames",
    "select_frames",
    "video_info",
]

FRAME_MODES: tuple[str, ...] = ("center", "even")
"""The accepted values of ``mode`` in :func:`select_frames`."""

SHORT_POLICIES: tuple[str, ...] = ("pad", "raise")
"""The accepted values of ``short`` in :func:`select_frames`."""

_AV_FORMATS = {"rgb": "rgb24", "gray": "gray"}

# 8-bit YUV layouts whose first plane is the luma of the whole frame.
_LUMA_FIRST = frozenset({"yuv420p", "yuv422p", "yuv444p", "nv12"})
# Limited ("TV") range luma 16..235 stretched to 0..255: what FFmpeg's swscale gives
# for format="gray" (checked value by value).
_TV_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
_COLOR_RANGE_JPEG = 2  # AVCOL_RANGE_JPEG: full-range luma


def _to_array(frame: Any, fmt: str) -> np.ndarray:
    """A decoded frame as an array; gray straight from the luma plane where possible."""
    if fmt == "gray" and frame.format.name in _LUMA_FIRST:
        # Skips swscale's frame conversion (about a tenth of H.264 decoding time at
        # 720p); the same numbers, only a table look-up on the Y plane.
        try:
            import cv2
        except ImportError:  # pragma: no cover - cv2 comes with the face extra
            return frame.to_ndarray(format=fmt)
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        luma = luma[:, : frame.width]
        if frame.color_range == _COLOR_RANGE_JPEG:
            return luma.copy()
        return cv2.LUT(luma, _TV_TO_FULL)
    return frame.to_ndarray(format=fmt)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What :func:`video_info` reads from the first video stream of a file.

    Attributes
    ----------
    n_frames : int
        Number of frames: the stream's count, or the number of decoded frames where
        the container does not store one.
    fps : float
        Frame rate read from the stream (average rate, else FFmpeg's guessed rate).
    width, height : int
        Frame size in pixels.
    path : str
        The file.
    """

    n_frames: int
    fps: float
    width: int
    height: int
    path: str


def _check_file(path: str | os.PathLike[str]) -> Path:
    file = Path(os.fspath(path))
    if not file.exists():
        raise FileNotFoundError(f"Video file not found: '{file}'.")
    if file.is_dir():
        raise ValueError(f"Expected a video file, got the directory '{file}'.")
    return file


def _open_video(file: Path) -> tuple[Any, Any]:
    """(container, first video stream); the caller closes the container."""
    av = import_optional("av", extra="face", needed_for="Decoding video", package="PyAV")
    try:
        container = av.open(str(file))
    except av.FFmpegError as exc:
        raise ValueError(f"Cannot open video file '{file}': {exc}") from exc
    if not container.streams.video:
        container.close()
        raise ValueError(f"Media file '{file}' has no video stream.")
    return container, container.streams.video[0]


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, frame rate and frame size of the first video stream of a file.

    The frame rate is read from the stream, never assumed (RAVDESS clips are 29.97
    or 30 fps, other corpora 25). Where the container stores no frame count, the
    frames are counted by decoding the stream once.

    Parameters
    ----------
    path : str or path-like
        A video file FFmpeg can read (mp4, mov, mkv, webm, avi...).

    Returns
    -------
    info : VideoInfo

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be opened or decoded, has no video stream, no frame rate or
        no frames. The message names the file.
    ImportError
        If PyAV is not installed.

    Examples
    --------
    >>> from skemotion.face import video_info  # doctest: +SKIP
    >>> video_info("01-01-01-01-01-01-01.mp4")  # doctest: +SKIP
    VideoInfo(n_frames=104, fps=29.97002997002997, width=1280, height=720, path='...')
    """
    av = import_optional("av", extra="face", needed_for="Decoding video", package="PyAV")
    file = _check_file(path)
    container, stream = _open_video(file)
    with container:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise ValueError(f"Video file '{file}' has a video stream without a frame rate.")
        width = int(stream.codec_context.width)
        height = int(stream.codec_context.height)
        n_frames = int(stream.frames or 0)
        if n_frames == 0:
            try:
                n_frames = sum(1 for _ in container.decode(stream))
            except av.FFmpegError as exc:
                raise ValueError(f"Cannot decode the video stream of '{file}': {exc}") from exc
    if n_frames == 0:
        raise ValueError(f"Video file '{file}' contains no frames.")
    return VideoInfo(n_frames=n_frames, fps=float(rate), width=width, height=height, path=str(file))


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def select_frames(
    n_available: int,
    *,
    n_frames: int = 88,
    mode: str = "center",
    short: str = "pad",
    source: str | None = None,
) -> np.ndarray:
    """Indices of the frames to keep from a clip of ``n_available`` frames.

    ``mode="center"`` keeps ``n_frames`` consecutive frames around the middle of the
    clip: the paper's 88 centre frames, which at 30 fps span the same 2.93 s as the
    centre 140,800 samples of 48 kHz audio. The rounding is that of
    :func:`skemotion.audio.center_crop`, so video and audio windows stay aligned:

    - ``n_available > n_frames``: ``start = (n_available - n_frames) // 2``; an odd
      surplus leaves the extra frame at the end.
    - ``n_available < n_frames`` and ``short="pad"``: the first frame is repeated
      ``left = (n_frames - n_available) // 2`` times before the clip and the last
      frame ``n_frames - n_available - left`` times after it (center_crop's
      ``pad_mode="edge"``).

    ``mode="even"`` spreads ``n_frames`` over the whole clip,
    ``np.rint(np.linspace(0, n_available - 1, n_frames))`` (the paper fine-tunes
    image models on 20 such frames). A clip shorter than ``n_frames`` then repeats
    frames spread over the clip rather than at its edges.

    Parameters
    ----------
    n_available : int
        Number of frames in the clip.
    n_frames : int, default=88
        Number of indices to return.
    mode : {"center", "even"}, default="center"
        Which frames to keep, see above.
    short : {"pad", "raise"}, default="pad"
        What to do when ``n_available < n_frames``: repeat frames, or raise
        :class:`ValueError`.
    source : str or None, default=None
        Name of the clip, used in error messages.

    Returns
    -------
    indices : np.ndarray of int64, shape (n_frames,)
        Non-decreasing frame indices in ``[0, n_available)``.

    Raises
    ------
    ValueError
        If an argument is invalid, the clip has no frames, or it is too short and
        ``short="raise"``.

    Examples
    --------
    >>> from skemotion.face import select_frames
    >>> select_frames(7, n_frames=4)
    array([1, 2, 3, 4])
    >>> select_frames(3, n_frames=6)
    array([0, 0, 1, 2, 2, 2])
    >>> select_frames(10, n_frames=4, mode="even")
    array([0, 3, 6, 9])
    """
    n_frames = _check_positive("n_frames", n_frames)
    if mode not in FRAME_MODES:
        raise ValueError(f"mode must be one of {FRAME_MODES}, got {mode!r}.")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short must be one of {SHORT_POLICIES}, got {short!r}.")
    if isinstance(n_available, bool) or not isinstance(n_available, int | np.integer):
        raise ValueError(f"n_available must be an integer, got {n_available!r}.")
    where = f" of '{source}'" if source is not None else ""
    n = int(n_available)
    if n < 1:
        raise ValueError(f"The clip{where} has no frames (n_available={n}).")
    if n < n_frames and short == "raise":
        raise ValueError(
            f"The clip{where} has {n} frames, fewer than the {n_frames} required "
            f"(mode={mode!r}, short='raise')."
        )

    if mode == "even":
        return np.rint(np.linspace(0, n - 1, n_frames)).astype(np.int64)
    if n >= n_frames:
        start = (n - n_frames) // 2
        return np.arange(start, start + n_frames, dtype=np.int64)
    left = (n_frames - n) // 2
    return np.pad(np.arange(n, dtype=np.int64), (left, n_frames - n - left), mode="edge")


def iter_frames(path: str | os.PathLike[str], *, color: str = "rgb") -> Iterator[np.ndarray]:
    """Decode every frame of the first video stream, in order, one at a time.

    Parameters
    ----------
    path : str or path-like
        The video file.
    color : {"rgb", "gray"}, default="rgb"
        ``"rgb"`` yields ``(height, width, 3)`` frames, ``"gray"`` ``(height, width)``
        luma frames.

    Yields
    ------
    frame : np.ndarray of uint8, shape (height, width, 3) or (height, width)

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As :func:`video_info`.
    """
    fmt = _check_color(color)
    av = import_optional("av", extra="face", needed_for="Decoding video", package="PyAV")
    file = _check_file(path)
    container, stream = _open_video(file)
    with container:
        try:
            for frame in container.decode(stream):
                yield _to_array(frame, fmt)
        except av.FFmpegError as exc:
            raise ValueError(f"Cannot decode the video stream of '{file}': {exc}") from exc


def _check_color(color: str) -> str:
    if color not in _AV_FORMATS:
        raise ValueError(f"color must be one of {tuple(_AV_FORMATS)}, got {color!r}.")
    return _AV_FORMATS[color]


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int] | np.ndarray,
    *,
    color: str = "rgb",
) -> np.ndarray:
    """Decode the frames at ``indices`` in one sequential pass over the file.

    The stream is decoded from its start up to the largest requested index: short
    clips decode faster than they seek, and frame-accurate seeking in mp4 files is
    unreliable. Only the requested frames are converted to arrays.

    Parameters
    ----------
    path : str or path-like
        The video file.
    indices : sequence of int, shape (k,)
        Frame indices, in any order and possibly repeated (a padded selection from
        :func:`select_frames`).
    color : {"rgb", "gray"}, default="rgb"
        ``"rgb"`` returns colour frames, ``"gray"`` FFmpeg's luma conversion.

    Returns
    -------
    frames : np.ndarray of uint8, shape (k, height, width, 3) or (k, height, width)
        ``frames[i]`` is frame ``indices[i]``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If an index is negative or beyond the decoded frames, or the file cannot be
        decoded. The message names the file.
    ImportError
        If PyAV is not installed.
    """
    fmt = _check_color(color)
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"indices must be a 1-D sequence of integers, got {indices!r}.")
    idx = idx.astype(np.int64)
    file = _check_file(path)
    if idx.size and idx.min() < 0:
        raise ValueError(f"Negative frame index {int(idx.min())} requested from '{file}'.")
    if idx.size == 0:
        info = video_info(file)  # fails on a broken file like a full read would
        shape = (0, info.height, info.width, 3) if color == "rgb" else (0, info.height, info.width)
        return np.zeros(shape, dtype=np.uint8)

    wanted = set(idx.tolist())
    last = int(idx.max())
    decoded: dict[int, np.ndarray] = {}
    n_decoded = 0
    av = import_optional("av", extra="face", needed_for="Decoding video", package="PyAV")
    container, stream = _open_video(file)
    with container:
        try:
            for i, frame in enumerate(container.decode(stream)):
                n_decoded = i + 1
                if i in wanted:
                    decoded[i] = _to_array(frame, fmt)
                if i >= last:
                    break
        except av.FFmpegError as exc:
            raise ValueError(f"Cannot decode the video stream of '{file}': {exc}") from exc
    if last >= n_decoded:
        raise ValueError(
            f"Frame index {last} requested from '{file}', which decodes to only {n_decoded} frames."
        )
    return np.stack([decoded[i] for i in idx.tolist()])


def load_video(
    path: str | os.PathLike[str],
    *,
    n_frames: int = 88,
    mode: str = "center",
    short: str = "pad",
    color: str = "rgb",
) -> tuple[np.ndarray, np.ndarray, VideoInfo]:
    """Read the selected frames of a video: :func:`video_info`, then
    :func:`select_frames`, then :func:`read_frames`.

    Parameters
    ----------
    path : str or path-like
        The video file.
    n_frames, mode, short
        As in :func:`select_frames`.
    color : {"rgb", "gray"}, default="rgb"
        As in :func:`read_frames`.

    Returns
    -------
    frames : np.ndarray of uint8, shape (n_frames, height, width, 3) or (n_frames, height, width)
        The selected frames.
    indices : np.ndarray of int64, shape (n_frames,)
        Their indices in the file.
    info : VideoInfo
        Frame count, rate and size of the file.

    Examples
    --------
    >>> from skemotion.face import load_video  # doctest: +SKIP
    >>> frames, indices, info = load_video("01-01-01-01-01-01-01.mp4")  # doctest: +SKIP
    >>> frames.shape, indices[:3]  # doctest: +SKIP
    ((88, 720, 1280, 3), array([8, 9, 10]))
    """
    info = video_info(path)
    indices = select_frames(
        info.n_frames, n_frames=n_frames, mode=mode, short=short, source=info.path
    )
    frames = read_frames(path, indices, color=color)
    return frames, indices, info
