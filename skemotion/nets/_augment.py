"""Training-time augmentation of feature sequences: SpecAugment-style masking and mixup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["mask_sequences", "mixup"]


def _masks(
    n_clips: int, length: int, *, n_masks: int, max_width: int, generator: torch.Generator | None
) -> torch.Tensor:
    """``(n_clips, length)`` booleans, True inside any of ``n_masks`` random spans per clip."""
    covered = torch.zeros(n_clips, length, dtype=torch.bool)
    if n_masks == 0 or max_width == 0 or length == 0:
        return covered
    positions = torch.arange(length)
    for _ in range(n_masks):
        width = torch.randint(0, min(max_width, length) + 1, (n_clips, 1), generator=generator)
        start = (torch.rand(n_clips, 1, generator=generator) * (length - width + 1)).long()
        covered |= (positions >= start) & (positions < start + width)
    return covered


def mask_sequences(
    X: torch.Tensor,
    *,
    time_masks: int = 0,
    time_mask_width: int = 0,
    feature_masks: int = 0,
    feature_mask_width: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero random spans of frames and of features of every clip (SpecAugment's masking).

    Each clip gets its own spans: ``time_masks`` spans of frames and ``feature_masks``
    spans of features (mel bands, for a log-mel spectrogram), each of a width drawn
    uniformly from 0 to the maximum, at a uniform position. skemotion's networks take
    standardised features, so zero is the training mean: a masked span carries no
    information rather than an outlier.

    Parameters
    ----------
    X : Tensor of shape (n_clips, n_frames, n_features)
    time_masks, feature_masks : int, default=0
        Spans per clip along frames and along features.
    time_mask_width, feature_mask_width : int, default=0
        Largest width of a span.
    generator : torch.Generator or None, default=None
        Source of the random spans; None draws from torch's global generator.

    Returns
    -------
    masked : Tensor of shape (n_clips, n_frames, n_features)
        A new tensor; ``X`` is left as it is.

    Examples
    --------
    >>> X = torch.ones(2, 10, 4)
    >>> masked = mask_sequences(X, time_masks=1, time_mask_width=3,
    ...                         generator=torch.Generator().manual_seed(0))
    >>> masked.shape, bool((masked == 0).any(dim=2).sum(dim=1).le(3).all())
    (torch.Size([2, 10, 4]), True)
    """
    n_clips, n_frames, n_features = X.shape
    frames = _masks(
        n_clips, n_frames, n_masks=time_masks, max_width=time_mask_width, generator=generator
    )
    features = _masks(
        n_clips,
        n_features,
        n_masks=feature_masks,
        max_width=feature_mask_width,
        generator=generator,
    )
    keep = ~(frames[:, :, None] | features[:, None, :])
    return X * keep.to(X.dtype)


def mixup(
    X: Any, *, alpha: float, generator: torch.Generator | None = None
) -> tuple[Any, torch.Tensor, float]:
    """Blend every clip with another clip of the batch (mixup, Zhang et al. 2018).

    One weight ``lam ~ Beta(alpha, alpha)`` per batch, a random partner per clip; the loss
    of the blend is ``lam`` times that of the clip's label plus ``1 - lam`` times that of
    the partner's. For a dict of modalities every modality is blended with the same
    partner and weight, so the clip stays one recording.

    Parameters
    ----------
    X : Tensor of shape (n_clips, ...) or dict of such tensors
    alpha : float
        Beta parameter, > 0; small values keep most blends close to one of the two clips.
    generator : torch.Generator or None, default=None

    Returns
    -------
    blended : Tensor or dict of tensors, shaped like ``X``
    partner : LongTensor of shape (n_clips,)
        Row of each clip's partner.
    lam : float
        Weight of the clip itself.

    Examples
    --------
    >>> X = torch.arange(4.0)[:, None]
    >>> blended, partner, lam = mixup(X, alpha=0.4, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(blended, lam * X + (1 - lam) * X[partner])
    True
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}.")
    first = next(iter(X.values())) if isinstance(X, Mapping) else X
    # numpy draws the Beta weight (torch has no seeded Beta), from a seed the generator gives.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    partner = torch.randperm(len(first), generator=generator)

    def blend(values: torch.Tensor) -> torch.Tensor:
        return lam * values + (1 - lam) * values[partner]

    if isinstance(X, Mapping):
        return type(X)(**{key: blend(value) for key, value in X.items()}), partner, lam
    return blend(X), partner, lam
