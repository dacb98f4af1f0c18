"""The dlib backend on a real photograph: landmark geometry, tracking, losing the face."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("dlib")
cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from skemotion.face._dlib import (  # noqa: E402
    TrackedLandmarks,
    shape_predictor_path,
    track_face_landmarks,
)

CANVAS = (720, 1280)
FACE_SCALE = 3.0  # the astronaut's ~90 px face becomes ~270 px, as in a 720p RAVDESS clip


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def face_patch(astronaut: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    big = cv2.resize(gray, None, fx=FACE_SCALE, fy=FACE_SCALE, interpolation=cv2.INTER_LINEAR)
    return big[150:750, 400:950]  # head and shoulders, 600 x 550


def moving_frames(face: np.ndarray, n: int, *, blank: int | None = None) -> Iterator[np.ndarray]:
    """Gray 1280x720 frames with the face moving 7 px right and 3 px down per frame."""
    rng = np.random.default_rng(0)
    h, w = face.shape
    for i in range(n):
        canvas = np.full(CANVAS, 90, dtype=np.uint8)
        if i != blank:
            x, y = 300 + 7 * i, 40 + 3 * i
            canvas[y : y + h, x : x + w] = face[: CANVAS[0] - y, : CANVAS[1] - x]
        noise = rng.normal(0.0, 2.0, CANVAS)
        yield np.clip(canvas + noise, 0, 255).astype(np.uint8)


def test_shape_predictor_path() -> None:
    path = shape_predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.is_file()


def test_landmarks_on_a_photograph(astronaut: np.ndarray) -> None:
    import dlib

    result = track_face_landmarks([astronaut])  # RGB is accepted
    assert isinstance(result, TrackedLandmarks)
    assert result.landmarks.shape == (1, 68, 2) and result.landmarks.dtype == np.float32
    assert result.success.tolist() == [True] and result.n_detections == 1
    assert 0.5 < result.confidence[0] <= 1.0
    pts = result.landmarks[0]

    rect = dlib.get_frontal_face_detector()(astronaut, 0)[0]
    margin = 0.2 * rect.width()
    assert np.all(pts[:, 0] > rect.left() - margin) and np.all(pts[:, 0] < rect.right() + margin)
    assert np.all(pts[:, 1] > rect.top() - margin) and np.all(pts[:, 1] < rect.bottom() + margin)

    eyes_y, nose_y, mouth_y = pts[36:48, 1].mean(), pts[30, 1], pts[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    assert pts[17:27, 1].mean() < eyes_y  # brows above the eyes
    # Mirror pairs about the midline through the nose bridge (27-30).
    width = pts[16, 0] - pts[0, 0]
    mid = pts[27:31, 0].mean()
    for a, b in ((36, 45), (39, 42), (48, 54), (31, 35), (0, 16)):
        assert pts[a, 0] < mid < pts[b, 0]
        assert abs((pts[a, 0] + pts[b, 0]) / 2 - mid) < 0.06 * width
        assert abs(pts[a, 1] - pts[b, 1]) < 0.08 * width


def test_tracker_detects_once_and_follows(face_patch: np.ndarray) -> None:
    frames = list(moving_frames(face_patch, 10))
    tracked = track_face_landmarks(iter(frames))
    assert tracked.success.all() and tracked.n_detections == 1
    assert np.all((tracked.confidence > 0.5) & (tracked.confidence <= 1.0))
    # The face moves (7, 3) px per frame; so must the landmarks.
    steps = np.diff(tracked.landmarks.mean(axis=1), axis=0)
    np.testing.assert_allclose(steps.mean(axis=0), [7.0, 3.0], atol=0.7)
    # Same landmarks as detecting in every frame, within a few pixels.
    baseline = track_face_landmarks(frames, detect_every_frame=True, detect_width=640)
    assert baseline.n_detections == 10 and baseline.success.all()
    err = np.abs(tracked.landmarks - baseline.landmarks)
    assert err.mean() < 1.5 and err.max() < 10


def test_blank_frame_loses_the_face_and_redetects(face_patch: np.ndarray) -> None:
    tracked = track_face_landmarks(moving_frames(face_patch, 9, blank=4))
    expected = [True] * 9
    expected[4] = False
    assert tracked.success.tolist() == expected
    assert np.isnan(tracked.landmarks[4]).all() and tracked.confidence[4] == 0
    assert not np.isnan(np.delete(tracked.landmarks, 4, axis=0)).any()
    # first frame, the failed fit on the blank one, the frame after it
    assert tracked.n_detections == 3


def test_redetect_every(face_patch: np.ndarray) -> None:
    tracked = track_face_landmarks(moving_frames(face_patch, 9), redetect_every=4)
    assert tracked.success.all() and tracked.n_detections == 3  # frames 0, 4, 8


def test_no_face_and_no_frames() -> None:
    empty = track_face_landmarks([])
    assert empty.landmarks.shape == (0, 68, 2) and empty.n_detections == 0
    blank = track_face_landmarks([np.zeros((120, 160), np.uint8)] * 2)
    assert not blank.success.any() and np.isnan(blank.landmarks).all()
    assert blank.n_detections == 2 and not blank.confidence.any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"detect_width": 8},
        {"detect_width": True},
        {"upsample": -1},
        {"redetect_every": 0},
        {"min_fit_overlap": 1.5},
        {"min_fit_stability": -0.1},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        track_face_landmarks([], **kwargs)


def test_invalid_frames() -> None:
    with pytest.raises(ValueError, match="uint8"):
        track_face_landmarks([np.zeros((10, 10), np.float32)])
    with pytest.raises(ValueError, match="shape"):
        track_face_landmarks([np.zeros((10, 10, 4), np.uint8)])
