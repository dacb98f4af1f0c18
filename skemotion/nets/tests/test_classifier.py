"""TIMNetClassifier / TIMNetBinaryClassifier: the sklearn and skorch contracts, protocol safety."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from skemotion import load_model, save_model
from skemotion.nets import (
    GroupedValidSplit,
    TIMNetBinaryClassifier,
    TIMNetClassifier,
)
from skemotion.paper import PAPER_HYPERPARAMETERS

SMALL: dict[str, Any] = {"module__filters": 8, "module__n_scales": 3, "batch_size": 16, "lr": 1e-2}


def _toy(n_clips: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips whose label is the sign of a feature's temporal trend, 8 'actors'."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_clips, 12, 4)).astype(np.float32)
    trend = np.linspace(-1, 1, 12, dtype=np.float32)
    labels = np.array(["rising", "falling", "flat"])
    y = labels[np.arange(n_clips) % 3]
    X[y == "rising", :, 0] += 2 * trend
    X[y == "falling", :, 0] -= 2 * trend
    groups = np.arange(n_clips) % 8
    return X, y, groups


def test_fit_predict_string_labels() -> None:
    X, y, _ = _toy()
    clf = TIMNetClassifier(max_epochs=25, random_state=0, **SMALL).fit(X, y)
    assert list(clf.classes_) == ["falling", "flat", "rising"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, y) > 0.8
    assert clf.n_features_in_ == 4


def test_defaults_are_the_papers_lms_setup() -> None:
    clf = TIMNetClassifier()
    assert (clf.lr, clf.batch_size, clf.max_epochs) == (1e-3, 64, 100)
    assert clf.optimizer is torch.optim.Adam
    assert clf.optimizer__betas == (0.93, 0.98)
    assert clf.label_smoothing == 0.1
    assert (clf.module__filters, clf.module__n_scales, clf.module__n_layers) == (64, 7, 3)
    assert clf.train_split is None
    assert clf.checkpoint_monitor == "train_loss"
    kpd = TIMNetClassifier.from_paper("kpd", "binary")
    assert kpd.lr == PAPER_HYPERPARAMETERS[("kpd", "binary")]["lr"] == 2e-4
    assert TIMNetClassifier.from_paper("resnet").module__n_scales == 5
    with pytest.raises(ValueError, match="No paper settings"):
        TIMNetClassifier.from_paper("mfcc")


def test_label_smoothing_reaches_the_criterion() -> None:
    X, y, _ = _toy(24)
    clf = TIMNetClassifier(max_epochs=1, label_smoothing=0.2, **SMALL).fit(X, y)
    assert clf.criterion_.label_smoothing == 0.2


def test_same_seed_same_model_and_global_rng_untouched() -> None:
    X, y, _ = _toy(48)
    torch.manual_seed(99)
    expected_next = torch.rand(1)
    torch.manual_seed(99)
    first = TIMNetClassifier(max_epochs=3, random_state=7, **SMALL).fit(X, y)
    assert torch.equal(torch.rand(1), expected_next)
    second = TIMNetClassifier(max_epochs=3, random_state=7, **SMALL).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    third = TIMNetClassifier(max_epochs=3, random_state=8, **SMALL).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), third.predict_proba(X))


def test_checkpoint_restores_lowest_training_loss_epoch() -> None:
    X, y, _ = _toy(48)
    # A learning rate this large makes the training loss jump around between epochs.
    clf = TIMNetClassifier(max_epochs=12, random_state=0, **{**SMALL, "lr": 0.3}).fit(X, y)
    losses = np.array(clf.history[:, "train_loss"])
    best_epoch = int(np.argmin(losses))
    callback = dict(clf.callbacks_)["checkpoint"]
    assert callback.best_epoch_ == best_epoch + 1
    assert clf.history[:, "checkpoint"][best_epoch]
    # The kept weights are those of the best epoch, not the last one.
    replay = TIMNetClassifier(
        max_epochs=best_epoch + 1, random_state=0, checkpoint_monitor=None, **{**SMALL, "lr": 0.3}
    ).fit(X, y)
    for name, tensor in clf.module_.state_dict().items():
        torch.testing.assert_close(tensor, replay.module_.state_dict()[name], msg=name)
    last = TIMNetClassifier(
        max_epochs=12, random_state=0, checkpoint_monitor=None, **{**SMALL, "lr": 0.3}
    ).fit(X, y)
    if best_epoch != len(losses) - 1:
        assert not np.array_equal(last.predict_proba(X), clf.predict_proba(X))


def test_internal_validation_must_be_grouped() -> None:
    X, y, groups = _toy()
    from skorch.dataset import ValidSplit

    with pytest.raises(ValueError, match="GroupedValidSplit"):
        TIMNetClassifier(max_epochs=1, train_split=ValidSplit(5), **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="groups=actors"):
        TIMNetClassifier(max_epochs=1, train_split=GroupedValidSplit(), **SMALL).fit(X, y)

    seen: dict[str, set[int]] = {}
    split = GroupedValidSplit(valid_size=0.25, random_state=0)

    def recording_split(dataset, y=None, groups=None):
        train, valid = split(dataset, y, groups=groups)
        seen["train"] = set(groups[train.indices])
        seen["valid"] = set(groups[valid.indices])
        return train, valid

    clf = TIMNetClassifier(max_epochs=2, train_split=split, **SMALL)
    clf.fit(X, y, groups=groups)
    assert "valid_loss" in clf.history[-1]
    assert 0.0 <= clf.history[-1, "valid_acc"] <= 1.0
    recording_split(None, y, groups)
    assert seen["train"] and seen["valid"] and not seen["train"] & seen["valid"]


def test_clone_of_fitted_model_is_unfitted_with_same_params() -> None:
    X, y, _ = _toy(24)
    clf = TIMNetClassifier(max_epochs=1, random_state=3, **SMALL).fit(X, y)
    copy = clone(clf)
    assert not hasattr(copy, "module_")
    assert copy.get_params()["module__filters"] == 8
    assert copy.random_state == 3


def test_grid_search_over_module_and_optimizer_params() -> None:
    X, y, groups = _toy(72)
    search = GridSearchCV(
        TIMNetClassifier(max_epochs=3, random_state=0, **SMALL),
        {"module__filters": [4, 8], "optimizer__lr": [1e-3, 1e-2]},
        cv=GroupKFold(n_splits=2),
    )
    search.fit(X, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.module_.filters == search.best_params_["module__filters"]
    assert (
        search.best_estimator_.optimizer_.param_groups[0]["lr"]
        == (search.best_params_["optimizer__lr"])
    )


def test_cross_val_score_with_groups() -> None:
    X, y, groups = _toy(72)
    scores = cross_val_score(
        TIMNetClassifier(max_epochs=2, **SMALL), X, y, groups=groups, cv=GroupKFold(3)
    )
    assert scores.shape == (3,)


def test_save_load_same_predictions(tmp_path) -> None:
    X, y, _ = _toy(48)
    clf = TIMNetClassifier(max_epochs=3, random_state=0, **SMALL).fit(X, y)
    loaded = load_model(save_model(clf, tmp_path / "timnet.skem"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert len(loaded.history) == 3


def test_feature_count_checked_at_predict() -> None:
    X, y, _ = _toy(24)
    clf = TIMNetClassifier(max_epochs=1, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but TIMNetClassifier is expecting 4"):
        clf.predict(X[:, :, :3])
    with pytest.raises(ValueError, match="n_clips, n_frames, n_features"):
        clf.predict(X[None])


def test_partial_fit_continues_training() -> None:
    X, y, _ = _toy(48)
    clf = TIMNetClassifier(max_epochs=2, random_state=0, **SMALL).fit(X, y)
    clf.partial_fit(X, y)
    assert len(clf.history) == 4
    with pytest.raises(ValueError, match="unseen labels"):
        clf.partial_fit(X, np.where(y == "flat", "sideways", y))


def test_batch_size_one_trains() -> None:
    X, y, _ = _toy(6)
    clf = TIMNetClassifier(max_epochs=1, **{**SMALL, "batch_size": 1}).fit(X[:, :1], y)
    assert clf.predict(X[:2, :1]).shape == (2,)


def test_binary_one_vs_rest_weighted_loss_and_f1() -> None:
    X, y, _ = _toy(96)
    target = y == "rising"
    clf = TIMNetBinaryClassifier(max_epochs=25, random_state=0, **SMALL).fit(X, target)
    assert list(clf.classes_) == [False, True]
    assert clf.pos_weight_ == pytest.approx((~target).sum() / target.sum())
    assert clf.criterion_.pos_weight.item() == pytest.approx(clf.pos_weight_)
    proba = clf.predict_proba(X)
    assert proba.shape == (96, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert f1_score(target, clf.predict(X), average="macro") > 0.7
    with pytest.raises(ValueError, match="Only binary classification"):
        TIMNetBinaryClassifier(max_epochs=1, **SMALL).fit(X, y)
    named = TIMNetBinaryClassifier(max_epochs=1, pos_label="rising", **SMALL)
    named.fit(X, np.where(target, "rising", "other"))
    assert list(named.classes_) == ["other", "rising"]
    one = TIMNetBinaryClassifier(max_epochs=1, **{**SMALL, "batch_size": 1})
    one.fit(X[:4], np.array([True, False, True, False]))
    assert one.predict_proba(X[:1]).shape == (1, 2)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_learning_rate_schedule_runs_over_the_whole_fit(schedule: str) -> None:
    from skemotion.nets import lr_factor

    X, y, _ = _toy(40)
    clf = TIMNetClassifier(max_epochs=3, lr_schedule=schedule, random_state=0, **SMALL)
    seen: list[float] = []
    clf.fit(X, y)
    callback = dict(clf.callbacks_)["lr_schedule"]
    assert callback.total_steps_ == 3 * 3  # 40 clips in batches of 16
    for step in range(callback.total_steps_):
        seen.append(SMALL["lr"] * lr_factor(schedule, step, callback.total_steps_))
    # The last rate set is the schedule's last; the optimiser ends there.
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(seen[-1])
    assert 0.9 * SMALL["lr"] < max(seen) <= SMALL["lr"]
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TIMNetClassifier(lr_schedule="linear", **SMALL).fit(X, y)
