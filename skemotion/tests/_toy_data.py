"""Toy data shared by the test modules of several subpackages."""

from __future__ import annotations

import numpy as np
from skorch.helper import SliceDict

FOUR_CLASSES = np.array(["angry", "calm", "happy", "sad"])


def two_modalities(n_clips: int, seed: int = 0) -> tuple[SliceDict, np.ndarray, np.ndarray]:
    """Four classes; bit 0 of the class is only in the speech, bit 1 only in the face.

    Speech is 16 frames of 4 features, face 30 frames of 6: the modalities differ in length
    and width. Each modality alone can tell two pairs of classes apart (at best 50 %
    accuracy); together they tell all four. 8 'actors', every class in each.

    Returns
    -------
    X : SliceDict
        ``speech`` (n_clips, 16, 4) and ``face`` (n_clips, 30, 6), float32.
    y : ndarray of str
        The class of each clip, from :data:`FOUR_CLASSES`, in turn.
    groups : ndarray of int
        The actor of each clip, 0 to 7.
    """
    rng = np.random.default_rng(seed)
    code = np.arange(n_clips) % 4
    speech = rng.normal(size=(n_clips, 16, 4)).astype(np.float32)
    face = rng.normal(size=(n_clips, 30, 6)).astype(np.float32)
    speech[:, :, 0] += np.where(code & 1, 1.0, -1.0)[:, None]
    face[:, :, 1] += np.where(code & 2, 1.0, -1.0)[:, None]
    groups = (np.arange(n_clips) // 4) % 8
    return SliceDict(speech=speech, face=face), FOUR_CLASSES[code], groups
