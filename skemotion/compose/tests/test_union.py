"""ModalityUnion: column selection, special transformers, nested params, caching, real features."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import _safe_indexing
from skorch.helper import SliceDict

from skemotion.audio import LogMelSpectrogram
from skemotion.compose import ModalityUnion
from skemotion.datasets import make_ravdess_like
from skemotion.model_selection import evaluate_actor_cv
from skemotion.nets import FusionClassifier
from skemotion.preprocessing import TemporalStandardScaler


class Recorder(TransformerMixin, BaseEstimator):
    """Learns the mean of its input; remembers what it was given and counts its fits."""

    fit_calls: ClassVar[list[str]] = []  # class-level: clones and cache hits share it

    def __init__(self, scale: float = 1.0, tag: str = "") -> None:
        self.scale = scale
        self.tag = tag

    def fit(self, X: Any, y: Any = None) -> Recorder:
        Recorder.fit_calls.append(self.tag)
        self.seen_type_ = type(X).__name__
        self.seen_columns_ = list(X.columns) if hasattr(X, "columns") else None
        self.mean_ = float(np.asarray(X, dtype=float).mean())
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=float).reshape(len(X), -1)
        return (self.scale * (values - self.mean_))[:, np.newaxis, :]


class Stateless(TransformerMixin, BaseEstimator):
    """Learns nothing: ``requires_fit=False``, like the feature extractors."""

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = scale

    def fit(self, X: Any, y: Any = None) -> Stateless:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return self.scale * np.asarray(X, dtype=float).reshape(len(X), 1, -1)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _first_two(table: pd.DataFrame) -> pd.DataFrame:
    # Module level, not a lambda: the union must survive clone, joblib and pickle.
    return table[["a", "b"]]


def _table(n_clips: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n_clips),
            "b": rng.normal(size=n_clips),
            "c": rng.normal(size=n_clips),
            "actor": np.arange(n_clips) % 4 + 1,
            "emotion": np.array(["calm", "angry"])[np.arange(n_clips) % 2],
        }
    )


@pytest.fixture(autouse=True)
def _reset_fit_calls() -> None:
    Recorder.fit_calls.clear()


def test_str_column_gives_a_series_list_a_dataframe_callable_the_table() -> None:
    table = _table()
    union = ModalityUnion(
        [
            ("speech", Recorder(), "a"),
            ("face", Recorder(), ["b", "c"]),
            ("both", Recorder(), _first_two),
        ]
    )
    out = union.fit_transform(table)
    assert isinstance(out, SliceDict)
    assert list(out) == ["speech", "face", "both"] == list(union.modalities_)
    assert {name: array.shape for name, array in out.items()} == {
        "speech": (12, 1, 1),
        "face": (12, 1, 2),
        "both": (12, 1, 2),
    }
    fitted = union.named_transformers_
    assert fitted["speech"].seen_type_ == "Series"
    assert (fitted["face"].seen_type_, fitted["face"].seen_columns_) == ("DataFrame", ["b", "c"])
    assert fitted["both"].seen_columns_ == ["a", "b"]
    np.testing.assert_allclose(out["speech"][:, 0, 0], table["a"] - table["a"].mean())
    # The given transformers are left untouched: the fitted ones are clones.
    assert not hasattr(union.transformers[0][1], "mean_")
    assert union.n_features_in_ == 5
    assert list(union.feature_names_in_) == list(table.columns)
    # transform reuses the fitted means.
    again = union.transform(table.iloc[:4])
    np.testing.assert_allclose(again["speech"][:, 0, 0], table["a"][:4] - table["a"].mean())


def test_passthrough_and_drop() -> None:
    table = _table()
    union = ModalityUnion(
        [("speech", Recorder(), "a"), ("face", "passthrough", ["b", "c"]), ("eyes", "drop", "c")]
    )
    out = union.fit_transform(table)
    assert list(out) == ["speech", "face"]
    np.testing.assert_array_equal(out["face"], table[["b", "c"]].to_numpy())
    assert [name for name, _, _ in union.transformers_] == ["speech", "face"]
    assert union.named_transformers_["face"] == "passthrough"
    np.testing.assert_array_equal(union.transform(table)["face"], out["face"])


def test_bad_transformers_raise() -> None:
    table = _table()
    with pytest.raises(ValueError, match="'passthrough' or 'drop'"):
        ModalityUnion([("speech", "identity", "a")]).fit(table)
    with pytest.raises(TypeError, match="does not implement fit and transform"):
        ModalityUnion([("speech", LogisticRegression(), "a")]).fit(table)
    with pytest.raises(ValueError, match="triples"):
        ModalityUnion([("speech", Recorder())]).fit(table)  # type: ignore[list-item]


def test_all_drop_raises() -> None:
    with pytest.raises(ValueError, match="every transformer is 'drop'"):
        ModalityUnion([("speech", "drop", "a"), ("face", "drop", "b")]).fit(_table())


def test_duplicate_names_raise() -> None:
    union = ModalityUnion([("speech", Recorder(), "a"), ("speech", Recorder(), "b")])
    with pytest.raises(ValueError, match="not unique"):
        union.fit(_table())


@pytest.mark.parametrize("name", ["log-mel", "face kpd", "2d", "speech__n_mels"])
def test_non_identifier_names_raise(name: str) -> None:
    with pytest.raises(ValueError, match=r"identifier|__"):
        ModalityUnion([(name, Recorder(), "a")]).fit(_table())


@pytest.mark.parametrize("column", ["emotion", ["a", "emotion"], ["emotion_code"]])
def test_label_column_is_refused(column: Any) -> None:
    table = _table().assign(emotion_code=1)
    with pytest.raises(ValueError, match=r"label column\(s\) \['emotion"):
        ModalityUnion([("speech", Recorder(), column)]).fit(table)
    # Naming other label columns moves the guard.
    union = ModalityUnion([("speech", Recorder(), "a")], label_columns=("a",))
    with pytest.raises(ValueError, match=r"label column\(s\) \['a'\]"):
        union.fit(table)


def test_output_slices_as_rows_for_cross_validation() -> None:
    table = _table(24)
    y = table["emotion"].to_numpy()
    out = ModalityUnion([("speech", Stateless(), "a"), ("face", Stateless(), ["b", "c"])]).fit(
        table
    )
    out = out.transform(table)
    part = _safe_indexing(out, np.array([0, 5, 7]))
    assert isinstance(part, SliceDict)
    np.testing.assert_array_equal(part["face"], out["face"][[0, 5, 7]])
    assert _safe_indexing(out, np.arange(24) < 3)["speech"].shape == (3, 1, 1)
    clf = FusionClassifier(max_epochs=1, module__filters=4, module__n_scales=1, random_state=0)
    scores = cross_val_score(clf, out, y, groups=table["actor"], cv=GroupKFold(n_splits=2))
    assert scores.shape == (2,)


def test_nested_params_set_params_and_clone() -> None:
    union = ModalityUnion([("speech", Recorder(scale=1.0), "a"), ("face", "passthrough", "b")])
    params = union.get_params()
    assert params["speech__scale"] == 1.0
    assert params["face"] == "passthrough"
    assert {"transformers", "n_jobs", "memory", "label_columns", "verbose"} <= set(params)
    union.set_params(speech__scale=3.0, n_jobs=1)
    assert union.transformers[0][1].scale == 3.0
    # Replacing a whole transformer by name keeps its column.
    union.set_params(face=Recorder(tag="new"), speech="drop")
    assert [(n, c) for n, _, c in union.transformers] == [("speech", "a"), ("face", "b")]
    assert union.get_params()["face__tag"] == "new"
    out = union.fit_transform(_table())
    assert list(out) == ["face"]
    copy = clone(union)
    assert not hasattr(copy, "transformers_")
    assert copy.get_params()["face__tag"] == "new"
    assert copy.get_params()["speech"] == "drop"
    assert copy.transformers[1][1] is not union.transformers[1][1]


def test_pipeline_reaches_union_params() -> None:
    union = ModalityUnion([("speech", LogMelSpectrogram(), "path")])
    pipe = make_pipeline(union, TemporalStandardScaler())
    pipe.set_params(modalityunion__speech__n_mels=40)
    assert union.transformers[0][1].n_mels == 40
    assert clone(pipe).get_params()["modalityunion__speech__n_mels"] == 40


def test_memory_caches_fitted_transformers(tmp_path: Path) -> None:
    table = _table()
    memory = joblib.Memory(tmp_path / "cache", verbose=0)
    union = ModalityUnion(
        [("speech", Recorder(tag="speech"), "a"), ("face", Recorder(tag="face"), ["b"])],
        memory=memory,
    )
    first = union.fit_transform(table)
    assert sorted(Recorder.fit_calls) == ["face", "speech"]
    second = clone(union).fit_transform(table)
    assert sorted(Recorder.fit_calls) == ["face", "speech"]  # both were cache hits
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    # A changed parameter is a new cache entry for that modality only.
    union.set_params(speech__scale=2.0).fit_transform(table)
    assert sorted(Recorder.fit_calls) == ["face", "speech", "speech"]
    # So is other data.
    union.fit_transform(table.iloc[:6])
    assert len(Recorder.fit_calls) == 5
    # A path works too.
    ModalityUnion([("speech", Recorder(tag="p"), "a")], memory=str(tmp_path / "c2")).fit(table)
    ModalityUnion([("speech", Recorder(tag="p"), "a")], memory=str(tmp_path / "c2")).fit(table)
    assert Recorder.fit_calls.count("p") == 1


@pytest.mark.parametrize(
    "backend",
    [
        "threading",
        # Worker processes import torch through skemotion: slow to start, so marked slow.
        pytest.param("loky", marks=pytest.mark.slow),
    ],
)
def test_n_jobs_gives_the_same_output(backend: str) -> None:
    table = _table()
    transformers = [
        ("speech", Recorder(), "a"),
        ("face", Recorder(scale=2.0), ["b", "c"]),
        ("both", Stateless(), _first_two),
        ("raw", "passthrough", ["c"]),
    ]
    serial = ModalityUnion(transformers)
    serial_out = serial.fit_transform(table)
    with joblib.parallel_config(backend=backend):
        parallel = ModalityUnion(transformers, n_jobs=2)
        parallel_out = parallel.fit_transform(table)
        transformed = parallel.transform(table)
    assert list(parallel_out) == list(transformed) == list(serial_out)
    for name in serial_out:
        np.testing.assert_array_equal(parallel_out[name], serial_out[name])
        np.testing.assert_array_equal(transformed[name], serial_out[name])
    assert parallel.named_transformers_["face"].mean_ == serial.named_transformers_["face"].mean_


def test_transform_without_fit_only_when_stateless() -> None:
    table = _table()
    stateless = ModalityUnion([("speech", Stateless(), "a"), ("face", "passthrough", "b")])
    out = stateless.transform(table)
    np.testing.assert_allclose(out["speech"][:, 0, 0], 2 * table["a"])
    np.testing.assert_array_equal(out["face"], table["b"])
    assert not hasattr(stateless, "transformers_")
    lms = ModalityUnion([("speech", LogMelSpectrogram(), "path"), ("face", Stateless(), "b")])
    assert not lms.__sklearn_tags__().requires_fit
    assert ModalityUnion([("speech", Recorder(), "a")]).__sklearn_tags__().requires_fit

    stateful = ModalityUnion([("speech", Stateless(), "a"), ("face", Recorder(), "b")])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        stateful.transform(table)


@pytest.mark.parametrize("fitted", [True, False])
def test_transform_names_a_missing_column(fitted: bool) -> None:
    table = _table()
    union = ModalityUnion([("speech", Stateless(), "a"), ("face", Stateless(), ["b", "c"])])
    if fitted:
        union.fit(table)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['c'\]"):
        union.transform(table.drop(columns="c"))


def test_dict_input_selects_by_key() -> None:
    rng = np.random.default_rng(0)
    features = SliceDict(
        speech=rng.normal(size=(10, 6, 3)).astype(np.float32),
        face=rng.normal(size=(10, 8, 5)).astype(np.float32),
    )
    union = ModalityUnion(
        [("speech", TemporalStandardScaler(), "speech"), ("face", TemporalStandardScaler(), "face")]
    )
    out = union.fit_transform(features)
    assert {name: a.shape for name, a in out.items()} == {"speech": (10, 6, 3), "face": (10, 8, 5)}
    np.testing.assert_allclose(out["face"].reshape(-1, 5).mean(axis=0), 0.0, atol=1e-5)
    assert union.n_features_in_ == 2


def test_unequal_clip_counts_raise() -> None:
    def halve(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[: len(table) // 2]

    union = ModalityUnion([("speech", "passthrough", "a"), ("face", "passthrough", halve)])
    with pytest.raises(ValueError, match="different numbers of clips"):
        union.fit(_table())


# -- real features ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_ravdess_like(tmp_path_factory.mktemp("corpus"), n_actors=2, random_state=0)


def test_two_log_mel_configurations_into_fusion_actor_cv(corpus: Any) -> None:
    # Stateless extraction once (transform without fit), then a pipeline that learns.
    features = ModalityUnion(
        [
            ("lms24", LogMelSpectrogram(n_mels=24, crop_length=48_000), "path"),
            ("lms40", LogMelSpectrogram(n_mels=40, crop_length=24_000, hop_length=800), "path"),
        ]
    )
    X = features.transform(corpus.frame)
    assert {name: a.shape for name, a in X.items()} == {
        "lms24": (120, 30, 24),
        "lms40": (120, 30, 40),
    }
    np.testing.assert_array_equal(
        X["lms24"][:3], LogMelSpectrogram(n_mels=24, crop_length=48_000).transform(corpus.frame[:3])
    )
    model = make_pipeline(
        ModalityUnion(
            [
                ("lms24", TemporalStandardScaler(), "lms24"),
                ("lms40", TemporalStandardScaler(), "lms40"),
            ]
        ),
        FusionClassifier(
            max_epochs=3, module__filters=8, module__n_scales=2, batch_size=16, random_state=0
        ),
    )
    report = evaluate_actor_cv(model, X, corpus.y, corpus.groups, cv=GroupKFold(n_splits=2))
    assert report.n_folds == 2
    assert sorted(a for actors in report.fold_actors for a in actors) == [1, 2]
    assert len(report.y_pred) == 120
    assert set(report.y_pred) <= set(corpus.y)
