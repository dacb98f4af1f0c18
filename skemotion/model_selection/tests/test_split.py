import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score, cross_validate

from skemotion.model_selection import (
    PAPER_ACTOR_FOLDS,
    RavdessActorFolds,
    check_no_group_overlap,
)

N_PER_ACTOR = 60


@pytest.fixture
def actors() -> np.ndarray:
    # A shuffled 1440-row design, so splits cannot rely on rows being sorted.
    rng = np.random.default_rng(0)
    return rng.permutation(np.repeat(np.arange(1, 25), N_PER_ACTOR))


def test_paper_folds_partition_the_24_actors():
    flat = [actor for fold in PAPER_ACTOR_FOLDS for actor in fold]
    assert sorted(flat) == list(range(1, 25))
    assert [len(fold) for fold in PAPER_ACTOR_FOLDS] == [5, 5, 5, 5, 4]


def test_split_on_1440_rows(actors):
    cv = RavdessActorFolds()
    assert cv.get_n_splits() == 5
    X = np.zeros((actors.size, 3))
    seen_test = []
    for (train, test), fold in zip(cv.split(X, groups=actors), PAPER_ACTOR_FOLDS, strict=True):
        assert set(actors[test]) == set(fold)
        assert not set(actors[train]) & set(fold)
        assert len(train) + len(test) == actors.size
        assert len(test) == N_PER_ACTOR * len(fold)
        check_no_group_overlap(actors[train], actors[test])
        seen_test.append(test)
    # every row is tested exactly once
    assert np.array_equal(np.sort(np.concatenate(seen_test)), np.arange(actors.size))


def test_accepts_pandas_groups_and_integer_floats(actors):
    cv = RavdessActorFolds()
    X = np.zeros((actors.size, 1))
    expected = [test for _, test in cv.split(X, groups=actors)]
    as_series = [test for _, test in cv.split(X, groups=pd.Series(actors, name="actor"))]
    as_float = [test for _, test in cv.split(X, groups=actors.astype(float))]
    for a, b, c in zip(expected, as_series, as_float, strict=True):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


def test_cross_val_score_with_groups(actors):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, actors.size)
    X = y[:, None] + rng.normal(0, 0.5, (actors.size, 2))
    scores = cross_val_score(LogisticRegression(), X, y, groups=actors, cv=RavdessActorFolds())
    assert scores.shape == (5,)
    assert scores.mean() > 0.7


def test_metadata_routing_requests_groups(actors):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, actors.size)
    X = rng.normal(size=(actors.size, 2))
    with sklearn.config_context(enable_metadata_routing=True):
        result = cross_validate(
            LogisticRegression(), X, y, params={"groups": actors}, cv=RavdessActorFolds()
        )
    assert len(result["test_score"]) == 5


def test_group_kfold_on_actors_has_no_overlap(actors):
    X = np.zeros((actors.size, 1))
    for train, test in GroupKFold(n_splits=5).split(X, groups=actors):
        check_no_group_overlap(actors[train], actors[test])


def test_custom_folds_pickle_and_repr():
    cv = RavdessActorFolds(folds=[[1, 2], [3]])
    assert cv.get_n_splits() == 2
    assert pickle.loads(pickle.dumps(cv)).folds == ((1, 2), (3,))
    assert "folds" in repr(cv)
    groups = np.array([1, 1, 2, 3, 3])
    splits = list(cv.split(np.zeros(5), groups=groups))
    assert [test.tolist() for _, test in splits] == [[0, 1, 2], [3, 4]]


def test_groups_required():
    with pytest.raises(ValueError, match="needs groups"):
        next(RavdessActorFolds().split(np.zeros((10, 1))))


def test_actor_in_no_fold(actors):
    groups = np.append(actors, 25)
    with pytest.raises(ValueError, match=r"actors \[25\].*in no fold.*GroupKFold"):
        next(RavdessActorFolds().split(np.zeros(groups.size), groups=groups))


def test_fold_without_rows_suggests_group_kfold():
    groups = np.repeat([2, 3, 10, 8], 4)  # fold 4 (actors 1, 4, 9, 22) is absent
    with pytest.raises(ValueError, match=r"fold\(s\) \[4\].*no rows.*GroupKFold"):
        next(RavdessActorFolds().split(np.zeros(groups.size), groups=groups))


def test_non_integer_groups():
    with pytest.raises(ValueError, match="integer actor numbers"):
        next(RavdessActorFolds().split(np.zeros(2), groups=np.array(["Actor_01", "Actor_02"])))
    with pytest.raises(ValueError, match="integer actor numbers"):
        next(RavdessActorFolds().split(np.zeros(2), groups=np.array([1.5, 2.0])))


def test_length_mismatch():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(RavdessActorFolds().split(np.zeros(3), groups=np.arange(1, 25)))


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        ([[1, 2], [2, 3]], "actor 2 is in fold 0 and fold 1"),
        ([[1, 2], []], "fold 1 is empty"),
        ([[1, 2, 3]], "at least 2 folds"),
        ([[1, 2.5], [3]], "integer actors"),
    ],
)
def test_bad_folds(folds, message):
    with pytest.raises(ValueError, match=message):
        RavdessActorFolds(folds=folds)


def test_leakage_error():
    with pytest.raises(ValueError, match=r"speaker leakage: group\(s\) \[3, 7\]"):
        check_no_group_overlap([1, 3, 7, 7], [3, 7, 9])
    check_no_group_overlap([1, 2], [3])


# -- ExcludeFromTest: the neutral reference recordings out of the test folds ----------------


@pytest.fixture
def design() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 1440 RAVDESS speech clips: names, emotions and actors."""
    from skemotion.datasets import ravdess_design

    names = ravdess_design()
    paths = np.array([f"Actor_{n.actor:02d}/{n.to_name('.mp4')}" for n in names])
    return paths, np.array([n.emotion for n in names]), np.array([n.actor for n in names])


def test_reference_mask_marks_two_neutral_clips_per_actor(design):
    from skemotion.datasets import is_ravdess_neutral_reference

    paths, emotions, actors = design
    mask = is_ravdess_neutral_reference(paths)
    assert mask.sum() == 48 and set(np.bincount(actors[mask])[1:]) == {2}
    assert set(emotions[mask]) == {"neutral"}
    # Repetition 1 of each statement: field RR of MM-VV-EE-II-SS-RR-AA.
    assert {p.rsplit("/", 1)[1][15:17] for p in paths[mask]} == {"01"}
    with pytest.raises(ValueError, match=r"clip\.wav: not a RAVDESS file name"):
        is_ravdess_neutral_reference(["clip.wav"])


def test_exclude_from_test_keeps_the_clips_in_training(design):
    from skemotion.datasets import is_ravdess_neutral_reference
    from skemotion.model_selection import ExcludeFromTest

    paths, _, actors = design
    mask = is_ravdess_neutral_reference(paths)
    plain, cv = RavdessActorFolds(), ExcludeFromTest(RavdessActorFolds(), mask)
    X = np.zeros((len(actors), 1))
    assert cv.get_n_splits() == 5
    for (train, test), (train0, test0) in zip(
        cv.split(X, groups=actors), plain.split(X, groups=actors), strict=True
    ):
        np.testing.assert_array_equal(train, train0)  # references of training actors kept
        np.testing.assert_array_equal(test, test0[~mask[test0]])
        assert mask[train].sum() == 2 * len(np.unique(actors[train]))
    assert repr(cv).endswith("exclude=<48 of 1440 clips>)")
    with pytest.raises(ValueError, match=r"one boolean per row \(1440 rows\).*shape \(3,\)"):
        next(ExcludeFromTest(plain, [True, False, True]).split(X, groups=actors))
    with pytest.raises(ValueError, match="dtype int64"):
        next(ExcludeFromTest(plain, mask.astype(np.int64)).split(X, groups=actors))


def test_exclude_from_test_in_cross_val_score_and_grid_search(design):
    from sklearn.model_selection import GridSearchCV

    from skemotion.datasets import is_ravdess_neutral_reference
    from skemotion.model_selection import ExcludeFromTest

    paths, emotions, actors = design
    mask = is_ravdess_neutral_reference(paths)
    # A feature that gives the reference clips away, as KPD's all-ones frame does.
    X = np.c_[mask.astype(float), np.random.default_rng(0).normal(size=len(mask))]
    y = np.where(emotions == "neutral", "neutral", "other")
    cv = ExcludeFromTest(GroupKFold(4), mask)
    scores = cross_val_score(LogisticRegression(), X, y, groups=actors, cv=cv)
    assert len(scores) == 4
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv)
    search.fit(X, y, groups=actors)
    assert search.n_splits_ == 4
    assert pickle.loads(pickle.dumps(cv)).exclude.sum() == 48
