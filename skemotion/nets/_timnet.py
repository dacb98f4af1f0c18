"""TIM-Net: temporal-aware bi-directional multi-scale network (Ye et al., ICASSP 2023).

Faithful to the official Keras implementation (``Jiaxin-Ye/TIM-Net_SER``, ``Code/TIMNET.py``)
in structure; written channels-last with a fused causal-convolution layer for CPU speed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._functional import causal_conv_bn_relu, causal_conv_bn_relu_reference

__all__ = ["TIMNet", "TemporalAwareBlock"]


class _CausalConvLayer(nn.Module):
    """Conv1d(kernel 2, dilation, causal) -> BatchNorm -> ReLU -> SpatialDropout1D."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        dilation: int,
        dropout: float,
        bn_momentum: float,
        fused: bool,
        matmul_dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.matmul_dtype = matmul_dtype
        self.dilation = dilation
        self.dropout = dropout
        self.bn_momentum = bn_momentum
        self.fused = fused
        # Both kernel taps side by side, (in, 2 * out): one matrix product per layer.
        self.weight = nn.Parameter(torch.empty(in_channels, 2 * out_channels))
        self.gamma = nn.Parameter(torch.ones(out_channels))
        self.beta = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("running_mean", torch.zeros(out_channels))
        self.register_buffer("running_var", torch.ones(out_channels))
        # Keras' Conv1D default: Glorot-uniform over the (kernel, in, out) kernel.
        fan_in, fan_out = 2 * in_channels, 2 * out_channels
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        drop_mask = None
        if self.training and self.dropout > 0:
            # SpatialDropout1D: one keep/drop draw per (sample, channel), shared over time.
            keep = 1.0 - self.dropout
            drop_mask = torch.empty(
                x.shape[0], 1, self.gamma.shape[0], dtype=x.dtype, device=x.device
            ).bernoulli_(keep)
            drop_mask.div_(keep)
        layer = causal_conv_bn_relu if self.fused else causal_conv_bn_relu_reference
        return layer(
            x,
            weight=self.weight,
            gamma=self.gamma,
            beta=self.beta,
            running_mean=self.running_mean,  # type: ignore[arg-type]
            running_var=self.running_var,  # type: ignore[arg-type]
            dilation=self.dilation,
            training=self.training,
            momentum=self.bn_momentum,
            drop_mask=drop_mask,
            matmul_dtype=self.matmul_dtype,
        )


class TemporalAwareBlock(nn.Module):
    """Temporal-aware block: ``x * sigmoid(layers(x))``, gating without residual addition.

    Parameters
    ----------
    in_channels, filters : int
        Input and output channels. A 1x1 projection of ``x`` is applied only when they
        differ (as in the reference implementation).
    dilation : int
        Dilation of every causal convolution of the block (``2 ** j`` for scale ``j``).
    n_layers : int
        Stacked convolution layers: 2 in the original TIM-Net, 3 in the paper.
    dropout : float
        Channel (spatial) dropout rate after each layer.
    bn_momentum : float
        Weight of the newest batch in the batch-norm running statistics.
    fused : bool
        Use the fused CPU kernel (default) or the plain-autograd reference.
    matmul_dtype : torch.dtype or None
        Data type of the convolutions' matrix products (None: the input's).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        *,
        dilation: int,
        n_layers: int = 3,
        dropout: float = 0.1,
        bn_momentum: float = 0.01,
        fused: bool = True,
        matmul_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            *(
                _CausalConvLayer(
                    in_channels if i == 0 else filters,
                    filters,
                    dilation=dilation,
                    dropout=dropout,
                    bn_momentum=bn_momentum,
                    fused=fused,
                    matmul_dtype=matmul_dtype,
                )
                for i in range(n_layers)
            )
        )
        self.projection = None if in_channels == filters else nn.Linear(in_channels, filters)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.layers(x))
        if self.projection is not None:
            x = self.projection(x)
        return x * gate


class TIMNet(nn.Module):
    """TIM-Net backbone and classification head.

    Input ``(batch, time, n_features)`` (channels last, as the features come out of the
    transformers). A forward chain reads the sequence as is, a backward chain reads it
    reversed in time; each starts with its own 1x1 convolution and stacks ``n_scales``
    temporal-aware blocks with dilations ``1, 2, 4, ..., 2 ** (n_scales - 1)``. For every
    scale the outputs of both chains are added and averaged over time; a learned weight per
    scale (no bias, no softmax) fuses the scale vectors, and a linear layer gives the
    class logits.

    Parameters
    ----------
    n_features : int
        Features per frame (24 for the paper's log-mel, 780 for key-point distances).
    n_classes : int or None
        Output logits; None builds the backbone without a head, whose ``forward`` then
        returns the fused ``(batch, filters)`` vector (one branch of a fusion model).
    filters : int, default=64
        Channels of every convolution (the paper: 64, or 32 for eyes ResNet).
    n_scales : int, default=7
        Number of temporal-aware blocks per direction. The paper picks ``n`` so that
        ``2 ** (n - 1)`` stays below the sequence length: 7 for 88 frames.
    n_layers : int, default=3
        Convolution layers per block: 3 in the paper, 2 in the original TIM-Net.
    kernel_size : int, default=2
        Only 2 is supported: every published TIM-Net uses it, and the fused kernel
        relies on it.
    dropout : float, default=0.1
        Spatial dropout rate in every layer.
    bn_momentum : float, default=0.01
        Batch-norm running-statistics momentum, PyTorch's convention (Keras' default 0.99
        of the reference is 0.01 here). skemotion's classifiers replace the running
        statistics by exact ones at the end of ``fit`` (``batchnorm_statistics="precise"``),
        so it only matters to a module trained by other code.
    fused : bool, default=True
        Fused CPU kernel for the causal layers (same numbers as the reference path).
    matmul_dtype : torch.dtype, str or None, default=None
        ``"bfloat16"`` runs the convolutions' matrix products in bfloat16 (several times
        faster on CPUs with AMX or AVX-512 BF16, slower on others); the weights, batch
        norm and its statistics, gating, pooling and the head stay in float32 (autocast
        with float32 master weights). It changes the numbers: logits within about 1e-3
        relative of float32's, gradients within 1 % overall (tested), and a different
        training trajectory; see docs/results.md for its accuracy on the real protocol.
        None keeps everything in the input's dtype.

    Examples
    --------
    >>> import torch
    >>> net = TIMNet(n_features=24, n_classes=8, filters=16, n_scales=3)
    >>> net(torch.randn(2, 88, 24)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        n_features: int = 24,
        n_classes: int | None = 8,
        *,
        filters: int = 64,
        n_scales: int = 7,
        n_layers: int = 3,
        kernel_size: int = 2,
        dropout: float = 0.1,
        bn_momentum: float = 0.01,
        fused: bool = True,
        matmul_dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(matmul_dtype, str):
            matmul_dtype = getattr(torch, matmul_dtype)
        if kernel_size != 2:
            raise ValueError(f"TIMNet supports kernel_size=2 only, got {kernel_size}.")
        if n_scales < 1 or n_layers < 1 or filters < 1:
            raise ValueError(
                f"n_scales, n_layers and filters must be >= 1, got {n_scales}, {n_layers}, "
                f"{filters}."
            )
        self.n_features = n_features
        self.n_classes = n_classes
        self.filters = filters
        self.n_scales = n_scales
        self.input_forward = nn.Linear(n_features, filters)
        self.input_backward = nn.Linear(n_features, filters)

        def chain() -> nn.ModuleList:
            return nn.ModuleList(
                TemporalAwareBlock(
                    filters,
                    filters,
                    dilation=2**j,
                    n_layers=n_layers,
                    dropout=dropout,
                    bn_momentum=bn_momentum,
                    fused=fused,
                    matmul_dtype=matmul_dtype,  # type: ignore[arg-type]
                )
                for j in range(n_scales)
            )

        self.forward_blocks = chain()
        self.backward_blocks = chain()
        # Keras' 'uniform' initializer of the reference WeightLayer: U(-0.05, 0.05).
        self.scale_weights = nn.Parameter(torch.empty(n_scales).uniform_(-0.05, 0.05))
        self.head = None if n_classes is None else nn.Linear(filters, n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Fused representation ``(batch, filters)`` before the classification head."""
        if x.dim() != 3:
            raise ValueError(
                f"TIMNet expects input of shape (batch, time, features), got {tuple(x.shape)}."
            )
        forward_stream = self.input_forward(x)
        backward_stream = self.input_backward(torch.flip(x, dims=(1,)))
        pooled = []
        for forward_block, backward_block in zip(
            self.forward_blocks, self.backward_blocks, strict=True
        ):
            forward_stream = forward_block(forward_stream)
            backward_stream = backward_block(backward_stream)
            # mean_t(fwd_j + bwd_j): the backward output is not re-reversed, as in the reference.
            pooled.append(forward_stream.mean(dim=1) + backward_stream.mean(dim=1))
        by_scale = torch.stack(pooled, dim=-1)  # (batch, filters, n_scales)
        return by_scale @ self.scale_weights

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(batch, n_classes)`` for input ``(batch, time, n_features)``.

        Without a head (``n_classes=None``): the fused vector ``(batch, filters)``.
        """
        fused = self.embed(x)
        return fused if self.head is None else self.head(fused)
