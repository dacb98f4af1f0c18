"""The neutral reference of the paper's key-point normalisation (a calibration step)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..datasets import parse_ravdess_name
from ._geometry import most_neutral_frame
from ._track import N_LANDMARKS, FaceTrack

__all__ = [
    "is_ravdess_neutral_reference",
    "neutral_reference_landmarks",
    "ravdess_neutral_reference",
]


def ravdess_neutral_reference(path: str | os.PathLike[str]) -> Path:
    """The clip whose face calibrates a RAVDESS clip: its actor's neutral, repetition 1.

    The paper normalises each clip's key-point distances by those of the most neutral
    frame of the first repetition of the same actor's neutral clip of the same
    statement. Only the clip's file name is read (actor, statement, modality, vocal
    channel, extension); its emotion is not used.

    Parameters
    ----------
    path : str or path-like
        A RAVDESS-named clip (video or OpenFace CSV).

    Returns
    -------
    reference : Path
        The neutral clip's path in the same folder (which need not exist).
    """
    clip = Path(path)
    name = parse_ravdess_name(clip)
    reference = type(name)(
        modality=name.modality,
        vocal_channel=name.vocal_channel,
        emotion="neutral",
        intensity="normal",
        statement=name.statement,
        repetition=1,
        actor=name.actor,
    )
    return clip.with_name(reference.to_name(clip.suffix))


def is_ravdess_neutral_reference(paths: Iterable[str | os.PathLike[str]]) -> np.ndarray:
    """Which clips are themselves a neutral reference (calibration) recording.

    Each actor's neutral clip of repetition 1 calibrates that actor's clips of the same
    statement (:func:`ravdess_neutral_reference`), so it is also a clip of the data set:
    2 of each actor's 60 speech clips. Normalised by itself, the most neutral frame of
    such a clip is exactly 1.0 in every key-point distance, which gives its label away.
    The paper keeps these clips in its test folds; pass this mask to
    :class:`~skemotion.model_selection.ExcludeFromTest` to leave them out.

    Parameters
    ----------
    paths : iterable of str or path-like
        RAVDESS-named clips (any modality, video, audio or OpenFace CSV).

    Returns
    -------
    mask : np.ndarray of bool, shape (n_clips,)
        True for the reference recordings.

    Raises
    ------
    ValueError
        A path whose name is not a RAVDESS name (the message names it).

    Examples
    --------
    >>> is_ravdess_neutral_reference(
    ...     ["Actor_03/02-01-01-01-02-01-03.mp4", "Actor_03/02-01-01-01-02-02-03.mp4"]
    ... )
    array([ True, False])
    """
    names = [Path(path) for path in paths]
    return np.array(
        [ravdess_neutral_reference(name).name == name.name for name in names], dtype=bool
    )


def neutral_reference_landmarks(track: FaceTrack, *, use_3d: bool = False) -> np.ndarray:
    """Landmarks of the most neutral frame of a calibration track.

    Parameters
    ----------
    track : FaceTrack
        The calibration recording (e.g. a neutral clip).
    use_3d : bool, default=False
        Return the 3D landmarks (the track must have them).

    Returns
    -------
    landmarks : np.ndarray of float64, shape (68, 2) or (68, 3)
        Chosen by :func:`~skemotion.face.most_neutral_frame`.
    """
    frame = most_neutral_frame(track)
    if use_3d:
        if track.landmarks_3d is None:
            raise ValueError(f"{track.source}: the {track.backend} track has no 3D landmarks")
        return np.asarray(track.landmarks_3d[frame], dtype=np.float64)
    landmarks = np.asarray(track.landmarks_2d[frame], dtype=np.float64)
    assert landmarks.shape == (N_LANDMARKS, 2)
    return landmarks
