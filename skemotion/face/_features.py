"""The paper's face features as scikit-learn transformers over clips.

Key-point and eye distances, calibrated per subject (:mod:`._calibration`), and the
per-frame values a tracker estimates (action units, head pose); their clip input and
tags come from :mod:`._clip_transformer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ._calibration import _CalibratedDistances
from ._clip_transformer import _FaceTransformer, nan_rows
from ._geometry import (
    DLIB_EYE_FEATURE_DIM,
    EYE_BROW_INDICES,
    KPD_LANDMARK_INDICES,
    OPENFACE_EYE_FEATURE_DIM,
    eye_keypoint_distances,
    keypoint_distances,
)
from ._landmarks import FaceLandmarks
from ._track import ACTION_UNIT_NAMES, AU_INTENSITY_NAMES, HEAD_POSE_NAMES, FaceTrack

__all__ = [
    "ActionUnits",
    "EyeKeyPointDistances",
    "HeadPose",
    "KeyPointDistances",
]


class KeyPointDistances(_CalibratedDistances):
    """The paper's key-point distances ("KPD"): 780 per frame, calibrated per subject.

    For each selected frame, the distances between all pairs of 40 of the 68 facial
    landmarks (:data:`~skemotion.face.KPD_LANDMARK_INDICES`: half the jaw, brow and
    lip points, which move with their neighbours, and all eye points), 3D where the
    backend has 3D landmarks (OpenFace), else 2D.

    **Normalisation.** ``"neutral_reference"`` (the paper's): each distance is divided
    by the same distance in the subject's most neutral face, a calibration recording
    per subject. For RAVDESS-named clips it is looked up by name: the first
    repetition of the same actor's neutral clip of the same statement, whose most
    neutral frame is the one with the lowest summed AU intensity (OpenFace) or the
    most typical frame (dlib; see :func:`~skemotion.face.most_neutral_frame`). Only
    file names decide this lookup; no clip's emotion label is read. Another corpus's
    lookup is a ``reference_resolver``; ``references`` replaces the lookup with the
    user's own calibration per subject. The reference is looked up for each clip at
    transform time (a test actor is calibrated on their own neutral clip, as in the
    paper), so :meth:`fit` learns nothing.
    ``"inter_ocular"``: calibration-free, each frame's distances divided by its
    outer-eye-corner distance, to measure what calibration is worth. ``"none"``: raw
    distances (pixels, or millimetres in 3D).

    Parameters
    ----------
    landmarks : FaceLandmarks or None, default=None
        The landmark stage (backend, frames, cache, jobs); None is ``FaceLandmarks()``.
    normalization : {"neutral_reference", "inter_ocular", "none"}, default="neutral_reference"
    references : mapping or None, default=None
        Subject -> calibration: a clip path (its most neutral frame is used), a
        :class:`FaceTrack`, or a ``(68, 2)`` / ``(68, 3)`` landmark array of a neutral
        face. Subjects not in it fall back to ``reference_resolver``.
    reference_resolver : callable or None, default=None
        Maps a clip's path to the path of its neutral reference clip; if it also has a
        ``subject(path)`` method, that names the clip's subject when X has no
        ``subject_column``. None is the RAVDESS lookup,
        :class:`skemotion.datasets.RavdessNeutralReference`, which the package installs
        as the default: a corpus's naming scheme lives with the corpus, and the face
        features do not import it. Pass an object, not a function, for a model that
        :func:`~skemotion.save_model` can save.
    subject_column : str, default="actor"
        DataFrame column naming each clip's subject (``reference_resolver.subject``
        otherwise).
    use_3d : bool or "auto", default="auto"
        Use 3D landmarks when the backend has them.
    path_column : str, default="path"
        DataFrame column of clip paths.

    Notes
    -----
    ``X`` is a list, array or Series of clip paths (videos for the dlib backend,
    videos or OpenFace CSVs for the openface one), a DataFrame with a
    ``path_column`` column (e.g. ``load_ravdess(..., modalities=["video-only"])``),
    or a list of :class:`FaceTrack` objects (landmarks from any source). The output
    is ``(n_clips, n_frames, 780)`` float32.

    Examples
    --------
    >>> from skemotion.face import KeyPointDistances
    >>> KeyPointDistances().fit_transform(frame).shape  # doctest: +SKIP
    (1440, 88, 780)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_CalibratedDistances._parameter_constraints,
        "use_3d": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        landmarks: FaceLandmarks | None = None,
        *,
        normalization: str = "neutral_reference",
        references: Mapping[Any, Any] | None = None,
        reference_resolver: Callable[[str], Any] | None = None,
        subject_column: str = "actor",
        use_3d: bool | str = "auto",
        path_column: str = "path",
    ) -> None:
        self.landmarks = landmarks
        self.normalization = normalization
        self.references = references
        self.reference_resolver = reference_resolver
        self.subject_column = subject_column
        self.use_3d = use_3d
        self.path_column = path_column

    def _points(self, track: FaceTrack) -> np.ndarray:
        if self.use_3d is True and track.landmarks_3d is None:
            raise ValueError(
                f"{track.source}: use_3d=True but the {track.backend} backend has no 3D landmarks"
            )
        if self.use_3d and track.landmarks_3d is not None:
            return track.landmarks_3d
        return track.landmarks_2d

    def _distances(self, track: FaceTrack) -> np.ndarray:
        return keypoint_distances(self._points(track))

    def _n_distances(self, track: FaceTrack) -> int:
        return self._n_features()

    def _n_features(self) -> int:
        n = len(KPD_LANDMARK_INDICES)
        return n * (n - 1) // 2

    def _reference_from_array(self, landmarks: np.ndarray) -> np.ndarray:
        if landmarks.ndim != 2 or landmarks.shape[0] != 68 or landmarks.shape[1] not in (2, 3):
            raise ValueError(
                f"A reference landmark array must be (68, 2) or (68, 3), got {landmarks.shape}"
            )
        return keypoint_distances(landmarks[None])[0]

    def _feature_names(self) -> list[str]:
        first, second = np.triu_indices(len(KPD_LANDMARK_INDICES), k=1)
        return [
            f"kpd_{KPD_LANDMARK_INDICES[i]}_{KPD_LANDMARK_INDICES[j]}"
            for i, j in zip(first, second, strict=True)
        ]


class EyeKeyPointDistances(_CalibratedDistances):
    """The paper's eye features: eyelid and brow distances plus gaze.

    With OpenFace CSVs, 179 per frame: the 66 distances among the 12 eyelid points
    of each eye (OpenFace's eye landmarks), the 45 among ten brow and eye-corner
    points of the 68 (:data:`~skemotion.face.EYE_BROW_INDICES`), then the two mean
    gaze angles (radians). The dlib backend has no eye model nor gaze: its closest
    analogue uses each eye's 6 points of the 68, **75 per frame** (15 + 15 + 45).
    The distances are normalised as in :class:`KeyPointDistances`; gaze angles are
    not.

    Parameters
    ----------
    landmarks : FaceLandmarks or None, default=None
    normalization : {"neutral_reference", "inter_ocular", "none"}, default="neutral_reference"
    references : mapping or None, default=None
        Subject -> calibration clip path or :class:`FaceTrack`.
    reference_resolver : callable or None, default=None
        Clip path -> its neutral reference clip, as in :class:`KeyPointDistances`;
        None is the RAVDESS lookup.
    subject_column : str, default="actor"
    path_column : str, default="path"

    Notes
    -----
    Inputs as in :class:`KeyPointDistances`; output ``(n_clips, n_frames, 179)``
    (OpenFace) or ``(n_clips, n_frames, 75)`` (dlib) float32. The dimension follows
    ``landmarks.backend``.
    """

    def __init__(
        self,
        landmarks: FaceLandmarks | None = None,
        *,
        normalization: str = "neutral_reference",
        references: Mapping[Any, Any] | None = None,
        reference_resolver: Callable[[str], Any] | None = None,
        subject_column: str = "actor",
        path_column: str = "path",
    ) -> None:
        self.landmarks = landmarks
        self.normalization = normalization
        self.references = references
        self.reference_resolver = reference_resolver
        self.subject_column = subject_column
        self.path_column = path_column

    def _distances(self, track: FaceTrack) -> np.ndarray:
        return eye_keypoint_distances(track)

    def _n_distances(self, track: FaceTrack) -> int:
        return (
            OPENFACE_EYE_FEATURE_DIM - 2
            if track.eye_landmarks_2d is not None
            else DLIB_EYE_FEATURE_DIM
        )

    def _n_features(self) -> int:
        openface = self._extractor().backend == "openface"
        return OPENFACE_EYE_FEATURE_DIM if openface else DLIB_EYE_FEATURE_DIM

    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        kinds = {t.eye_landmarks_2d is not None for t in tracks if t is not None}
        if len(kinds) > 1:
            raise ValueError(
                "EyeKeyPointDistances got tracks with and without OpenFace eye landmarks: "
                "their features have different dimensions (179 and 75)"
            )
        return super()._compute(clips, tracks, table)

    def _feature_names(self) -> list[str]:
        brow_first, brow_second = np.triu_indices(len(EYE_BROW_INDICES), k=1)
        brows = [
            f"brow_{EYE_BROW_INDICES[i]}_{EYE_BROW_INDICES[j]}"
            for i, j in zip(brow_first, brow_second, strict=True)
        ]
        if self._extractor().backend == "openface":
            first, second = np.triu_indices(12, k=1)
            eyes = [
                f"{side}_eyelid_{i}_{j}"
                for side in ("eye0", "eye1")
                for i, j in zip(first, second, strict=True)
            ]
            return eyes + brows + ["gaze_angle_x", "gaze_angle_y"]
        first, second = np.triu_indices(6, k=1)
        eyes = [
            f"{side}_{offset + i}_{offset + j}"
            for side, offset in (("eye_right", 36), ("eye_left", 42))
            for i, j in zip(first, second, strict=True)
        ]
        return eyes + brows


class _TrackValues(_FaceTransformer):
    """Values the tracker estimates per frame (a FaceTrack attribute), NaN for lost clips."""

    _names: tuple[str, ...]

    def __init__(
        self, landmarks: FaceLandmarks | None = None, *, path_column: str = "path"
    ) -> None:
        self.landmarks = landmarks
        self.path_column = path_column

    # -- to implement ----------------------------------------------------------------
    def _values(self, track: FaceTrack) -> np.ndarray:
        """(n_frames, len(_names)) values of one found track."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        n_frames = self._n_frames(tracks)
        return [
            nan_rows(n_frames, len(self._names)) if track is None else self._values(track)
            for track in tracks
        ]

    def _feature_names(self) -> list[str]:
        return list(self._names)


class ActionUnits(_TrackValues):
    """OpenFace's facial action units per frame: 35 values in [0, 1].

    The 17 intensities (OpenFace's 0-5 scale divided by 5) then the 18 presence
    flags, in the order of :data:`~skemotion.face.ACTION_UNIT_NAMES`. Only the
    OpenFace backend estimates action units; asking the dlib backend raises an error.

    Parameters
    ----------
    landmarks : FaceLandmarks or None, default=None
        Must use ``backend="openface"``; None is ``FaceLandmarks("openface")``.
    path_column : str, default="path"

    Notes
    -----
    Inputs as in :class:`KeyPointDistances`; output ``(n_clips, n_frames, 35)``.
    """

    _names = ACTION_UNIT_NAMES

    def _extractor(self) -> FaceLandmarks:
        return FaceLandmarks("openface") if self.landmarks is None else self.landmarks

    def _values(self, track: FaceTrack) -> np.ndarray:
        if track.action_units is None:
            raise ValueError(
                f"{track.source}: ActionUnits needs action units, which only OpenFace "
                f"estimates; this clip was tracked by the {track.backend} backend. Use "
                "FaceLandmarks('openface', openface_dir=...)."
            )
        n_intensities = len(AU_INTENSITY_NAMES)
        units = np.asarray(track.action_units, dtype=np.float64).copy()
        units[:, :n_intensities] = np.clip(units[:, :n_intensities] / 5.0, 0.0, 1.0)
        return units


class HeadPose(_TrackValues):
    """Head pose per frame: pitch, yaw, roll (radians) and Tx, Ty, Tz (millimetres).

    From OpenFace's ``pose_*`` columns, or with the dlib backend from a PnP fit of
    the 68 landmarks to :data:`~skemotion.face.FACE_MODEL_3D`.

    Parameters
    ----------
    landmarks : FaceLandmarks or None, default=None
    path_column : str, default="path"

    Notes
    -----
    Inputs as in :class:`KeyPointDistances`; output ``(n_clips, n_frames, 6)``.
    """

    _names = HEAD_POSE_NAMES

    def _values(self, track: FaceTrack) -> np.ndarray:
        return np.asarray(track.head_pose, dtype=np.float64)
