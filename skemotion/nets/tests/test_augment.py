"""Training-time augmentation: masking spans, mixup, and their use in the classifiers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from skemotion.nets import (
    FusionClassifier,
    TIMNetClassifier,
    mask_sequences,
    mixup,
    stacking_unsupported_reason,
)


def test_masks_zero_whole_spans_no_wider_than_asked() -> None:
    X = torch.ones(200, 30, 12)
    masked = mask_sequences(
        X, time_masks=1, time_mask_width=5, generator=torch.Generator().manual_seed(0)
    )
    zero_frames = (masked == 0).all(dim=2)
    widths = zero_frames.sum(dim=1)
    assert widths.max() <= 5 and widths.min() == 0 and widths.float().mean() > 1.5
    # one contiguous span per clip, and every frame either whole or entirely zero
    starts = (zero_frames[:, 1:] & ~zero_frames[:, :-1]).sum(dim=1) + zero_frames[:, 0]
    assert starts.max() <= 1
    assert torch.equal((masked == 0).any(dim=2), zero_frames)
    assert torch.equal(X, torch.ones(200, 30, 12))  # the input is left as it is


def test_feature_masks_zero_the_same_features_in_every_frame_of_a_clip() -> None:
    X = torch.ones(50, 20, 24)
    masked = mask_sequences(
        X, feature_masks=2, feature_mask_width=3, generator=torch.Generator().manual_seed(1)
    )
    zero_features = (masked == 0).all(dim=1)
    assert torch.equal((masked == 0).any(dim=1), zero_features)
    assert zero_features.sum(dim=1).max() <= 6 and zero_features.any()


def test_no_mask_leaves_the_clips_unchanged() -> None:
    X = torch.randn(4, 10, 3)
    assert torch.equal(mask_sequences(X), X)


def test_mixup_blends_every_modality_with_the_same_partner_and_weight() -> None:
    X = {"speech": torch.randn(16, 5, 3), "face": torch.randn(16, 5, 2)}
    blended, partner, lam = mixup(X, alpha=0.4, generator=torch.Generator().manual_seed(2))
    assert 0 <= lam <= 1 and sorted(partner.tolist()) == list(range(16))
    for key, values in X.items():
        torch.testing.assert_close(blended[key], lam * values + (1 - lam) * values[partner])
    again = mixup(X, alpha=0.4, generator=torch.Generator().manual_seed(2))
    assert again[2] == lam and torch.equal(again[1], partner)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixup(X, alpha=0)


def _clips(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 16, 6)).astype(np.float32)
    y = np.where(X[:, :, 0].mean(axis=1) > 0, "angry", "calm")
    X[:, :, 0] += np.where(y == "angry", 1.0, -1.0)[:, None]
    return X, y


SMALL: dict[str, Any] = {
    "max_epochs": 4,
    "module__filters": 8,
    "module__n_scales": 2,
    "lr": 5e-3,
    "batch_size": 16,
}
AUGMENTED: dict[str, Any] = {"time_masks": 2, "feature_masks": 1, "mixup_alpha": 0.3}


def test_an_augmented_network_trains_differently_repeatably_and_still_learns() -> None:
    X, y = _clips()

    def proba(**params: Any) -> np.ndarray:
        return TIMNetClassifier(random_state=0, **SMALL, **params).fit(X, y).predict_proba(X)

    plain, augmented = proba(), proba(**AUGMENTED)
    assert not np.allclose(plain, augmented)
    np.testing.assert_array_equal(augmented, proba(**AUGMENTED))
    net = TIMNetClassifier(random_state=0, **{**SMALL, "max_epochs": 12}, **AUGMENTED)
    assert net.fit(X, y).score(X, y) > 0.9


def test_masking_alone_and_mixup_alone_each_change_training() -> None:
    X, y = _clips()
    plain = TIMNetClassifier(random_state=0, **SMALL).fit(X, y).predict_proba(X)
    for params in ({"time_masks": 1}, {"feature_masks": 1}, {"mixup_alpha": 0.2}):
        other = TIMNetClassifier(random_state=0, **SMALL, **params).fit(X, y).predict_proba(X)
        assert not np.allclose(plain, other), params


def test_a_fusion_network_augments_every_modality() -> None:
    X, y = _clips()
    data = {"speech": X, "face": X[:, :, :4] * 2}
    net = FusionClassifier(random_state=0, **SMALL, **AUGMENTED).fit(data, y)
    assert net.predict_proba(data).shape == (len(y), 2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"time_masks": -1}, "time_masks must be an int >= 0"),
        ({"feature_mask_width": 1.5}, "feature_mask_width must be an int >= 0"),
        ({"mixup_alpha": -0.1}, "mixup_alpha must be a float >= 0"),
    ],
)
def test_augmentation_settings_are_checked_at_fit(params: dict[str, Any], message: str) -> None:
    X, y = _clips()
    with pytest.raises(ValueError, match=message):
        TIMNetClassifier(**SMALL, **params).fit(X, y)


def test_augmented_networks_are_trained_alone_not_stacked() -> None:
    reason = stacking_unsupported_reason(TIMNetClassifier(mixup_alpha=0.2))
    assert reason == "it augments its training batches"
    assert stacking_unsupported_reason(TIMNetClassifier()) is None
