"""The per-clip face record every landmark backend returns and every face feature reads."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "ACTION_UNIT_NAMES",
    "AU_INTENSITY_NAMES",
    "AU_PRESENCE_NAMES",
    "HEAD_POSE_NAMES",
    "N_EYE_LANDMARKS",
    "N_LANDMARKS",
    "FaceTrack",
]

N_LANDMARKS = 68
"""Points of the iBUG 300-W scheme, shared by dlib's predictor and OpenFace."""

N_EYE_LANDMARKS = 56
"""OpenFace's eye-region points, 28 per eye (``eye_lmk_*_0..55``)."""

AU_INTENSITY_NAMES: tuple[str, ...] = tuple(
    f"AU{n:02d}_r" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
)
"""OpenFace's 17 action-unit intensities (0-5)."""

AU_PRESENCE_NAMES: tuple[str, ...] = tuple(
    f"AU{n:02d}_c" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
)
"""OpenFace's 18 action-unit presences (0/1): the intensities' AUs plus AU28."""

ACTION_UNIT_NAMES: tuple[str, ...] = AU_INTENSITY_NAMES + AU_PRESENCE_NAMES
"""The 35 action-unit columns in the order of :attr:`FaceTrack.action_units`."""

HEAD_POSE_NAMES: tuple[str, ...] = ("pitch", "yaw", "roll", "Tx", "Ty", "Tz")
"""Columns of :attr:`FaceTrack.head_pose`: radians, then millimetres (camera frame)."""


@dataclasses.dataclass(frozen=True, eq=False)
class FaceTrack:
    """Face geometry of the selected frames of one clip.

    Every array has the selected frames on its first axis (``n_frames``, usually the
    88 centre frames). Frames where the backend found no face have ``success`` False
    and hold values interpolated from their neighbours (see
    :func:`~skemotion.face.interpolate_missing`), so no array contains NaN.

    Attributes
    ----------
    landmarks_2d : np.ndarray of float32, shape (n_frames, 68, 2)
        Image coordinates (x, y) in pixels of the full-resolution frame.
    head_pose : np.ndarray of float32, shape (n_frames, 6)
        Pitch, yaw, roll (radians) and Tx, Ty, Tz (millimetres, camera frame); see
        :data:`HEAD_POSE_NAMES`.
    success : np.ndarray of bool, shape (n_frames,)
        Whether the backend found the face in that frame (before interpolation).
    confidence : np.ndarray of float32, shape (n_frames,)
        The backend's confidence in [0, 1] (0 where the face was not found).
    frame_indices : np.ndarray of int64, shape (n_frames,)
        Index of each selected frame in the source video (repeats where a short clip
        was padded).
    fps : float
        Frame rate of the source, read from the file.
    frame_size : (int, int)
        (width, height) of the source frames in pixels.
    source : str
        The file the track was extracted from.
    backend : str
        ``"dlib"`` or ``"openface"``.
    landmarks_3d : np.ndarray of float32, shape (n_frames, 68, 3), or None
        Camera-frame coordinates in millimetres, where the backend has them (OpenFace).
    eye_landmarks_2d : np.ndarray of float32, shape (n_frames, 56, 2), or None
        OpenFace's eye-region landmarks in pixels (28 per eye), or None.
    gaze_angle : np.ndarray of float32, shape (n_frames, 2), or None
        OpenFace's mean gaze angles (x, y) in radians, or None.
    action_units : np.ndarray of float32, shape (n_frames, 35), or None
        OpenFace's 17 raw intensities (0-5) then 18 presences (0/1), in the order
        of :data:`ACTION_UNIT_NAMES`, or None where the backend has no AUs.
    """

    landmarks_2d: np.ndarray
    head_pose: np.ndarray
    success: np.ndarray
    confidence: np.ndarray
    frame_indices: np.ndarray
    fps: float
    frame_size: tuple[int, int]
    source: str
    backend: str
    landmarks_3d: np.ndarray | None = None
    eye_landmarks_2d: np.ndarray | None = None
    gaze_angle: np.ndarray | None = None
    action_units: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_frames = len(self.landmarks_2d)
        expected = {
            "landmarks_2d": (n_frames, N_LANDMARKS, 2),
            "head_pose": (n_frames, len(HEAD_POSE_NAMES)),
            "success": (n_frames,),
            "confidence": (n_frames,),
            "frame_indices": (n_frames,),
            "landmarks_3d": (n_frames, N_LANDMARKS, 3),
            "eye_landmarks_2d": (n_frames, N_EYE_LANDMARKS, 2),
            "gaze_angle": (n_frames, 2),
            "action_units": (n_frames, len(ACTION_UNIT_NAMES)),
        }
        for field, shape in expected.items():
            value = getattr(self, field)
            if value is None:
                continue
            if np.shape(value) != shape:
                raise ValueError(
                    f"FaceTrack of {self.source}: {field} has shape {np.shape(value)}, "
                    f"expected {shape}"
                )

    @property
    def n_frames(self) -> int:
        """Number of selected frames."""
        return len(self.landmarks_2d)

    @property
    def missing_fraction(self) -> float:
        """Fraction of the selected frames where no face was found."""
        return float(1.0 - np.mean(self.success)) if self.n_frames else 0.0

    def to_arrays(self) -> dict[str, Any]:
        """The track as a flat dict of arrays and scalars (for ``np.savez``)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            out[field.name] = np.asarray(value)
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> FaceTrack:
        """Rebuild a track from :meth:`to_arrays` output (or an opened ``.npz``)."""
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in arrays:
                continue
            value = np.asarray(arrays[field.name])
            if field.name in ("fps",):
                kwargs[field.name] = float(value)
            elif field.name == "frame_size":
                kwargs[field.name] = (int(value[0]), int(value[1]))
            elif field.name in ("source", "backend"):
                kwargs[field.name] = str(value)
            else:
                kwargs[field.name] = value
        return cls(**kwargs)
