"""The speech pipeline end to end on the embedded corpus, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold

from skemotion import load_model, save_model
from skemotion.compose import make_speech_pipeline
from skemotion.datasets import make_ravdess_like
from skemotion.model_selection import evaluate_actor_cv

CHANCE = 1 / 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    return make_ravdess_like(tmp_path_factory.mktemp("corpus"), n_actors=10, random_state=0)


def test_pipeline_steps_and_nested_params() -> None:
    pipe = make_speech_pipeline(max_epochs=3, filters=16, n_scales=4)
    assert [name for name, _ in pipe.steps] == ["lms", "scaler", "timnet"]
    params = pipe.get_params()
    assert params["lms__n_mels"] == 24
    assert params["timnet__module__filters"] == 16
    assert params["timnet__module__n_scales"] == 4
    pipe.set_params(lms__n_mels=16, timnet__optimizer__lr=0.01)
    assert clone(pipe).get_params()["lms__n_mels"] == 16


@pytest.mark.slow
def test_speech_only_actor_cv_well_above_chance(corpus, tmp_path: Path) -> None:
    pipe = make_speech_pipeline(
        max_epochs=15, filters=32, n_scales=5, lr=2e-3, random_state=0, n_jobs=2
    )
    report = evaluate_actor_cv(
        pipe, corpus.frame, corpus.y, corpus.groups, cv=GroupKFold(n_splits=5)
    )
    assert report.n_folds == 5
    assert sorted(a for actors in report.fold_actors for a in actors) == list(range(1, 11))
    assert report.mean_accuracy > 2.5 * CHANCE, report.to_markdown()
    # Designed so that speech separates arousal: angry beats calm-vs-neutral confusions.
    assert report.per_emotion_f1["angry"] > report.per_emotion_f1["neutral"]

    # The fitted pipeline saves, loads and predicts the same.
    fitted = pipe.fit(corpus.frame, corpus.y)
    loaded = load_model(save_model(fitted, tmp_path / "speech.skem"))
    sample = corpus.frame.iloc[:5]
    np.testing.assert_array_equal(loaded.predict_proba(sample), fitted.predict_proba(sample))


def test_face_pipeline_steps_and_paper_defaults() -> None:
    from skemotion.compose import make_face_pipeline
    from skemotion.face import FaceLandmarks

    pipe = make_face_pipeline(landmarks=FaceLandmarks("openface", openface_dir="of"))
    assert [name for name, _ in pipe.steps] == ["kpd", "scaler", "timnet"]
    params = pipe.get_params()
    # Table 3, face KPD multiclass
    assert (params["timnet__lr"], params["timnet__batch_size"], params["timnet__max_epochs"]) == (
        5e-4,
        64,
        100,
    )
    assert params["kpd__landmarks__backend"] == "openface"
    assert params["kpd__normalization"] == "neutral_reference"
    pipe.set_params(kpd__normalization="inter_ocular")
    assert clone(pipe).get_params()["kpd__normalization"] == "inter_ocular"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("all", {"source": "all"}), ("neutral", {"source": "neutral"}), (8, {"n_clips": 8})],
)
def test_subject_normalization_wraps_each_extractor(setting, expected) -> None:
    from skemotion.compose import make_face_pipeline, make_fusion_pipeline
    from skemotion.preprocessing import SubjectNormalizer

    speech = make_speech_pipeline(subject_normalization=setting)
    assert [name for name, _ in speech.steps] == ["lms", "scaler", "timnet"]
    params = speech.get_params()
    assert isinstance(params["lms"], SubjectNormalizer)
    assert params["lms__transformer__n_mels"] == 24
    assert {key: params[f"lms__{key}"] for key in expected} == expected
    face = make_face_pipeline(subject_normalization=setting).get_params()
    assert face["kpd__transformer__normalization"] == "neutral_reference"
    fusion = make_fusion_pipeline(("lms", "kpd"), subject_normalization=setting)
    union = fusion.named_steps["features"]
    lms, kpd = union.transformers[0], union.transformers[1]
    # Each modality sees its file column and the subject column, and finds neutral clips
    # from its own file names.
    assert lms[2] == ["audio_path", "actor"] and lms[1].path_column == "audio_path"
    assert lms[1].transformer.path_column == "audio_path"
    assert kpd[2] == ["video_path", "actor"] and kpd[1].path_column == "video_path"
    own = SubjectNormalizer(with_std=False, n_clips=4)
    wrapped = make_speech_pipeline(subject_normalization=own).named_steps["lms"]
    assert (wrapped.with_std, wrapped.n_clips) == (False, 4) and own.transformer is None
    with pytest.raises(ValueError, match="subject_normalization must be"):
        make_speech_pipeline(subject_normalization="some")


@pytest.mark.slow
def test_subject_calibrated_speech_end_to_end(corpus, tmp_path: Path) -> None:
    pipe = make_speech_pipeline(
        max_epochs=12, filters=16, n_scales=4, lr=2e-3, random_state=0, subject_normalization="all"
    )
    report = evaluate_actor_cv(pipe, corpus.frame, corpus.y, corpus.groups, cv=GroupKFold(2))
    assert report.protocol["protocol"] == "transductive"
    assert report.protocol["calibrations"]["lms"]["source"] == "all"
    assert report.mean_accuracy > 2 * CHANCE, report.to_markdown()

    # Fitted on 9 actors, then calibrated to the tenth from a few of its unlabeled clips.
    train = corpus.frame[corpus.frame.actor != 10]
    fitted = pipe.fit(train, corpus.y[corpus.frame.actor != 10])
    new_speaker = corpus.frame[corpus.frame.actor == 10]
    with pytest.raises(ValueError, match="fewer than min_clips"):
        fitted.predict(new_speaker.iloc[:1])
    fitted.named_steps["lms"].enroll(new_speaker.iloc[:8])
    one_clip = fitted.predict_proba(new_speaker.iloc[[20]])
    loaded = load_model(save_model(fitted, tmp_path / "calibrated.skem"))
    np.testing.assert_allclose(loaded.predict_proba(new_speaker.iloc[[20]]), one_clip, rtol=1e-6)
    assert loaded.named_steps["lms"].enrolled_.tolist() == [False] * 9 + [True]
