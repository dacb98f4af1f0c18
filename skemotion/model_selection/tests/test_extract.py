"""Tests for extract-once: the stateless head of a pipeline run once for all folds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skemotion.audio import LogMelSpectrogram
from skemotion.compose import ModalityUnion
from skemotion.model_selection import (
    evaluate_actor_cv,
    evaluate_actor_cv_many,
    extract_stateless_head,
)
from skemotion.preprocessing import SubjectNormalizer, TemporalStandardScaler

SR = 16_000
N_ACTORS = 10
CLIPS_PER_ACTOR = 6


def _flatten(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)


def _logmel(**params: Any) -> LogMelSpectrogram:
    return LogMelSpectrogram(
        sr=SR, n_mels=16, n_fft=512, hop_length=256, fmax=8000.0, crop_length=SR // 2, **params
    )


def _speech_pipeline(C: float = 1.0) -> Pipeline:
    # The shape of make_speech_pipeline with a cheap classifier: features, a scaler that
    # learns, then the model.
    return Pipeline(
        [
            ("lms", _logmel()),
            ("scaler", TemporalStandardScaler()),
            ("flatten", FunctionTransformer(_flatten)),
            ("clf", LogisticRegression(C=C, max_iter=500)),
        ]
    )


@pytest.fixture(scope="module")
def clip_table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A clip table like load_ravdess's: wav paths, actors, labels; rows shuffled."""
    folder: Path = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    t = np.arange(SR // 2) / SR
    rows = []
    for actor in range(1, N_ACTORS + 1):
        voice = rng.uniform(0.8, 1.25)  # each actor's own pitch
        for clip in range(CLIPS_PER_ACTOR):
            emotion = ("calm", "angry")[clip % 2]
            pitch = voice * (180.0 if emotion == "calm" else 320.0)
            wave = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.2 * rng.standard_normal(t.size)
            path = folder / f"actor{actor:02d}_clip{clip}.wav"
            sf.write(path, wave.astype(np.float32), SR)
            rows.append({"path": str(path), "actor": actor, "emotion": emotion})
    table = pd.DataFrame(rows)
    # Shuffled, so that keeping the row order is a real requirement.
    return table.sample(frac=1.0, random_state=0).reset_index(drop=True)


def _evaluate(estimator: Any, table: pd.DataFrame, **kwargs: Any) -> Any:
    return evaluate_actor_cv(
        estimator, table, table["emotion"], table["actor"], cv=GroupKFold(5), **kwargs
    )


def test_extract_once_gives_the_predictions_of_extracting_in_every_fold(clip_table):
    once = _evaluate(_speech_pipeline(), clip_table)
    every_fold = _evaluate(_speech_pipeline(), clip_table, extract_once=False)
    assert once.metadata["extracted_once"] == ["lms"]
    assert every_fold.metadata["extracted_once"] == []
    assert_array_equal(once.y_pred, every_fold.y_pred)
    assert_array_equal(once.y_true, clip_table["emotion"].to_numpy())
    assert_array_equal(once.test_fold, every_fold.test_fold)
    assert once.fold_actors == every_fold.fold_actors
    assert_array_equal(once.y_proba, every_fold.y_proba)
    # The same model on the same splits: the learning part saw the same numbers.
    assert 0.0 < once.mean_accuracy == every_fold.mean_accuracy
    assert once.metadata["estimator"] == every_fold.metadata["estimator"]


def test_extract_once_keeps_rows_and_the_rest_unfitted(clip_table):
    pipe = _speech_pipeline()
    features, rest = extract_stateless_head(pipe, clip_table)
    assert_array_equal(features, _logmel().transform(clip_table))
    assert [name for name, _ in rest.steps] == ["scaler", "flatten", "clf"]
    # The caller's pipeline is left as it was: nothing fitted, no step removed.
    assert [name for name, _ in pipe.steps] == ["lms", "scaler", "flatten", "clf"]
    assert not hasattr(pipe[0], "n_features_in_")


def test_subject_normalizer_learns_so_it_stays_inside_the_folds(clip_table):
    # SubjectNormalizer keeps the statistics of the subjects it was fitted on (and of
    # all of them, for an uncalibrated subject): a clip's features depend on the training
    # fold, so extracting them once for all clips would leak the test actors' statistics.
    normalizer = SubjectNormalizer(_logmel(), on_uncalibrated="global")
    fold_a = clip_table[clip_table["actor"] <= 5]
    fold_b = clip_table[clip_table["actor"] > 5]
    newcomer = clip_table.iloc[:1].assign(actor=99)  # one clip: cannot calibrate itself
    with pytest.warns(UserWarning):
        from_a = normalizer.fit(fold_a).transform(newcomer)
    with pytest.warns(UserWarning):
        from_b = normalizer.fit(fold_b).transform(newcomer)
    assert not np.allclose(from_a, from_b)

    pipe = Pipeline(
        [
            ("lms", SubjectNormalizer(_logmel())),
            ("flatten", FunctionTransformer(_flatten)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    features, rest = extract_stateless_head(pipe, clip_table)
    assert features is clip_table and rest is pipe
    report = _evaluate(pipe, clip_table)
    assert report.metadata["extracted_once"] == []
    assert report.protocol["protocol"] == "transductive"
    with pytest.raises(ValueError, match="no stateless leading step"):
        _evaluate(pipe, clip_table, extract_once=True)


class _CountingExtractor(TransformerMixin, BaseEstimator):
    """A stateless, row-wise extractor that counts the rows it transforms."""

    rows_seen: ClassVar[list[int]] = []

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = scale

    def fit(self, X: Any, y: Any = None) -> _CountingExtractor:
        return self

    def transform(self, X: Any) -> np.ndarray:
        type(self).rows_seen.append(len(X))
        return self.scale * np.asarray(X, dtype=float)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _counting_pipeline(scale: float = 2.0, C: float = 1.0) -> Pipeline:
    return make_pipeline(
        _CountingExtractor(scale), StandardScaler(), LogisticRegression(C=C, max_iter=200)
    )


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(1, 11), 8)
    y = rng.choice(["sad", "happy"], size=groups.size)
    X = rng.normal(size=(groups.size, 3)) + (y == "happy")[:, None]
    _CountingExtractor.rows_seen.clear()
    return X, y, groups


def test_extraction_runs_once_instead_of_twice_per_fold(arrays):
    X, y, groups = arrays
    once = evaluate_actor_cv(_counting_pipeline(), X, y, groups, cv=5)
    assert _CountingExtractor.rows_seen == [len(X)]
    _CountingExtractor.rows_seen.clear()
    every_fold = evaluate_actor_cv(_counting_pipeline(), X, y, groups, cv=5, extract_once=False)
    # Each fold: its training rows for fit, its test rows for predict and predict_proba.
    assert _CountingExtractor.rows_seen == [64, 16, 16] * 5
    assert_array_equal(once.y_pred, every_fold.y_pred)
    assert_array_equal(once.y_proba, every_fold.y_proba)


def test_many_share_an_extraction_when_the_stateless_steps_agree(arrays):
    X, y, groups = arrays
    grid = [_counting_pipeline(C=C) for C in (0.1, 1.0)]
    reports = evaluate_actor_cv_many(grid, X, y, groups, cv=5)
    assert _CountingExtractor.rows_seen == [len(X)]
    alone = evaluate_actor_cv(_counting_pipeline(C=0.1), X, y, groups, cv=5, extract_once=False)
    assert_array_equal(reports[0].y_pred, alone.y_pred)
    _CountingExtractor.rows_seen.clear()
    evaluate_actor_cv_many([_counting_pipeline(s) for s in (1.0, 3.0)], X, y, groups, cv=5)
    assert _CountingExtractor.rows_seen == [len(X), len(X)]


def test_a_union_of_stateless_extractors_is_extracted_once(arrays):
    X, y, groups = arrays
    table = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})

    def pipe() -> Pipeline:
        union = ModalityUnion(
            [("speech", _CountingExtractor(), ["a"]), ("face", _CountingExtractor(), ["b"])]
        )
        joined = FunctionTransformer(lambda d: np.hstack([d["speech"], d["face"]]))
        return make_pipeline(union, joined, LogisticRegression())

    once = evaluate_actor_cv(pipe(), table, y, groups, cv=5)
    every_fold = evaluate_actor_cv(pipe(), table, y, groups, cv=5, extract_once=False)
    # The union and the join are both stateless: the folds fit the classifier alone.
    assert once.metadata["extracted_once"] == ["modalityunion", "functiontransformer"]
    assert_array_equal(once.y_pred, every_fold.y_pred)


def test_not_a_pipeline_or_nothing_stateless(arrays):
    X, y, groups = arrays
    report = evaluate_actor_cv(LogisticRegression(), X, y, groups, cv=5)
    assert report.metadata["extracted_once"] == []
    with pytest.raises(ValueError, match="no stateless leading step"):
        evaluate_actor_cv(LogisticRegression(), X, y, groups, cv=5, extract_once=True)
    # The final step is the model, even when its tags say it needs no fit.
    only_extractor = make_pipeline(_CountingExtractor())
    assert extract_stateless_head(only_extractor, X)[1] is only_extractor


def test_a_stateless_step_must_keep_the_rows(arrays):
    X, y, groups = arrays
    drop_one = FunctionTransformer(lambda A: A[1:])
    with pytest.raises(ValueError, match="changed the number of rows"):
        evaluate_actor_cv(make_pipeline(drop_one, LogisticRegression()), X, y, groups, cv=5)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_extract_once_values(arrays, value):
    X, y, groups = arrays
    with pytest.raises(ValueError, match="extract_once must be"):
        evaluate_actor_cv(_counting_pipeline(), X, y, groups, cv=5, extract_once=value)
