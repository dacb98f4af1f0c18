"""Writing OpenFace 2.x FeatureExtraction CSVs in the real column layout, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skemotion.face import AU_INTENSITY_NAMES, AU_PRESENCE_NAMES


def openface_columns() -> list[str]:
    """FeatureExtraction's columns, in its order."""
    columns = ["frame", "face_id", "timestamp", "confidence", "success"]
    columns += [f"gaze_{eye}_{axis}" for eye in (0, 1) for axis in "xyz"]
    columns += ["gaze_angle_x", "gaze_angle_y"]
    columns += [f"eye_lmk_{axis}_{i}" for axis in "xy" for i in range(56)]
    columns += [f"eye_lmk_{axis}_{i}" for axis in "XYZ" for i in range(56)]
    columns += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    columns += [f"{axis}_{i}" for axis in "xy" for i in range(68)]
    columns += [f"{axis}_{i}" for axis in "XYZ" for i in range(68)]
    columns += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"]
    columns += [f"p_{i}" for i in range(34)]
    columns += list(AU_INTENSITY_NAMES) + list(AU_PRESENCE_NAMES)
    return columns


def base_face(seed: int = 0) -> np.ndarray:
    """A fixed 68-point 2D layout (pixels): not a real face, but distinct points."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(300, 700, size=(68, 2))).astype(np.float64)


def write_openface_csv(
    path: Path,
    *,
    n_frames: int = 100,
    fps: float = 30.0,
    success: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
    au_intensity: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write a CSV with ``", "`` between header names; returns the values written."""
    rng = np.random.default_rng(seed)
    if landmarks is None:
        wobble = rng.normal(0, 2.0, size=(n_frames, 68, 2))
        landmarks = base_face() + wobble
    if success is None:
        success = np.ones(n_frames, dtype=bool)
    if au_intensity is None:
        au_intensity = rng.uniform(0, 5, size=(n_frames, len(AU_INTENSITY_NAMES)))
    values = {
        "frame": np.arange(1, n_frames + 1),
        "face_id": np.zeros(n_frames),
        "timestamp": np.round(np.arange(n_frames) / fps, 3),  # OpenFace writes ms
        "confidence": np.where(success, 0.98, 0.0),
        "success": success.astype(int),
    }
    table = {column: np.zeros(n_frames) for column in openface_columns()}
    table.update(values)
    for i in range(68):
        table[f"x_{i}"] = landmarks[:, i, 0]
        table[f"y_{i}"] = landmarks[:, i, 1]
        table[f"X_{i}"] = landmarks[:, i, 0] / 10
        table[f"Y_{i}"] = landmarks[:, i, 1] / 10
        table[f"Z_{i}"] = 500 + rng.normal(0, 1, n_frames)
    for i in range(56):
        table[f"eye_lmk_x_{i}"] = 400 + 3 * i + rng.normal(0, 0.5, n_frames)
        table[f"eye_lmk_y_{i}"] = 300 + (i % 7) * 2 + rng.normal(0, 0.5, n_frames)
    table["gaze_angle_x"] = rng.normal(0, 0.1, n_frames)
    table["gaze_angle_y"] = rng.normal(0, 0.1, n_frames)
    for name, column in zip(
        ("pose_Rx", "pose_Ry", "pose_Rz"), rng.normal(0, 0.1, (3, n_frames)), strict=True
    ):
        table[name] = column
    table["pose_Tz"] = np.full(n_frames, 600.0)
    for k, name in enumerate(AU_INTENSITY_NAMES):
        table[name] = au_intensity[:, k]
    for name in AU_PRESENCE_NAMES:
        table[name] = (rng.uniform(size=n_frames) > 0.5).astype(float)
    # OpenFace zeroes every value of a frame where it lost the face.
    for column in table:
        if column not in ("frame", "face_id", "timestamp", "success", "confidence"):
            table[column] = np.where(success, table[column], 0.0)
    columns = openface_columns()
    lines = [", ".join(columns)]
    for row in range(n_frames):
        lines.append(", ".join(f"{table[c][row]:g}" for c in columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return {"landmarks": landmarks, "success": success, "au_intensity": au_intensity}
