"""SubjectNormalizer: whose clips give which statistics, policies, and the sklearn contract."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from skemotion import EMOTIONS, load_model, save_model
from skemotion.compose import ModalityUnion
from skemotion.datasets import RavdessName
from skemotion.preprocessing import SubjectNormalizer, subject_statistics


class ColumnFeatures(TransformerMixin, BaseEstimator):
    """A stateless extractor: per-clip features read from the table's ``f0, f1`` columns.

    Records every table it transformed, so tests can see which rows reached it.
    """

    def __init__(self, n_frames: int = 1) -> None:
        self.n_frames = n_frames

    def fit(self, X: Any, y: Any = None) -> ColumnFeatures:
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = X[["f0", "f1"]].to_numpy(dtype=np.float32)
        if self.n_frames == 1:
            return values
        return np.repeat(values[:, None, :], self.n_frames, axis=1)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _table(n_subjects: int = 4, n_clips: int = 12, seed: int = 0) -> pd.DataFrame:
    """Clips of subjects with their own offset and spread, RAVDESS names, an emotion."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(1, n_subjects + 1):
        offset, spread = rng.normal(0, 10, size=2), rng.uniform(1, 4)
        for i in range(n_clips):
            emotion = 1 + i % 8
            name = RavdessName(
                modality="audio-only",
                vocal_channel="speech",
                emotion=EMOTIONS[emotion - 1],
                intensity="normal",
                statement=1 + (i // 8) % 2,
                repetition=1 + (i // 16) % 2,
                actor=subject,
            ).to_name(".wav")
            signal = np.array([emotion % 2, emotion / 8.0])
            f = offset + spread * (signal + rng.normal(0, 0.1, size=2))
            rows.append(
                {
                    "path": f"/data/Actor_{subject:02d}/{name}",
                    "actor": subject,
                    "f0": f[0],
                    "f1": f[1],
                    "emotion": f"e{emotion}",
                }
            )
    return pd.DataFrame(rows)


def test_subject_statistics_of_sequences_pool_frames() -> None:
    X = np.arange(24, dtype=float).reshape(2, 3, 4)
    mean, scale = subject_statistics(X)
    np.testing.assert_allclose(mean, X.reshape(-1, 4).mean(0))
    np.testing.assert_allclose(scale, X.reshape(-1, 4).std(0))
    assert subject_statistics(X, with_std=False)[1].tolist() == [1.0] * 4


def test_each_subject_gets_its_own_statistics_and_never_another_subjects() -> None:
    table = _table()
    normalizer = SubjectNormalizer(ColumnFeatures(n_frames=3))
    out = normalizer.fit_transform(table)
    assert out.shape == (len(table), 3, 2) and out.dtype == np.float32
    for subject in range(1, 5):
        rows = (table.actor == subject).to_numpy()
        np.testing.assert_allclose(out[rows].mean(axis=(0, 1)), 0, atol=1e-5)
        np.testing.assert_allclose(out[rows].std(axis=(0, 1)), 1, atol=1e-4)
    # A new subject in a call, beside a fitted one: its statistics come from its own
    # clips only, the fitted one keeps the fit statistics.
    test = _table(seed=1)
    test = test[test.actor.isin([1, 2])].assign(actor=lambda t: t.actor.map({1: 1, 2: 99}))
    out = normalizer.transform(test)
    new = (test.actor == 99).to_numpy()
    np.testing.assert_allclose(out[new].mean(axis=(0, 1)), 0, atol=1e-5)
    features = ColumnFeatures().transform(test)
    fit_rows = (table.actor == 1).to_numpy()
    fit_features = ColumnFeatures().transform(table)[fit_rows]
    expected = (features[~new] - fit_features.mean(0)) / fit_features.std(0)
    np.testing.assert_allclose(out[~new][:, 0], expected, rtol=1e-4)


def test_training_subjects_statistics_never_come_from_the_test_fold() -> None:
    table = _table()
    train, test = table[table.actor <= 3], table[table.actor == 4]
    fitted = SubjectNormalizer(ColumnFeatures()).fit(train)
    before = {k: np.copy(v) for k, v in {"mean": fitted.mean_, "scale": fitted.scale_}.items()}
    fitted.transform(test)
    np.testing.assert_array_equal(fitted.mean_, before["mean"])  # transform learns nothing
    assert fitted.subjects_.tolist() == [1, 2, 3]
    # Scaling a test subject's clips changes nothing of the training subjects' output.
    moved = test.assign(f0=test.f0 * 100)
    both = pd.concat([train, moved])
    np.testing.assert_array_equal(fitted.transform(both)[: len(train)], fitted.transform(train))


def test_labels_are_never_read() -> None:
    table = _table()
    a = SubjectNormalizer(ColumnFeatures()).fit_transform(table, table.emotion)
    shuffled = table.emotion.sample(frac=1, random_state=0).to_numpy()
    b = SubjectNormalizer(ColumnFeatures()).fit_transform(table, shuffled)
    c = SubjectNormalizer(ColumnFeatures()).fit_transform(table.drop(columns="emotion"))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_neutral_clips_are_found_from_the_file_names() -> None:
    table = _table()
    neutral = SubjectNormalizer(ColumnFeatures(), source="neutral", with_std=False)
    out = neutral.fit_transform(table)
    features = ColumnFeatures().transform(table)
    for subject in range(1, 5):
        rows = (table.actor == subject).to_numpy()
        calibration = rows & table.path.str.contains("/03-01-01-", regex=False).to_numpy()
        np.testing.assert_allclose(
            out[rows], features[rows] - features[calibration].mean(0), rtol=1e-5, atol=1e-5
        )
    assert neutral.n_clips_.tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="from their RAVDESS names"):
        SubjectNormalizer(source="neutral").fit(features, subjects=table.actor)


def test_a_budget_of_clips_first_or_seeded_random_independent_of_the_batch() -> None:
    table = _table()
    first = SubjectNormalizer(ColumnFeatures(), n_clips=3, with_std=False).fit(table)
    features = ColumnFeatures().transform(table)
    np.testing.assert_allclose(first.mean_[0], features[:3].mean(0), rtol=1e-6)
    assert first.n_clips_.tolist() == [3] * 4
    random = SubjectNormalizer(ColumnFeatures(), n_clips=3, selection="random", random_state=0)
    whole = random.fit(table[table.actor == 1]).transform(table[table.actor > 1])
    alone = random.transform(table[table.actor == 3])
    rows = (table[table.actor > 1].actor == 3).to_numpy()
    np.testing.assert_array_equal(whole[rows], alone)


def test_std_only_with_enough_clips() -> None:
    table = _table(n_clips=12)
    few = SubjectNormalizer(ColumnFeatures(), n_clips=4, min_clips_for_std=8).fit(table)
    assert np.all(few.scale_ == 1.0)
    many = SubjectNormalizer(ColumnFeatures(), n_clips=8, min_clips_for_std=8).fit(table)
    assert np.all(many.scale_ != 1.0)


def test_a_single_clip_of_an_unknown_subject_is_refused_or_globally_scaled() -> None:
    table = _table()
    fitted = SubjectNormalizer(ColumnFeatures()).fit(table)
    stranger = table.iloc[[0]].assign(actor=77)
    with pytest.raises(ValueError, match=r"77.*fewer than min_clips=2"):
        fitted.transform(stranger)
    lenient = clone(fitted).set_params(on_uncalibrated="global").fit(table)
    with pytest.warns(UserWarning, match="statistics of all fit subjects"):
        out = lenient.transform(stranger)
    features = ColumnFeatures().transform(table)
    expected = (features[[0]] - features.mean(0)) / features.std(0)
    np.testing.assert_allclose(out, expected, rtol=1e-4)
    # A fitted subject is calibrated already: one clip of it is fine.
    fitted.transform(table.iloc[[0]])


def test_enrollment_calibrates_a_new_subject_from_a_few_unlabeled_clips() -> None:
    table = _table()
    fitted = SubjectNormalizer(ColumnFeatures(), with_std=False).fit(table[table.actor < 4])
    new = table[table.actor == 4]
    enrollment, clip = new.iloc[:5], new.iloc[[7]]
    fitted.enroll(enrollment.drop(columns="emotion"))
    assert fitted.enrolled_.tolist() == [False, False, False, True]
    features = ColumnFeatures().transform(new)
    np.testing.assert_allclose(
        fitted.transform(clip), features[[7]] - features[:5].mean(0), rtol=1e-5
    )
    with pytest.raises(ValueError, match="Cannot enroll"):
        fitted.enroll(new.iloc[[0]].assign(actor=5))


def test_subjects_for_plain_arrays_and_clear_errors() -> None:
    X = np.random.default_rng(0).normal(size=(6, 5, 3))
    subjects = np.array([1, 1, 1, 2, 2, 2])
    out = SubjectNormalizer().fit_transform(X, subjects=subjects)
    np.testing.assert_allclose(out[:3].mean(axis=(0, 1)), 0, atol=1e-12)
    with pytest.raises(ValueError, match="needs the subject of every clip"):
        SubjectNormalizer().fit(X)
    with pytest.raises(ValueError, match="one subject per clip"):
        SubjectNormalizer().fit(X, subjects=subjects[:4])
    with pytest.raises(ValueError, match="expecting 3 features"):
        SubjectNormalizer().fit(X, subjects=subjects).transform(X[:, :, :2], subjects=subjects)


def test_each_modality_of_a_union_is_normalised_on_its_own() -> None:
    table = _table()
    union = ModalityUnion(
        [
            ("speech", ColumnFeatures(n_frames=2), ["f0", "f1"]),
            ("face", ColumnFeatures(), ["f0", "f1"]),
        ]
    )
    out = SubjectNormalizer(union).fit_transform(table)
    assert set(out) == {"speech", "face"}
    assert out["speech"].shape == (len(table), 2, 2) and out["face"].shape == (len(table), 2)
    rows = (table.actor == 2).to_numpy()
    np.testing.assert_allclose(out["face"][rows].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out["speech"][rows].mean(axis=(0, 1)), 0, atol=1e-5)


def test_clone_pickle_save_load_give_the_same_output(tmp_path: Any) -> None:
    table = _table()
    fitted = SubjectNormalizer(ColumnFeatures(), n_clips=6, selection="random", random_state=3)
    fitted.fit(table)
    expected = fitted.transform(table)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(table), expected)
    assert repr(clone(fitted)) == repr(fitted)
    assert not hasattr(clone(fitted), "subjects_")


def test_save_and_load_keep_the_statistics(tmp_path: Any) -> None:
    from skemotion.preprocessing import TemporalStandardScaler

    X = np.random.default_rng(0).normal(size=(12, 4, 3)).astype(np.float32)
    subjects = np.repeat(["a", "b", "c"], 4)
    fitted = SubjectNormalizer(with_std=False).fit(X, subjects=subjects)
    save_model(make_pipeline(fitted, TemporalStandardScaler().fit(X)), tmp_path / "n.skem")
    loaded = load_model(tmp_path / "n.skem")[0]
    np.testing.assert_array_equal(
        loaded.transform(X, subjects=subjects), fitted.transform(X, subjects=subjects)
    )
    assert loaded.subjects_.tolist() == ["a", "b", "c"]


def test_in_a_pipeline_under_grouped_cross_validation_and_grid_search() -> None:
    table = _table(n_subjects=6, n_clips=16)
    y = table.emotion.str[1:].astype(int).mod(2).to_numpy()
    groups = table.actor.to_numpy()
    raw = make_pipeline(ColumnFeatures(), LogisticRegression())
    calibrated = make_pipeline(SubjectNormalizer(ColumnFeatures()), LogisticRegression())
    cv = GroupKFold(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fold falls back silently
        raw_scores = cross_val_score(raw, table, y, groups=groups, cv=cv)
        calibrated_scores = cross_val_score(calibrated, table, y, groups=groups, cv=cv)
    # Each subject's offset hides the emotion signal; its own statistics remove it.
    assert calibrated_scores.mean() > raw_scores.mean() + 0.2
    search = GridSearchCV(
        calibrated,
        {"subjectnormalizer__with_std": [False, True], "subjectnormalizer__n_clips": [4, None]},
        cv=cv,
    ).fit(table, y, groups=groups)
    assert set(search.best_params_) == {"subjectnormalizer__with_std", "subjectnormalizer__n_clips"}
    assert search.best_score_ > raw_scores.mean()


def test_describe_states_the_protocol() -> None:
    assert SubjectNormalizer(n_clips=8, selection="random").describe() == {
        "protocol": "transductive",
        "subject_normalization": "per-subject standardisation (SubjectNormalizer)",
        "source": "all",
        "n_clips": 8,
        "selection": "random",
        "with_std": True,
        "min_clips_for_std": 8,
    }


def test_contract_of_the_common_checks_with_subjects() -> None:
    """What scikit-learn's checks test, on a clip table (they cannot give subjects)."""
    table = _table()
    normalizer = SubjectNormalizer(ColumnFeatures(n_frames=2))
    first = normalizer.fit(table).transform(table)
    assert normalizer.fit(table) is normalizer  # fit returns self
    np.testing.assert_array_equal(normalizer.fit(table).transform(table), first)  # idempotent
    np.testing.assert_allclose(normalizer.fit_transform(table), first, rtol=1e-6)
    order = np.random.default_rng(0).permutation(len(table))
    np.testing.assert_allclose(normalizer.transform(table.iloc[order]), first[order], rtol=1e-6)
    np.testing.assert_allclose(normalizer.transform(table.iloc[:5]), first[:5], rtol=1e-6)
    assert normalizer.transform(table.astype({"f0": "float64"})).dtype == np.float32


def test_reports_state_the_protocol_of_every_result() -> None:
    from skemotion.model_selection import ActorCVReport, evaluate_actor_cv, fuse_reports
    from skemotion.preprocessing import calibration_protocol

    table = _table(n_subjects=5, n_clips=16)
    y = table.emotion.to_numpy()
    groups = table.actor.to_numpy()
    standard = evaluate_actor_cv(
        make_pipeline(ColumnFeatures(), LogisticRegression()), table, y, groups
    )
    calibrated = evaluate_actor_cv(
        make_pipeline(SubjectNormalizer(ColumnFeatures(), n_clips=8), LogisticRegression()),
        table,
        y,
        groups,
    )
    assert standard.protocol["protocol"] == "inductive"
    assert calibrated.protocol == calibration_protocol(
        make_pipeline(SubjectNormalizer(n_clips=8), LogisticRegression())
    )
    assert "Protocol: inductive" in standard.to_markdown()
    assert "Protocol: transductive" in calibrated.to_markdown()
    assert "mean + std over 8 of each subject's clips (first)" in calibrated.to_markdown()
    assert ActorCVReport.from_dict(calibrated.to_dict()).protocol == calibrated.protocol
    fused = fuse_reports({"a": standard, "b": calibrated})
    assert fused.protocol["protocol"] == "transductive"
    assert list(fused.protocol["calibrations"]) == ["b: subjectnormalizer"]
    assert fuse_reports({"a": standard, "c": standard}).protocol["protocol"] == "inductive"
