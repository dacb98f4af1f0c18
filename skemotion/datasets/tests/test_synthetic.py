"""The embedded synthetic RAVDESS-like corpus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.utils import Bunch

from skemotion import EMOTIONS
from skemotion.datasets import (
    EMOTION_PROFILES,
    STRONG_INTENSITY_GAIN,
    emotion_profile,
    make_ravdess_like,
    parse_ravdess_name,
    synthesize_speech,
)


@pytest.fixture(scope="module")
def two_actors(tmp_path_factory: pytest.TempPathFactory) -> Bunch:
    return make_ravdess_like(tmp_path_factory.mktemp("corpus"), n_actors=2, random_state=0)


def _digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: Path(p).name):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _median_f0(audio: np.ndarray) -> float:
    # A crude pitch proxy: YIN on a 16 kHz decimation, over the loudest frames.
    x = audio[::3]
    f0 = librosa.yin(x, fmin=60, fmax=500, sr=16000, frame_length=1024, hop_length=256)
    rms = librosa.feature.rms(y=x, frame_length=1024, hop_length=256)[0]
    return float(np.median(f0[rms > 0.3 * rms.max()]))


def test_design_names_and_format(two_actors: Bunch) -> None:
    frame = two_actors.frame
    assert len(frame) == 120
    assert frame.groupby("actor").size().to_dict() == {1: 60, 2: 60}
    counts = frame["emotion"].value_counts()
    assert counts["neutral"] == 8 and all(counts[e] == 16 for e in EMOTIONS[1:])
    assert not ((frame["emotion"] == "neutral") & (frame["intensity"] == "strong")).any()
    assert frame.groupby(["emotion", "intensity", "statement", "repetition"]).size().max() == 2
    root = Path(two_actors.root)
    files = sorted(root.rglob("*"))
    assert len([f for f in files if f.is_file()]) == 120  # no temporary file left over
    for path in frame["path"]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (48_000, 1, "PCM_16")
        assert 2.9 <= info.duration <= 5.2
        name = parse_ravdess_name(path)
        assert Path(path).parent.name == f"Actor_{name.actor:02d}"
        assert Path(path).name == name.to_name(".wav")


def test_file_is_the_quantized_synthesis(two_actors: Bunch) -> None:
    path = two_actors.frame["path"].iloc[37]
    stored, sr = sf.read(path, dtype="int16")
    expected = np.round(synthesize_speech(Path(path).name) * 32767).astype(np.int16)
    assert sr == 48_000
    np.testing.assert_array_equal(stored, expected)


def test_deterministic_and_independent_of_n_jobs_and_n_actors(
    two_actors: Bunch, tmp_path: Path
) -> None:
    actor_1 = two_actors.frame.loc[two_actors.frame["actor"] == 1, "path"]
    again = make_ravdess_like(tmp_path / "again", n_actors=1, random_state=0, n_jobs=2)
    assert len(again.frame) == 60
    assert _digest(list(again.frame["path"])) == _digest(list(actor_1))


def test_other_seed_gives_other_audio() -> None:
    name = "03-01-03-01-01-01-01.wav"
    first = synthesize_speech(name, random_state=0)
    np.testing.assert_array_equal(first, synthesize_speech(name, random_state=0))
    other = synthesize_speech(name, random_state=1)
    assert first.shape != other.shape or not np.allclose(first, other)


def test_takes_and_actors_differ(two_actors: Bunch) -> None:
    frame = two_actors.frame
    happy = frame[(frame["emotion"] == "happy") & (frame["intensity"] == "normal")]
    waves = [sf.read(p, dtype="float32")[0] for p in happy["path"]]
    for i in range(len(waves)):
        for j in range(i):
            assert waves[i].shape != waves[j].shape or not np.allclose(waves[i], waves[j])


def test_emotion_shows_in_loudness_and_pitch(two_actors: Bunch) -> None:
    frame = two_actors.frame
    strong = frame[frame["intensity"] == "strong"]
    for actor in (1, 2):
        rows = strong[strong["actor"] == actor]
        rms: dict[str, float] = {}
        f0: dict[str, float] = {}
        for emotion in ("angry", "sad"):
            audio = [
                sf.read(p, dtype="float32")[0] for p in rows.loc[rows["emotion"] == emotion, "path"]
            ]
            rms[emotion] = float(np.mean([np.sqrt(np.mean(a**2)) for a in audio]))
            f0[emotion] = float(np.median([_median_f0(a) for a in audio]))
        assert rms["angry"] > 2 * rms["sad"]  # about +8 dB x 1.6 vs -3.5 dB x 1.6
        assert f0["angry"] > 2 ** (3 / 12) * f0["sad"]  # at least 3 semitones higher
    # the female actor speaks higher than the male one
    neutral = frame[frame["emotion"] == "neutral"]
    pitch = {
        actor: np.median([_median_f0(sf.read(p, dtype="float32")[0]) for p in group["path"]])
        for actor, group in neutral.groupby("actor")
    }
    assert pitch[2] > 1.4 * pitch[1]


def test_synthesize_speech_options() -> None:
    y = synthesize_speech("03-01-06-02-02-02-05", sr=16_000, duration_range=(3.0, 3.0))
    assert y.dtype == np.float32 and y.shape == (48_000,)
    assert np.abs(y).max() < 1
    quiet = synthesize_speech("03-01-06-02-02-02-05", noise_level=0.0)
    assert np.all(quiet[:100] == 0)  # the leading silence is silent without room noise
    with pytest.raises(ValueError, match="only speech"):
        synthesize_speech("03-02-05-01-01-01-01.wav")
    with pytest.raises(ValueError, match="not a RAVDESS file name"):
        synthesize_speech("hello.wav")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"n_actors": 0}, "n_actors"),
        ({"n_actors": 25}, "n_actors"),
        ({"n_actors": 2.0}, "n_actors"),
        ({"duration_range": (3.0, 2.0)}, "duration_range"),
        ({"duration_range": (1.0, 1.5)}, "too short"),
        ({"sr": 8000}, "sr"),
        ({"noise_level": -0.1}, "noise_level"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        make_ravdess_like(tmp_path / "corpus", **{"n_actors": 1, **kwargs})  # type: ignore[arg-type]


def test_root_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        make_ravdess_like(target, n_actors=1)


def test_emotion_profiles_table() -> None:
    assert tuple(EMOTION_PROFILES) == EMOTIONS
    neutral = EMOTION_PROFILES["neutral"]
    assert emotion_profile("neutral", intensity="strong") == neutral
    for emotion in EMOTIONS[1:]:
        normal = emotion_profile(emotion)
        strong = emotion_profile(emotion, intensity="strong")
        assert normal == EMOTION_PROFILES[emotion]
        # strong intensity moves further from neutral on every prosodic axis
        assert abs(strong.loudness - neutral.loudness) == pytest.approx(
            STRONG_INTENSITY_GAIN * abs(normal.loudness - neutral.loudness)
        )
        assert abs(np.log(strong.tempo)) >= abs(np.log(normal.tempo))
        assert abs(strong.f0_shift) >= abs(normal.f0_shift)
    high = ("angry", "fearful", "surprised", "happy")
    low = ("calm", "neutral", "sad")
    assert min(EMOTION_PROFILES[e].arousal for e in high) > max(
        EMOTION_PROFILES[e].arousal for e in low
    )
    assert min(EMOTION_PROFILES[e].loudness for e in high) > max(
        EMOTION_PROFILES[e].loudness for e in low
    )
    with pytest.raises(ValueError, match="emotion"):
        emotion_profile("bored")
    with pytest.raises(ValueError, match="expressiveness"):
        emotion_profile("sad", expressiveness=0)
