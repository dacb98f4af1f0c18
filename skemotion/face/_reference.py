"""The neutral reference of the paper's key-point normalisation (a calibration step).

Which clip calibrates which is a fact of a corpus's naming scheme, not of the face
features: they take it as a ``reference_resolver``. The default one is installed by
the package root from :mod:`skemotion.datasets` (RAVDESS names), so this subpackage
never imports a corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._geometry import most_neutral_frame
from ._track import N_LANDMARKS, FaceTrack

__all__ = [
    "default_reference_resolver",
    "neutral_reference_landmarks",
    "set_default_reference_resolver",
]

_default_resolver: Callable[[str], Any] | None = None


def set_default_reference_resolver(resolver: Callable[[str], Any]) -> None:
    """Install the resolver that the face features' ``reference_resolver=None`` stands for.

    :mod:`skemotion` installs the RAVDESS lookup
    (:class:`skemotion.datasets.RavdessNeutralReference`) when it is imported; a project
    whose corpus names its neutral reference clips otherwise can install its own once
    instead of passing ``reference_resolver=`` to every feature.

    Parameters
    ----------
    resolver : callable
        Maps a clip's path to the path of its neutral reference clip.
    """
    global _default_resolver
    _default_resolver = resolver


def default_reference_resolver() -> Callable[[str], Any]:
    """The resolver the face features use when ``reference_resolver`` is None.

    It is installed when :mod:`skemotion` is imported: the RAVDESS lookup,
    :class:`skemotion.datasets.RavdessNeutralReference`.

    Returns
    -------
    resolver : callable
        Maps a clip's path to the path of its neutral reference clip.
    """
    if _default_resolver is None:  # only if the package root was bypassed
        raise RuntimeError(
            "no default neutral-reference resolver is installed; pass reference_resolver="
        )
    return _default_resolver


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
