"""FusionTIMNet / FusionClassifier: shapes, dict inputs, the sklearn contracts, fusion learning."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from skorch.helper import SliceDict

from skemotion.nets import (
    FusionClassifier,
    FusionTIMNet,
    GroupedValidSplit,
    TIMNetClassifier,
)
from skemotion.paper import PAPER_HYPERPARAMETERS

from ...tests._toy_data import FOUR_CLASSES, two_modalities

SMALL: dict[str, Any] = {
    "module__filters": 8,
    "module__n_scales": 2,
    "batch_size": 16,
    "lr": 1e-2,
    "random_state": 0,
}


# -- FusionTIMNet -----------------------------------------------------------------------


def test_module_output_and_embedding_shapes() -> None:
    net = FusionTIMNet({"speech": 24, "face": 10}, n_classes=5, filters=8, n_scales=2)
    speech, face = torch.randn(3, 16, 24), torch.randn(3, 16, 10)
    assert net(speech=speech, face=face).shape == (3, 5)
    assert net.embed(speech=speech, face=face).shape == (3, 16)
    assert net.modalities == ("speech", "face")
    assert set(net.backbones) == {"speech", "face"}
    # The head has three layers: two hidden (default 128, 64), then the logits.
    linears = [layer for layer in net.head if isinstance(layer, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (16, 128),
        (128, 64),
        (64, 5),
    ]


def test_module_modalities_of_different_lengths() -> None:
    net = FusionTIMNet({"speech": 4, "face": 6}, filters=8, n_scales=2)
    out = net(speech=torch.randn(2, 16, 4), face=torch.randn(2, 30, 6))
    assert out.shape == (2, 8)
    assert torch.isfinite(out).all()


def test_module_per_modality_filters_and_scales() -> None:
    net = FusionTIMNet(
        {"speech": 4, "face": 6},
        filters={"speech": 8, "face": 4},
        n_scales={"speech": 3, "face": 2},
        hidden_units=(16, 8),
    )
    assert (net.backbones["speech"].filters, net.backbones["speech"].n_scales) == (8, 3)
    assert (net.backbones["face"].filters, net.backbones["face"].n_scales) == (4, 2)
    assert net.head[0].in_features == 12
    out = net(speech=torch.randn(2, 16, 4), face=torch.randn(2, 16, 6))
    assert out.shape == (2, 8)
    assert net.embed(speech=torch.randn(2, 16, 4), face=torch.randn(2, 16, 6)).shape == (2, 12)


@pytest.mark.parametrize("param", ["filters", "n_scales"])
def test_module_dict_missing_a_modality_raises(param: str) -> None:
    with pytest.raises(ValueError, match=rf"{param} has no value for modalities \['face'\]"):
        kwargs: dict[str, Any] = {param: {"speech": 4}}
        FusionTIMNet({"speech": 4, "face": 6}, **kwargs)


@pytest.mark.parametrize("name", ["log-mel", "2d", "face kpd", ""])
def test_module_refuses_non_identifier_names(name: str) -> None:
    with pytest.raises(ValueError, match="Python identifiers"):
        FusionTIMNet({"speech": 4, name: 6}, filters=4, n_scales=2)


def test_module_refuses_bad_n_features_and_head() -> None:
    with pytest.raises(ValueError, match="n_features must map"):
        FusionTIMNet({}, filters=4, n_scales=2)
    with pytest.raises(ValueError, match="n_features must map"):
        FusionTIMNet(24, filters=4, n_scales=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden_units"):
        FusionTIMNet({"x": 4}, filters=4, n_scales=2, hidden_units=(32,))


def test_module_missing_or_unexpected_forward_kwargs() -> None:
    net = FusionTIMNet({"speech": 4, "face": 6}, filters=4, n_scales=2)
    speech, face = torch.randn(2, 16, 4), torch.randn(2, 16, 6)
    with pytest.raises(ValueError, match=r"missing \['face'\], unexpected \[\]"):
        net(speech=speech)
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['eyes'\]"):
        net(speech=speech, face=face, eyes=face)
    with pytest.raises(ValueError, match=r"missing \['face'\], unexpected \['Face'\]"):
        net(speech=speech, Face=face)


@pytest.mark.parametrize("training", [True, False])
def test_module_batch_of_one_clip(training: bool) -> None:
    net = FusionTIMNet({"speech": 4, "face": 6}, n_classes=3, filters=4, n_scales=2)
    net.train(training)
    out = net(speech=torch.randn(1, 16, 4), face=torch.randn(1, 30, 6))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()


# -- FusionClassifier: inputs -----------------------------------------------------------


def test_fit_predict_on_slicedict_and_on_dict() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=3, **SMALL).fit(X, y)
    assert clf.modalities_ == ("speech", "face")
    assert clf.n_features_per_modality_ == {"speech": 4, "face": 6}
    assert clf.n_features_in_ == 10
    assert list(clf.classes_) == list(FOUR_CLASSES)
    assert isinstance(clf.module_, FusionTIMNet)
    proba = clf.predict_proba(X)
    assert proba.shape == (32, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)

    as_dict = {"speech": X["speech"], "face": X["face"]}
    from_dict = FusionClassifier(max_epochs=3, **SMALL).fit(as_dict, y)
    np.testing.assert_allclose(from_dict.predict_proba(as_dict), proba, rtol=1e-5, atol=1e-6)
    # Key order of the prediction input does not matter: the fitted order is used.
    reordered = {"face": X["face"], "speech": X["speech"]}
    np.testing.assert_array_equal(clf.predict_proba(reordered), proba)


def test_predictions_of_a_subset_agree_to_float32_rounding() -> None:
    # The reason test_common gives for xfailing check_methods_subset_invariance (whose
    # tolerance is 1e-7): a subset differs by float32 rounding only, never more.
    X, y, _ = two_modalities(60)
    clf = FusionClassifier(max_epochs=2, **SMALL).fit(X, y)
    whole = clf.predict_proba(X)
    for rows in (slice(0, 7), slice(30, 31), slice(10, 50)):
        part = clf.predict_proba(SliceDict(speech=X["speech"][rows], face=X["face"][rows]))
        np.testing.assert_allclose(part, whole[rows], rtol=1e-5, atol=1e-6)
    speech_only = TIMNetClassifier(max_epochs=2, **SMALL).fit(X["speech"], y)
    whole = speech_only.predict_proba(X["speech"])
    np.testing.assert_allclose(
        speech_only.predict_proba(X["speech"][5:9]), whole[5:9], rtol=1e-5, atol=1e-6
    )


def test_plain_array_is_one_modality_named_x() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=2, **SMALL).fit(X["speech"], y)
    assert clf.modalities_ == ("x",)
    assert clf.module_.modalities == ("x",)
    assert clf.predict(X["speech"]).shape == (32,)
    # The same array under its own name is the same model.
    named = FusionClassifier(max_epochs=2, **SMALL).fit({"x": X["speech"]}, y)
    np.testing.assert_allclose(
        named.predict_proba({"x": X["speech"]}), clf.predict_proba(X["speech"]), rtol=1e-5
    )


def test_two_dimensional_modality_is_one_frame() -> None:
    X, y, _ = two_modalities(32)
    flat = {"speech": X["speech"], "face": X["face"].mean(axis=1)}  # (n, 6)
    clf = FusionClassifier(max_epochs=2, **SMALL).fit(flat, y)
    assert clf.n_features_per_modality_ == {"speech": 4, "face": 6}
    assert clf.predict(flat).shape == (32,)


def test_batch_of_one_clip_at_fit_and_predict() -> None:
    X, y, _ = two_modalities(17)  # batch 16: the last training batch holds one clip
    clf = FusionClassifier(max_epochs=2, **SMALL).fit(X, y)
    assert clf.predict_proba(X[:1]).shape == (1, 4)
    single = {"speech": X["speech"][:1], "face": X["face"][:1]}
    assert clf.predict(single).shape == (1,)


def test_predict_with_other_modalities_raises() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=1, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"fitted on modalities \['speech', 'face'\]"):
        clf.predict({"speech": X["speech"]})
    with pytest.raises(ValueError, match=r"fitted on modalities"):
        clf.predict({"speech": X["speech"], "face": X["face"], "eyes": X["face"]})
    with pytest.raises(ValueError, match=r"fitted on modalities"):
        clf.predict(X["speech"])  # a plain array is modality "x"


def test_feature_count_mismatch_names_the_modality() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=1, **SMALL).fit(X, y)
    wrong = {"speech": X["speech"], "face": X["face"][:, :, :5]}
    with pytest.raises(ValueError, match=r"5 features in modality 'face'.*expecting 6"):
        clf.predict(wrong)


def test_invalid_inputs_raise() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=1, **SMALL)
    with pytest.raises(ValueError, match="empty mapping"):
        clf.fit({}, y)
    with pytest.raises(ValueError, match="different numbers of clips"):
        clf.fit({"speech": X["speech"], "face": X["face"][:20]}, y)
    with pytest.raises(ValueError, match=r"Modality 'speech' must be \(n_clips, n_frames"):
        clf.fit({"speech": X["speech"][..., None], "face": X["face"]}, y)
    with pytest.raises(ValueError, match="NaN"):
        bad = X["face"].copy()
        bad[0, 0, 0] = np.nan
        clf.fit({"speech": X["speech"], "face": bad}, y)


def test_per_modality_params_reach_the_module() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(
        max_epochs=1,
        **{
            **SMALL,
            "module__filters": {"speech": 8, "face": 4},
            "module__n_scales": {"speech": 3, "face": 2},
            "module__hidden_units": (16, 8),
        },
    ).fit(X, y)
    assert clf.module_.backbones["speech"].filters == 8
    assert clf.module_.backbones["face"].n_scales == 2
    assert clf.module_.head[0].in_features == 12
    with pytest.raises(ValueError, match=r"filters has no value for modalities \['face'\]"):
        FusionClassifier(max_epochs=1, **{**SMALL, "module__filters": {"speech": 8}}).fit(X, y)


# -- FusionClassifier: paper settings and the sklearn contracts ---------------------------


def test_defaults_and_from_paper() -> None:
    clf = FusionClassifier()
    assert (clf.lr, clf.batch_size, clf.max_epochs) == (2e-3, 64, 100)
    assert clf.module is FusionTIMNet
    assert clf.train_split is None
    assert clf.checkpoint_monitor == "train_loss"
    assert FusionClassifier.from_paper("lms").lr == 2e-3
    assert FusionClassifier.from_paper("wav2vec2").lr == 1e-4
    assert (
        FusionClassifier.from_paper("wav2vec2").module__n_scales
        == PAPER_HYPERPARAMETERS[("fusion_wav2vec2", "multiclass")]["n_scales"]
    )
    assert FusionClassifier.from_paper("lms", max_epochs=5).max_epochs == 5
    assert isinstance(FusionClassifier.from_paper(), FusionClassifier)
    with pytest.raises(ValueError, match="No paper settings"):
        FusionClassifier.from_paper("mfcc")
    with pytest.raises(ValueError, match="No paper settings"):
        FusionClassifier.from_paper("lms", "binary")


def test_clone_keeps_dict_valued_params() -> None:
    filters = {"speech": 8, "face": 4}
    clf = FusionClassifier(module__filters=filters, module__n_scales={"speech": 3, "face": 2})
    copy = clone(clf)
    assert copy.get_params()["module__filters"] == filters
    assert copy.get_params()["module__n_scales"] == {"speech": 3, "face": 2}
    assert copy.module__filters is not filters  # deep-copied, as sklearn's clone does
    X, y, _ = two_modalities(24)
    fitted = clone(FusionClassifier(max_epochs=1, **{**SMALL, "module__filters": filters}))
    fitted.fit(X, y)
    refit = clone(fitted)
    assert not hasattr(refit, "module_")
    assert refit.get_params()["module__filters"] == filters


def test_pickle_round_trip_predicts_the_same() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=2, **SMALL).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.modalities_ == clf.modalities_


def test_cross_val_score_on_slicedict_with_groups() -> None:
    X, y, groups = two_modalities(48)
    scores = cross_val_score(
        FusionClassifier(max_epochs=2, **SMALL), X, y, groups=groups, cv=GroupKFold(n_splits=3)
    )
    assert scores.shape == (3,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_grid_search_over_module_filters_and_lr() -> None:
    X, y, groups = two_modalities(48)
    search = GridSearchCV(
        FusionClassifier(max_epochs=2, **SMALL),
        {"module__filters": [4, {"speech": 8, "face": 4}], "lr": [1e-3, 1e-2]},
        cv=GroupKFold(n_splits=2),
    )
    search.fit(X, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.module__filters == search.best_params_["module__filters"]
    assert best.predict(X).shape == (48,)


def test_grouped_valid_split_keeps_actors_apart() -> None:
    X, y, groups = two_modalities(64)
    seen: dict[str, set[int]] = {}

    class RecordingSplit(GroupedValidSplit):
        def __call__(self, dataset: Any, y: Any = None, groups: Any = None) -> Any:
            train, valid = super().__call__(dataset, y, groups=groups)
            seen["train"] = set(np.asarray(groups)[train.indices].tolist())
            seen["valid"] = set(np.asarray(groups)[valid.indices].tolist())
            return train, valid

    clf = FusionClassifier(
        max_epochs=2, train_split=RecordingSplit(valid_size=0.25, random_state=0), **SMALL
    )
    with pytest.raises(ValueError, match="groups=actors"):
        clf.fit(X, y)
    clf.fit(X, y, groups=groups)
    assert seen["train"] and seen["valid"]
    assert not seen["train"] & seen["valid"]
    assert seen["train"] | seen["valid"] == set(groups.tolist())
    assert "valid_loss" in clf.history[-1]
    assert 0.0 <= clf.history[-1, "valid_acc"] <= 1.0


def test_checkpoint_rule_is_training_loss() -> None:
    X, y, _ = two_modalities(32)
    clf = FusionClassifier(max_epochs=4, **{**SMALL, "lr": 0.1}).fit(X, y)
    callback = dict(clf.callbacks_)["checkpoint"]
    assert callback.monitor == "train_loss"
    marks = clf.history[:, "checkpoint"]
    assert len(marks) == 4 and marks[0]
    losses = np.array(clf.history[:, "train_loss"])
    assert callback.best_epoch_ == int(np.argmin(losses)) + 1
    assert "valid_loss" not in clf.history[-1]  # no internal split by default


# -- Learning ---------------------------------------------------------------------------


def test_fusion_beats_each_modality_alone_under_actor_cv() -> None:
    X, y, groups = two_modalities(128)
    cv = GroupKFold(n_splits=4)
    settings: dict[str, Any] = {"max_epochs": 10, **SMALL}
    fusion = cross_val_score(FusionClassifier(**settings), X, y, groups=groups, cv=cv).mean()
    alone = {
        name: cross_val_score(TIMNetClassifier(**settings), X[name], y, groups=groups, cv=cv).mean()
        for name in ("speech", "face")
    }
    # Each modality alone knows one bit of the class: 50 % at best, chance 25 %.
    assert fusion > 0.85, (fusion, alone)
    for name, score in alone.items():
        assert score < 0.65, (name, score)
        assert fusion > score + 0.25, (fusion, alone)


# -- modality dropout and auxiliary heads ------------------------------------------------


def test_modality_dropout_zeroes_whole_vectors_in_training_only() -> None:
    torch.manual_seed(0)
    net = FusionTIMNet({"speech": 4, "face": 6}, filters=8, n_scales=2, modality_dropout=0.5)
    vectors = [torch.ones(1000, 8), torch.ones(1000, 8)]
    dropped = net._drop_modalities(vectors)
    kept = torch.stack([(v != 0).all(dim=1) for v in dropped], dim=1)
    zeroed = torch.stack([(v == 0).all(dim=1) for v in dropped], dim=1)
    assert bool((kept | zeroed).all())  # a vector is kept or dropped whole
    assert bool(kept.any(dim=1).all())  # never every modality of a clip
    assert 0.3 < float(zeroed.float().mean()) < 0.45  # p=0.5, minus the rescued clips
    np.testing.assert_allclose(dropped[0][kept[:, 0]].numpy(), 2.0)  # 1 / (1 - p)
    x = {"speech": torch.randn(3, 16, 4), "face": torch.randn(3, 30, 6)}
    net.eval()
    torch.testing.assert_close(net(**x), net(**x))  # off at inference
    with pytest.raises(ValueError, match="modality_dropout"):
        FusionTIMNet({"a": 2}, modality_dropout=1.0)


def test_auxiliary_heads_train_every_backbone() -> None:
    X, y, _ = two_modalities(128)
    clf = FusionClassifier(max_epochs=3, auxiliary_weight=0.5, **SMALL).fit(X, y)
    assert set(clf.module_.auxiliary_heads) == {"speech", "face"}
    logits, auxiliary = clf.module_(**{k: torch.as_tensor(v[:5]) for k, v in X.items()})
    assert logits.shape == (5, 4) and auxiliary.shape == (5, 2, 4)
    proba = clf.predict_proba(X)  # the fused logits only
    assert proba.shape == (len(y), 4) and np.allclose(proba.sum(axis=1), 1)
    # The loss is the fused loss plus the weighted mean of the per-modality losses.
    plain = FusionClassifier(max_epochs=3, **SMALL).fit(X, y)
    assert plain.module_.auxiliary_heads is None
    assert clf.history_[0, "train_loss"] > plain.history_[0, "train_loss"]
    with pytest.raises(ValueError, match="auxiliary_weight"):
        FusionClassifier(max_epochs=1, auxiliary_weight=-1, **SMALL).fit(X, y)
