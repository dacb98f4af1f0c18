"""Bad inputs from real files: each gives an error naming the file, or a documented policy.

Every test writes the damaged file itself (a real wav / flac / mp4 / csv / model, then cut,
emptied or altered) and checks what the public entry point does with it. See
``docs/robustness.md`` for the policies these tests pin down.
"""

from __future__ import annotations

import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from skemotion import load_model, save_model
from skemotion.audio import LogMelSpectrogram, load_audio
from skemotion.datasets import load_ravdess, parse_ravdess_name
from skemotion.exceptions import NotASkemotionModelError

av = pytest.importorskip("av")

SR = 48_000


def _tone(seconds: float, sr: int = SR, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wav(path: Path, y: np.ndarray | None = None, sr: int = SR, **kw) -> Path:
    sf.write(path, _tone(3.0, sr) if y is None else y, sr, **kw)
    return path


def _mp4(
    path: Path,
    *,
    n_frames: int = 45,
    audio: bool = False,
    faststart: bool = False,
    size: int = 64,
) -> Path:
    """A small H.264 clip at 30 fps (flat grey frames: no face), optionally with AAC audio."""
    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w", options=options) as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = size, size, "yuv420p"
        sound = container.add_stream("aac", rate=SR) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for _ in range(n_frames):
            frame = rng.integers(100, 120, (size, size, 3), dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            y = _tone(n_frames / 30)
            for start in range(0, len(y), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    y[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = SR, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def _cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _names(path: Path) -> str:
    return re.escape(path.name)


# -- audio files ----------------------------------------------------------------------------


def test_truncated_wav(tmp_path):
    bad = _cut(_wav(tmp_path / "good.wav", subtype="PCM_16"), tmp_path / "cut.wav", 0.5)
    # libsndfile alone would return the first half and the crop would pad it with silence.
    with pytest.raises(ValueError, match=_names(bad) + ".*truncated"):
        load_audio(bad)
    with pytest.raises(ValueError, match=_names(bad) + ".*truncated"):
        LogMelSpectrogram().fit_transform([bad])


def test_wav_cut_inside_its_header(tmp_path):
    bad = _cut(_wav(tmp_path / "good.wav", subtype="PCM_16"), tmp_path / "cut.wav", 0.0001)
    with pytest.raises(ValueError, match=_names(bad)):
        LogMelSpectrogram().fit_transform([bad])


def test_corrupt_wav_bytes(tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(ValueError, match=_names(bad)):
        LogMelSpectrogram().fit_transform([bad])


def test_zero_length_wav(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=_names(empty)):
        LogMelSpectrogram().fit_transform([empty])


def test_wav_without_samples(tmp_path):
    # A well-formed header announcing no samples at all.
    silent = _wav(tmp_path / "nothing.wav", np.zeros(0, np.float32))
    with pytest.raises(ValueError, match=_names(silent) + ".*no samples"):
        LogMelSpectrogram().fit_transform([silent])


def test_truncated_flac(tmp_path):
    bad = _cut(_wav(tmp_path / "good.flac"), tmp_path / "cut.flac", 0.5)
    with pytest.raises(ValueError, match=_names(bad)):
        LogMelSpectrogram().fit_transform([bad])


def test_wav_with_nan_samples(tmp_path):
    y = _tone(3.0)
    y[1000] = np.nan
    bad = _wav(tmp_path / "nan.wav", y, subtype="FLOAT")
    with pytest.raises(ValueError, match=_names(bad) + ".*NaN"):
        LogMelSpectrogram().fit_transform([bad])


def test_wrong_sample_rate_is_resampled(tmp_path):
    """Policy: every file is resampled to ``sr`` (48 kHz), never read as if it were 48 kHz."""
    native = _wav(tmp_path / "48k.wav", _tone(3.0, SR), SR)
    low = _wav(tmp_path / "16k.wav", _tone(3.0, 16_000), 16_000)
    y, sr = load_audio(low, sr=SR)
    assert sr == SR and len(y) == 3 * SR
    lms = LogMelSpectrogram().fit_transform([native, low])
    assert lms.shape == (2, 88, 24) and np.isfinite(lms).all()
    # Read as 48 kHz, the 16 kHz clip would last 1 s (mostly padding) at three times the
    # pitch; resampled, the tone lies in the same band at the same level in every frame.
    np.testing.assert_array_equal(lms[1].argmax(axis=1), lms[0].argmax(axis=1))
    np.testing.assert_allclose(lms[1].max(axis=1), lms[0].max(axis=1), atol=0.5)


def test_silent_audio_has_a_finite_floor(tmp_path):
    """Policy: digital silence gives the -100 dB floor (``amin=1e-10``), never -inf or NaN."""
    silent = _wav(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32))
    lms = LogMelSpectrogram().fit_transform([silent])
    assert np.isfinite(lms).all()
    np.testing.assert_allclose(lms, -100.0, atol=1e-3)


def test_audio_far_shorter_than_88_frames(tmp_path):
    """Policy: ``pad_mode`` ("constant" silence by default); ``"error"`` refuses, naming it."""
    short = _wav(tmp_path / "short.wav", _tone(0.1))  # 3 frames' worth
    lms = LogMelSpectrogram().fit_transform([short])
    assert lms.shape == (1, 88, 24) and np.isfinite(lms).all()
    # centred: silence (the floor) before and after, the tone in the middle frames
    assert lms[0, 0].max() == pytest.approx(-100.0, abs=1e-3)
    assert lms[0, 44].max() > -50
    with pytest.raises(ValueError, match=_names(short) + ".*shorter than the required"):
        LogMelSpectrogram(pad_mode="error").fit_transform([short])


# -- video files ----------------------------------------------------------------------------


def test_truncated_mp4(tmp_path):
    from skemotion.face import load_video

    bad = _cut(_mp4(tmp_path / "good.mp4"), tmp_path / "cut.mp4", 0.5)
    with pytest.raises(ValueError, match=_names(bad)):
        load_video(bad, n_frames=20)


def test_truncated_mp4_landmarks_follow_on_error(tmp_path):
    pytest.importorskip("dlib")
    from skemotion.face import FaceLandmarks

    bad = _cut(_mp4(tmp_path / "good.mp4"), tmp_path / "cut.mp4", 0.5)
    with pytest.raises(ValueError, match=_names(bad)):
        FaceLandmarks(cache_dir=False, n_frames=20).extract([bad])
    with pytest.warns(UserWarning, match=_names(bad)):
        (track,) = FaceLandmarks(cache_dir=False, n_frames=20, on_error="warn").extract([bad])
    assert track is None


def test_truncated_faststart_mp4_audio(tmp_path):
    # With the index first, a file cut between two packets decodes without any FFmpeg
    # error, only shorter; cut inside a packet, FFmpeg itself fails.
    good = _mp4(tmp_path / "good.mp4", n_frames=90, audio=True, faststart=True)
    assert len(load_audio(good)[0]) >= 3 * SR - 1024
    with av.open(str(good)) as container:
        starts = [p.pos for p in container.demux(container.streams.audio[0]) if p.pos]
    at_packet = tmp_path / "cut_at_packet.mp4"
    at_packet.write_bytes(good.read_bytes()[: starts[len(starts) // 2]])
    with pytest.raises(ValueError, match=_names(at_packet) + ".*truncated"):
        load_audio(at_packet)
    in_packet = _cut(good, tmp_path / "cut_in_packet.mp4", 0.6)
    with pytest.raises(ValueError, match=_names(in_packet)):
        load_audio(in_packet)


def test_zero_length_mp4(tmp_path):
    from skemotion.face import load_video

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=_names(empty)):
        load_video(empty)
    with pytest.raises(ValueError, match=_names(empty)):
        load_audio(empty)


def test_video_far_shorter_than_88_frames(tmp_path):
    """Policy: ``short="pad"`` repeats the edge frames (centred); ``"raise"`` refuses."""
    from skemotion.face import load_video

    short = _mp4(tmp_path / "short.mp4", n_frames=6)
    frames, indices, info = load_video(short, n_frames=88)
    assert frames.shape[0] == 88 and info.n_frames == 6
    assert indices[0] == 0 and indices[-1] == 5
    assert (indices[:41] == 0).all() and (indices[-41:] == 5).all()
    with pytest.raises(ValueError, match=_names(short) + ".*6 frames, fewer than the 88"):
        load_video(short, n_frames=88, short="raise")


def test_video_without_a_face(tmp_path):
    """Policy: ``on_error="raise"`` names the clip; ``"warn"`` gives None and NaN features."""
    pytest.importorskip("dlib")
    from skemotion.face import FaceLandmarks, HeadPose

    faceless = _mp4(tmp_path / "02-01-01-01-01-01-01.mp4", n_frames=12)
    with pytest.raises(ValueError, match=_names(faceless) + ": no face found"):
        FaceLandmarks(cache_dir=False, n_frames=10).extract([faceless])
    landmarks = FaceLandmarks(cache_dir=False, n_frames=10, on_error="warn")
    with pytest.warns(UserWarning, match=_names(faceless)):
        features = HeadPose(landmarks).transform([faceless])
    assert np.isnan(features).all()


# -- tables, names, features ----------------------------------------------------------------


def test_openface_csv_with_missing_columns(tmp_path):
    from skemotion.face import read_openface_csv

    from ..face.tests._openface_fixture import write_openface_csv

    good = tmp_path / "good.csv"
    write_openface_csv(good, n_frames=30)
    header, *rows = good.read_text().splitlines()
    columns = [c.strip() for c in header.split(",")]
    keep = [i for i, c in enumerate(columns) if c not in {"x_30", "pose_Rx"}]
    bad = tmp_path / "no_nose.csv"
    bad.write_text(
        "\n".join(", ".join(line.split(",")[i].strip() for i in keep) for line in [header, *rows])
    )
    with pytest.raises(ValueError, match=_names(bad) + ".*missing column.*x_30.*pose_Rx"):
        read_openface_csv(bad)


def test_openface_csv_that_is_not_a_csv(tmp_path):
    from skemotion.face import read_openface_csv

    bad = tmp_path / "clip.csv"
    bad.write_bytes(b"\x00\xff" * 100)
    with pytest.raises(ValueError, match=_names(bad)):
        read_openface_csv(bad)


@pytest.mark.parametrize(
    "name",
    ["my_recording.wav", "03-01-05-02-01-02.wav", "03-01-09-01-01-01-01.wav", "3-1-5-2-1-2-12.wav"],
)
def test_non_ravdess_name(name):
    with pytest.raises(ValueError, match=re.escape(name) + ": not a RAVDESS file name"):
        parse_ravdess_name(name)


def test_non_ravdess_names_in_a_corpus_follow_on_error(tmp_path):
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    _wav(actor / "03-01-01-01-01-01-01.wav", _tone(0.1))
    stray = _wav(actor / "take_2_final.wav", _tone(0.1))
    with pytest.raises(ValueError, match=_names(stray)):
        load_ravdess(tmp_path)
    with pytest.warns(UserWarning, match=_names(stray)):
        data = load_ravdess(tmp_path, on_error="skip")
    assert data.frame["clip_id"].tolist() == ["03-01-01-01-01-01-01"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_in_the_scaler(bad):
    from skemotion.preprocessing import TemporalStandardScaler

    X = np.ones((4, 88, 3), dtype=np.float32)
    X[1, 40, 2] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        TemporalStandardScaler().fit(X)
    scaler = TemporalStandardScaler().fit(np.ones((4, 88, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        scaler.transform(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_in_the_classifier(bad):
    from skemotion.nets import TIMNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 6, 3)).astype(np.float32)
    y = np.array(["calm", "angry"] * 4)
    X_bad = X.copy()
    X_bad[3, 2, 1] = bad
    small: dict[str, Any] = {
        "module__filters": 4,
        "module__n_scales": 2,
        "batch_size": 4,
        "max_epochs": 1,
    }
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        TIMNetClassifier(**small).fit(X_bad, y)
    clf = TIMNetClassifier(**small, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        clf.predict(X_bad)


# -- model files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    from skemotion.nets import TIMNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 6, 3)).astype(np.float32)
    clf = TIMNetClassifier(
        module__filters=4, module__n_scales=2, batch_size=4, max_epochs=1, random_state=0
    ).fit(X, np.array(["calm", "angry"] * 4))
    return save_model(clf, tmp_path_factory.mktemp("model") / "clf.skem")


def test_model_file_that_is_not_ours(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    pickled = tmp_path / "pickled.skem"
    pickled.write_bytes(pickle.dumps(Payload()))
    noise = tmp_path / "noise.skem"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.skem"
    empty.write_bytes(b"")
    for path in (pickled, noise, empty):
        with pytest.raises(NotASkemotionModelError, match=_names(path)):
            load_model(path)


def test_truncated_model_file(model_file, tmp_path):
    bad = _cut(model_file, tmp_path / "cut.skem", 0.5)
    with pytest.raises(NotASkemotionModelError, match=_names(bad)):
        load_model(bad)


def test_tampered_model_weights(model_file, tmp_path):
    # One flipped bit inside a stored tensor: the archive stays readable (torch does not
    # check the zip CRCs), only the digest can tell.
    data = bytearray(model_file.read_bytes())
    with zipfile.ZipFile(model_file) as archive:
        entry = next(i for i in archive.infolist() if re.search(r"/data/\d+$", i.filename))
    name_len, extra_len = struct.unpack(
        "<HH", data[entry.header_offset + 26 : entry.header_offset + 30]
    )
    data[entry.header_offset + 30 + name_len + extra_len] ^= 0x01
    bad = tmp_path / "flipped.skem"
    bad.write_bytes(bytes(data))
    with pytest.raises(NotASkemotionModelError, match=_names(bad) + ".*digest"):
        load_model(bad)


def test_tampered_model_rewritten_without_digest_update(model_file, tmp_path):
    import torch

    payload = torch.load(model_file, weights_only=True)
    state = payload["model"]["module_state"]
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    bad = tmp_path / "nan.skem"
    torch.save(payload, bad)
    with pytest.raises(NotASkemotionModelError, match=_names(bad)):
        load_model(bad)
    # Without a digest (as from an older skemotion) the NaN weights are still refused.
    del payload["sha256"]
    torch.save(payload, bad)
    with (
        pytest.warns(UserWarning, match="integrity digest"),
        pytest.raises(NotASkemotionModelError, match=_names(bad) + ".*NaN or infinite"),
    ):
        load_model(bad)
