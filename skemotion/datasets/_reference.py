"""RAVDESS's neutral references: which clip calibrates a clip's face features."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._ravdess import parse_ravdess_name

__all__ = [
    "RavdessNeutralReference",
    "is_ravdess_neutral_reference",
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

    Examples
    --------
    >>> ravdess_neutral_reference("Actor_03/02-01-05-02-02-02-03.mp4").as_posix()
    'Actor_03/02-01-01-01-02-01-03.mp4'
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


class RavdessNeutralReference:
    """The RAVDESS neutral-reference lookup, as the face features' ``reference_resolver``.

    Calling it is :func:`ravdess_neutral_reference`; :meth:`subject` tells whose face a
    clip shows (its actor), for a ``references`` mapping keyed by actor. It is the
    default of :class:`~skemotion.face.KeyPointDistances` and
    :class:`~skemotion.face.EyeKeyPointDistances` (``reference_resolver=None``). A class
    rather than a function so that a model holding it can be saved by
    :func:`~skemotion.save_model`, which stores no code.

    Examples
    --------
    >>> resolver = RavdessNeutralReference()
    >>> resolver("Actor_03/02-01-05-02-02-02-03.mp4").name
    '02-01-01-01-02-01-03.mp4'
    >>> resolver.subject("Actor_03/02-01-05-02-02-02-03.mp4")
    3
    """

    def __call__(self, path: str | os.PathLike[str]) -> Path:
        """The neutral reference clip of ``path`` (see :func:`ravdess_neutral_reference`).

        Parameters
        ----------
        path : str or path-like
            A RAVDESS-named clip.

        Returns
        -------
        reference : Path
        """
        return ravdess_neutral_reference(path)

    def subject(self, path: str | os.PathLike[str]) -> int:
        """The actor of a RAVDESS-named clip.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        actor : int
        """
        return parse_ravdess_name(path).actor

    def __eq__(self, other: object) -> bool:
        # Stateless: every instance resolves alike (clone and save/load compare equal).
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
