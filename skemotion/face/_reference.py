"""The neutral reference of the paper's key-point normalisation (a calibration step)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..datasets import parse_ravdess_name
from ._geometry import most_neutral_frame
from ._track import N_LANDMARKS, FaceTrack

__all__ = ["neutral_reference_landmarks", "ravdess_neutral_reference"]


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
