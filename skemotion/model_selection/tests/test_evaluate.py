"""Tests for evaluate_actor_cv and ActorCVReport."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import sklearn
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skemotion import EMOTIONS
from skemotion.model_selection import ActorCVReport, evaluate_actor_cv

# The paper's folds, written out here from the design reference rather than imported, so the
# test also catches a wrong PAPER_ACTOR_FOLDS.
PAPER_FOLDS = [
    [2, 5, 14, 15, 16],
    [3, 6, 7, 13, 18],
    [10, 11, 12, 19, 20],
    [8, 17, 21, 23, 24],
    [1, 4, 9, 22],
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _make_data(
    n_actors: int = 24, per_actor: int = 16, d: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(1, n_actors + 1), per_actor)
    y = np.array(EMOTIONS)[rng.integers(0, len(EMOTIONS), size=groups.size)]
    codes = np.searchsorted(np.array(sorted(EMOTIONS)), y)
    X = rng.normal(size=(groups.size, d))
    # A learnable but imperfect signal, so accuracies are neither 0 nor 1.
    X[:, 0] += codes
    X[:, 1] -= codes % 3
    # Shuffle rows so that "original row order" is a real requirement, not a coincidence.
    order = rng.permutation(groups.size)
    return X[order], y[order], groups[order]


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=200))


class _JoinModalities(TransformerMixin, BaseEstimator):
    # FunctionTransformer validates X as an array, so it cannot take a dict of modalities.
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.hstack([X["speech"], X["face"]])


@pytest.fixture(scope="module")
def data():
    return _make_data()


@pytest.fixture(scope="module")
def report(data):
    X, y, groups = data
    return evaluate_actor_cv(_model(), X, y, groups)


def test_default_cv_is_paper_folds(report, data):
    groups = data[2]
    assert report.n_folds == 5
    assert report.fold_actors == PAPER_FOLDS
    for fold, actors in enumerate(PAPER_FOLDS):
        assert sorted(np.unique(groups[report.test_fold == fold]).tolist()) == actors
    assert len(report.fold_accuracy) == len(report.fit_time) == len(report.score_time) == 5


def test_out_of_fold_predictions_in_row_order(report, data):
    X, y, groups = data
    assert report.y_pred.shape == y.shape
    np.testing.assert_array_equal(report.y_true, y)
    assert set(report.y_pred) <= set(EMOTIONS)
    # Refit fold 1 by hand: its predictions must land on the rows of its test actors.
    test = np.isin(groups, PAPER_FOLDS[1])
    model = clone(_model()).fit(X[~test], y[~test])
    np.testing.assert_array_equal(report.y_pred[test], model.predict(X[test]))


def test_scores_consistent(report, data):
    _, y, _ = data
    assert report.confusion_matrix.sum() == y.size
    assert report.confusion_matrix.shape == (8, 8)
    assert report.labels == list(EMOTIONS)
    for fold in range(report.n_folds):
        mask = report.test_fold == fold
        assert report.fold_accuracy[fold] == pytest.approx(np.mean(y[mask] == report.y_pred[mask]))
    assert report.mean_accuracy == pytest.approx(np.mean(report.fold_accuracy))
    assert report.std_accuracy == pytest.approx(np.std(report.fold_accuracy))
    assert 0.2 < report.mean_accuracy < 1.0
    assert list(report.per_emotion_f1) == list(EMOTIONS)
    assert report.macro_f1 == pytest.approx(np.mean(list(report.per_emotion_f1.values())))
    # Diagonal of the pooled confusion matrix = pooled correct predictions.
    assert np.trace(report.confusion_matrix) == np.sum(report.y_pred == y)


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
@pytest.mark.parametrize(
    "cv", [KFold(5, shuffle=True, random_state=0), KFold(3)], ids=["shuffled", "contiguous"]
)
def test_refuses_leaking_cv(data, cv):
    X, y, groups = data
    with pytest.raises(ValueError, match="leakage"):
        evaluate_actor_cv(_model(), X, y, groups, cv=cv)


def test_refuses_non_partition(data):
    X, y, groups = data
    cv = GroupShuffleSplit(n_splits=3, test_size=0.2, random_state=0)
    with pytest.raises(ValueError, match="partition"):
        evaluate_actor_cv(_model(), X, y, groups, cv=cv)


def test_int_cv_is_group_kfold(data):
    X, y, groups = data
    report = evaluate_actor_cv(_model(), X, y, groups, cv=4)
    assert report.n_folds == 4
    assert sorted(np.concatenate(report.fold_actors).tolist()) == list(range(1, 25))


def test_subset_of_actors_falls_back_to_group_kfold():
    X, y, groups = _make_data(n_actors=6)
    report = evaluate_actor_cv(_model(), X, y, groups)
    assert report.n_folds == 5
    assert "GroupKFold" in report.metadata["cv"]
    assert sorted(np.concatenate(report.fold_actors).tolist()) == list(range(1, 7))


def test_explicit_splits_and_labels(data):
    X, y, groups = data
    splits = list(GroupKFold(n_splits=3).split(X, y, groups))
    labels = list(reversed(EMOTIONS))
    report = evaluate_actor_cv(_model(), X, y, groups, cv=splits, labels=labels)
    assert report.labels == labels
    assert list(report.per_emotion_f1) == labels


def test_parallel_matches_sequential(data, report):
    X, y, groups = data
    # Threads exercise the same parallel code path without paying for worker processes.
    with parallel_config(backend="threading"):
        parallel = evaluate_actor_cv(_model(), X, y, groups, n_jobs=2)
    np.testing.assert_array_equal(parallel.y_pred, report.y_pred)


def test_dataframe_and_dict_inputs(data, report):
    X, y, groups = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["path"] = [f"clip_{i}.wav" for i in range(len(frame))]
    drop_path = FunctionTransformer(lambda df: df.drop(columns="path").to_numpy())
    from_frame = evaluate_actor_cv(make_pipeline(drop_path, *_model()), frame, y, groups)
    np.testing.assert_array_equal(from_frame.y_pred, report.y_pred)

    modalities = {"speech": X[:, :3], "face": X[:, 3:]}
    from_dict = evaluate_actor_cv(
        make_pipeline(_JoinModalities(), *_model()), modalities, y, groups
    )
    np.testing.assert_allclose(from_dict.fold_accuracy, report.fold_accuracy)


def test_inconsistent_lengths(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="inconsistent"):
        evaluate_actor_cv(_model(), X, y, groups[:-1])


def test_verbose_prints_folds(data, capsys):
    X, y, groups = data
    evaluate_actor_cv(_model(), X, y, groups, verbose=2)
    captured = capsys.readouterr()
    assert "fold 4: accuracy" in captured.err and "accuracy" not in captured.out


def test_json_round_trip(report, tmp_path):
    path = report.to_json(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["mean_accuracy"] == pytest.approx(report.mean_accuracy)
    assert data["fold_actors"] == PAPER_FOLDS
    again = ActorCVReport.from_json(path)
    assert again.fold_accuracy == report.fold_accuracy
    np.testing.assert_array_equal(again.confusion_matrix, report.confusion_matrix)
    assert again.per_emotion_f1 == report.per_emotion_f1


def test_markdown(report):
    reference = {"angry": 0.83, "calm": 0.83}
    text = report.to_markdown(
        title="LMS", reference_accuracy=0.656, reference=reference, reference_label="paper"
    )
    assert text.startswith("## LMS\n")
    assert "| 0 | 2, 5, 14, 15, 16 |" in text
    assert f"{100 * report.mean_accuracy:.2f} %" in text
    assert "(paper: 65.60 %)" in text
    assert "| angry |" in text and "0.830 |" in text
    # Labels missing from the reference get a dash, not a crash.
    assert "| neutral |" in text


def _assert_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_save_writes_all_files(report, tmp_path):
    paths = report.save(tmp_path / "out", reference={"angry": 0.83}, reference_label="paper")
    assert {p.name for p in paths.values()} == {
        "report.json",
        "report.md",
        "confusion_matrix.png",
        "per_emotion_f1.png",
    }
    _assert_png(paths["confusion_matrix"])
    _assert_png(paths["per_emotion_f1"])
    assert "Mean accuracy" in paths["markdown"].read_text()
    assert json.loads(paths["json"].read_text())["n_samples"] == report.y_true.size


def test_plot_into_given_axes(report, tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert report.plot_confusion_matrix(ax=left) is left
    assert report.plot_per_emotion_f1(tmp_path / "f1.png", ax=right) is right
    _assert_png(tmp_path / "f1.png")
    # 8 x 8 annotated cells.
    assert len(left.texts) == 64


def test_report_with_unpredicted_and_absent_labels():
    report = ActorCVReport(
        y_true=np.array(["sad", "sad", "angry", "angry"]),
        y_pred=np.array(["sad", "calm", "angry", "sad"]),
        test_fold=np.array([0, 1, 0, 1]),
        fold_actors=[[1], [2]],
        fit_time=[0.0, 0.0],
        score_time=[0.0, 0.0],
    )
    # EMOTIONS order, restricted to labels that occur in y_true or y_pred.
    assert report.labels == ["calm", "sad", "angry"]
    assert report.per_emotion_f1["calm"] == 0.0
    # The "calm" row has no true clips: normalised to zeros rather than NaN.
    ax = report.plot_confusion_matrix()
    assert all("nan" not in text.get_text() for text in ax.texts)


def test_report_checks_fold_lengths():
    with pytest.raises(ValueError, match="one entry per fold"):
        ActorCVReport(
            y_true=np.array(["sad"]),
            y_pred=np.array(["sad"]),
            test_fold=np.array([0]),
            fold_actors=[[1]],
            fit_time=[0.0, 1.0],
            score_time=[0.0],
        )


def test_out_of_fold_posteriors_are_kept_for_late_fusion():
    rng = np.random.default_rng(0)
    labels = np.array(["happy", "sad", "angry"])
    y = np.tile(labels, 40)
    X = rng.normal(size=(len(y), 4)) + (y[:, None] == labels[None, :1]) * 2.0
    groups = np.repeat(np.arange(1, 11), 12)
    report = evaluate_actor_cv(LogisticRegression(), X, y, groups, cv=5)
    assert report.proba_classes == ["happy", "sad", "angry"]  # EMOTIONS order
    assert report.y_proba is not None and report.y_proba.shape == (len(y), 3)
    np.testing.assert_allclose(report.y_proba.sum(axis=1), 1.0)
    best = np.asarray(report.proba_classes)[report.y_proba.argmax(axis=1)]
    np.testing.assert_array_equal(best, report.y_pred)
    # each row comes from the model of its own test fold
    for train, test in GroupKFold(5).split(X, y, groups):
        model = LogisticRegression().fit(X[train], y[train])
        order = [list(model.classes_).index(c) for c in report.proba_classes]
        np.testing.assert_allclose(report.y_proba[test], model.predict_proba(X[test])[:, order])
    again = ActorCVReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.y_proba is not None
    np.testing.assert_allclose(again.y_proba, report.y_proba)
    assert again.proba_classes == report.proba_classes


class _GroupsSpy(ClassifierMixin, BaseEstimator):
    """Majority-class classifier that logs the ``groups`` its ``fit`` receives."""

    log: ClassVar[list[Any]] = []

    def fit(self, X, y, groups=None):
        self.log.append(None if groups is None else np.asarray(groups))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def _logged_training_actors(estimator, data, **kwargs):
    X, y, groups = data
    _GroupsSpy.log.clear()
    report = evaluate_actor_cv(estimator, X, y, groups, cv=3, **kwargs)
    expected = [sorted(set(groups.tolist()) - set(actors)) for actors in report.fold_actors]
    return list(_GroupsSpy.log), expected


def test_groups_reach_fit_when_it_takes_them(data):
    groups = data[2]
    log, expected = _logged_training_actors(_GroupsSpy(), data)
    assert len(log) == 3
    for fold_groups, actors in zip(log, expected, strict=True):
        assert sorted(np.unique(fold_groups).tolist()) == actors
    # Row-aligned with the training rows: the fold's rows of each actor, in order.
    train = np.flatnonzero(np.isin(groups, expected[0]))
    np.testing.assert_array_equal(log[0], groups[train])
    # A pipeline gets them for its final step, as <name>__groups.
    log, expected = _logged_training_actors(make_pipeline(StandardScaler(), _GroupsSpy()), data)
    assert [sorted(np.unique(g).tolist()) for g in log] == expected


def test_groups_with_metadata_routing(data):
    with sklearn.config_context(enable_metadata_routing=True):
        # The step__param form is refused under routing: the request decides.
        requested = make_pipeline(StandardScaler(), _GroupsSpy().set_fit_request(groups=True))
        log, expected = _logged_training_actors(requested, data)
        assert [sorted(np.unique(g).tolist()) for g in log] == expected
        log, _ = _logged_training_actors(make_pipeline(StandardScaler(), _GroupsSpy()), data)
        assert log == [None, None, None]


def test_timnet_results_unchanged_by_groups(data):
    from skemotion.nets import TIMNetClassifier

    X, y, groups = data
    X = X.astype(np.float32)[:, None, :]
    net = TIMNetClassifier(max_epochs=2, module__filters=8, module__n_scales=2, random_state=0)
    report = evaluate_actor_cv(net, X, y, groups, cv=2)
    assert report.y_proba is not None and report.proba_classes is not None
    for train, test in GroupKFold(2).split(X, y, groups):
        model = clone(net).fit(X[train], y[train])  # no groups at all
        order = [list(model.classes_).index(c) for c in report.proba_classes]
        np.testing.assert_allclose(
            report.y_proba[test], model.predict_proba(X[test])[:, order], rtol=1e-6
        )


_HELD: list[np.ndarray] = []


class _HoldsMemory(ClassifierMixin, BaseEstimator):
    """Keeps 400 MB per process after its first fit, as a trained network's allocator does."""

    def fit(self, X: Any, y: Any) -> _HoldsMemory:
        if not _HELD:
            _HELD.append(np.ones(50_000_000))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[0])


def _light_task(i: int) -> int:
    return i


def test_folds_after_a_light_parallel_job_do_not_trip_lokys_leak_guard() -> None:
    # `make evaluate` on a fresh clone: the corpus is written by loky workers, whose reuse
    # for the folds made loky see the folds' memory as a leak and warn mid-progress-bar.
    pytest.importorskip("psutil")
    from joblib import Parallel, delayed

    Parallel(n_jobs=2)(delayed(_light_task)(i) for i in range(4))
    X = np.zeros((40, 3))
    y = np.tile(["a", "b"], 20)
    groups = np.repeat(np.arange(8), 5)
    # Recorded, not raised: loky warns from its own thread, which an error would kill.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate_actor_cv(_HoldsMemory(), X, y, groups, cv=4, n_jobs=2)
    assert report.n_folds == 4
    assert not [w for w in caught if "worker stopped" in str(w.message)]


def test_excluded_clips_are_trained_on_but_not_reported():
    from skemotion.model_selection import ExcludeFromTest, RavdessActorFolds

    X, y, groups = _make_data()
    model = LogisticRegression(max_iter=1000)
    exclude = np.zeros(len(y), dtype=bool)
    exclude[::8] = True  # two clips of each actor
    full = evaluate_actor_cv(model, X, y, groups)
    report = evaluate_actor_cv(
        LogisticRegression(max_iter=1000),
        X,
        y,
        groups,
        cv=ExcludeFromTest(RavdessActorFolds(), exclude),
    )
    assert len(report.y_true) == len(y) - 48
    np.testing.assert_array_equal(report.y_true, y[~exclude])
    # The same models (excluded clips of the training actors are still trained on): the
    # remaining clips get the predictions they got with every clip tested.
    np.testing.assert_array_equal(report.y_pred, full.y_pred[~exclude])
    np.testing.assert_array_equal(report.test_fold, full.test_fold[~exclude])
    assert report.y_proba is not None and full.y_proba is not None
    np.testing.assert_allclose(report.y_proba, full.y_proba[~exclude])
    assert report.metadata["untested_clips"] == np.flatnonzero(exclude).tolist()
    assert "48 clips kept out of the test sets" in report.to_markdown()
    assert report.fold_actors == full.fold_actors
    # Only the splitter that says so may leave clips untested.
    partial = [(tr, te[~exclude[te]]) for tr, te in RavdessActorFolds().split(X, y, groups)]
    with pytest.raises(ValueError, match="tested twice or never"):
        evaluate_actor_cv(model, X, y, groups, cv=partial)
