"""End-to-end fine-tuning of a tiny pretrained backbone followed by TIM-Net."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skemotion import load_model, save_model
from skemotion.embed import (
    FineTunedTIMNetClassifier,
    PretrainedTIMNet,
    ResNetEmbedder,
    Wav2Vec2Embedder,
    Wav2Vec2Preprocessor,
    load_backbone,
)

pytest.importorskip("transformers")

_SMALL: dict[str, Any] = {
    "max_epochs": 2,
    "batch_size": 4,
    "lr": 1e-3,
    "module__filters": 8,
    "module__n_scales": 3,
    "random_state": 0,
}


@pytest.fixture(scope="module")
def speech(speech_clips):
    paths, y = speech_clips
    return Wav2Vec2Preprocessor().fit_transform(paths), y


def _changed(before, after):
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_wav2vec2_fine_tuning_trains_backbone_and_head(wav2vec2_dir, speech):
    X, y = speech
    assert X.shape == (12, 46_933)
    torch.manual_seed(0)
    initial = PretrainedTIMNet(wav2vec2_dir, n_classes=4).backbone.state_dict()
    clf = FineTunedTIMNetClassifier(module__backbone=wav2vec2_dir, backbone_lr=1e-4, **_SMALL)
    clf.fit(X, y)
    assert set(clf.classes_) == set(y) and len(clf.history_) == 2
    assert clf.predict(X[:3]).shape == (3,) and clf.predict_proba(X).shape == (12, 4)
    assert _changed(initial, clf.module_.backbone.state_dict())
    lrs = sorted(group["lr"] for group in clf.optimizer_.param_groups)
    assert lrs == [1e-4, 1e-3]


def test_freezing_freezes_and_unfreezing_unfreezes(wav2vec2_dir, speech):
    X, y = speech
    pretrained = load_backbone(wav2vec2_dir, kind="wav2vec2").state_dict()
    frozen = FineTunedTIMNetClassifier(
        module__backbone=wav2vec2_dir, module__freeze_backbone=True, **{**_SMALL, "max_epochs": 1}
    ).fit(X, y)
    assert frozen.module_.backbone_frozen
    assert not _changed(pretrained, frozen.module_.backbone.state_dict())  # buffers too
    assert all(p.grad is None for p in frozen.module_.backbone.parameters())
    assert all(p.grad is not None for p in frozen.module_.timnet.head.parameters())

    later = FineTunedTIMNetClassifier(
        module__backbone=wav2vec2_dir,
        module__freeze_backbone=True,
        unfreeze_backbone_after=1,
        **_SMALL,
    ).fit(X, y)
    assert not later.module_.backbone_frozen
    assert _changed(pretrained, later.module_.backbone.state_dict())


def test_weighted_layers_feature_encoder_and_checkpointing(wav2vec2_dir, speech):
    X, y = speech
    pretrained = load_backbone(wav2vec2_dir, kind="wav2vec2")
    clf = FineTunedTIMNetClassifier(
        module__backbone=wav2vec2_dir,
        module__layer="weighted",
        module__freeze_feature_encoder=True,
        module__gradient_checkpointing=True,
        **{**_SMALL, "max_epochs": 1},
    ).fit(X, y)
    backbone = clf.module_.backbone
    encoder = pretrained.feature_extractor.state_dict()  # type: ignore[union-attr]
    assert not _changed(encoder, backbone.feature_extractor.state_dict())
    assert _changed(pretrained.state_dict(), backbone.state_dict())
    assert not torch.equal(clf.module_.layer_weights.detach(), torch.zeros(2))
    flag = getattr(type(backbone), "is_activation_checkpointing", None)
    assert backbone.is_activation_checkpointing if flag else backbone.is_gradient_checkpointing


def test_two_stage_reuse_and_save_load(wav2vec2_dir, speech, tmp_path):
    X, y = speech
    clf = FineTunedTIMNetClassifier(module__backbone=str(wav2vec2_dir), **_SMALL).fit(X, y)
    folder = clf.save_backbone(tmp_path / "finetuned")
    raw = np.random.default_rng(0).normal(size=(2, 150_000)).astype(np.float32)
    from_folder = Wav2Vec2Embedder(folder, cache_dir=False).fit_transform(raw)
    from_module = clf.to_embedder(cache_dir=False).fit_transform(raw)
    np.testing.assert_allclose(from_folder, from_module, atol=1e-5)
    pretrained = Wav2Vec2Embedder(wav2vec2_dir, cache_dir=False).fit_transform(raw)
    assert not np.allclose(from_folder, pretrained)

    loaded = load_model(save_model(clf, tmp_path / "ft.skem"))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_grid_search_over_freezing(wav2vec2_dir, speech):
    X, y = speech
    base = FineTunedTIMNetClassifier(module__backbone=wav2vec2_dir, **{**_SMALL, "max_epochs": 1})
    assert clone(base).get_params()["module__backbone"] == wav2vec2_dir
    search = GridSearchCV(base, {"module__freeze_backbone": [True, False]}, cv=2).fit(X, y)
    assert search.best_params_["module__freeze_backbone"] in (True, False)


def test_resnet_fine_tuning_on_patches(resnet_dir):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 5, 2, 3, 32, 32)).astype(np.float32)  # eyes, 5 frames
    y = np.array(["happy", "sad"] * 4)
    X[y == "happy"] += 0.5
    clf = FineTunedTIMNetClassifier.from_paper(
        "resnet", module__backbone=resnet_dir, **{**_SMALL, "module__n_scales": 2}
    )
    paper = FineTunedTIMNetClassifier.from_paper("resnet", module__backbone=resnet_dir)
    assert (paper.lr, paper.batch_size, paper.max_epochs) == (2e-4, 8, 60)
    assert paper.get_params()["module__n_scales"] == 5
    clf.fit(X, y)
    assert clf.module_.kind == "resnet" and clf.predict(X).shape == (8,)
    embedder = clf.to_embedder(cache_dir=False)
    assert isinstance(embedder, ResNetEmbedder)
    assert embedder.fit_transform(X).shape == (8, 5, 16)


def test_module_errors(resnet_dir, wav2vec2_dir):
    with pytest.raises(ValueError, match="Wav2Vec2 backbones only"):
        PretrainedTIMNet(resnet_dir, layer=0)
    with pytest.raises(ValueError, match="gradient checkpointing"):
        PretrainedTIMNet(
            torch.nn.Conv2d(3, 4, 3), kind="resnet", n_features=4, gradient_checkpointing=True
        )
    net = PretrainedTIMNet(wav2vec2_dir, n_classes=2, filters=4, n_scales=2)
    with pytest.raises(ValueError, match="waveforms"):
        net(torch.zeros(1, 2, 3))


def test_callers_backbone_module_is_never_trained(wav2vec2_dir, speech):
    X, y = speech
    module = load_backbone(wav2vec2_dir, kind="wav2vec2", cache=False)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    clf = FineTunedTIMNetClassifier(module__backbone=module, **{**_SMALL, "max_epochs": 1})
    clf.fit(X, y)
    assert clf.module_.backbone is not module
    assert not _changed(before, module.state_dict())
