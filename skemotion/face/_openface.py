"""Reading OpenFace 2.x ``FeatureExtraction`` CSVs, the paper's own face tool."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import walk_files
from ._interpolate import interpolate_missing
from ._track import (
    AU_INTENSITY_NAMES,
    AU_PRESENCE_NAMES,
    N_EYE_LANDMARKS,
    N_LANDMARKS,
    FaceTrack,
)

__all__ = [
    "OPENFACE_CONFIDENCE_THRESHOLD",
    "OPENFACE_REQUIRED_COLUMNS",
    "find_openface_csv",
    "read_openface_csv",
]

_POSE_COLUMNS = ("pose_Rx", "pose_Ry", "pose_Rz", "pose_Tx", "pose_Ty", "pose_Tz")

OPENFACE_REQUIRED_COLUMNS: tuple[str, ...] = (
    "frame",
    "timestamp",
    "confidence",
    *(f"x_{i}" for i in range(N_LANDMARKS)),
    *(f"y_{i}" for i in range(N_LANDMARKS)),
    *_POSE_COLUMNS,
)
"""Columns a CSV must have; ``success``, ``face_id``, 3D landmarks, eye landmarks, gaze
and AUs are optional (RAVDESS's tracking CSVs, from OpenFace 2.1.0, have no ``success``
nor ``face_id``)."""

OPENFACE_CONFIDENCE_THRESHOLD = 0.725
"""Confidence above which a frame counts as tracked when a CSV has no ``success`` column.

OpenFace 2.x sets ``success`` itself as ``confidence > 0.725``: its landmark validator's
certainty against ``FaceModelParameters::validation_boundary``, whose default is 0.725.
The same threshold rebuilds the column OpenFace did not write; good frames of the RAVDESS
tracking set have a confidence near 0.98."""


def _optional_block(table: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    if not all(column in table.columns for column in columns):
        return None
    return table[columns].to_numpy(dtype=np.float64)


def read_openface_csv(
    path: str | os.PathLike[str],
    *,
    n_frames: int | None = 88,
    mode: str = "center",
    short: str = "pad",
    face_id: int = 0,
    confidence_threshold: float = OPENFACE_CONFIDENCE_THRESHOLD,
) -> FaceTrack:
    """Read the frames of one clip from an OpenFace ``FeatureExtraction`` CSV.

    Reads OpenFace 2.2's CSVs (names and values separated by ``", "``, with ``face_id``
    and ``success`` columns) and the older layout of RAVDESS's "Facial Landmark
    Tracking" set (OpenFace 2.1.0: a plain ``","``, no ``face_id`` nor ``success``)
    alike; the column names are stripped. A frame is tracked where ``success`` is 1
    or, in a CSV without that column, where ``confidence > confidence_threshold``.
    Other frames (OpenFace zeroes their values, or wrote a fit it did not trust) are
    treated as missing and interpolated from their neighbours
    (:func:`interpolate_missing`), and count towards
    :class:`~skemotion.face.FaceLandmarks`' ``max_missing``. The frame rate is the
    number of frames over the ``timestamp`` span (0 for a single-frame CSV).

    Parameters
    ----------
    path : str or path-like
        The CSV (one video, as written by ``FeatureExtraction -f clip.mp4``).
    n_frames : int or None, default=88
        Frames to keep, chosen like video frames by
        :func:`~skemotion.face.select_frames`; None keeps every frame.
    mode : {"center", "even"}, default="center"
        Centre window (aligned with the centre audio crop) or evenly spaced frames.
    short : {"pad", "raise"}, default="pad"
        What to do with a clip of fewer than ``n_frames`` frames.
    face_id : int, default=0
        The face to keep in a multi-face CSV (``FaceLandmarkVidMulti``).
    confidence_threshold : float, default=0.725
        Used only when the CSV has no ``success`` column: the confidence a frame must
        exceed to count as tracked. The default is OpenFace's own
        (:data:`OPENFACE_CONFIDENCE_THRESHOLD`).

    Returns
    -------
    track : FaceTrack
        With ``backend="openface"``, 3D landmarks, eye landmarks, gaze and action
        units where the CSV has them; ``frame_size`` is ``(0, 0)`` because OpenFace
        does not record it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the CSV lacks required columns, has no row for ``face_id``, repeats a
        frame, or OpenFace found the face in none of its frames. The message names
        the file.
    """
    from ._video import select_frames

    csv_path = Path(path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"OpenFace CSV {csv_path} does not exist")
    try:
        table = pd.read_csv(csv_path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{csv_path}: not a readable OpenFace CSV ({error})") from error
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in OPENFACE_REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise ValueError(
            f"{csv_path}: not an OpenFace FeatureExtraction CSV, missing column(s) {shown}"
        )
    if "face_id" in table.columns:
        table = table[table["face_id"] == face_id]
    if table.empty:
        raise ValueError(f"{csv_path}: no rows for face_id {face_id}")
    table = table.sort_values("frame", kind="stable")
    if table["frame"].duplicated().any():
        raise ValueError(f"{csv_path}: frame numbers repeat for face_id {face_id}")

    # OpenFace rounds timestamps to milliseconds: the rate over the whole clip is
    # exact to a fraction of a percent where one step would be off by 3 %.
    timestamps = table["timestamp"].to_numpy(dtype=np.float64)
    span = timestamps[-1] - timestamps[0] if len(timestamps) > 1 else 0.0
    fps = float((len(timestamps) - 1) / span) if span > 0 else 0.0

    n_available = len(table)
    if n_frames is None:
        rows = np.arange(n_available, dtype=np.int64)
    else:
        rows = select_frames(
            n_available, n_frames=n_frames, mode=mode, short=short, source=str(csv_path)
        )
    table = table.iloc[rows]
    if "success" in table.columns:
        success = table["success"].to_numpy(dtype=np.float64) > 0.5
    else:
        success = table["confidence"].to_numpy(dtype=np.float64) > confidence_threshold
    if not success.any():
        raise ValueError(
            f"{csv_path}: OpenFace found no face in any selected frame"
            + (
                ""
                if "success" in table.columns
                else f" (no success column; no confidence above {confidence_threshold:g})"
            )
        )

    def block(columns: list[str]) -> np.ndarray | None:
        values = _optional_block(table, columns)
        if values is None:
            return None
        values[~success] = np.nan
        return interpolate_missing(values, success=success).astype(np.float32)

    xy = block([f"x_{i}" for i in range(N_LANDMARKS)] + [f"y_{i}" for i in range(N_LANDMARKS)])
    assert xy is not None  # required columns
    landmarks_2d = np.stack([xy[:, :N_LANDMARKS], xy[:, N_LANDMARKS:]], axis=-1)
    xyz = block([f"{axis}_{i}" for axis in "XYZ" for i in range(N_LANDMARKS)])
    landmarks_3d = None if xyz is None else np.stack(np.split(xyz, 3, axis=1), axis=-1)
    eye = block(
        [f"eye_lmk_x_{i}" for i in range(N_EYE_LANDMARKS)]
        + [f"eye_lmk_y_{i}" for i in range(N_EYE_LANDMARKS)]
    )
    eye_landmarks_2d = None if eye is None else np.stack(np.split(eye, 2, axis=1), axis=-1)
    gaze_angle = block(["gaze_angle_x", "gaze_angle_y"])
    pose = block(list(_POSE_COLUMNS))
    assert pose is not None  # required columns
    action_units = block(list(AU_INTENSITY_NAMES + AU_PRESENCE_NAMES))

    confidence = table["confidence"].to_numpy(dtype=np.float32)
    return FaceTrack(
        landmarks_2d=landmarks_2d,
        head_pose=pose,
        success=success,
        confidence=np.where(success, confidence, 0.0).astype(np.float32),
        frame_indices=table["frame"].to_numpy(dtype=np.int64) - 1,
        fps=fps,
        frame_size=(0, 0),
        source=str(csv_path),
        backend="openface",
        landmarks_3d=landmarks_3d,
        eye_landmarks_2d=eye_landmarks_2d,
        gaze_angle=gaze_angle,
        action_units=action_units,
    )


def find_openface_csv(
    clip: str | os.PathLike[str], *, openface_dir: str | os.PathLike[str] | None
) -> Path:
    """Find the OpenFace CSV of a clip by its file name.

    OpenFace names its output after the input video (``clip.mp4`` -> ``clip.csv``).
    A clip that is already a ``.csv`` is returned as is.

    Parameters
    ----------
    clip : str or path-like
        A video (or CSV) path.
    openface_dir : str, path-like or None
        Folder searched recursively (through symbolic links) for ``<stem>.csv``; None
        looks beside the clip.

    Returns
    -------
    csv : Path

    Raises
    ------
    FileNotFoundError
        If no CSV, or more than one, matches; the message names the clip.
    """
    clip_path = Path(clip)
    if clip_path.suffix.lower() == ".csv":
        return clip_path
    target = f"{clip_path.stem}.csv"
    if openface_dir is None:
        candidate = clip_path.with_suffix(".csv")
        if candidate.is_file():
            return candidate
        raise FileNotFoundError(
            f"{clip_path}: no OpenFace CSV {candidate.name} beside it; run OpenFace's "
            "FeatureExtraction on it or pass openface_dir"
        )
    matches = sorted(path for path in walk_files(openface_dir) if path.name == target)
    if not matches:
        raise FileNotFoundError(f"{clip_path}: no OpenFace CSV {target} under {openface_dir}")
    if len(matches) > 1:
        raise FileNotFoundError(
            f"{clip_path}: {len(matches)} OpenFace CSVs named {target} under {openface_dir}: "
            f"{[str(m) for m in matches[:3]]}"
        )
    return matches[0]
