"""Distances normalised per subject by a neutral reference face, or by eye distance."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ._clip_transformer import _FaceTransformer, nan_rows
from ._geometry import inter_ocular_distance, most_neutral_frame
from ._reference import default_reference_resolver
from ._track import FaceTrack

__all__: list[str] = []


class _CalibratedDistances(_FaceTransformer):
    """Distances normalised by a neutral reference (calibration) or by eye distance.

    The calibration is per subject and is looked up for each clip at transform time (a
    test actor is calibrated on their own neutral clip, as in the paper), so ``fit``
    learns nothing.
    """

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
        n_frames = self._n_frames(tracks)
        for track, reference in zip(tracks, references, strict=True):
            if track is None or (self.normalization == "neutral_reference" and reference is None):
                rows.append(nan_rows(n_frames, self._n_features()))
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
