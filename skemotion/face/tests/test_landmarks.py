"""The dlib backend end to end: mp4 -> FaceLandmarks (cache, interpolation, errors) -> features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("dlib")
cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from skemotion.face import (  # noqa: E402
    FaceLandmarks,
    FaceRegions,
    HeadPose,
    KeyPointDistances,
    _landmarks,
)

SIZE = (360, 640)  # height, width
N_FRAMES = 40


def _face() -> np.ndarray:
    photo = skimage_data.astronaut()
    return cv2.resize(photo[20:260, 110:340], None, fx=1.2, fy=1.2)  # head, ~105 px face


def _write(path: Path, *, blank: frozenset[int] = frozenset(), no_face: bool = False) -> Path:
    """A 640x360 clip at 30 fps; the face drifts; frames in ``blank`` have no face."""
    face = _face()
    h, w = face.shape[:2]
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for i in range(N_FRAMES):
            canvas = np.full((*SIZE, 3), 110, dtype=np.uint8)
            if not no_face and i not in blank:
                x, y = 180 + 2 * i, 20 + i // 2
                canvas[y : y + h, x : x + w] = face
            noisy = np.clip(canvas + rng.normal(0, 2, canvas.shape), 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos") / "Actor_05"
    root.mkdir()
    return {
        "neutral": _write(root / "02-01-01-01-01-01-05.mp4"),
        "happy": _write(root / "02-01-03-02-01-02-05.mp4", blank=frozenset({20, 21, 22})),
        "faceless": _write(root / "02-01-05-01-01-01-05.mp4", no_face=True),
    }


def test_tracks_interpolate_missing_frames(clips, tmp_path):
    extractor = FaceLandmarks(n_frames=30, cache_dir=False)
    (track,) = extractor.extract([clips["happy"]])
    assert track is not None and track.backend == "dlib"
    assert track.landmarks_2d.shape == (30, 68, 2) and track.frame_size == (640, 360)
    assert track.fps == pytest.approx(30.0)
    np.testing.assert_array_equal(track.frame_indices, np.arange(5, 35))
    missing = np.flatnonzero(~track.success)
    np.testing.assert_array_equal(track.frame_indices[missing], [20, 21, 22])
    assert np.isfinite(track.landmarks_2d).all() and np.isfinite(track.head_pose).all()
    # the face moves 2 px right per frame: interpolated frames sit between their neighbours
    nose_x = track.landmarks_2d[:, 30, 0]
    before, after = missing[0] - 1, missing[-1] + 1
    assert nose_x[before] < nose_x[missing[1]] < nose_x[after]
    # eyes above the mouth, in the image
    assert track.landmarks_2d[:, 36:48, 1].mean() < track.landmarks_2d[:, 48:68, 1].mean()


def test_faceless_clip_error_names_the_file(clips):
    with pytest.raises(ValueError, match=r"02-01-05-01-01-01-05\.mp4: no face found"):
        FaceLandmarks(cache_dir=False, n_frames=20).extract([clips["faceless"]])
    with pytest.warns(UserWarning, match=r"02-01-05-01-01-01-05\.mp4"):
        out = HeadPose(FaceLandmarks(cache_dir=False, n_frames=20, on_error="warn")).transform(
            [clips["neutral"], clips["faceless"]]
        )
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    with pytest.raises(FileNotFoundError, match=r"nowhere\.mp4"):
        FaceLandmarks(cache_dir=False).extract([clips["neutral"].with_name("nowhere.mp4")])


def test_second_run_reads_the_cache(clips, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    extractor = FaceLandmarks(n_frames=20, cache_dir=cache, n_jobs=2)
    first = extractor.extract([clips["neutral"], clips["happy"]])
    assert len(list(cache.glob("*.npz"))) == 2

    def fail(source, settings):
        raise AssertionError(f"re-extracted {source}")

    monkeypatch.setattr(_landmarks, "_extract", fail)
    second = FaceLandmarks(n_frames=20, cache_dir=cache).extract([clips["neutral"], clips["happy"]])
    for a, b in zip(first, second, strict=True):
        assert a is not None and b is not None
        np.testing.assert_array_equal(a.landmarks_2d, b.landmarks_2d)
        np.testing.assert_array_equal(a.success, b.success)


def test_kpd_from_video_with_its_neutral_reference(clips):
    kpd = KeyPointDistances(FaceLandmarks(n_frames=20, cache_dir=False))
    out = kpd.fit_transform([clips["neutral"], clips["happy"]])
    assert out.shape == (2, 20, 780) and np.isfinite(out).all()
    # the same face in both clips: ratios to the neutral reference stay near one
    assert np.abs(np.median(out) - 1) < 0.05
    (track,) = FaceLandmarks(n_frames=20, cache_dir=False).extract([clips["neutral"]])
    assert track is not None
    from skemotion.face import most_neutral_frame

    np.testing.assert_allclose(out[0, most_neutral_frame(track)], 1.0, rtol=1e-5)


def test_face_regions_inherits_no_track_feature_hooks():
    # It reads the videos' pixels, so the hooks that compute features from FaceTrack
    # objects (which it refuses) are not part of it.
    assert not hasattr(FaceRegions, "_compute")
    assert not hasattr(FaceRegions, "_tracks")


@pytest.mark.parametrize(
    ("region", "shape"),
    [("face", (3, 224, 224)), ("eyes", (2, 3, 128, 128)), ("mouth", (3, 110, 180))],
)
def test_face_regions(clips, region, shape):
    regions = FaceRegions(region, landmarks=FaceLandmarks(n_frames=4, cache_dir=False))
    out = regions.fit_transform([clips["neutral"]])
    assert out.shape == (1, 4, *shape) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # ImageNet-normalised: a grey background of 110/255 maps near (0.43 - mean) / std
    raw = FaceRegions(
        region, landmarks=FaceLandmarks(n_frames=4, cache_dir=False), normalize=False
    ).fit_transform([clips["neutral"]])
    assert raw.min() >= 0 and raw.max() <= 1
    assert len(regions.get_feature_names_out()) == int(np.prod(shape))
