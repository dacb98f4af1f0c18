"""The exported module: standardisation, the fitted network on its traceable path, probabilities."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from ..nets import FusionTIMNet
from ..preprocessing import TemporalStandardScaler
from ._plan import ExportPlan

__all__ = ["build_graph"]


class _Standardize(nn.Module):
    """``(x - mean) / scale`` in float32, the operations of TemporalStandardScaler.transform."""

    def __init__(self, scaler: TemporalStandardScaler) -> None:
        super().__init__()
        # Absent statistics stay absent rather than becoming 0 / 1, so that the graph holds
        # exactly the operations the scaler applies.
        self.mean: Tensor | None
        self.scale: Tensor | None
        self.register_buffer("mean", None if scaler.mean_ is None else _float32(scaler.mean_))
        self.register_buffer("scale", None if scaler.scale_ is None else _float32(scaler.scale_))

    def forward(self, x: Tensor) -> Tensor:
        if self.mean is not None:
            x = x - self.mean
        if self.scale is not None:
            x = x / self.scale
        return x


def _float32(values: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


class _ProbabilityModel(nn.Module):
    """Raw features (one tensor per input, positionally) -> class probabilities."""

    def __init__(self, network: nn.Module, plan: ExportPlan) -> None:
        super().__init__()
        self.network = network
        self.fusion = isinstance(network, FusionTIMNet)
        self.modalities = [item.modality for item in plan.inputs]
        self.standardize = nn.ModuleList(
            nn.Sequential(*(_Standardize(scaler) for scaler in item.scalers))
            for item in plan.inputs
        )
        self.sigmoid = plan.output == "sigmoid"

    def forward(self, *inputs: Tensor) -> Tensor:
        features = [scale(x) for scale, x in zip(self.standardize, inputs, strict=True)]
        if self.fusion:
            logits = self.network(**dict(zip(self.modalities, features, strict=True)))
        else:
            (single,) = features
            logits = self.network(single)
        if self.sigmoid:
            # skorch's binary predict_proba: (1 - p, p) from the single logit.
            positive = torch.sigmoid(logits[:, 0])
            return torch.stack((1 - positive, positive), dim=1)
        return torch.softmax(logits, dim=-1)


def _reference_network(module: nn.Module) -> nn.Module:
    """A CPU copy of ``module`` in eval mode, every causal layer on the traceable path."""
    network = copy.deepcopy(module).cpu().eval()
    for layer in network.modules():
        # The fused kernel is an autograd.Function, which tracing records as an opaque
        # Python call that cannot be saved; the reference path is plain tensor operations.
        if hasattr(layer, "fused"):
            layer.fused = False  # type: ignore[assignment]
    original = {key: value.cpu() for key, value in module.state_dict().items()}
    copied = network.state_dict()
    if original.keys() != copied.keys() or not all(
        torch.equal(original[key], copied[key]) for key in original
    ):
        raise RuntimeError("The exported network's weights differ from the fitted network's.")
    return network


def build_graph(plan: ExportPlan) -> nn.Module:
    """The module to trace: raw features in, the classifier's probabilities out."""
    network = _reference_network(plan.classifier.module_)
    # Inference only: outputs of the loaded graph are plain tensors (no .detach() needed).
    return _ProbabilityModel(network, plan).eval().requires_grad_(False)
