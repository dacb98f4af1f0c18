"""End-to-end fine-tuning: a pretrained backbone followed by TIM-Net, as a skorch classifier."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import Tensor, nn

from ..nets import TIMNet, TIMNetClassifier
from ._hub import load_backbone
from ._resnet import image_features
from ._wav2vec2 import _hidden_states

__all__ = ["FineTunedTIMNetClassifier", "PretrainedTIMNet", "UnfreezeBackbone"]


def _infer_kind(backbone: nn.Module) -> str:
    model_type = getattr(getattr(backbone, "config", None), "model_type", None)
    if model_type in ("wav2vec2", "resnet"):
        return str(model_type)
    raise ValueError(
        f"Cannot tell whether {type(backbone).__name__} is a speech or an image backbone; "
        "pass kind='wav2vec2' or kind='resnet'."
    )


class PretrainedTIMNet(nn.Module):
    """A pretrained Wav2Vec2 or ResNet backbone followed by TIM-Net, trained end to end.

    The paper's unimodal fine-tuning runs. Speech: waveforms ``(batch, n_samples)`` at
    16 kHz (:class:`Wav2Vec2Preprocessor`) -> Wav2Vec2 hidden states ``(batch, frames,
    hidden)`` -> TIM-Net. Images: patches ``(batch, frames, 3, H, W)`` or ``(batch,
    frames, 2, 3, H, W)`` (:class:`~skemotion.face.FaceRegions`; the paper fine-tunes
    on 20 evenly spaced frames) -> ResNet pooled features per frame (eyes averaged) ->
    TIM-Net.

    Parameters
    ----------
    backbone : str, path-like or torch.nn.Module, default="facebook/wav2vec2-base"
        Hub id or ``save_pretrained`` folder, loaded with transformers'
        ``Wav2Vec2Model`` or ``ResNetModel`` (per ``kind``), or a module (copied, so
        the caller's is never trained in place).
    n_classes : int, default=8
    kind : {"wav2vec2", "resnet"} or None, default=None
        None reads it from the checkpoint's ``config.model_type``.
    revision : str or None, default=None
    layer : int, "mean" or "weighted", default=-1
        Wav2Vec2 only: which hidden state feeds TIM-Net (as in
        :class:`Wav2Vec2Embedder`), or ``"weighted"``: a softmax-weighted sum of the
        transformer layers' outputs with learned weights.
    freeze_backbone : bool, default=False
        Start with the backbone frozen: no gradients, eval mode (no dropout, ResNet's
        batch-norm statistics fixed), run under ``torch.no_grad``. See
        :meth:`unfreeze` and ``FineTunedTIMNetClassifier(unfreeze_backbone_after=k)``.
    freeze_feature_encoder : bool, default=False
        Wav2Vec2 only: keep the convolutional feature encoder frozen throughout (the
        usual practice of Wav2Vec2 fine-tuning), even once the rest is unfrozen.
    gradient_checkpointing : bool, default=False
        Recompute the backbone's activations in the backward pass instead of storing
        them (less memory, about a third more time); needs a transformers backbone
        that supports it (Wav2Vec2 does).
    n_features : int or None, default=None
        Backbone output size; None reads it from the config (``hidden_size``, or the
        last of ResNet's ``hidden_sizes``). Needed for a module without a config.
    filters, n_scales, n_layers, dropout, bn_momentum, fused
        TIM-Net's (:class:`~skemotion.nets.TIMNet`).
    """

    def __init__(
        self,
        backbone: Any = "facebook/wav2vec2-base",
        n_classes: int = 8,
        *,
        kind: str | None = None,
        revision: str | None = None,
        layer: int | str = -1,
        freeze_backbone: bool = False,
        freeze_feature_encoder: bool = False,
        gradient_checkpointing: bool = False,
        n_features: int | None = None,
        filters: int = 64,
        n_scales: int = 8,
        n_layers: int = 3,
        dropout: float = 0.1,
        bn_momentum: float = 0.01,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(backbone, nn.Module):
            module = copy.deepcopy(backbone)
            kind = kind or _infer_kind(module)
        else:
            if kind is None:
                kind = _kind_from_config(backbone, revision)
            # The process keeps one loaded copy; this network trains its own.
            module = copy.deepcopy(load_backbone(backbone, kind=kind, revision=revision))
        if kind not in ("wav2vec2", "resnet"):
            raise ValueError(f"kind must be 'wav2vec2' or 'resnet', got {kind!r}.")
        if layer != -1 and kind != "wav2vec2":
            raise ValueError(f"layer={layer!r} applies to Wav2Vec2 backbones only.")
        if not (isinstance(layer, int) or layer in ("mean", "weighted")):
            raise ValueError(f"layer must be an int, 'mean' or 'weighted', got {layer!r}.")
        self.kind = kind
        self.layer = layer
        self.freeze_feature_encoder = freeze_feature_encoder
        self.backbone = module
        self.backbone.train()
        config = getattr(module, "config", None)
        if n_features is None:
            if config is None:
                raise ValueError("n_features is needed for a backbone without a config.")
            n_features = int(
                config.hidden_size if kind == "wav2vec2" else list(config.hidden_sizes)[-1]
            )
        if layer == "weighted":
            if config is None:
                raise ValueError("layer='weighted' needs a transformers Wav2Vec2 backbone.")
            self.layer_weights: nn.Parameter | None = nn.Parameter(
                torch.zeros(int(config.num_hidden_layers))
            )
        else:
            self.layer_weights = None
        if gradient_checkpointing:
            if not getattr(module, "supports_gradient_checkpointing", False):
                raise ValueError(
                    f"{type(module).__name__} does not support gradient checkpointing."
                )
            # transformers 5 renamed it (the old name warns); 4.x has only the old one.
            enable = getattr(module, "activation_checkpointing_enable", None)
            enable = enable or module.gradient_checkpointing_enable
            enable()  # type: ignore[operator]
        self.timnet = TIMNet(
            n_features=n_features,
            n_classes=n_classes,
            filters=filters,
            n_scales=n_scales,
            n_layers=n_layers,
            dropout=dropout,
            bn_momentum=bn_momentum,
            fused=fused,
        )
        self.backbone_frozen = False
        if freeze_backbone:
            self.freeze()
        else:
            self.unfreeze()

    def freeze(self) -> PretrainedTIMNet:
        """Stop training the backbone (no gradients, eval mode)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)
        self.backbone_frozen = True
        self.backbone.eval()
        return self

    def unfreeze(self) -> PretrainedTIMNet:
        """Train the backbone (except a frozen Wav2Vec2 feature encoder)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(True)
        if self.freeze_feature_encoder:
            if not hasattr(self.backbone, "freeze_feature_encoder"):
                raise ValueError("freeze_feature_encoder=True needs a Wav2Vec2 backbone.")
            self.backbone.freeze_feature_encoder()  # type: ignore[operator]
        self.backbone_frozen = False
        self.backbone.train(self.training)
        return self

    def train(self, mode: bool = True) -> PretrainedTIMNet:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def features(self, x: Tensor) -> Tensor:
        """Backbone features ``(batch, frames, n_features)`` of the input."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
            if self.kind == "wav2vec2":
                if x.dim() != 2:
                    raise ValueError(
                        "A Wav2Vec2 backbone takes waveforms (batch, samples), got "
                        f"{tuple(x.shape)}."
                    )
                if self.layer == "weighted":
                    assert self.layer_weights is not None
                    states = self.backbone(x, output_hidden_states=True).hidden_states[1:]
                    weights = torch.softmax(self.layer_weights, dim=0)
                    return torch.einsum("l,lbtd->btd", weights, torch.stack(tuple(states)))
                return _hidden_states(self.backbone, x, self.layer)
            if x.dim() not in (5, 6):
                raise ValueError(
                    "A ResNet backbone takes patches (batch, frames, 3, H, W) or "
                    f"(batch, frames, 2, 3, H, W), got {tuple(x.shape)}."
                )
            batch, frames = x.shape[:2]
            views = x.shape[2] if x.dim() == 6 else 1
            pooled = image_features(self.backbone, x.reshape(-1, *x.shape[-3:]))
            return pooled.reshape(batch, frames, views, -1).mean(dim=2)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(batch, n_classes)``."""
        return self.timnet(self.features(x))


def _kind_from_config(backbone: Any, revision: str | None) -> str:
    for kind in ("wav2vec2", "resnet"):
        try:
            load_backbone(backbone, kind=kind, revision=revision)
        except ValueError:
            continue  # another architecture
        return kind
    raise ValueError(f"{backbone!r} is neither a Wav2Vec2 nor a ResNet checkpoint.")


class UnfreezeBackbone(Callback):
    """Unfreeze a :class:`PretrainedTIMNet`'s backbone at the start of epoch ``after + 1``.

    Parameters
    ----------
    after : int, default=1
        Epochs trained with the backbone frozen (its module built with
        ``freeze_backbone=True``).
    """

    def __init__(self, after: int = 1) -> None:
        self.after = after

    def on_epoch_begin(self, net: Any, **kwargs: Any) -> None:
        epoch = int(net.history[-1, "epoch"])
        module = net.module_
        if epoch == self.after + 1 and getattr(module, "backbone_frozen", False):
            module.unfreeze()
            module.train()


class FineTunedTIMNetClassifier(TIMNetClassifier):
    """A pretrained backbone and TIM-Net fine-tuned end to end, with scikit-learn's API.

    ``module`` is :class:`PretrainedTIMNet`; its parameters are reachable as
    ``module__backbone``, ``module__freeze_backbone``, ``module__layer``,
    ``module__gradient_checkpointing``, ``module__n_scales``... Defaults are the paper's
    Wav2Vec2 settings (Table 3: lr 5e-5, batch 16, 100 epochs, 8 scales); for a ResNet
    use ``from_paper("resnet", module__backbone=...)`` (lr 2e-4, batch 8, 60 epochs,
    5 scales). ``X`` is what the backbone reads: ``(n_clips, n_samples)`` 16 kHz
    waveforms (:class:`Wav2Vec2Preprocessor`) or FaceRegions patches.

    The paper's two-stage use: fine-tune unimodally, then reuse the fine-tuned backbone
    frozen as a feature extractor for the multimodal model, through
    :meth:`save_backbone` (a transformers folder any embedder loads by path) or
    :meth:`to_embedder`.

    Parameters
    ----------
    backbone_lr : float or None, default=None
        Learning rate of the backbone's parameters (an ``optimizer__param_groups``
        entry ``("backbone.*", {"lr": backbone_lr})`` added after the user's own
        groups); None trains them at ``lr``.
    unfreeze_backbone_after : int or None, default=None
        With ``module__freeze_backbone=True``: epochs trained with the backbone frozen
        before it is unfrozen (the :class:`UnfreezeBackbone` callback). None keeps it as
        ``module__freeze_backbone`` says for the whole fit.
    **kwargs
        As for :class:`~skemotion.nets.TIMNetClassifier`.

    Notes
    -----
    A saved model (:func:`skemotion.save_model`) holds all the fine-tuned weights, but
    rebuilding it loads ``module__backbone`` first, so that hub id or folder must be
    loadable where the model is loaded.

    Examples
    --------
    >>> clf = FineTunedTIMNetClassifier(module__backbone="facebook/wav2vec2-base",
    ...                                 backbone_lr=1e-5)
    >>> clf.fit(Wav2Vec2Preprocessor().fit_transform(paths), y)  # doctest: +SKIP
    >>> clf.save_backbone("w2v2-finetuned")  # doctest: +SKIP
    """

    def __init__(
        self,
        module: type[nn.Module] = PretrainedTIMNet,
        *,
        lr: float = 5e-5,
        batch_size: int = 16,
        max_epochs: int = 100,
        backbone_lr: float | None = None,
        unfreeze_backbone_after: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("module__n_scales", 8)
        super().__init__(module, lr=lr, batch_size=batch_size, max_epochs=max_epochs, **kwargs)
        self.backbone_lr = backbone_lr
        self.unfreeze_backbone_after = unfreeze_backbone_after

    @property
    def _default_callbacks(self) -> list[tuple[str, Any]]:
        callbacks = list(super()._default_callbacks)
        if self.unfreeze_backbone_after is not None:
            callbacks.append(("unfreeze_backbone", UnfreezeBackbone(self.unfreeze_backbone_after)))
        return callbacks

    def initialize_module(self) -> FineTunedTIMNetClassifier:
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_classes", self._module_output_size())
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def get_params_for(self, prefix: str) -> dict[str, Any]:
        params = super().get_params_for(prefix)
        if prefix == "optimizer" and self.backbone_lr is not None:
            groups = list(params.get("param_groups", []))
            params["param_groups"] = [*groups, ("backbone.*", {"lr": self.backbone_lr})]
        return params

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        if isinstance(X, Mapping) and not sparse.issparse(X):
            raise TypeError(f"{type(self).__name__} takes one input array.")
        X = check_array(X, allow_nd=True, dtype=np.float32, ensure_min_samples=1, input_name="X")
        if X.ndim not in (2, 5, 6):
            raise ValueError(
                f"{type(self).__name__} expects waveforms (n_clips, n_samples) or image "
                f"patches (n_clips, n_frames, [2,] 3, H, W), got an array of shape {X.shape}."
            )
        if reset:
            self.n_features_in_ = X.shape[-1]
        elif X.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (values on the last axis)."
            )
        return np.ascontiguousarray(X)

    def save_backbone(self, folder: str | os.PathLike[str]) -> Path:
        """Write the fine-tuned backbone as a transformers folder (``save_pretrained``).

        Load it back with ``Wav2Vec2Embedder(model=folder)`` or
        ``ResNetEmbedder(model=folder)``, or any transformers code.

        Returns
        -------
        folder : Path
        """
        check_is_fitted(self, "module_")
        backbone = self.module_.backbone
        if not hasattr(backbone, "save_pretrained"):
            raise TypeError(
                f"{type(backbone).__name__} is not a transformers model; save its "
                "state_dict with torch.save instead."
            )
        path = Path(folder)
        backbone.save_pretrained(path)
        return path

    def to_embedder(self, **params: Any) -> Any:
        """A frozen embedder (Wav2Vec2Embedder or ResNetEmbedder) over a copy of the backbone.

        ``params`` go to the embedder. It holds a module, so it is not saveable with
        :func:`skemotion.save_model`; use :meth:`save_backbone` and a folder for that.
        A Wav2Vec2 embedder reads the same ``layer`` as the module, except that a
        learned ``"weighted"`` sum (weights outside the backbone) becomes the last layer.
        """
        from ._resnet import ResNetEmbedder
        from ._wav2vec2 import Wav2Vec2Embedder

        check_is_fitted(self, "module_")
        backbone = copy.deepcopy(self.module_.backbone).eval()
        for parameter in backbone.parameters():
            parameter.requires_grad_(False)
        if self.module_.kind == "wav2vec2":
            layer = self.module_.layer
            params.setdefault("layer", -1 if layer == "weighted" else layer)
            return Wav2Vec2Embedder(backbone, **params)
        return ResNetEmbedder(backbone, **params)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = False
        tags.input_tags.two_d_array = True
        return tags
