"""RAVDESS's official facial tracking CSVs (OpenFace 2.1.0, no success column) and
OpenFace 2.2's, read alike and turned into every face feature."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from skemotion.datasets import load_ravdess, ravdess_neutral_reference
from skemotion.face import (
    OPENFACE_CONFIDENCE_THRESHOLD,
    ActionUnits,
    EyeKeyPointDistances,
    FaceLandmarks,
    HeadPose,
    KeyPointDistances,
    find_openface_csv,
    landmark_backend_for,
    most_neutral_frame,
    read_openface_csv,
)

from ._openface_fixture import (
    TRACKING_FRAMES,
    openface_columns,
    write_tracking_corpus,
    write_tracking_csv,
)

SHARED_RAVDESS = Path(__file__).resolve().parents[4] / "shared" / "data" / "ravdess"
REAL_HEADER = SHARED_RAVDESS / "openface_tracking_header.csv"
HAPPY = "01-01-03-02-01-01-05.csv"


def _centre(n_available: int, n: int = 88) -> slice:
    start = (n_available - n) // 2
    return slice(start, start + n)


def _landmarks(table: dict[str, np.ndarray], axes: str) -> np.ndarray:
    return np.stack([np.stack([table[f"{a}_{i}"] for a in axes], -1) for i in range(68)], 1)


@pytest.mark.skipif(not REAL_HEADER.is_file(), reason="../shared/data/ravdess not present")
def test_generated_header_is_the_real_one():
    assert REAL_HEADER.read_text() == ",".join(openface_columns("ravdess")) + "\n"
    assert len(openface_columns("ravdess")) == 712


def test_ravdess_tracking_csv_is_read(tmp_path):
    path = tmp_path / HAPPY
    written = write_tracking_csv(path)
    header, first = path.read_text().splitlines()[:2]
    assert header == ",".join(openface_columns("ravdess"))  # plain ",", no success, no face_id
    assert first.startswith("1,0.000,0.9") and ", " not in first
    n = len(written["frame"])
    assert TRACKING_FRAMES[0] <= n <= TRACKING_FRAMES[1]
    np.testing.assert_allclose(written["timestamp"][:3], [0.0, 0.033, 0.067])

    track = read_openface_csv(path)
    rows = _centre(n)
    assert track.n_frames == 88 and track.success.all() and track.missing_fraction == 0
    assert track.fps == pytest.approx(30.0, rel=2e-3)
    np.testing.assert_array_equal(track.frame_indices, np.arange(n)[rows])
    # 1280 x 720 pixels, millimetres in 3D
    np.testing.assert_allclose(track.landmarks_2d, _landmarks(written, "xy")[rows], atol=1e-3)
    assert track.landmarks_2d[..., 0].min() > 400 and track.landmarks_2d[..., 0].max() < 880
    assert track.landmarks_3d is not None
    np.testing.assert_allclose(track.landmarks_3d, _landmarks(written, "XYZ")[rows], atol=1e-3)
    assert 1250 < track.landmarks_3d[..., 2].mean() < 1500
    assert track.eye_landmarks_2d is not None and track.eye_landmarks_2d.shape == (88, 56, 2)
    assert track.gaze_angle is not None and track.action_units is not None
    np.testing.assert_allclose(track.action_units[:, 8], written["AU12_r"][rows], atol=1e-3)
    np.testing.assert_allclose(track.head_pose[:, 5], written["pose_Tz"][rows], atol=1e-3)
    np.testing.assert_allclose(track.confidence, written["confidence"][rows], atol=1e-6)


def test_openface_22_csv_of_the_same_face_reads_the_same(tmp_path):
    old = read_openface_csv(write_tracking_path(tmp_path / "2.1", layout="ravdess"))
    new_path = write_tracking_path(tmp_path / "2.2", layout="2.2")
    assert new_path.read_text().startswith("frame, face_id, timestamp, confidence, success, ")
    new = read_openface_csv(new_path)
    for field in ("landmarks_2d", "landmarks_3d", "eye_landmarks_2d", "action_units", "head_pose"):
        np.testing.assert_array_equal(getattr(old, field), getattr(new, field))


def write_tracking_path(folder: Path, **kwargs) -> Path:
    path = folder / HAPPY
    write_tracking_csv(path, **kwargs)
    return path


def test_success_from_confidence_when_the_column_is_absent(tmp_path):
    path = tmp_path / HAPPY
    n = 100
    written = write_tracking_csv(path, n_frames=n, low_confidence=(40, 41, 42))
    truth = _landmarks(written, "xy")
    track = read_openface_csv(path, n_frames=None)
    assert OPENFACE_CONFIDENCE_THRESHOLD == 0.725
    np.testing.assert_array_equal(np.flatnonzero(~track.success), [40, 41, 42])
    assert (track.confidence[40:43] == 0).all() and track.missing_fraction == pytest.approx(0.03)
    # The untrusted fit (written 40 px off) is replaced by the neighbours' interpolation.
    expected = truth[39] + (truth[43] - truth[39]) * np.array([1, 2, 3])[:, None, None] / 4
    np.testing.assert_allclose(track.landmarks_2d[40:43], expected, atol=1e-3)

    # The threshold is a parameter, of the reader and of the landmark stage.
    assert read_openface_csv(path, n_frames=None, confidence_threshold=0.2).success.all()
    assert FaceLandmarks("openface").get_params()["confidence_threshold"] == 0.725
    strict = FaceLandmarks("openface", confidence_threshold=0.99, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=rf"{HAPPY}: OpenFace found no face.*above 0.99"):
        strict.extract([path])
    # Low-confidence frames go through the missing-face policy like failed ones.
    loose = FaceLandmarks(
        "openface", confidence_threshold=0.98, max_missing=0.2, cache_dir=tmp_path / "cache"
    )
    with pytest.raises(ValueError, match=rf"{HAPPY}: no face in .* \(max_missing=0.2\)"):
        loose.extract([path])
    with pytest.warns(UserWarning, match="1 clip"):
        (kept,) = loose.set_params(on_error="warn").extract([path])
    assert kept is not None and kept.missing_fraction > 0.2


def test_dlib_backend_refuses_a_csv_naming_the_fix(tmp_path):
    path = tmp_path / HAPPY
    write_tracking_csv(path, n_frames=97)
    with pytest.raises(ValueError, match=rf"{HAPPY}: an OpenFace CSV.*FaceLandmarks\('openface'\)"):
        FaceLandmarks(cache_dir=False).extract([path])
    assert landmark_backend_for([tmp_path / "02-01-03-02-01-01-05.mp4", path]) == "openface"
    assert landmark_backend_for([tmp_path / "02-01-03-02-01-01-05.mp4"]) == "dlib"


@pytest.fixture(scope="module")
def tracking_table(tmp_path_factory):
    """Two actors' RAVDESS tracking CSVs, flat, indexed by the corpus loader."""
    root = tmp_path_factory.mktemp("tracking")
    write_tracking_corpus(
        root, actors=(3, 4), emotions=("neutral", "happy", "sad"), intensities=("normal",)
    )
    return load_ravdess(root, modalities=["audio-video"]).frame


def _openface(**kwargs):
    return FaceLandmarks("openface", cache_dir=False, **kwargs)


def test_every_face_feature_from_tracking_csvs(tracking_table):
    frame = tracking_table
    assert len(frame) == 2 * (4 + 4 + 4) and frame["path"].str.endswith(".csv").all()
    kpd = KeyPointDistances(_openface()).fit_transform(frame)
    eyes = EyeKeyPointDistances(_openface()).fit_transform(frame)
    units = ActionUnits(_openface()).fit_transform(frame)
    pose = HeadPose(_openface()).fit_transform(frame)
    assert kpd.shape == (len(frame), 88, 780) and eyes.shape == (len(frame), 88, 179)
    assert units.shape == (len(frame), 88, 35) and pose.shape == (len(frame), 88, 6)
    for features in (kpd, eyes, units, pose):
        assert features.dtype == np.float32 and np.isfinite(features).all()
    tracks = _openface().extract(frame["path"].tolist())
    assert all(t is not None and t.backend == "openface" for t in tracks)
    np.testing.assert_allclose(units[0, :, :17], tracks[0].action_units[:, :17] / 5, rtol=1e-6)
    np.testing.assert_allclose(pose[0], tracks[0].head_pose, rtol=1e-6)
    # eyes: the 56 eye landmarks' eyelids and the gaze angles, as written
    np.testing.assert_allclose(eyes[0, :, 177:], tracks[0].gaze_angle, atol=1e-6)
    # The smile (AU12) widens the mouth: the mouth-corner distance (48, 54) of happy
    # clips, relative to the actor's neutral face, is above that of sad clips.
    pair = list(KeyPointDistances().get_feature_names_out()).index("kpd_48_54")
    width = kpd[:, -30:, pair].mean(axis=1)
    emotion = frame["emotion"].to_numpy()
    assert width[emotion == "happy"].min() > width[emotion == "sad"].max()


def test_neutral_reference_from_tracking_csvs(tracking_table):
    frame = tracking_table
    happy = frame.loc[(frame["emotion"] == "happy") & (frame["actor"] == 4), "path"].iloc[0]
    reference = ravdess_neutral_reference(happy)
    assert reference.name == f"01-01-01-01-{Path(happy).name[12:14]}-01-04.csv"
    assert reference.parent == Path(happy).parent and reference.is_file()
    (neutral,) = _openface().extract([reference])
    assert neutral is not None
    kpd = KeyPointDistances(_openface()).fit_transform([reference, happy])
    # The reference clip's most neutral frame (lowest summed AU intensity) maps to ones.
    np.testing.assert_allclose(kpd[0, most_neutral_frame(neutral)], 1.0, rtol=1e-5)
    assert not np.allclose(kpd[1], 1.0)


def test_csv_folders_are_walked_through_symbolic_links(tmp_path):
    store = tmp_path / "store" / "Actor_05"
    write_tracking_csv(store / HAPPY, n_frames=97)
    openface = tmp_path / "openface"
    openface.mkdir()
    os.symlink(store, openface / "Actor_05")
    os.symlink(openface, openface / "Actor_05" / "loop")  # a cycle must not hang the walk
    video = tmp_path / "videos" / HAPPY.replace(".csv", ".mp4")
    assert find_openface_csv(video, openface_dir=openface) == openface / "Actor_05" / HAPPY
    (track,) = FaceLandmarks("openface", openface_dir=openface, cache_dir=False).extract([video])
    assert track is not None and track.source == os.fspath(openface / "Actor_05" / HAPPY)
