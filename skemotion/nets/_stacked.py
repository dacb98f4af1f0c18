"""Several TIM-Nets of the same shape trained at once, as one network with a member axis.

The five folds of a cross-validation (or the seeds of an ensemble, or the points of a grid
over non-shape parameters) train networks that are independent and identical in shape.
Trained one after the other, each step of each network pays the same per-operation
overhead on small tensors. Here the ``M`` networks become one module whose every
parameter has a leading member axis: one batched matrix product per layer for all
members (``torch.bmm``) and one fused element-wise kernel per stage
(:mod:`._cpu_kernels`), over ``M`` times more data. On the development machine the
element-wise work is memory-bound, and ``M`` members' activations leave the L2 cache:
stacking pays with the fused kernels (fewer passes), not with torch operations; see
docs/benchmarks.md.

Each member gets exactly what it would get alone, up to floating-point rounding:

* the same initial weights, shuffling permutations and dropout masks, drawn from a
  generator of its own that continues the stream a single fit seeded with the member's
  ``random_state`` would use;
* batch-norm statistics over its own batch only (members whose training sets differ in
  size are padded with rows that carry no weight, in the statistics and in the loss);
* its own Adam moments, step count and bias correction (Adam is element-wise, so one
  optimiser over the stacked parameters is ``M`` optimisers); a member whose epoch has
  run out of batches does not step;
* its own skorch life cycle: every member is a real :class:`TIMNetClassifier` whose
  callbacks (history, lowest-training-loss checkpoint, precise batch-norm statistics)
  run as in a single fit.

The gradient of the summed member losses with respect to member ``m``'s slice is member
``m``'s own gradient, since no parameter is shared.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import _cpu_kernels as _kernels
from ._functional import BATCHNORM_EPS
from ._timnet import TemporalAwareBlock, TIMNet, _CausalConvLayer

__all__ = ["StackedTIMNet"]


@dataclass
class _StepContext:
    """What every stacked layer needs to know about the current step's batches."""

    batch_sizes: list[int]
    generators: Sequence[torch.Generator | None]
    # (M,) int64: real rows of each member's batch; the rows after them are padding.
    valid: Tensor
    # Whether some member's batch is shorter than the widest (padding present).
    ragged: bool = False


class _StackedCausalConvBNReLU(torch.autograd.Function):
    """:func:`~skemotion.nets.causal_conv_bn_relu` for ``M`` members at once.

    One batched matrix product, then the fused kernels of :mod:`._cpu_kernels` (or their
    torch-operation twins): batch norm per member and channel over the member's real rows
    only, so that padded rows are left out of the statistics. Its backward is the usual
    one written as ``grad_y = g * scale + (y - mean) * slope + offset`` with per-channel
    ``slope`` and ``offset``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        gamma: Tensor,
        beta: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
        drop_mask: Tensor | None,
        valid: Tensor,
        dilation: int,
        training: bool,
        momentum: float,
        eps: float,
        matmul_dtype: torch.dtype | None,
    ) -> Tensor:
        n_members, batch, n_frames, in_channels = x.shape
        x_mm = x.reshape(n_members, batch * n_frames, in_channels).to(matmul_dtype or x.dtype)
        weight_mm = weight.to(x_mm.dtype)
        z = torch.bmm(x_mm, weight_mm).view(n_members * batch, n_frames, -1)
        y, sums, squares = _kernels.shift_add_stats(z, valid, members=n_members, dilation=dilation)
        count = (valid * n_frames).to(torch.float64).unsqueeze(1)
        # As in the single path, one value per channel has no batch statistics: such a
        # member (and every member outside training) normalises with running statistics.
        batch_stats = (
            (count >= 2).to(x.dtype) if training else torch.zeros_like(count, dtype=x.dtype)
        )
        mean, var = running_mean.clone(), running_var.clone()
        if training:
            batch_mean = sums / count.clamp_min(1)
            batch_var = (squares / count.clamp_min(1) - batch_mean.square()).clamp_min(0)
            with torch.no_grad():
                unbiased = (batch_var * count / (count - 1).clamp_min(1)).to(x.dtype)
                weight_new = momentum * batch_stats
                running_mean.lerp_(batch_mean.to(x.dtype), weight_new)
                running_var.lerp_(unbiased, weight_new)
            use_batch = batch_stats > 0
            mean = torch.where(use_batch, batch_mean.to(x.dtype), mean)
            var = torch.where(use_batch, batch_var.to(x.dtype), var)
        invstd = (var + eps).rsqrt()
        scale = gamma * invstd
        mask = None if drop_mask is None else drop_mask.view(n_members * batch, -1)
        out = _kernels.bn_apply(y, mean, scale, beta.contiguous(), mask, members=n_members)
        ctx.save_for_backward(x_mm, weight_mm, y, out, mean, scale, invstd, mask, valid)
        ctx.batch_stats = batch_stats
        ctx.count = count
        ctx.dilation = dilation
        return out.view(n_members, batch, n_frames, -1)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x_mm, weight_mm, y, out, mean, scale, invstd, mask, valid = ctx.saved_tensors
        n_members, _, in_channels = x_mm.shape
        grad_out = grad_out.reshape(y.shape).contiguous()
        grad_sum, grad_cross = _kernels.bn_backward_reduce(
            grad_out, out, y, mean, mask, valid, members=n_members
        )
        grad_beta = grad_sum.to(y.dtype)
        grad_gamma = (invstd * grad_cross).to(y.dtype)
        # The batch mean's and variance's share of the gradient, absent for members that
        # normalised with running statistics.
        count = ctx.count.to(y.dtype).clamp_min(1)
        slope = -scale * invstd * grad_gamma / count * ctx.batch_stats
        offset = -scale * grad_beta / count * ctx.batch_stats
        grad_z = _kernels.bn_backward_apply(
            grad_out,
            out,
            y,
            mean,
            scale,
            slope,
            offset,
            mask,
            valid,
            members=n_members,
            dilation=ctx.dilation,
            dtype=x_mm.dtype,
        ).view(n_members, x_mm.shape[1], -1)
        grad_x = torch.bmm(grad_z, weight_mm.transpose(1, 2))
        grad_weight = torch.bmm(x_mm.transpose(1, 2), grad_z)
        grad_x = grad_x.view(n_members, -1, y.shape[1], in_channels).to(y.dtype)
        return (grad_x, grad_weight.to(y.dtype), grad_gamma, grad_beta) + (None,) * 9


class _StackedLinear(nn.Module):
    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        # nn.Linear's names and layout, with the member axis first.
        self.weight = nn.Parameter(torch.empty(n_members, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_members, out_features))

    def forward(self, x: Tensor) -> Tensor:
        """``(M, ..., in)`` to ``(M, ..., out)``."""
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        out = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight.transpose(1, 2))
        return out.view(*x.shape[:-1], -1)


class _StackedCausalLayer(nn.Module):
    def __init__(self, n_members: int, template: _CausalConvLayer) -> None:
        super().__init__()
        in_channels, double_out = template.weight.shape
        out_channels = double_out // 2
        self.dilation = template.dilation
        self.dropout = template.dropout
        self.bn_momentum = template.bn_momentum
        self.matmul_dtype = template.matmul_dtype
        self.weight = nn.Parameter(torch.empty(n_members, in_channels, double_out))
        self.gamma = nn.Parameter(torch.empty(n_members, out_channels))
        self.beta = nn.Parameter(torch.empty(n_members, out_channels))
        self.register_buffer("running_mean", torch.zeros(n_members, out_channels))
        self.register_buffer("running_var", torch.ones(n_members, out_channels))

    def forward(self, x: Tensor, context: _StepContext) -> Tensor:
        drop_mask = None
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            n_members, batch = x.shape[:2]
            drop_mask = x.new_zeros(n_members, batch, 1, self.gamma.shape[1])
            # Member by member from its own generator, in the order a single network draws
            # (this layer after the previous one): the masks it would get alone.
            for member, (size, generator) in enumerate(
                zip(context.batch_sizes, context.generators, strict=True)
            ):
                if size:
                    drop_mask[member, :size].bernoulli_(keep, generator=generator)
            drop_mask.div_(keep)
        return _StackedCausalConvBNReLU.apply(
            x.contiguous(),
            self.weight,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            drop_mask,
            context.valid,
            self.dilation,
            self.training,
            self.bn_momentum,
            BATCHNORM_EPS,
            self.matmul_dtype,
        )


class _StackedBlock(nn.Module):
    def __init__(self, n_members: int, template: TemporalAwareBlock) -> None:
        super().__init__()
        if template.projection is not None:
            raise ValueError("StackedTIMNet supports blocks without an input projection only.")
        self.layers = nn.ModuleList(
            _StackedCausalLayer(n_members, layer)
            for layer in template.layers
            if isinstance(layer, _CausalConvLayer)
        )

    def forward(self, x: Tensor, context: _StepContext) -> Tensor:
        branch = x
        for layer in self.layers:
            branch = layer(branch, context)
        return x * torch.sigmoid(branch)


def _shape_signature(net: TIMNet) -> tuple[Any, ...]:
    layers = [
        (tuple(layer.weight.shape), layer.dilation, layer.dropout, layer.bn_momentum)
        for layer in net.modules()
        if isinstance(layer, _CausalConvLayer)
    ]
    dtypes = {layer.matmul_dtype for layer in net.modules() if isinstance(layer, _CausalConvLayer)}
    return (net.n_features, net.n_classes, net.filters, net.n_scales, tuple(layers), *dtypes)


class StackedTIMNet(nn.Module):
    """``M`` TIM-Nets of the same shape as one module with a leading member axis.

    Its state dict has the keys of a :class:`TIMNet`'s, each tensor with a leading axis of
    length ``M``: member ``m``'s network is the ``m``-th slice of every entry.

    Parameters
    ----------
    members : sequence of TIMNet
        Networks of identical shape (features, classes, filters, scales, layers, dropout,
        batch-norm momentum, matrix-product dtype) with a classification head. Their
        weights are copied in.

    Examples
    --------
    >>> import torch
    >>> nets = [TIMNet(n_features=6, n_classes=3, filters=8, n_scales=2) for _ in range(4)]
    >>> stacked = StackedTIMNet(nets).eval()
    >>> stacked(torch.randn(4, 5, 12, 6)).shape
    torch.Size([4, 5, 3])
    """

    def __init__(self, members: Sequence[TIMNet]) -> None:
        super().__init__()
        if not members or not all(type(net) is TIMNet for net in members):
            raise TypeError("StackedTIMNet takes a non-empty sequence of TIMNet modules.")
        template = members[0]
        signature = _shape_signature(template)
        if any(_shape_signature(net) != signature for net in members[1:]):
            raise ValueError("StackedTIMNet needs members of identical shape and settings.")
        if template.head is None or template.n_classes is None:
            raise ValueError("StackedTIMNet needs members with a classification head.")
        n_members = len(members)
        self.n_members = n_members
        self.input_forward = _StackedLinear(n_members, template.n_features, template.filters)
        self.input_backward = _StackedLinear(n_members, template.n_features, template.filters)
        self.forward_blocks = nn.ModuleList(
            _StackedBlock(n_members, block)
            for block in template.forward_blocks
            if isinstance(block, TemporalAwareBlock)
        )
        self.backward_blocks = nn.ModuleList(
            _StackedBlock(n_members, block)
            for block in template.backward_blocks
            if isinstance(block, TemporalAwareBlock)
        )
        self.scale_weights = nn.Parameter(torch.empty(n_members, template.n_scales))
        self.head = _StackedLinear(n_members, template.filters, template.n_classes)
        if set(self.state_dict()) != set(template.state_dict()):
            raise ValueError("StackedTIMNet does not mirror this TIMNet's structure.")
        self.load_members(members)

    def _pairs(self, members: Sequence[nn.Module]) -> Iterator[tuple[Tensor, list[Tensor]]]:
        member_states = [net.state_dict(keep_vars=True) for net in members]
        for name, stacked in self.state_dict(keep_vars=True).items():
            yield stacked, [state[name] for state in member_states]

    @torch.no_grad()
    def load_members(self, members: Sequence[TIMNet]) -> None:
        """Copy the members' weights and statistics into the stack."""
        if len(members) != self.n_members:
            raise ValueError(f"Expected {self.n_members} members, got {len(members)}.")
        for stacked, tensors in self._pairs(members):
            stacked.copy_(torch.stack([t.detach() for t in tensors]))

    @torch.no_grad()
    def copy_to_members(self, members: Sequence[TIMNet]) -> None:
        """Copy each member's slice of the stack into its own network, in place."""
        if len(members) != self.n_members:
            raise ValueError(f"Expected {self.n_members} members, got {len(members)}.")
        for stacked, tensors in self._pairs(members):
            for index, tensor in enumerate(tensors):
                tensor.copy_(stacked[index])

    def forward(self, x: Tensor, context: _StepContext | None = None) -> Tensor:
        """Logits ``(M, batch, n_classes)`` of input ``(M, batch, time, n_features)``.

        ``context`` gives each member's real batch size and dropout generator (the
        training loop of :func:`fit_stacked` builds it); None means full batches and
        torch's global generator.
        """
        if x.dim() != 4 or x.shape[0] != self.n_members:
            raise ValueError(
                f"StackedTIMNet expects input (members={self.n_members}, batch, time, "
                f"features), got {tuple(x.shape)}."
            )
        if context is None:
            n_members, batch = x.shape[:2]
            context = _StepContext(
                batch_sizes=[batch] * n_members,
                generators=[None] * n_members,
                valid=torch.full((n_members,), batch, dtype=torch.int64),
            )
        forward_stream = self.input_forward(x)
        backward_stream = self.input_backward(torch.flip(x, dims=(2,)))
        pooled = []
        for forward_block, backward_block in zip(
            self.forward_blocks, self.backward_blocks, strict=True
        ):
            forward_stream = forward_block(forward_stream, context)
            backward_stream = backward_block(backward_stream, context)
            pooled.append(forward_stream.mean(dim=2) + backward_stream.mean(dim=2))
        by_scale = torch.stack(pooled, dim=-1)  # (M, batch, filters, n_scales)
        fused = (by_scale @ self.scale_weights[:, None, :, None]).squeeze(-1)
        return self.head(fused)
