"""Property-based tests of the face distance features: rigid invariance, scale, count."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skemotion.face import KPD_LANDMARK_INDICES, keypoint_distances, pairwise_distances

FAST = settings(max_examples=50, deadline=None)

coordinates = st.floats(-1000, 1000, allow_nan=False, width=64)
points_2d = st.integers(1, 4).flatmap(
    lambda n_frames: arrays(np.float64, (n_frames, 40, 2), elements=coordinates)
)
faces = st.integers(1, 3).flatmap(
    lambda n_frames: arrays(np.float64, (n_frames, 68, 2), elements=coordinates)
)
angles = st.floats(-np.pi, np.pi, allow_nan=False)
shifts = arrays(np.float64, 2, elements=st.floats(-1e3, 1e3, allow_nan=False))
scales = st.floats(1e-3, 1e3, allow_nan=False)


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _close(a: np.ndarray, b: np.ndarray, span: float) -> None:
    # Round-off grows with the coordinates' magnitude, not with each distance.
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * max(span, 1.0))


@FAST
@given(points=points_2d)
def test_count_and_sign(points: np.ndarray) -> None:
    distances = pairwise_distances(points)
    assert distances.shape == (points.shape[0], 780)
    assert (distances >= 0).all() and np.isfinite(distances).all()


@FAST
@given(points=points_2d, angle=angles, shift=shifts, mirror=st.booleans())
def test_invariant_under_rotation_translation_reflection(
    points: np.ndarray, angle: float, shift: np.ndarray, mirror: bool
) -> None:
    transform = _rotation(angle) @ (np.diag([1.0, -1.0]) if mirror else np.eye(2))
    moved = points @ transform.T + shift
    span = float(np.abs(points).max() + np.abs(shift).max())
    _close(pairwise_distances(moved), pairwise_distances(points), span)


@FAST
@given(points=points_2d, factor=scales)
def test_scale_equivariant(points: np.ndarray, factor: float) -> None:
    span = float(np.abs(points).max() * factor)
    _close(pairwise_distances(points * factor), factor * pairwise_distances(points), span)


@FAST
@given(
    points=st.integers(1, 3).flatmap(
        lambda n: arrays(np.float64, (n, 12, 3), elements=coordinates)
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_invariant_under_3d_rotation(points: np.ndarray, seed: int) -> None:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    rotation = q * np.sign(np.diag(r))
    span = float(np.abs(points).max())
    _close(pairwise_distances(points @ rotation.T), pairwise_distances(points), span)


@FAST
@given(face=faces, angle=angles, shift=shifts)
def test_keypoint_distances_are_the_40_points_pairs(
    face: np.ndarray, angle: float, shift: np.ndarray
) -> None:
    distances = keypoint_distances(face)
    assert len(KPD_LANDMARK_INDICES) == 40 and distances.shape == (face.shape[0], 780)
    np.testing.assert_array_equal(distances, pairwise_distances(face[:, KPD_LANDMARK_INDICES]))
    moved = face @ _rotation(angle).T + shift
    span = float(np.abs(face).max() + np.abs(shift).max())
    _close(keypoint_distances(moved), distances, span)
    # each unordered pair once: distance (i, j) for i < j in row-major order
    first, second = np.triu_indices(40, k=1)
    i, j = KPD_LANDMARK_INDICES[first[5]], KPD_LANDMARK_INDICES[second[5]]
    np.testing.assert_allclose(distances[:, 5], np.linalg.norm(face[:, i] - face[:, j], axis=-1))


def _per_frame_pairwise_distances(points: np.ndarray) -> np.ndarray:
    """The straightforward form: one np.linalg.norm over the pairs of each frame."""
    first, second = np.triu_indices(points.shape[1], k=1)
    return np.stack([np.linalg.norm(frame[first] - frame[second], axis=-1) for frame in points])


@FAST
@given(
    points=st.tuples(st.integers(1, 4), st.integers(2, 40), st.integers(2, 3)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=coordinates)
    )
)
def test_vectorised_distances_match_the_per_frame_loop(points: np.ndarray) -> None:
    np.testing.assert_allclose(
        pairwise_distances(points), _per_frame_pairwise_distances(points), rtol=1e-12, atol=0
    )


def test_vectorised_distances_match_the_per_frame_loop_on_float32_faces() -> None:
    # Landmark tracks are stored as float32: the conversion must happen before subtracting.
    faces = np.random.default_rng(0).uniform(0, 1280, size=(88, 68, 3)).astype(np.float32)
    expected = _per_frame_pairwise_distances(faces[:, KPD_LANDMARK_INDICES].astype(np.float64))
    distances = keypoint_distances(faces)
    assert distances.dtype == np.float64 and distances.shape == (88, 780)
    np.testing.assert_allclose(distances, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        keypoint_distances(faces[..., :2]),
        _per_frame_pairwise_distances(faces[:, KPD_LANDMARK_INDICES, :2].astype(np.float64)),
        rtol=1e-12,
        atol=0,
    )
