"""Video decoding and frame selection: fps read from the file, order kept, errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from skemotion.audio import center_crop
from skemotion.face._video import (
    VideoInfo,
    iter_frames,
    load_video,
    read_frames,
    select_frames,
    video_info,
)

av = pytest.importorskip("av")

WIDTH, HEIGHT = 160, 96
N_BARS = 8


def coded_frame(index: int) -> np.ndarray:
    """An RGB frame whose index is written as 8 bright/dark vertical bars (binary).

    Bars 20 px wide and full-height survive H.264 compression, so the index can be
    read back exactly from the decoded luma.
    """
    frame = np.full((HEIGHT, WIDTH, 3), 16, dtype=np.uint8)
    bar = WIDTH // N_BARS
    for bit in range(N_BARS):
        if index >> bit & 1:
            frame[:, bit * bar : (bit + 1) * bar] = 235
    return frame


def decode_index(frame: np.ndarray) -> int:
    luma = frame if frame.ndim == 2 else frame.mean(axis=-1)
    bar = luma.shape[1] // N_BARS
    means = [luma[8:-8, b * bar + 4 : (b + 1) * bar - 4].mean() for b in range(N_BARS)]
    return sum(1 << b for b, m in enumerate(means) if m > 128)


def write_mp4(path: Path, n_frames: int, *, fps: int | Fraction) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("video") / "clip25.mp4", 50, fps=25)


@pytest.mark.parametrize("fps", [25, 30, Fraction(30000, 1001)])
def test_video_info_reads_fps_and_size(tmp_path: Path, fps: int | Fraction) -> None:
    path = write_mp4(tmp_path / "x.mp4", 12, fps=fps)
    info = video_info(path)
    assert isinstance(info, VideoInfo)
    assert info.fps == pytest.approx(float(fps), rel=1e-6)
    assert (info.n_frames, info.width, info.height) == (12, WIDTH, HEIGHT)
    assert info.path == str(path)


def test_video_info_counts_frames_when_container_does_not(tmp_path: Path) -> None:
    # Matroska stores no per-stream frame count, so the frames must be decoded.
    path = write_mp4(tmp_path / "x.mkv", 17, fps=30)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    assert video_info(path).n_frames == 17


def test_read_frames_keeps_requested_order_and_repeats(clip25: Path) -> None:
    indices = [7, 3, 3, 0, 49, 12]
    frames = read_frames(clip25, indices)
    assert frames.shape == (6, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert [decode_index(f) for f in frames] == indices
    gray = read_frames(clip25, np.array(indices), color="gray")
    assert gray.shape == (6, HEIGHT, WIDTH)
    assert [decode_index(f) for f in gray] == indices


def test_iter_frames_decodes_all_in_order(clip25: Path) -> None:
    assert [decode_index(f) for f in iter_frames(clip25, color="gray")] == list(range(50))


def test_read_frames_errors_name_the_file(clip25: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"clip25\.mp4.*only 50 frames"):
        read_frames(clip25, [1, 50])
    with pytest.raises(ValueError, match="Negative"):
        read_frames(clip25, [-1])
    with pytest.raises(ValueError, match="color"):
        read_frames(clip25, [1], color="bgr")
    assert read_frames(clip25, []).shape == (0, HEIGHT, WIDTH, 3)
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        video_info(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ValueError, match=r"junk\.mp4"):
        video_info(junk)
    with pytest.raises(ValueError, match=r"junk\.mp4"):
        read_frames(junk, [0])


def test_no_video_stream_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "audio_only.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16_000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16_000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(ValueError, match=r"audio_only\.mp4.*no video stream"):
        video_info(path)


@pytest.mark.parametrize("n_available", [88, 89, 90, 101, 104, 150])
def test_center_matches_audio_center_crop(n_available: int) -> None:
    idx = select_frames(n_available, n_frames=88)
    np.testing.assert_array_equal(idx, center_crop(np.arange(n_available), length=88))


@pytest.mark.parametrize("n_available", [1, 2, 5, 86, 87])
def test_center_pad_repeats_edges_like_center_crop(n_available: int) -> None:
    idx = select_frames(n_available, n_frames=88)
    expected = center_crop(np.arange(n_available), length=88, pad_mode="edge")
    np.testing.assert_array_equal(idx, expected)
    assert idx.dtype == np.int64 and len(idx) == 88


def test_even_spacing() -> None:
    idx = select_frames(104, n_frames=20, mode="even")
    assert idx[0] == 0 and idx[-1] == 103 and len(idx) == 20
    assert np.all(np.diff(idx) >= 5) and np.all(np.diff(idx) <= 6)
    short = select_frames(5, n_frames=8, mode="even")
    assert set(short.tolist()) == set(range(5)) and np.all(np.diff(short) >= 0)


def test_select_frames_validation() -> None:
    with pytest.raises(ValueError, match=r"'a\.mp4' has 10 frames"):
        select_frames(10, n_frames=88, short="raise", source="a.mp4")
    with pytest.raises(ValueError, match="fewer"):
        select_frames(10, n_frames=20, mode="even", short="raise")
    assert len(select_frames(88, n_frames=88, short="raise")) == 88
    with pytest.raises(ValueError, match="no frames"):
        select_frames(0)
    for kwargs in ({"n_frames": 0}, {"n_frames": True}, {"mode": "middle"}, {"short": "x"}):
        with pytest.raises(ValueError):
            select_frames(10, **kwargs)
    with pytest.raises(ValueError, match="n_available"):
        select_frames(10.0)  # type: ignore[arg-type]


def test_load_video(clip25: Path) -> None:
    frames, indices, info = load_video(clip25, n_frames=10, color="gray")
    np.testing.assert_array_equal(indices, np.arange(20, 30))
    assert [decode_index(f) for f in frames] == list(range(20, 30))
    assert info.fps == 25.0 and info.n_frames == 50
    frames, indices, _ = load_video(clip25, n_frames=60)
    assert frames.shape == (60, HEIGHT, WIDTH, 3)
    assert [decode_index(f) for f in frames] == indices.tolist()
    assert indices[:5].tolist() == [0] * 5 and indices[-5:].tolist() == [49] * 5


def test_gray_equals_ffmpeg_conversion(clip25: Path) -> None:
    with av.open(str(clip25)) as container:
        reference = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    for ours, ref in zip(iter_frames(clip25, color="gray"), reference, strict=True):
        np.testing.assert_array_equal(ours, ref)


def test_gray_of_full_range_luma_is_unchanged() -> None:
    from skemotion.face._video import _to_array

    frame = av.VideoFrame.from_ndarray(coded_frame(5), format="rgb24").reformat(format="yuv420p")
    frame.color_range = 2  # JPEG / full range
    luma = np.frombuffer(frame.planes[0], np.uint8).reshape(HEIGHT, -1)[:, :WIDTH]
    np.testing.assert_array_equal(_to_array(frame, "gray"), luma)
