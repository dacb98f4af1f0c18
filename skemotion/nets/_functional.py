"""Fused causal convolution layer of TIM-Net's temporal-aware blocks.

One TIM-Net layer is ``Conv1d(kernel=2, dilation=d, causal) -> BatchNorm -> ReLU ->
SpatialDropout``. Written with stock modules, most of its training time on a CPU goes to
memory traffic between small element-wise kernels (slicing for the causal shift alone costs
a zero-fill and a copy per layer in the backward pass). This module computes the layer as
one matrix product over the channels-last ``(batch, time, channels)`` layout plus a handful
of passes, with a hand-written backward. :func:`causal_conv_bn_relu_reference` is the
same computation in plain autograd; the tests hold the two to each other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["BATCHNORM_EPS", "causal_conv_bn_relu", "causal_conv_bn_relu_reference"]

BATCHNORM_EPS = 1e-3
"""The causal layers' batch-norm eps: Keras' default, which the reference TIM-Net uses."""


def _causal_shift_add(
    z: Tensor, *, dilation: int, out_channels: int, out_dtype: torch.dtype
) -> Tensor:
    """``y[:, t] = z_now[:, t] + z_past[:, t - dilation]`` with zeros before the start.

    ``z`` is ``(batch, time, 2 * out_channels)``: the first half is the kernel tap applied
    to ``x[t - dilation]``, the second half the tap applied to ``x[t]``.
    """
    n_frames = z.shape[1]
    past, now = z[..., :out_channels], z[..., out_channels:]
    y = torch.empty(z.shape[0], n_frames, out_channels, dtype=out_dtype, device=z.device)
    if dilation >= n_frames:
        y.copy_(now)
        return y
    y[:, :dilation].copy_(now[:, :dilation])
    torch.add(now[:, dilation:], past[:, : n_frames - dilation], out=y[:, dilation:])
    return y


def _causal_shift_add_backward(grad_y: Tensor, *, dilation: int, dtype: torch.dtype) -> Tensor:
    """Gradient of :func:`_causal_shift_add` with respect to ``z``, in ``dtype``.

    ``grad_y`` is ``(batch, time, out_channels)``; the result ``(batch, time,
    2 * out_channels)`` holds ``grad_y`` shifted back by ``dilation`` (zeros at the end) for
    the past tap and ``grad_y`` itself for the present one.
    """
    batch, n_frames, out_channels = grad_y.shape
    grad_z = torch.empty(batch, n_frames, 2 * out_channels, dtype=dtype, device=grad_y.device)
    grad_z[..., out_channels:].copy_(grad_y)
    if dilation < n_frames:
        grad_z[:, : n_frames - dilation, :out_channels].copy_(grad_y[:, dilation:])
        grad_z[:, n_frames - dilation :, :out_channels].zero_()
    else:
        grad_z[..., :out_channels].zero_()
    return grad_z


class _Saved(NamedTuple):
    """What the forward of :class:`_CausalConvBNReLU` keeps for its backward, in order."""

    x_mm: Tensor
    weight_mm: Tensor
    y: Tensor
    out: Tensor
    gamma: Tensor
    running_mean: Tensor
    running_var: Tensor
    save_mean: Tensor
    save_invstd: Tensor
    drop_mask: Tensor | None


class _CausalConvBNReLU(torch.autograd.Function):
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
        dilation: int,
        training: bool,
        momentum: float,
        eps: float,
        matmul_dtype: torch.dtype | None,
    ) -> Tensor:
        batch, n_frames, in_channels = x.shape
        out_channels = gamma.shape[0]
        n_values = batch * n_frames
        # Only the matrix products run in matmul_dtype (bfloat16 uses the CPU's AMX / AVX-512
        # BF16 units); batch norm and everything after it stay in x's dtype.
        x_mm = x.reshape(n_values, in_channels).to(matmul_dtype or x.dtype)
        weight_mm = weight.to(x_mm.dtype)
        z = torch.mm(x_mm, weight_mm).view(batch, n_frames, -1)
        y = _causal_shift_add(z, dilation=dilation, out_channels=out_channels, out_dtype=x.dtype)
        y_flat = y.view(n_values, out_channels)
        # A single value per channel has no batch statistics (batch size 1 with one frame);
        # the running statistics stand in so that such a step does not raise.
        batch_stats = training and n_values > 1
        out, save_mean, save_invstd = torch.native_batch_norm(
            y_flat, gamma, beta, running_mean, running_var, batch_stats, momentum, eps
        )
        out = out.view(batch, n_frames, out_channels)
        out.clamp_min_(0)
        if drop_mask is not None:
            out.mul_(drop_mask)
        ctx.save_for_backward(
            *_Saved(
                x_mm,
                weight_mm,
                y,
                out,
                gamma,
                running_mean,
                running_var,
                save_mean,
                save_invstd,
                drop_mask,
            )
        )
        ctx.dilation = dilation
        ctx.batch_stats = batch_stats
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        saved = _Saved(*ctx.saved_tensors)
        batch, n_frames, out_channels = saved.y.shape
        in_channels = saved.x_mm.shape[1]
        n_values = batch * n_frames

        # out > 0 exactly where the ReLU passed and the channel was kept.
        grad_pre = torch.ops.aten.threshold_backward(grad_out, saved.out, 0)
        if saved.drop_mask is not None:
            grad_pre.mul_(saved.drop_mask)
        grad_y, grad_gamma, grad_beta = torch.ops.aten.native_batch_norm_backward(
            grad_pre.view(n_values, out_channels),
            saved.y.view(n_values, out_channels),
            saved.gamma,
            saved.running_mean,
            saved.running_var,
            saved.save_mean,
            saved.save_invstd,
            ctx.batch_stats,
            ctx.eps,
            [True, True, True],
        )
        grad_y = grad_y.view(batch, n_frames, out_channels)

        grad_z = _causal_shift_add_backward(grad_y, dilation=ctx.dilation, dtype=saved.x_mm.dtype)
        grad_z_flat = grad_z.view(n_values, 2 * out_channels)
        grad_x = torch.mm(grad_z_flat, saved.weight_mm.t()).view(batch, n_frames, in_channels)
        grad_weight = torch.mm(saved.x_mm.t(), grad_z_flat)
        dtype = saved.y.dtype
        return (grad_x.to(dtype), grad_weight.to(dtype), grad_gamma, grad_beta) + (None,) * 8


def causal_conv_bn_relu(
    x: Tensor,
    *,
    weight: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    dilation: int,
    training: bool,
    momentum: float = 0.01,
    eps: float = BATCHNORM_EPS,
    drop_mask: Tensor | None = None,
    matmul_dtype: torch.dtype | None = None,
) -> Tensor:
    """Causal dilated convolution (kernel 2), batch norm, ReLU and channel dropout.

    Parameters
    ----------
    x : Tensor of shape (batch, time, in_channels)
        Channels-last input.
    weight : Tensor of shape (in_channels, 2 * out_channels)
        Both kernel taps side by side: columns ``[:out_channels]`` weigh ``x[t - dilation]``,
        columns ``[out_channels:]`` weigh ``x[t]``. No bias: the batch norm that follows
        removes any constant per channel.
    gamma, beta : Tensor of shape (out_channels,)
        Batch-norm scale and offset.
    running_mean, running_var : Tensor of shape (out_channels,)
        Batch-norm running statistics, updated in place when ``training``.
    dilation : int
        Distance in frames between the two kernel taps.
    training : bool
        Batch statistics (and running-statistics update) when True, running statistics
        otherwise.
    momentum, eps : float
        Batch-norm constants (Keras' defaults 0.99 / 1e-3 expressed the PyTorch way).
    drop_mask : Tensor of shape (batch, 1, out_channels), optional
        Already scaled channel-dropout mask (``0`` or ``1 / (1 - p)``).
    matmul_dtype : torch.dtype, optional
        Data type of the two matrix products (forward and backward), e.g.
        ``torch.bfloat16``; None computes them in ``x``'s dtype.

    Returns
    -------
    Tensor of shape (batch, time, out_channels)
    """
    return _CausalConvBNReLU.apply(
        x.contiguous(),
        weight,
        gamma,
        beta,
        running_mean,
        running_var,
        drop_mask,
        dilation,
        training,
        momentum,
        eps,
        matmul_dtype,
    )


def causal_conv_bn_relu_reference(
    x: Tensor,
    *,
    weight: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    dilation: int,
    training: bool,
    momentum: float = 0.01,
    eps: float = BATCHNORM_EPS,
    drop_mask: Tensor | None = None,
    matmul_dtype: torch.dtype | None = None,
) -> Tensor:
    """Plain-autograd twin of :func:`causal_conv_bn_relu` (same arguments, same result)."""
    out_channels = gamma.shape[0]
    mm_dtype = matmul_dtype or x.dtype
    w_past, w_now = (w.to(mm_dtype) for w in (weight[:, :out_channels], weight[:, out_channels:]))
    x_mm = x.to(mm_dtype)
    x_past = torch.nn.functional.pad(x_mm, (0, 0, dilation, 0))[:, : x.shape[1]]
    y = (x_mm @ w_now).to(x.dtype) + (x_past @ w_past).to(x.dtype)
    n_values = y.shape[0] * y.shape[1]
    y = torch.nn.functional.batch_norm(
        y.reshape(n_values, out_channels),
        running_mean,
        running_var,
        gamma,
        beta,
        training=training and n_values > 1,
        momentum=momentum,
        eps=eps,
    ).view_as(y)
    y = torch.relu(y)
    if drop_mask is not None:
        y = y * drop_mask
    return y
