"""The embedded synthetic RAVDESS-like corpus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skemotion import EMOTIONS
from skemotion.datasets import EMOTION_PROFILES, make_ravdess_like


@pytest.fixture(scope="module")
def two_actors(tmp_path_factory: pytest.TempPathFactory):
    return make_ravdess_like(tmp_path_factory.mktemp("corpus"), n_actors=2, random_state=0)


def _digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def test_design_names_and_format(two_actors) -> None:
    frame = two_actors.frame
    assert len(frame) == 120
    assert set(frame["actor"]) == {1, 2}
    assert frame.groupby("actor").size().tolist() == [60, 60]
    counts = frame["emotion"].value_counts()
    assert counts["neutral"] == 8 and all(counts[e] == 16 for e in EMOTIONS[1:])
    for path in frame["path"].iloc[::17]:
        info = sf.info(path)
        assert info.samplerate == 48_000 and info.channels == 1
        assert info.subtype == "PCM_16"
        assert 2.9 <= info.duration <= 5.2
        assert Path(path).parent.name.startswith("Actor_")


def test_deterministic_for_a_seed(two_actors, tmp_path: Path) -> None:
    again = make_ravdess_like(tmp_path / "a", n_actors=2, random_state=0, n_jobs=2)
    other = make_ravdess_like(tmp_path / "b", n_actors=2, random_state=1)
    assert _digest(list(again.frame["path"])) == _digest(list(two_actors.frame["path"]))
    assert _digest(list(other.frame["path"])) != _digest(list(two_actors.frame["path"]))


def test_emotion_shows_in_loudness_and_pitch(two_actors) -> None:
    frame = two_actors.frame

    def mean_rms(emotion: str) -> float:
        values = []
        for path in frame.loc[frame["emotion"] == emotion, "path"]:
            audio, _ = sf.read(path, dtype="float32")
            values.append(float(np.sqrt(np.mean(audio**2))))
        return float(np.mean(values))

    assert mean_rms("angry") > mean_rms("sad")
    assert EMOTION_PROFILES["angry"].loudness > EMOTION_PROFILES["sad"].loudness
    assert EMOTION_PROFILES["angry"].f0_shift > EMOTION_PROFILES["calm"].f0_shift


def test_clips_differ_between_actors_and_takes(two_actors) -> None:
    frame = two_actors.frame
    first = frame[(frame["emotion"] == "happy") & (frame["intensity"] == "normal")]
    waves = [sf.read(p, dtype="float32")[0] for p in first["path"]]
    assert len({w.shape[0] for w in waves}) > 1 or not np.allclose(waves[0], waves[1])
