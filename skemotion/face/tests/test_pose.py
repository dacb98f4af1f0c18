"""Head pose: recovering a known rotation and translation, and a frontal photograph."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from skemotion.face._pose import (  # noqa: E402
    FACE_MODEL_3D,
    estimate_head_pose,
    rotation_to_euler,
)

WIDTH, HEIGHT = 1280, 720


def euler_to_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rx(pitch) @ Ry(yaw) @ Rz(roll), written out independently of the module."""
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def project(pose: np.ndarray, *, focal: float = WIDTH) -> np.ndarray:
    camera = np.array([[focal, 0, WIDTH / 2], [0, focal, HEIGHT / 2], [0, 0, 1]], dtype=float)
    rvec, _ = cv2.Rodrigues(euler_to_rotation(*pose[:3]))
    uv, _ = cv2.projectPoints(FACE_MODEL_3D, rvec, np.asarray(pose[3:], float), camera, None)
    return uv.reshape(-1, 2)


def test_model_layout() -> None:
    m = FACE_MODEL_3D
    assert m.shape == (68, 3) and not m.flags.writeable
    np.testing.assert_allclose(m.mean(axis=0), 0.0, atol=0.1)
    assert np.linalg.norm(m[45] - m[36]) == pytest.approx(90.0, abs=0.5)
    assert m[30, 2] < m[27, 2] < m[36, 2] < m[0, 2]  # nose tip nearest, jaw ends farthest
    assert m[36, 0] < 0 < m[45, 0] and m[19, 1] < m[30, 1] < m[8, 1]  # x right, y down
    np.testing.assert_allclose(m[[36, 48, 0], 0], -m[[45, 54, 16], 0])  # symmetric


@pytest.mark.parametrize("angles", [(0.1, -0.3, 0.05), (-0.2, 0.45, -0.15), (0.0, 0.0, 0.3)])
def test_euler_round_trip(angles: tuple[float, float, float]) -> None:
    np.testing.assert_allclose(rotation_to_euler(euler_to_rotation(*angles)), angles, atol=1e-12)


def test_recovers_known_poses() -> None:
    truth = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 600.0],
            [0.15, -0.35, 0.1, -40.0, 25.0, 700.0],
            [-0.2, 0.5, -0.25, 80.0, -30.0, 900.0],
            [0.05, 0.2, 0.02, 10.0, 5.0, 500.0],
        ]
    )
    uv = np.stack([project(p) for p in truth])
    pose = estimate_head_pose(uv, frame_size=(WIDTH, HEIGHT))
    assert pose.shape == (4, 6) and pose.dtype == np.float32
    np.testing.assert_allclose(pose[:, :3], truth[:, :3], atol=np.radians(1.0))
    np.testing.assert_allclose(pose[:, 3:], truth[:, 3:], atol=3.0)


def test_noise_focal_length_and_missing_frames() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([[0.1, 0.25, -0.05, 20.0, -10.0, 650.0]] * 5)
    truth[:, 1] += np.linspace(0, 0.2, 5)  # the head turns
    uv = np.stack([project(p, focal=1500.0) for p in truth])
    uv += rng.normal(0.0, 0.5, uv.shape)  # half a pixel of landmark noise
    uv[2] = np.nan
    pose = estimate_head_pose(uv, frame_size=(WIDTH, HEIGHT), focal_length=1500.0)
    assert np.isnan(pose[2]).all() and not np.isnan(np.delete(pose, 2, axis=0)).any()
    ok = [0, 1, 3, 4]
    np.testing.assert_allclose(pose[ok, :3], truth[ok, :3], atol=np.radians(2.0))
    np.testing.assert_allclose(pose[ok, 3:], truth[ok, 3:], rtol=0.02, atol=3.0)


def test_frontal_photograph_has_small_yaw_and_roll() -> None:
    pytest.importorskip("dlib")
    data = pytest.importorskip("skimage.data")
    from skemotion.face._dlib import track_face_landmarks

    image = data.astronaut()
    landmarks = track_face_landmarks([image]).landmarks
    pitch, yaw, roll, tx, ty, tz = estimate_head_pose(
        landmarks, frame_size=(image.shape[1], image.shape[0])
    )[0]
    assert abs(yaw) < np.radians(10) and abs(roll) < np.radians(8) and abs(pitch) < np.radians(25)
    # An ~90 mm eye span imaged ~60 px wide by a 512 px focal length: about 0.75 m away.
    assert 500 < tz < 1100 and tx < 0 and ty < 0  # the face sits left of and above centre


def test_invalid_arguments() -> None:
    good = np.zeros((1, 68, 2))
    with pytest.raises(ValueError, match="landmarks_2d"):
        estimate_head_pose(np.zeros((68, 2)), frame_size=(WIDTH, HEIGHT))
    with pytest.raises(ValueError, match="frame_size"):
        estimate_head_pose(good, frame_size=(0, HEIGHT))
    with pytest.raises(ValueError, match="focal_length"):
        estimate_head_pose(good, frame_size=(WIDTH, HEIGHT), focal_length=-1.0)
    with pytest.raises(ValueError, match="model"):
        estimate_head_pose(good, frame_size=(WIDTH, HEIGHT), model=np.zeros((68, 2)))
    with pytest.raises(ValueError, match="rotation"):
        rotation_to_euler(np.eye(2))
    assert estimate_head_pose(np.zeros((0, 68, 2)), frame_size=(WIDTH, HEIGHT)).shape == (0, 6)
