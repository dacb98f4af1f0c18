"""Pure geometric face features: key-point distances, eye features, neutral frames."""

from __future__ import annotations

import numpy as np

from ._track import AU_INTENSITY_NAMES, FaceTrack

__all__ = [
    "DLIB_EYE_FEATURE_DIM",
    "EYE_BROW_INDICES",
    "KPD_LANDMARK_INDICES",
    "OPENFACE_EYELID_INDICES",
    "OPENFACE_EYE_FEATURE_DIM",
    "eye_keypoint_distances",
    "inter_ocular_distance",
    "keypoint_distances",
    "most_neutral_frame",
    "pairwise_distances",
]

# 40 of the 68 iBUG points. Neighbouring points of the jaw, brows, nose ridge and lips
# move together, so every other one is kept there; the eyes keep all twelve points
# because lid opening (AU05, AU07, blinks) is spread over them, and the mouth keeps its
# corners, the outer lip centre and sides and the inner lip centres (opening, AU25/26).
KPD_LANDMARK_INDICES: tuple[int, ...] = (
    # jaw line, every other point: 0 (right ear) ... 8 (chin) ... 16 (left ear)
    0, 2, 4, 6, 8, 10, 12, 14, 16,
    # brows: outer end, middle, inner end of each
    17, 19, 21, 22, 24, 26,
    # nose: root, tip, nostril wings, base centre
    27, 30, 31, 33, 35,
    # eyes, all six points each
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    # mouth: corners, upper lip (sides and centre), lower lip centre, inner lip centres
    48, 50, 51, 52, 54, 57, 62, 66,
)  # fmt: skip
"""The 40 landmarks of the paper's key-point distances (780 pairs)."""

EYE_BROW_INDICES: tuple[int, ...] = (17, 19, 21, 22, 24, 26, 36, 39, 42, 45)
"""Ten brow and eye-corner points of the 68 whose 45 distances follow brow movement."""

OPENFACE_EYELID_INDICES: tuple[tuple[int, ...], tuple[int, ...]] = (
    tuple(range(8, 20)),
    tuple(range(36, 48)),
)
"""OpenFace's 12 eyelid points of each eye among its 56 eye landmarks (per eye: 8 iris,
12 eyelid, 8 pupil points)."""

OPENFACE_EYE_FEATURE_DIM = 66 + 66 + 45 + 2
"""179: eyelid distances of each eye, brow/eye-corner distances, mean gaze angles."""

DLIB_EYE_FEATURE_DIM = 15 + 15 + 45
"""75: distances within each eye's 6 points and between the 10 brow/eye-corner points."""

_OUTER_EYE_CORNERS = (36, 45)


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between all pairs of points, frame by frame.

    Parameters
    ----------
    points : np.ndarray, shape (n_frames, n_points, n_dims)
        Point coordinates (2D or 3D).

    Returns
    -------
    distances : np.ndarray of float64, shape (n_frames, n_points * (n_points - 1) // 2)
        Pairs ``(i, j)`` with ``i < j`` in row-major order (``np.triu_indices``).

    Examples
    --------
    >>> pairwise_distances(np.array([[[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]]]))
    array([[5., 4., 3.]])
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3:
        raise ValueError(f"points must be (n_frames, n_points, n_dims), got {points.shape}")
    first, second = np.triu_indices(points.shape[1], k=1)
    # Coordinate-major, so every operation runs over contiguous (n_frames, n_pairs) planes;
    # np.linalg.norm over a trailing axis of 2 or 3 is about twice as slow (2D; less in 3D,
    # see benchmarks/run_all.py). The squares are summed in norm's order: identical results.
    planes = np.ascontiguousarray(np.moveaxis(points, -1, 0))
    differences = np.take(planes, first, axis=2)
    differences -= np.take(planes, second, axis=2)
    differences *= differences
    # A fresh array, not a view of `differences`: callers keep one result per clip.
    squared = np.add.reduce(differences, axis=0)
    return np.sqrt(squared, out=squared)


def keypoint_distances(
    landmarks: np.ndarray, *, indices: tuple[int, ...] = KPD_LANDMARK_INDICES
) -> np.ndarray:
    """The paper's key-point distances: all pairwise distances of 40 of the 68 points.

    Parameters
    ----------
    landmarks : np.ndarray, shape (n_frames, 68, n_dims)
        68-point landmarks, 2D (pixels) or 3D (millimetres).
    indices : tuple of int, default=KPD_LANDMARK_INDICES
        The points used.

    Returns
    -------
    distances : np.ndarray of float64, shape (n_frames, 780)
        ``len(indices) * (len(indices) - 1) // 2`` distances per frame (780 for 40).
    """
    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1] != 68:
        raise ValueError(f"landmarks must be (n_frames, 68, n_dims), got {landmarks.shape}")
    return pairwise_distances(landmarks[:, list(indices)])


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (points 36 and 45), per frame.

    Parameters
    ----------
    landmarks : np.ndarray, shape (n_frames, 68, n_dims)

    Returns
    -------
    distance : np.ndarray of float64, shape (n_frames,)
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    right, left = _OUTER_EYE_CORNERS
    return np.linalg.norm(landmarks[:, left] - landmarks[:, right], axis=-1)


def eye_keypoint_distances(track: FaceTrack) -> np.ndarray:
    """The paper's eye features, or their 68-point analogue.

    With OpenFace eye landmarks (``track.eye_landmarks_2d``): the 66 distances among
    the 12 eyelid points of each eye, the 45 among :data:`EYE_BROW_INDICES` of the 68
    points, then the mean gaze angles (x, y) in radians: 179 values. From 68 points
    only (dlib): the 15 distances among each eye's 6 points, then the same 45: 75
    values, no gaze.

    Parameters
    ----------
    track : FaceTrack

    Returns
    -------
    features : np.ndarray of float64, shape (n_frames, 179) or (n_frames, 75)
        Distances first (in pixels), gaze angles last.
    """
    brows = pairwise_distances(track.landmarks_2d[:, list(EYE_BROW_INDICES)])
    if track.eye_landmarks_2d is not None:
        eyes = [
            pairwise_distances(track.eye_landmarks_2d[:, list(i)]) for i in OPENFACE_EYELID_INDICES
        ]
        gaze = (
            np.zeros((track.n_frames, 2))
            if track.gaze_angle is None
            else np.asarray(track.gaze_angle, dtype=np.float64)
        )
        return np.concatenate([*eyes, brows, gaze], axis=1)
    eyes = [
        pairwise_distances(track.landmarks_2d[:, 36:42]),
        pairwise_distances(track.landmarks_2d[:, 42:48]),
    ]
    return np.concatenate([*eyes, brows], axis=1)


def most_neutral_frame(track: FaceTrack) -> int:
    """The frame of a clip where the face is closest to rest.

    With action units (OpenFace): the frame with the lowest summed AU intensity, as
    in the paper. Without (dlib): the frame whose key-point distances are closest,
    in summed absolute log ratio, to the clip's per-distance median: the face's most
    typical configuration, which for a neutral clip is the face at rest between
    syllables rather than a mid-word mouth opening or a blink. Only frames where the
    face was found are candidates.

    Parameters
    ----------
    track : FaceTrack

    Returns
    -------
    frame : int
        Index into the track's frames.
    """
    candidates = np.flatnonzero(track.success)
    if not len(candidates):
        raise ValueError(f"{track.source}: no frame with a face to choose a neutral frame from")
    if track.action_units is not None:
        intensity = track.action_units[:, : len(AU_INTENSITY_NAMES)].sum(axis=1)
        return int(candidates[np.argmin(intensity[candidates])])
    distances = keypoint_distances(track.landmarks_2d)[candidates]
    log_distances = np.log(np.maximum(distances, 1e-9))
    spread = np.abs(log_distances - np.median(log_distances, axis=0)).sum(axis=1)
    return int(candidates[np.argmin(spread)])
