"""The paper's face features as scikit-learn transformers over clips."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import HasMethods, StrOptions

from ..utils._tables import clip_table_column
from ._geometry import (
    DLIB_EYE_FEATURE_DIM,
    EYE_BROW_INDICES,
    KPD_LANDMARK_INDICES,
    OPENFACE_EYE_FEATURE_DIM,
    eye_keypoint_distances,
    inter_ocular_distance,
    keypoint_distances,
    most_neutral_frame,
)
from ._landmarks import FaceLandmarks
from ._reference import default_reference_resolver
from ._track import ACTION_UNIT_NAMES, AU_INTENSITY_NAMES, HEAD_POSE_NAMES, FaceTrack

__all__ = [
    "ActionUnits",
    "EyeKeyPointDistances",
    "HeadPose",
    "KeyPointDistances",
]

_NUMERIC_INPUT = (
    "{name} needs clips: video paths (or OpenFace CSVs), a DataFrame with a {column!r} "
    "column of them, or FaceTrack objects; got a numeric array, which holds no face. "
    "Landmarks from another tool can be wrapped in skemotion.face.FaceTrack."
)


class _ClipTransformer(  # type: ignore[call-arg]
    TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Shared input handling of the face transformers: parameters, clips, tags, names.

    It has no ``transform``: :class:`_FaceTransformer` computes features from tracks,
    while :class:`~skemotion.face.FaceRegions` reads the videos' pixels and cannot take
    tracks.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "landmarks": [HasMethods(["extract"]), None],
        "path_column": [str],
    }

    landmarks: FaceLandmarks | None
    path_column: str

    def fit(self, X: Any, y: Any = None) -> _ClipTransformer:
        """Validate the parameters and the clips; nothing is learned.

        Parameters
        ----------
        X : paths, DataFrame, Series or list of FaceTrack
            See the class Notes.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        self._parse(X)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the last output axis.

        Parameters
        ----------
        input_features : ignored
            The outputs do not map onto input columns.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- to implement ----------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------
    def _extractor(self) -> FaceLandmarks:
        return FaceLandmarks() if self.landmarks is None else self.landmarks

    def _parse(self, X: Any) -> list[Any]:
        """The clips of ``X``: a list of path strings or of FaceTrack objects."""
        import pandas as pd

        if isinstance(X, str | bytes | os.PathLike | FaceTrack):
            raise TypeError(
                f"X must be a collection of clips, got the single clip {X!r}; wrap it in a list."
            )
        if isinstance(X, pd.DataFrame):
            items = clip_table_column(X, self.path_column)
        elif isinstance(X, pd.Series):
            items = X.tolist()
        elif isinstance(X, list | tuple) or (
            isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "OU"
        ):
            items = list(X)
        else:
            raise TypeError(
                _NUMERIC_INPUT.format(name=type(self).__name__, column=self.path_column)
            )
        if not items:
            raise ValueError("X holds no clips (0 samples); at least 1 is required.")
        if all(isinstance(item, FaceTrack) for item in items):
            return items
        for position, item in enumerate(items):
            if not isinstance(item, str | os.PathLike):
                raise TypeError(
                    f"Expected clip paths or FaceTrack objects, got {type(item).__name__} "
                    f"at position {position}."
                )
        return [os.fspath(item) for item in items]


class _FaceTransformer(_ClipTransformer, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Features from landmark tracks: clips -> FaceTrack list -> (n_clips, n_frames, d)."""

    def transform(self, X: Any) -> np.ndarray:
        """Compute the features of every clip.

        Parameters
        ----------
        X : paths, DataFrame, Series or list of FaceTrack
            See the class Notes.

        Returns
        -------
        features : np.ndarray of float32, shape (n_clips, n_frames, n_features)
            NaN rows only for clips the landmark stage gave up on under
            ``on_error="warn"``.
        """
        import pandas as pd

        self._validate_params()
        clips, tracks = self._tracks(X)
        table = X if isinstance(X, pd.DataFrame) else None
        rows = self._compute(clips, tracks, table)
        return np.stack(rows).astype(np.float32, copy=False)

    # -- to implement ----------------------------------------------------------------
    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------
    def _tracks(self, X: Any) -> tuple[list[Any], list[FaceTrack | None]]:
        clips = self._parse(X)
        if isinstance(clips[0], FaceTrack):
            return clips, list(clips)
        return clips, self._extractor().extract(clips)


def _nan_rows(n_frames: int, n_features: int) -> np.ndarray:
    return np.full((n_frames, n_features), np.nan)


class _CalibratedDistances(_FaceTransformer):
    """Distances normalised by a neutral reference (calibration) or by eye distance."""

    _parameter_constraints: dict[str, list[Any]] = {
        **_FaceTransformer._parameter_constraints,
        "normalization": [StrOptions({"neutral_reference", "inter_ocular", "none"})],
        "references": [Mapping, None],
        "reference_resolver": [callable, None],
        "subject_column": [str],
    }

    normalization: str
    references: Mapping[Any, Any] | None
    reference_resolver: Callable[[str], Any] | None
    subject_column: str

    def fit(self, X: Any, y: Any = None) -> _CalibratedDistances:
        """Validate the parameters and the clips; nothing is learned.

        The calibration is per subject and is looked up for each clip at transform
        time (a test actor is calibrated on their own neutral clip, as in the paper),
        so there is nothing to fit.

        Parameters
        ----------
        X : paths, DataFrame, Series or list of FaceTrack
            See the class Notes.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        super().fit(X, y)
        return self

    # -- to implement ----------------------------------------------------------------
    def _distances(self, track: FaceTrack) -> np.ndarray:
        """(n_frames, n_features): distances first, then unnormalised extras."""
        raise NotImplementedError

    def _n_distances(self, track: FaceTrack) -> int:
        raise NotImplementedError

    def _n_features(self) -> int:
        raise NotImplementedError

    def _reference_from_array(self, landmarks: np.ndarray) -> np.ndarray:
        raise TypeError(
            f"{type(self).__name__} needs a calibration recording (a path or a FaceTrack) "
            "as reference, not a landmark array"
        )

    # -- shared ------------------------------------------------------------------------
    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        references = (
            self._references(clips, tracks, table)
            if self.normalization == "neutral_reference"
            else [None] * len(tracks)
        )
        rows = []
        n_frames = next((t.n_frames for t in tracks if t is not None), self._extractor().n_frames)
        for track, reference in zip(tracks, references, strict=True):
            if track is None or (self.normalization == "neutral_reference" and reference is None):
                rows.append(_nan_rows(n_frames, self._n_features()))
                continue
            features = self._distances(track)
            n_distances = self._n_distances(track)
            if self.normalization == "neutral_reference":
                assert reference is not None
                features[:, :n_distances] /= np.maximum(reference[:n_distances], 1e-9)
            elif self.normalization == "inter_ocular":
                scale = inter_ocular_distance(self._points(track))
                features[:, :n_distances] /= np.maximum(scale, 1e-9)[:, None]
            rows.append(features)
        return rows

    def _points(self, track: FaceTrack) -> np.ndarray:
        return track.landmarks_2d

    def _resolver(self) -> Callable[[str], Any]:
        if self.reference_resolver is None:
            return default_reference_resolver()
        return self.reference_resolver

    def _subject(self, clip: Any, position: int, frame: Any) -> Any:
        if frame is not None and self.subject_column in frame.columns:
            return frame[self.subject_column].iloc[position]
        source = clip.source if isinstance(clip, FaceTrack) else clip
        unknown = (
            f"{source}: cannot tell whose face this is to find its reference; pass X as "
            f"a DataFrame with a {self.subject_column!r} column"
        )
        # Only a resolver that knows the corpus's names can tell the subject from a path.
        subject_of = getattr(self._resolver(), "subject", None)
        if subject_of is None:
            raise ValueError(unknown)
        try:
            return subject_of(source)
        except ValueError as error:
            raise ValueError(unknown) from error

    def _references(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray | None]:
        """One reference feature vector per clip (None where its track is missing)."""
        supplied = dict(self.references or {})
        # A reference that is itself one of the clips (the neutral clip of a RAVDESS
        # corpus) reuses that clip's track instead of being extracted a second time, which
        # without a cache means decoding and tracking the video twice.
        in_batch = {
            os.fspath(Path(clip)): track
            for clip, track in zip(clips, tracks, strict=True)
            if not isinstance(clip, FaceTrack)
        }
        needed: dict[str, None] = {}
        plan: list[tuple[str, Any]] = []
        resolver = self._resolver()
        for position, (clip, track) in enumerate(zip(clips, tracks, strict=True)):
            if track is None:
                plan.append(("none", None))
                continue
            subject = self._subject(clip, position, table) if supplied else None
            if subject in supplied:
                value = supplied[subject]
                if isinstance(value, FaceTrack):
                    plan.append(("track", value))
                elif isinstance(value, str | os.PathLike):
                    self._plan_path(os.fspath(value), in_batch, needed, plan)
                else:
                    plan.append(("array", np.asarray(value, dtype=np.float64)))
                continue
            source = clip.source if isinstance(clip, FaceTrack) else clip
            reference = Path(resolver(source))
            if not reference.is_file():
                raise FileNotFoundError(
                    f"{source}: its neutral reference {reference} does not exist. Supply "
                    "references={subject: calibration clip}, or use "
                    "normalization='inter_ocular'."
                )
            if isinstance(clip, FaceTrack) and os.fspath(reference) == clip.source:
                plan.append(("track", clip))
                continue
            self._plan_path(os.fspath(reference), in_batch, needed, plan)
        extracted = dict(zip(needed, self._extractor().extract(list(needed)), strict=True))
        vectors: dict[int, np.ndarray | None] = {}
        out: list[np.ndarray | None] = []
        for kind, value in plan:
            if kind == "none":
                out.append(None)
            elif kind == "array":
                out.append(self._reference_from_array(value))
            else:
                track = value if kind == "track" else extracted[value]
                if track is None:
                    out.append(None)
                    continue
                key = id(track)
                if key not in vectors:
                    vectors[key] = self._distances(track)[most_neutral_frame(track)]
                out.append(vectors[key])
        return out

    @staticmethod
    def _plan_path(
        path: str,
        in_batch: dict[str, FaceTrack | None],
        needed: dict[str, None],
        plan: list[tuple[str, Any]],
    ) -> None:
        """Plan a reference given by path: a clip's own track, or one more extraction."""
        key = os.fspath(Path(path))
        if key in in_batch:
            plan.append(("track", in_batch[key]))
        else:
            needed[path] = None
            plan.append(("path", path))


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
    user's own calibration per subject.
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


class ActionUnits(_FaceTransformer):
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

    def __init__(
        self, landmarks: FaceLandmarks | None = None, *, path_column: str = "path"
    ) -> None:
        self.landmarks = landmarks
        self.path_column = path_column

    def _extractor(self) -> FaceLandmarks:
        return FaceLandmarks("openface") if self.landmarks is None else self.landmarks

    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        rows = []
        n_frames = next((t.n_frames for t in tracks if t is not None), self._extractor().n_frames)
        n_intensities = len(AU_INTENSITY_NAMES)
        for track in tracks:
            if track is None:
                rows.append(_nan_rows(n_frames, len(ACTION_UNIT_NAMES)))
                continue
            if track.action_units is None:
                raise ValueError(
                    f"{track.source}: ActionUnits needs action units, which only OpenFace "
                    f"estimates; this clip was tracked by the {track.backend} backend. Use "
                    "FaceLandmarks('openface', openface_dir=...)."
                )
            units = np.asarray(track.action_units, dtype=np.float64).copy()
            units[:, :n_intensities] = np.clip(units[:, :n_intensities] / 5.0, 0.0, 1.0)
            rows.append(units)
        return rows

    def _feature_names(self) -> list[str]:
        return list(ACTION_UNIT_NAMES)


class HeadPose(_FaceTransformer):
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

    def __init__(
        self, landmarks: FaceLandmarks | None = None, *, path_column: str = "path"
    ) -> None:
        self.landmarks = landmarks
        self.path_column = path_column

    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        n_frames = next((t.n_frames for t in tracks if t is not None), self._extractor().n_frames)
        return [
            _nan_rows(n_frames, len(HEAD_POSE_NAMES))
            if track is None
            else np.asarray(track.head_pose, dtype=np.float64)
            for track in tracks
        ]

    def _feature_names(self) -> list[str]:
        return list(HEAD_POSE_NAMES)
