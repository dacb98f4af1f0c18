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
