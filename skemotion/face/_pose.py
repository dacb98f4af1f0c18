"""Head pose from 2-D landmarks: a fixed 3-D face model fitted with ``cv2.solvePnP``."""

from __future__ import annotations

import numpy as np

from ..utils._optional import import_optional

__all__ = ["FACE_MODEL_3D", "estimate_head_pose", "rotation_to_euler"]

# How these numbers were made (once, offline; nothing runs at import time):
#
# x, y: the 68 dlib landmarks of the frontal face in skimage.data.astronaut() (NASA
#   portrait of Eileen Collins, public domain), rotated by -2.9 degrees so the outer eye
#   corners (36, 45) are level, averaged with their left-right mirror image (pairs
#   0<->16, 17<->26, 36<->45, 48<->54, ...) so the model is symmetric about x = 0,
#   and scaled so the outer eye corners are 90 mm apart (adult biocular width ex-ex,
#   about 88-91 mm in Farkas, "Anthropometry of the Head and Face", 1994).
# z: a depth rule per region, in mm behind the plane of the outer eye corners
#   (negative = towards the camera), from average facial profiles:
#   - jaw 0..16: -12 at the chin (8) rising to +80 at the ends next to the ears
#     (0, 16) as -12 + 92 * t**1.5, t = |i - 8| / 8;
#   - brows: +8 at the outer ends (17, 26) to -10 at the inner ends (21, 22), linear;
#   - nose bridge 27..30: nasion -12, -17.5, -23, tip (pronasale) -28;
#     nostrils 31..35: -8, -13, -16 (subnasale), -13, -8;
#   - eyes: corners 0 (outer) and -8 (inner), lids -6 to -8 (the eyeball's front);
#   - outer lips: corners -4, upper lip -13 / -18 / -19 (centre), lower lip -13 /
#     -16 / -17 (centre); inner lips: corners -5, centres -16 (upper), -15 (lower).
# Finally the 68 points were centred on their mean, so (Tx, Ty, Tz) is the position
# of the points' centroid (28 mm straight behind the nose tip), and rounded
# to 0.1 mm.
FACE_MODEL_3D: np.ndarray = np.array(
    [
        [-68.2, -33.4, 80.1],
        [-67.5, -15.4, 63.4],
        [-66.0, 1.2, 47.8],
        [-63.0, 18.4, 33.5],
        [-57.8, 35.7, 20.6],
        [-48.0, 51.4, 9.2],
        [-33.8, 63.4, -0.4],
        [-18.0, 74.0, -7.9],
        [0.0, 76.2, -11.9],
        [18.0, 74.0, -7.9],
        [33.8, 63.4, -0.4],
        [48.0, 51.4, 9.2],
        [57.8, 35.7, 20.6],
        [63.0, 18.4, 33.5],
        [66.0, 1.2, 47.8],
        [67.5, -15.4, 63.4],
        [68.2, -33.4, 80.1],
        [-59.3, -46.1, 8.1],
        [-51.1, -55.1, 3.6],
        [-39.1, -57.3, -0.9],
        [-27.0, -56.6, -5.4],
        [-15.0, -52.1, -9.9],
        [15.0, -52.1, -9.9],
        [27.0, -56.6, -5.4],
        [39.1, -57.3, -0.9],
        [51.1, -55.1, 3.6],
        [59.3, -46.1, 8.1],
        [0.0, -37.9, -11.9],
        [0.0, -24.3, -17.4],
        [0.0, -12.4, -22.9],
        [0.0, -0.4, -27.9],
        [-15.0, 5.7, -7.9],
        [-7.5, 7.9, -12.9],
        [0.0, 10.1, -15.9],
        [7.5, 7.9, -12.9],
        [15.0, 5.7, -7.9],
        [-45.0, -37.1, 0.1],
        [-37.5, -41.6, -6.9],
        [-27.0, -42.3, -7.9],
        [-19.5, -34.8, -7.9],
        [-28.5, -33.3, -6.9],
        [-37.5, -33.3, -5.9],
        [19.5, -34.8, -7.9],
        [27.0, -42.3, -7.9],
        [37.5, -41.6, -6.9],
        [45.0, -37.1, 0.1],
        [37.5, -33.3, -5.9],
        [28.5, -33.3, -6.9],
        [-32.2, 19.9, -3.9],
        [-21.0, 18.4, -12.9],
        [-9.0, 18.4, -17.9],
        [0.0, 20.7, -18.9],
        [9.0, 18.4, -17.9],
        [21.0, 18.4, -12.9],
        [32.2, 19.9, -3.9],
        [21.7, 34.9, -12.9],
        [9.7, 41.7, -15.9],
        [0.0, 43.2, -16.9],
        [-9.7, 41.7, -15.9],
        [-21.7, 34.9, -12.9],
        [-28.5, 21.4, -4.9],
        [-9.0, 23.7, -14.9],
        [0.0, 25.2, -15.9],
        [9.0, 23.7, -14.9],
        [28.5, 21.4, -4.9],
        [9.0, 34.2, -13.9],
        [0.0, 35.7, -14.9],
        [-9.0, 34.2, -13.9],
    ],
    dtype=np.float64,
)
"""A 68-point 3-D face model in millimetres, shape (68, 3), dlib / iBUG point order.

Camera convention, as OpenCV and OpenFace: x to the right of the image, y down, z
away from the camera; a face looking into the camera has the identity rotation.
Centred on the mean of its points, symmetric about x = 0, outer eye corners 90 mm
apart, nose tip 28 mm in front of them (see the comment in the source for how it
was built).
"""
FACE_MODEL_3D.setflags(write=False)


def rotation_to_euler(rotation: np.ndarray) -> np.ndarray:
    """Pitch, yaw and roll of a rotation matrix, OpenFace's ``pose_Rx, pose_Ry, pose_Rz``.

    The angles are the XYZ Euler angles of ``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)``,
    with ``Rx``, ``Ry``, ``Rz`` the rotations about the camera's x (right), y (down)
    and z (forward) axes: ``yaw = arcsin(R[0, 2])``,
    ``pitch = arctan2(-R[1, 2], R[2, 2])``, ``roll = arctan2(-R[0, 1], R[0, 0])``.

    Parameters
    ----------
    rotation : np.ndarray, shape (..., 3, 3)
        Rotation matrices.

    Returns
    -------
    angles : np.ndarray, shape (..., 3)
        (pitch, yaw, roll) in radians; yaw in [-pi/2, pi/2].

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.face import rotation_to_euler
    >>> c, s = np.cos(0.3), np.sin(0.3)  # 0.3 rad about the camera's y axis
    >>> angles = rotation_to_euler(np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]))
    >>> bool(np.allclose(angles, [0.0, 0.3, 0.0]))  # pitch, yaw, roll
    True
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must have shape (..., 3, 3), got {r.shape}.")
    pitch = np.arctan2(-r[..., 1, 2], r[..., 2, 2])
    yaw = np.arcsin(np.clip(r[..., 0, 2], -1.0, 1.0))
    roll = np.arctan2(-r[..., 0, 1], r[..., 0, 0])
    return np.stack([pitch, yaw, roll], axis=-1)


def estimate_head_pose(
    landmarks_2d: np.ndarray,
    *,
    frame_size: tuple[int, int],
    focal_length: float | None = None,
    model: np.ndarray = FACE_MODEL_3D,
) -> np.ndarray:
    """Head rotation and position per frame by fitting a 3-D face model to landmarks.

    Each frame solves the perspective-n-point problem with ``cv2.solvePnP``
    (Levenberg-Marquardt, ``SOLVEPNP_ITERATIVE``) for a pinhole camera with focal
    length ``focal_length`` in pixels, principal point at the image centre and no
    lens distortion. The first frame starts from a frontal face at the distance its
    landmarks' spread implies; every later frame starts from the previous solution
    (``useExtrinsicGuess``), which is faster and keeps consecutive poses on the same
    branch.

    Parameters
    ----------
    landmarks_2d : np.ndarray, shape (n_frames, 68, 2)
        Image coordinates (x, y) in pixels, in the order of ``model``. Frames with
        any NaN get a NaN pose.
    frame_size : (int, int)
        (width, height) of the frames in pixels.
    focal_length : float or None, default=None
        Focal length in pixels; ``None`` uses the frame width (a ~53 degree
        horizontal field of view, as OpenFace assumes when it is not calibrated).
    model : np.ndarray, shape (68, 3), default=FACE_MODEL_3D
        3-D points in millimetres, camera convention (x right, y down, z away).

    Returns
    -------
    pose : np.ndarray of float32, shape (n_frames, 6)
        Pitch, yaw, roll in radians (rotation of the head about the camera's x, y and
        z axes, see :func:`rotation_to_euler`; OpenFace's ``pose_Rx, pose_Ry,
        pose_Rz``), then Tx, Ty, Tz in millimetres: the camera-frame position of the
        model's origin (the centroid of its points).

    Raises
    ------
    ValueError
        If the shapes or ``frame_size`` / ``focal_length`` are invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.face import FACE_MODEL_3D, estimate_head_pose
    >>> f = 640.0  # a frontal face 600 mm in front of the camera
    >>> pts = FACE_MODEL_3D + [0.0, 0.0, 600.0]
    >>> uv = f * pts[:, :2] / pts[:, 2:] + [320.0, 240.0]
    >>> pose = estimate_head_pose(uv[None], frame_size=(640, 480))
    >>> pose.shape, bool(np.allclose(pose[0], [0, 0, 0, 0, 0, 600], atol=1e-3))
    ((1, 6), True)
    """
    cv2 = import_optional("cv2", extra="face", needed_for="Head pose", package="OpenCV")
    points = np.asarray(landmarks_2d, dtype=np.float64)
    object_points = np.ascontiguousarray(model, dtype=np.float64)
    if object_points.ndim != 2 or object_points.shape[1] != 3 or len(object_points) < 6:
        raise ValueError(f"model must have shape (n_points >= 6, 3), got {object_points.shape}.")
    n_points = len(object_points)
    if points.ndim != 3 or points.shape[1:] != (n_points, 2):
        raise ValueError(
            f"landmarks_2d must have shape (n_frames, {n_points}, 2), got {points.shape}."
        )
    if len(frame_size) != 2 or min(frame_size) <= 0:
        raise ValueError(f"frame_size must be (width, height) > 0, got {frame_size!r}.")
    width, height = float(frame_size[0]), float(frame_size[1])
    focal = width if focal_length is None else float(focal_length)
    if not np.isfinite(focal) or focal <= 0:
        raise ValueError(f"focal_length must be positive, got {focal_length!r}.")
    camera = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    no_distortion = np.zeros(4)
    model_spread = np.sqrt(
        np.mean(np.sum((object_points[:, :2] - object_points[:, :2].mean(0)) ** 2, axis=1))
    )

    pose = np.full((len(points), 6), np.nan)
    rvec: np.ndarray | None = None
    tvec: np.ndarray | None = None
    for i, image_points in enumerate(points):
        if not np.all(np.isfinite(image_points)):
            continue
        if rvec is None or tvec is None:
            # Weak perspective: the landmarks' spread gives the distance, their mean
            # the direction of the face.
            centre = image_points.mean(axis=0)
            spread = np.sqrt(np.mean(np.sum((image_points - centre) ** 2, axis=1)))
            tz = focal * model_spread / max(spread, 1e-6)
            rvec = np.zeros(3)
            tvec = np.array(
                [(centre[0] - width / 2) * tz / focal, (centre[1] - height / 2) * tz / focal, tz]
            )
        ok, r, t = cv2.solvePnP(
            object_points,
            np.ascontiguousarray(image_points),
            camera,
            no_distortion,
            rvec=rvec.copy(),
            tvec=tvec.copy(),
            useExtrinsicGuess=True,
            flags=cv2.SOLVEPNP_ITERATIVE,
        )
        if not ok:
            continue
        rvec, tvec = r.ravel(), t.ravel()
        rotation, _ = cv2.Rodrigues(rvec)
        pose[i, :3] = rotation_to_euler(rotation)
        pose[i, 3:] = tvec
    return pose.astype(np.float32)
