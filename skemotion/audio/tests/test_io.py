"""load_audio: formats, channel mixing, resampling and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skemotion.audio import load_audio

from ._helpers import RAVDESS_SPEECH, tone, write_mp4


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_sound_formats_round_trip(tmp_path: Path, fmt: str) -> None:
    x = tone(12_000, sr=24_000)
    path = tmp_path / f"x.{fmt}"
    sf.write(path, x, 24_000)
    y, sr = load_audio(path)
    assert sr == 24_000
    assert y.dtype == np.float32 and y.shape == x.shape
    # wav / flac are 16-bit PCM (error < 2^-15); ogg vorbis is lossy.
    tol = 1e-3 if fmt == "ogg" else 1e-4
    err = np.sqrt(np.mean((y - x) ** 2)) / np.sqrt(np.mean(x**2))
    assert err < (0.05 if fmt == "ogg" else tol)


def test_stereo_is_channel_mean(tmp_path: Path) -> None:
    left, right = tone(4800, freq=300.0), tone(4800, freq=710.0, amp=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 48_000, subtype="FLOAT")
    y, _ = load_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (2, 4800)
    np.testing.assert_array_equal(both[1], right)


def test_mono_false_on_mono_file_is_1d(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, tone(100), 48_000)
    y, _ = load_audio(path, mono=False)
    assert y.shape == (100,)


def test_resample_to_16k(tmp_path: Path) -> None:
    x = tone(48_000, freq=1000.0)
    path = tmp_path / "tone.wav"
    sf.write(path, x, 48_000, subtype="FLOAT")
    y, sr = load_audio(path, sr=16_000)
    assert sr == 16_000 and y.shape == (16_000,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * sr / len(y) == pytest.approx(1000.0, abs=2.0)
    # the tone survives with its amplitude (soxr HQ has a flat passband)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=1e-2)


def test_same_rate_is_not_resampled(tmp_path: Path) -> None:
    x = tone(1000)
    path = tmp_path / "x.wav"
    sf.write(path, x, 48_000, subtype="FLOAT")
    y, sr = load_audio(path, sr=48_000, dtype=np.float64)
    assert sr == 48_000 and y.dtype == np.float64
    np.testing.assert_array_equal(y, x.astype(np.float64))


@pytest.mark.parametrize("stereo", [False, True])
def test_mp4_audio_matches_wav(tmp_path: Path, stereo: bool) -> None:
    n, sr = 48_000, 48_000
    # A sweep, not a steady tone, so that the cross-correlation has a single peak.
    t = np.arange(n) / sr
    x = (0.3 * np.sin(2 * np.pi * (200.0 * t + 1500.0 * t**2))).astype(np.float32)
    path = write_mp4(tmp_path / "clip.mp4", np.stack([x, 0.5 * x]) if stereo else x, sr)
    y, got_sr = load_audio(path)
    assert got_sr == sr and y.ndim == 1 and y.dtype == np.float32
    expected = 0.75 * x if stereo else x
    # AAC adds encoder priming (1024 samples here, no edit list from this writer) and
    # pads the last frame: align on the cross-correlation peak, then compare in RMS.
    assert n <= len(y) <= n + 3 * 1024
    head = 8192
    lag = int(np.argmax(np.correlate(y[: head + 2048], expected[:head], "valid")))
    m = n - 2048
    err = np.sqrt(np.mean((y[lag : lag + m] - expected[:m]) ** 2))
    assert err / np.sqrt(np.mean(expected[:m] ** 2)) < 0.1


def test_mp4_resample_and_channels(tmp_path: Path) -> None:
    x = tone(48_000)
    path = write_mp4(tmp_path / "clip.m4a", np.stack([x, x]), 48_000)
    both, _ = load_audio(path, mono=False)
    assert both.shape[0] == 2
    y, sr = load_audio(path, sr=16_000)
    assert sr == 16_000 and abs(len(y) - len(both[0]) / 3) <= 1


def test_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        load_audio(path)


@pytest.mark.parametrize("name", ["corrupt.wav", "corrupt.flac", "corrupt.mp4"])
def test_corrupt_file_names_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"definitely not audio " * 50)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        load_audio(path)


def test_zero_length_names_it(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 48_000)
    with pytest.raises(ValueError, match=r"empty\.wav.*no samples"):
        load_audio(path)


def test_video_without_audio_stream_names_it(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(ValueError, match=r"silent_film\.mp4.*no audio stream"):
        load_audio(path)


def test_directory_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="directory"):
        load_audio(tmp_path)
    path = tmp_path / "x.wav"
    sf.write(path, tone(10), 48_000)
    with pytest.raises(ValueError, match="floating"):
        load_audio(path, dtype=np.int16)
    with pytest.raises(ValueError, match="sr"):
        load_audio(path, sr=0)


STEREO_CLIP = RAVDESS_SPEECH / "Actor_01" / "03-01-02-01-01-02-01.flac"


@pytest.mark.ravdess
@pytest.mark.skipif(not STEREO_CLIP.exists(), reason="RAVDESS clips not available")
def test_real_stereo_clip() -> None:
    info = sf.info(STEREO_CLIP)
    assert info.channels == 2 and info.samplerate == 48_000
    y, sr = load_audio(STEREO_CLIP)
    raw, _ = sf.read(STEREO_CLIP, dtype="float32")
    assert sr == 48_000 and y.shape == (info.frames,)
    np.testing.assert_allclose(y, raw.mean(axis=1), atol=1e-7)


# -- reading only the centre window (what the log-mel features use) ------------------------


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("n_samples", [9_001, 9_000, 4_000])
def test_centre_window_is_the_centre_crop_of_the_whole_file(
    tmp_path: Path, fmt: str, channels: int, n_samples: int
) -> None:
    from skemotion.audio import center_crop
    from skemotion.audio._io import _read_centre_window

    rng = np.random.default_rng(n_samples + channels)
    path = tmp_path / f"x.{fmt}"
    sf.write(path, rng.uniform(-0.5, 0.5, (n_samples, channels)), 16_000, subtype="PCM_16")
    window = _read_centre_window(path, sr=16_000, length=4_000)
    whole = center_crop(load_audio(path, sr=16_000)[0], length=4_000)
    assert window is not None and window.dtype == np.float32
    np.testing.assert_array_equal(window, whole)


def test_centre_window_leaves_other_cases_to_the_whole_read(tmp_path: Path) -> None:
    from skemotion.audio._io import _read_centre_window

    path = tmp_path / "x.wav"
    sf.write(path, tone(8_000, sr=16_000), 16_000)
    assert _read_centre_window(path, sr=16_000, length=9_000) is None  # to be padded
    assert _read_centre_window(path, sr=8_000, length=1_000) is None  # to be resampled
    assert _read_centre_window(tmp_path / "missing.wav", sr=16_000, length=10) is None
    sf.write(tmp_path / "float.wav", tone(8_000, sr=16_000), 16_000, subtype="FLOAT")
    assert _read_centre_window(tmp_path / "float.wav", sr=16_000, length=1_000) is None
    # Cut short after its header was written: the whole read names the truncation.
    data = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    assert _read_centre_window(tmp_path / "cut.wav", sr=16_000, length=1_000) is None
    with pytest.raises(ValueError, match="truncated"):
        load_audio(tmp_path / "cut.wav", sr=16_000)
