from __future__ import annotations

import numpy as np
import pytest

from skemotion.face import (
    ACTION_UNIT_NAMES,
    FaceLandmarks,
    find_openface_csv,
    interpolate_missing,
    read_openface_csv,
)

from ._openface_fixture import write_openface_csv


def test_interpolate_missing_fills_linearly_and_holds_edges():
    values = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])
    success = ~np.isnan(values)
    np.testing.assert_allclose(interpolate_missing(values, success=success), [1, 1, 2, 3, 4, 4])
    with pytest.raises(ValueError, match="no frame has a face"):
        interpolate_missing(values, success=np.zeros(6, dtype=bool))


def test_header_with_comma_space_separator_is_parsed(tmp_path):
    path = tmp_path / "01-01-03-01-01-01-07.csv"
    written = write_openface_csv(path, n_frames=100, fps=30.0)
    assert path.read_text().splitlines()[0].startswith("frame, face_id, timestamp, ")

    track = read_openface_csv(path)
    assert track.backend == "openface"
    assert track.fps == pytest.approx(30.0, rel=1e-3)
    assert track.n_frames == 88
    # centre 88 of 100: frames 6..93 (0-based)
    np.testing.assert_array_equal(track.frame_indices, np.arange(6, 94))
    np.testing.assert_allclose(track.landmarks_2d, written["landmarks"][6:94], atol=1e-3)
    assert track.landmarks_3d is not None and track.landmarks_3d.shape == (88, 68, 3)
    assert track.eye_landmarks_2d is not None and track.eye_landmarks_2d.shape == (88, 56, 2)
    assert track.gaze_angle is not None and track.gaze_angle.shape == (88, 2)
    assert track.action_units is not None
    assert track.action_units.shape == (88, len(ACTION_UNIT_NAMES))
    np.testing.assert_allclose(track.action_units[:, :17], written["au_intensity"][6:94], atol=1e-3)
    assert track.head_pose.shape == (88, 6)


def test_failed_frames_are_interpolated_not_zero(tmp_path):
    path = tmp_path / "clip.csv"
    n = 88
    success = np.ones(n, dtype=bool)
    success[40:43] = False
    landmarks = np.repeat(np.linspace(0, 87, n)[:, None, None], 68, axis=1)
    landmarks = np.concatenate([landmarks, landmarks + 1], axis=2)
    write_openface_csv(path, n_frames=n, success=success, landmarks=landmarks)
    track = read_openface_csv(path)
    assert not track.success[40:43].any() and track.missing_fraction == pytest.approx(3 / 88)
    # linear in time, so the interpolation gives back the true ramp
    np.testing.assert_allclose(track.landmarks_2d[40:43, 0, 0], [40, 41, 42], atol=1e-3)
    assert (track.confidence[40:43] == 0).all()


def test_bad_csvs_name_the_file(tmp_path):
    not_openface = tmp_path / "other.csv"
    not_openface.write_text("a, b\n1, 2\n")
    with pytest.raises(ValueError, match=r"other.csv.*missing column"):
        read_openface_csv(not_openface)
    faceless = tmp_path / "faceless.csv"
    write_openface_csv(faceless, n_frames=90, success=np.zeros(90, dtype=bool))
    with pytest.raises(ValueError, match=r"faceless.csv.*no face"):
        read_openface_csv(faceless)
    with pytest.raises(FileNotFoundError, match=r"missing.csv"):
        read_openface_csv(tmp_path / "missing.csv")


def test_short_csv_policy(tmp_path):
    path = tmp_path / "short.csv"
    write_openface_csv(path, n_frames=50)
    assert read_openface_csv(path, short="pad").n_frames == 88
    with pytest.raises(ValueError, match=r"short.csv"):
        read_openface_csv(path, short="raise")
    assert read_openface_csv(path, n_frames=20, mode="even").n_frames == 20


def test_csvs_are_matched_to_videos_by_name(tmp_path):
    csv_dir = tmp_path / "openface" / "Actor_07"
    write_openface_csv(csv_dir / "01-01-03-01-01-01-07.csv")
    video = tmp_path / "videos" / "01-01-03-01-01-01-07.mp4"
    assert find_openface_csv(video, openface_dir=tmp_path / "openface") == (
        csv_dir / "01-01-03-01-01-01-07.csv"
    )
    with pytest.raises(FileNotFoundError, match="01-01-04-01-01-01-07"):
        find_openface_csv(video.with_name("01-01-04-01-01-01-07.mp4"), openface_dir=tmp_path)

    extractor = FaceLandmarks("openface", openface_dir=tmp_path / "openface", cache_dir=False)
    (track,) = extractor.extract([video])
    assert track is not None and track.source.endswith("01-01-03-01-01-01-07.csv")
