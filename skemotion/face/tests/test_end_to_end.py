"""The face path end to end on the embedded corpus, as a user runs it: videos -> KPD -> TIM-Net."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

pytest.importorskip("dlib")
pytest.importorskip("av")

from skemotion.cli import main
from skemotion.compose import make_face_pipeline, make_speech_pipeline
from skemotion.datasets import load_ravdess
from skemotion.face import FaceLandmarks, default_cache_dir
from skemotion.model_selection import evaluate_actor_cv

CHANCE = 1 / 8
N_ACTORS = 5
# Emotions the embedded corpus puts in the face (smile, sad brows and mouth, nose wrinkle)
# and those it puts in the voice (arousal), see make_ravdess_like.
FACE_EMOTIONS = ("happy", "sad", "disgust")
VOICE_EMOTIONS = ("angry", "fearful", "surprised")


@pytest.fixture(scope="module")
def corpus(av_corpus):
    return av_corpus


def _small_net(**kwargs):
    return {"max_epochs": 15, "filters": 32, "n_scales": 5, "lr": 2e-3, "random_state": 0, **kwargs}


@pytest.mark.slow
def test_face_only_timnet_is_well_above_chance_and_errs_unlike_speech(corpus):
    video = load_ravdess(corpus, modalities=["video-only"])
    audio = load_ravdess(corpus, modalities=["audio-only"])
    assert len(video.frame) == len(audio.frame) == 60 * N_ACTORS
    cv = GroupKFold(n_splits=N_ACTORS)

    # The session-wide cache folder: the CLI test below reads the same tracks.
    face = make_face_pipeline(landmarks=FaceLandmarks(n_jobs=2), **_small_net())
    X_face = face[0].transform(video.frame)  # stateless: the folds refit only scaler + net
    assert X_face.shape == (60 * N_ACTORS, 88, 780) and np.isfinite(X_face).all()
    face_report = evaluate_actor_cv(face[1:], X_face, video.y, video.groups, cv=cv, n_jobs=2)

    speech = make_speech_pipeline(**_small_net(), n_jobs=2)
    speech_report = evaluate_actor_cv(speech, audio.frame, audio.y, audio.groups, cv=cv, n_jobs=2)

    summary = f"face\n{face_report.to_markdown()}\nspeech\n{speech_report.to_markdown()}"
    assert face_report.mean_accuracy > 3 * CHANCE, summary
    advantage = {
        e: face_report.per_emotion_f1[e] - speech_report.per_emotion_f1[e]
        for e in FACE_EMOTIONS + VOICE_EMOTIONS
    }
    # Designed: the face wins where the voice is ambiguous, and less (or loses) on arousal.
    assert np.mean([advantage[e] for e in FACE_EMOTIONS]) > np.mean(
        [advantage[e] for e in VOICE_EMOTIONS]
    ), summary


@pytest.mark.slow
def test_cli_evaluates_face_features(corpus, tmp_path, capsys):
    output = tmp_path / "face_results"
    args = ["evaluate", "--data", str(corpus), "--features", "kpd", "--quick", "--epochs", "1"]
    assert main([*args, "--folds", "groupkfold", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "Face: key-point distances + TIM-Net" in out and "67.1 %" in out
    report = json.loads((output / "report.json").read_text())
    assert report["metadata"]["features"] == "kpd" and report["n_folds"] == 5
    assert report["metadata"]["face_found_fraction"] > 0.95
    # The landmark tracks came from (and stay in) the cache.
    assert len(list(default_cache_dir().glob("*.npz"))) >= 60 * N_ACTORS
