"""Writing OpenFace 2.x FeatureExtraction CSVs in the real column layout, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skemotion.face import AU_INTENSITY_NAMES, AU_PRESENCE_NAMES


def _point_column_names(prefix: str, axes: str, n_points: int) -> list[str]:
    """OpenFace's column names of ``n_points`` points: ``{prefix}{axis}_{i}``, axis by axis."""
    return [f"{prefix}{axis}_{i}" for axis in axes for i in range(n_points)]


def _point_columns(prefix: str, axes: str, points: np.ndarray) -> dict[str, np.ndarray]:
    """OpenFace's columns of ``points`` (n_frames, n_points, len(axes)), in its order."""
    n_points = points.shape[1]
    values = (points[:, i, k] for k in range(len(axes)) for i in range(n_points))
    return dict(zip(_point_column_names(prefix, axes, n_points), values, strict=True))


def openface_columns(layout: str = "2.2") -> list[str]:
    """FeatureExtraction's columns, in its order.

    ``"2.2"``: OpenFace 2.2, with ``face_id`` and ``success``. ``"ravdess"``: OpenFace
    2.1.0 as run for RAVDESS's "Facial Landmark Tracking" set, the same without
    ``face_id`` and ``success`` (712 columns).
    """
    if layout == "2.2":
        columns = ["frame", "face_id", "timestamp", "confidence", "success"]
    elif layout == "ravdess":
        columns = ["frame", "timestamp", "confidence"]
    else:
        raise ValueError(f"unknown OpenFace CSV layout {layout!r}")
    columns += [f"gaze_{eye}_{axis}" for eye in (0, 1) for axis in "xyz"]
    columns += ["gaze_angle_x", "gaze_angle_y"]
    columns += _point_column_names("eye_lmk_", "xy", 56)
    columns += _point_column_names("eye_lmk_", "XYZ", 56)
    columns += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    columns += _point_column_names("", "xy", 68)
    columns += _point_column_names("", "XYZ", 68)
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


# -- RAVDESS-like tracking CSVs ---------------------------------------------------------
#
# A face that tracks like RAVDESS's "Facial Landmark Tracking" files: FACE_MODEL_3D (mm)
# shaped per actor, moved by the action units of the clip's emotion and by speech, posed
# about 1380 mm from a camera whose focal length puts it at x 490-800, y 245-550 of a
# 1280 x 720 frame, 97-121 frames at 30 fps. Not a real face: only its format and scales
# are RAVDESS's.

TRACKING_FPS = 30.0
TRACKING_FRAMES = (97, 121)
FOCAL_PX = 2900.0
PRINCIPAL_POINT = np.array([640.0, 360.0])
EYE_CORNERS = ((36, 39), (42, 45))  # eye k of OpenFace's 56 eye points follows these

# How each AU moves points of the model (mm at intensity 5; x right, y down, z away).
_AU_MOTION: dict[str, tuple[tuple[tuple[int, ...], tuple[float, float, float]], ...]] = {
    "AU01": (((20, 21, 22, 23), (0.0, -4.0, 0.0)),),
    "AU02": (((17, 18, 25, 26), (0.0, -4.0, 0.0)),),
    "AU04": (((19, 20, 21), (2.0, 3.0, 0.0)), ((22, 23, 24), (-2.0, 3.0, 0.0))),
    "AU05": (((37, 38, 43, 44), (0.0, -1.5, 0.0)),),
    "AU06": (((40, 41, 46, 47), (0.0, -1.0, 0.0)),),
    "AU07": (((40, 41, 46, 47), (0.0, -1.5, 0.0)),),
    "AU09": (((31, 32, 33, 34, 35), (0.0, -3.0, 0.0)),),
    "AU10": (((49, 50, 51, 52, 53, 61, 62, 63), (0.0, -3.0, 0.0)),),
    "AU12": (((48, 60), (-6.0, -4.0, 0.0)), ((54, 64), (6.0, -4.0, 0.0))),
    "AU15": (((48, 54, 60, 64), (0.0, 3.0, 0.0)),),
    "AU17": (((8, 56, 57, 58), (0.0, -2.0, 0.0)),),
    "AU20": (((48, 60), (-4.0, 0.0, 0.0)), ((54, 64), (4.0, 0.0, 0.0))),
    "AU23": (((48, 60), (2.0, 0.0, 0.0)), ((54, 64), (-2.0, 0.0, 0.0))),
    "AU25": (((55, 56, 57, 58, 59, 65, 66, 67), (0.0, 3.0, 0.0)),),
    "AU26": (((5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 65, 66, 67), (0.0, 8.0, 0.0)),),
    "AU45": (((37, 38, 43, 44), (0.0, 4.0, 0.0)),),
}


def _smooth(rng: np.random.Generator, n: int, width: int = 9) -> np.ndarray:
    """Unit-scale noise, smoothed over ``width`` frames."""
    noise = rng.normal(size=n + width)
    smooth = np.convolve(noise, np.ones(width) / width, mode="valid")[:n]
    return smooth / (smooth.std() + 1e-12)


def _rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """``Rx(pitch) @ Ry(yaw) @ Rz(roll)``, OpenFace's convention."""
    cx, sx, cy, sy, cz, sz = (f(a) for a in (pitch, yaw, roll) for f in (np.cos, np.sin))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def _project(points: np.ndarray) -> np.ndarray:
    return FOCAL_PX * points[..., :2] / points[..., 2:3] + PRINCIPAL_POINT


def _eye_points(face: np.ndarray, corners: tuple[int, int]) -> np.ndarray:
    """OpenFace's 28 points of one eye (8 iris, 12 eyelid, 8 pupil) from the 68, (n, 28, 3)."""
    outer, inner = face[:, corners[0]], face[:, corners[1]]
    lids = face[:, corners[0] : corners[0] + 6]
    centre = lids.mean(axis=1)
    width = np.linalg.norm(inner - outer, axis=1)
    upper = lids[:, 1:3, 1].mean(axis=1)
    lower = lids[:, 4:6, 1].mean(axis=1)
    height = np.maximum(lower - upper, 0.2)
    angles = 2 * np.pi * np.arange(12) / 12
    eyelid = np.stack(
        [
            centre[:, None, 0] + 0.5 * width[:, None] * np.cos(angles),
            centre[:, None, 1] + 0.5 * height[:, None] * np.sin(angles),
            np.repeat(centre[:, None, 2], 12, axis=1),
        ],
        axis=-1,
    )
    circle = 2 * np.pi * np.arange(8) / 8
    ring = np.stack([np.cos(circle), np.sin(circle), np.zeros(8)], axis=-1)
    iris = centre[:, None] + 5.5 * ring - (0.0, 0.0, 2.0)
    pupil = centre[:, None] + 2.0 * ring - (0.0, 0.0, 2.5)
    return np.concatenate([iris, eyelid, pupil], axis=1)


def ravdess_tracking_table(
    name: str,
    *,
    n_frames: int | None = None,
    low_confidence: tuple[int, ...] = (),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The columns of a synthetic tracking CSV of the RAVDESS clip ``name``.

    The emotion's action units (:func:`skemotion.datasets.emotion_profile`) rise after
    the onset and move the landmarks; the jaw opens and closes with speech; one blink.
    Frames listed in ``low_confidence`` get confidence 0.3 and a fit 40 px off, as
    OpenFace writes a fit it does not trust.
    """
    from skemotion.datasets import emotion_profile, parse_ravdess_name
    from skemotion.face import (
        AU_INTENSITY_NAMES,
        AU_PRESENCE_NAMES,
        FACE_MODEL_3D,
        OPENFACE_EYELID_INDICES,
    )

    clip = parse_ravdess_name(name)
    actor_rng = np.random.default_rng([seed, clip.actor])
    strong = int(clip.intensity == "strong")
    rng = np.random.default_rng(
        [seed, clip.actor, clip.emotion_code, strong, clip.statement, clip.repetition]
    )
    n = n_frames if n_frames is not None else int(rng.integers(*TRACKING_FRAMES, endpoint=True))
    times = np.round(np.arange(n) / TRACKING_FPS, 3)

    # The actor's face: a scaled, slightly reshaped model.
    model = FACE_MODEL_3D * actor_rng.uniform(0.92, 1.08) + actor_rng.normal(0, 1.0, (68, 3))

    intensity = actor_rng.uniform(0.0, 0.3, size=len(AU_INTENSITY_NAMES)) + np.zeros((n, 1))
    index = {au.removesuffix("_r"): k for k, au in enumerate(AU_INTENSITY_NAMES)}
    level = rng.uniform(2.0, 3.0) * (1.6 if clip.intensity == "strong" else 1.0)
    onset = rng.uniform(0.3, 0.8)
    ramp = np.clip((times - onset) / 0.5, 0.0, 1.0)
    for au in emotion_profile(clip.emotion).action_units:
        intensity[:, index[au]] += level * ramp * (1 + 0.1 * _smooth(rng, n))
    speaking = (times > 0.5) & (times < times[-1] - 0.5)
    opening = np.where(speaking, np.sin(2 * np.pi * 4.0 * times) ** 2, 0.0)
    intensity[:, index["AU25"]] += 1.5 * opening
    intensity[:, index["AU26"]] += 1.2 * opening
    blink = int(rng.integers(5, n - 5))
    intensity[blink - 2 : blink + 3, index["AU45"]] += (1.5, 3.5, 5.0, 3.5, 1.5)
    intensity = np.clip(intensity, 0.0, 5.0)

    face = np.repeat(model[None], n, axis=0)
    for au, moves in _AU_MOTION.items():
        for points, move in moves:
            face[:, list(points)] += intensity[:, index[au], None, None] / 5 * np.array(move)

    pose = np.column_stack([0.05 * _smooth(rng, n), 0.08 * _smooth(rng, n), 0.03 * _smooth(rng, n)])
    translation = np.column_stack(
        [
            actor_rng.normal(5, 8) + 3 * _smooth(rng, n),
            actor_rng.normal(8, 8) + 3 * _smooth(rng, n),
            actor_rng.normal(1380, 30) + 10 * _smooth(rng, n),
        ]
    )
    rotations = np.stack([_rotation(*angles) for angles in pose])
    landmarks_3d = np.einsum("fij,fpj->fpi", rotations, face) + translation[:, None]
    eyes_model = np.concatenate([_eye_points(face, corners) for corners in EYE_CORNERS], axis=1)
    eyes_3d = np.einsum("fij,fpj->fpi", rotations, eyes_model) + translation[:, None]
    landmarks_2d, eyes_2d = _project(landmarks_3d), _project(eyes_3d)

    confidence = np.round(0.98 + rng.uniform(-0.01, 0.01, n), 3)
    bad = np.asarray(low_confidence, dtype=int)
    confidence[bad] = 0.3
    landmarks_2d[bad] += 40.0
    eyes_2d[bad] += 40.0

    gaze = np.column_stack([0.1 * _smooth(rng, n), 0.08 * _smooth(rng, n)])
    table: dict[str, np.ndarray] = {
        "frame": np.arange(1, n + 1),
        "face_id": np.zeros(n, dtype=int),
        "timestamp": times,
        "confidence": confidence,
        "success": (confidence > 0.725).astype(int),
        "gaze_angle_x": gaze[:, 0],
        "gaze_angle_y": gaze[:, 1],
    }
    for eye, converge in ((0, 0.02), (1, -0.02)):
        direction = np.column_stack(
            [np.sin(gaze[:, 0] + converge), np.sin(gaze[:, 1]), -np.ones(n)]
        )
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        for k, axis in enumerate("xyz"):
            table[f"gaze_{eye}_{axis}"] = direction[:, k]
    table.update(_point_columns("eye_lmk_", "xy", eyes_2d))
    table.update(_point_columns("eye_lmk_", "XYZ", eyes_3d))
    for k, axis in enumerate(("Tx", "Ty", "Tz")):
        table[f"pose_{axis}"] = translation[:, k]
    for k, axis in enumerate(("Rx", "Ry", "Rz")):
        table[f"pose_{axis}"] = pose[:, k]
    table.update(_point_columns("", "xy", landmarks_2d))
    table.update(_point_columns("", "XYZ", landmarks_3d))
    centre = landmarks_2d.mean(axis=1)
    table["p_scale"] = FOCAL_PX / translation[:, 2]
    for k, axis in enumerate(("p_rx", "p_ry", "p_rz")):
        table[axis] = pose[:, k]
    table["p_tx"], table["p_ty"] = centre[:, 0], centre[:, 1]
    shape = actor_rng.normal(0, 10, 34)
    for i in range(34):
        table[f"p_{i}"] = shape[i] + rng.normal(0, 1, n)
    for k, column in enumerate(AU_INTENSITY_NAMES):
        table[column] = np.round(intensity[:, k], 2)
    for column in AU_PRESENCE_NAMES:
        au = column.removesuffix("_c")
        present = intensity[:, index[au]] > 1.0 if au in index else np.zeros(n, dtype=bool)
        table[column] = present.astype(int)
    assert len(OPENFACE_EYELID_INDICES[0]) == 12  # the eyelid points written above
    return table


def write_tracking_csv(
    path: Path,
    *,
    layout: str = "ravdess",
    n_frames: int | None = None,
    low_confidence: tuple[int, ...] = (),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the synthetic track of the clip named by ``path`` as an OpenFace CSV.

    ``layout="ravdess"``: RAVDESS's tracking files (OpenFace 2.1.0): a plain ``","``,
    no ``face_id`` nor ``success``. ``layout="2.2"``: OpenFace 2.2, ``", "`` between
    names and values, with both. Returns the columns written.
    """
    table = ravdess_tracking_table(
        path.name, n_frames=n_frames, low_confidence=low_confidence, seed=seed
    )
    columns = openface_columns(layout)
    separator = "," if layout == "ravdess" else ", "
    integer = {"frame", "face_id", "success"} | {c for c in columns if c.endswith("_c")}
    formats = ["%d" if column in integer else "%.3f" for column in columns]
    values = np.column_stack([table[column] for column in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as stream:
        stream.write(separator.join(columns) + "\n")
        np.savetxt(stream, values, fmt=formats, delimiter=separator)
    return table


def write_tracking_corpus(
    root: Path,
    *,
    actors: tuple[int, ...] = (1, 2),
    emotions: tuple[str, ...] | None = None,
    intensities: tuple[str, ...] = ("normal", "strong"),
    repetitions: tuple[int, ...] = (1, 2),
    modality: str = "audio-video",
    layout: str = "ravdess",
    audio_root: Path | None = None,
    seed: int = 0,
) -> list[Path]:
    """A flat folder of tracking CSVs, and the speech in ``audio_root/Actor_XX/03-01-*.wav``.

    The clips of the RAVDESS speech design for these actors, restricted to the given
    emotions, intensities and repetitions (neutral has its normal intensity only).
    """
    import dataclasses

    import soundfile as sf

    from skemotion.datasets import ravdess_design, synthesize_speech

    paths = []
    for name in ravdess_design(actors=actors):
        if emotions is not None and name.emotion not in emotions:
            continue
        if name.intensity not in intensities or name.repetition not in repetitions:
            continue
        video = dataclasses.replace(name, modality=modality)
        paths.append(root / video.to_name(".csv"))
        write_tracking_csv(paths[-1], layout=layout, seed=seed)
        if audio_root is not None:
            wav = audio_root / f"Actor_{name.actor:02d}" / name.to_name(".wav")
            wav.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav, synthesize_speech(name, random_state=seed), 48_000, subtype="PCM_16")
    return paths
