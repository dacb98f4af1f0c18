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
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import _cpu_kernels as _kernels
from ._data import ArrayBatchLoader
from ._timnet import TemporalAwareBlock, TIMNet, _CausalConvLayer

__all__ = ["StackedAdam", "StackedTIMNet", "fit_stacked", "stacking_unsupported_reason"]


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
            1e-3,  # the single layer's batch-norm eps (causal_conv_bn_relu's default)
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


class StackedAdam:
    """Adam over stacked parameters with each member's own step count and learning rate.

    The optimizer :func:`fit_stacked` trains a :class:`StackedTIMNet` with. The
    arithmetic is torch's single-tensor Adam's, element by element; the bias corrections
    and step sizes are computed per member in double precision, as torch computes them
    per tensor. Betas, eps and weight decay are the same for all members; ``lr`` may be
    replaced before any step (a schedule).

    Parameters
    ----------
    params : list of Tensor
        The stacked parameters, members along the first dimension.
    lr : sequence of float
        Each member's learning rate.
    betas : (float, float)
    eps : float
    weight_decay : float
        L2 penalty added to the gradients, as in :class:`torch.optim.Adam`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> param = torch.nn.Parameter(torch.ones(2, 3))
    >>> optimizer = StackedAdam([param], lr=[0.1, 0.0], betas=(0.9, 0.999), eps=1e-8,
    ...                         weight_decay=0.0)
    >>> param.sum().backward()
    >>> optimizer.step(np.array([True, True]))
    >>> [round(float(value), 3) for value in param.detach()[:, 0]]  # member 1 has lr 0
    [0.9, 1.0]
    """

    def __init__(
        self,
        params: list[Tensor],
        *,
        lr: Sequence[float],
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
    ) -> None:
        self.params = params
        self.lr = np.asarray(lr, dtype=np.float64)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = np.zeros(len(self.lr), dtype=np.int64)

    def zero_grad(self) -> None:
        """Forget the gradients of every member."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: np.ndarray) -> None:
        """One update of the members where ``active`` is True; the others do not move."""
        beta1, beta2 = self.betas
        self.steps[active] += 1
        members = np.flatnonzero(active)
        steps = self.steps[members].astype(np.float64)
        step_size = self.lr[members] / (1 - beta1**steps)
        bias_correction2_sqrt = np.sqrt(1 - beta2**steps)
        all_members = len(members) == len(active)
        index = torch.from_numpy(members)
        for param, exp_avg, exp_avg_sq in zip(
            self.params, self.exp_avg, self.exp_avg_sq, strict=True
        ):
            shape = (len(members),) + (1,) * (param.dim() - 1)
            neg_step = torch.from_numpy(-step_size).to(param.dtype).view(shape)
            correction = torch.from_numpy(bias_correction2_sqrt).to(param.dtype).view(shape)
            assert param.grad is not None
            if all_members:
                p, m, v, grad = param, exp_avg, exp_avg_sq, param.grad
            else:
                p, m, v = param[index], exp_avg[index], exp_avg_sq[index]
                grad = param.grad[index]
            if self.weight_decay != 0:
                grad = grad.add(p, alpha=self.weight_decay)
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (v.sqrt() / correction).add_(self.eps)
            p.addcdiv_(m * neg_step, denom)
            if not all_members:
                param.index_copy_(0, index, p)
                exp_avg.index_copy_(0, index, m)
                exp_avg_sq.index_copy_(0, index, v)

    def member_state(self, member: int) -> tuple[float, list[Tensor], list[Tensor]]:
        """Step count and moments of one member, for its own ``torch.optim.Adam``."""
        return (
            float(self.steps[member]),
            [m[member].clone() for m in self.exp_avg],
            [v[member].clone() for v in self.exp_avg_sq],
        )


_ALLOWED_CRITERION_PARAMS = {"label_smoothing"}
_ALLOWED_OPTIMIZER_PARAMS = {"lr", "betas", "eps", "weight_decay"}
_ALLOWED_ITERATOR_PARAMS = {"shuffle", "batch_size", "drop_last"}


def stacking_unsupported_reason(estimator: Any) -> str | None:
    """Why ``estimator`` cannot be trained by :func:`fit_stacked`, or None when it can.

    Stacked training covers :class:`~skemotion.nets.TIMNetClassifier` as configured by
    default or through its usual parameters (module shape, learning rate, epochs, batch
    size, label smoothing, Adam's betas, eps and weight decay, checkpoint rule, batch-norm
    statistics, matrix-product dtype): everything whose per-member behaviour it
    reproduces. Anything else (another criterion or optimiser, an internal validation
    split, user callbacks, warm start, a device other than the CPU) is trained alone.

    Parameters
    ----------
    estimator : object

    Returns
    -------
    reason : str or None
    """
    from ._classifier import TIMNetClassifier

    if type(estimator) is not TIMNetClassifier:
        return f"{type(estimator).__name__} is not a TIMNetClassifier"
    checks = [
        (estimator.module is TIMNet, "its module is not TIMNet"),
        (estimator.criterion is nn.CrossEntropyLoss, "its criterion is not CrossEntropyLoss"),
        (estimator.optimizer is torch.optim.Adam, "its optimizer is not Adam"),
        (estimator.iterator_train is ArrayBatchLoader, "its training iterator is not the default"),
        (estimator.batching == "mixed", "its batches hold one subject each"),
        (estimator.train_split is None, "it has an internal validation split"),
        (not estimator.warm_start, "it warm-starts"),
        (not estimator.callbacks, "it has user callbacks"),
        (str(estimator.device) == "cpu", "it does not run on the CPU"),
    ]
    for passed, reason in checks:
        if not passed:
            return reason
    params = estimator.get_params(deep=False)
    if any(key.startswith("callbacks__") for key in params):
        return "it sets callback parameters"
    for prefix, allowed in (
        ("criterion", _ALLOWED_CRITERION_PARAMS),
        ("optimizer", _ALLOWED_OPTIMIZER_PARAMS),
        ("iterator_train", _ALLOWED_ITERATOR_PARAMS),
    ):
        extra = set(estimator.get_params_for(prefix)) - allowed
        if extra:
            return f"it sets {prefix} parameters {sorted(extra)}"
    module_params = estimator.get_params_for("module")
    if module_params.get("n_classes", 1) is None:
        return "its module has no classification head"
    return None


@dataclass
class _Member:
    net: Any
    X: np.ndarray
    y: np.ndarray
    dataset: Any
    loader: ArrayBatchLoader
    generator: torch.Generator


def _prepare_member(net: Any, X: Any, y: Any) -> _Member:
    X_checked, y_encoded = net._prepare_fit(X, y, None)
    net._split_groups_ = None
    with net._seeded_random_state():
        net.initialize()
        # The member's stream continues where a single fit's would after initialisation:
        # its shuffling and dropout draw from here on.
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
    net.check_data(X_checked, y_encoded)
    net.check_training_readiness()
    dataset = net.get_dataset(X_checked, y_encoded)
    loader_params = net.get_params_for("iterator_train")
    batch_size = loader_params.pop("batch_size", net.batch_size)
    if batch_size == -1:
        batch_size = len(dataset)
    loader = ArrayBatchLoader(dataset, batch_size=batch_size, generator=generator, **loader_params)
    return _Member(net, X_checked, y_encoded, dataset, loader, generator)


def _common(values: list[Any], what: str) -> Any:
    if any(value != values[0] for value in values[1:]):
        raise ValueError(f"fit_stacked needs the same {what} for every estimator, got {values}.")
    return values[0]


def _stack_batches(
    batches: list[tuple[Tensor, Tensor] | None], *, n_frames: int, n_features: int
) -> tuple[Tensor, Tensor, _StepContext]:
    sizes = [0 if batch is None else len(batch[1]) for batch in batches]
    width = max(sizes)
    n_members = len(batches)
    ragged = any(size != width for size in sizes)
    if ragged:
        x = torch.zeros(n_members, width, n_frames, n_features)
        y = torch.zeros(n_members, width, dtype=torch.int64)
        for member, batch in enumerate(batches):
            if batch is not None:
                x[member, : sizes[member]] = batch[0]
                y[member, : sizes[member]] = batch[1]
    else:
        x = torch.stack([batch[0] for batch in batches if batch is not None])
        y = torch.stack([batch[1] for batch in batches if batch is not None])
    valid = torch.tensor(sizes, dtype=torch.int64)
    return x, y, _StepContext(sizes, [], valid, ragged)


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_stacked(
    estimators: Sequence[Any],
    X: Sequence[Any],
    y: Sequence[Any],
    *,
    n_threads: int | None = None,
    verbose: int = 0,
) -> list[Any]:
    """Fit several :class:`~skemotion.nets.TIMNetClassifier` at once, as one network.

    Estimator ``i`` is fitted on ``(X[i], y[i])`` and ends as if ``estimators[i].fit(X[i],
    y[i])`` had been called, up to floating-point rounding: same initial weights (from its
    ``random_state``), same shuffling and dropout draws, same batch-norm statistics per
    batch, same Adam updates, same epoch losses in its ``history_``, same
    lowest-training-loss checkpoint and precise batch-norm statistics. The difference is
    speed: one batched network steps all members together (see the module docstring).

    Rounding differs from a single fit (batched matrix products sum in another order),
    and over hundreds of steps such differences grow as they do between two machines: the
    fitted members agree with single fits to float tolerance after a few epochs, not bit
    for bit after a hundred.

    Parameters
    ----------
    estimators : sequence of TIMNetClassifier
        Unfitted or fitted (they are re-initialised) classifiers for which
        :func:`stacking_unsupported_reason` is None, with networks of the same shape and the
        same label smoothing, Adam betas, eps and weight decay. Learning rates, epochs,
        batch sizes and seeds may differ.
    X : sequence of array-like of shape (n_clips_i, n_frames, n_features)
        Training clips of each estimator; the same number of frames and features for all.
    y : sequence of array-like of shape (n_clips_i,)
        Labels of each estimator's clips.
    n_threads : int or None, default=None
        torch intra-op threads during the fit (restored afterwards); None keeps the
        current setting. Two threads need two idle cores: where other processes hold
        one, the threads wait for each other at every operation and one thread is faster.
    verbose : int, default=0
        1 shows a progress bar over the epochs on stderr.

    Returns
    -------
    estimators : list of TIMNetClassifier
        The same objects, fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.nets import TIMNetClassifier, fit_stacked
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 16, 6)).astype("float32")
    >>> y = np.where(X[:, :, 0].mean(axis=1) > 0, "angry", "calm")
    >>> nets = [TIMNetClassifier(max_epochs=3, module__filters=8, module__n_scales=2,
    ...                          random_state=seed) for seed in (0, 1, 2)]
    >>> fitted = fit_stacked(nets, [X[:30], X[10:], X], [y[:30], y[10:], y])
    >>> [net.predict(X[:2]).shape for net in fitted]
    [(2,), (2,), (2,)]
    """
    estimators = list(estimators)
    if not (len(estimators) == len(X) == len(y)) or not estimators:
        raise ValueError(
            "fit_stacked needs one X and one y per estimator and at least one estimator; got "
            f"{len(estimators)} estimators, {len(X)} X and {len(y)} y."
        )
    for index, estimator in enumerate(estimators):
        reason = stacking_unsupported_reason(estimator)
        if reason is not None:
            raise ValueError(f"estimator {index} cannot be stacked: {reason}.")
    label_smoothing = _common([e.label_smoothing for e in estimators], "label_smoothing")
    with _torch_threads(n_threads):
        members = [
            _prepare_member(net, X_i, y_i) for net, X_i, y_i in zip(estimators, X, y, strict=True)
        ]
        shapes = _common([m.X.shape[1:] for m in members], "frames and features per clip")
        groups = [net.optimizer_.param_groups for net in estimators]
        if any(len(group) != 1 for group in groups):
            raise ValueError("fit_stacked needs one optimizer parameter group per estimator.")
        settings = [group[0] for group in groups]
        betas = _common([tuple(s["betas"]) for s in settings], "Adam betas")
        eps = _common([s["eps"] for s in settings], "Adam eps")
        weight_decay = _common([s["weight_decay"] for s in settings], "weight decay")
        stacked = StackedTIMNet([net.module_ for net in estimators]).train()
        names = [name for name, _ in stacked.named_parameters()]
        optimizer = StackedAdam(
            [p for _, p in stacked.named_parameters()],
            lr=[s["lr"] for s in settings],
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
        )
        _train(
            members,
            stacked,
            optimizer,
            shapes=shapes,
            label_smoothing=label_smoothing,
            verbose=verbose,
        )
        for index, member in enumerate(members):
            _hand_over_optimizer_state(member.net, optimizer, names, index)
    return estimators


def _train(
    members: list[_Member],
    stacked: StackedTIMNet,
    optimizer: StackedAdam,
    *,
    shapes: tuple[int, ...],
    label_smoothing: float,
    verbose: int,
) -> None:
    n_frames, n_features = shapes
    generators = [member.generator for member in members]
    nets = [member.net for member in members]
    for member in members:
        member.net.notify("on_train_begin", X=member.X, y=member.y)
    epochs = range(max(net.max_epochs for net in nets))
    for epoch in tqdm(epochs, desc=f"{len(nets)} stacked networks", disable=verbose < 1):
        running = [epoch < net.max_epochs for net in nets]
        for member, runs in zip(members, running, strict=True):
            if runs:
                member.net.notify(
                    "on_epoch_begin", dataset_train=member.dataset, dataset_valid=None
                )
        iterators = [
            iter(member.loader) if runs else iter(())
            for member, runs in zip(members, running, strict=True)
        ]
        batch_counts = [0] * len(members)
        while True:
            batches = [next(iterator, None) for iterator in iterators]
            if all(batch is None for batch in batches):
                break
            for member, batch in zip(members, batches, strict=True):
                if batch is not None:
                    member.net.notify("on_batch_begin", batch=batch, training=True)
            # A learning-rate schedule callback has just set each member's rate.
            optimizer.lr = np.array([net.optimizer_.param_groups[0]["lr"] for net in nets])
            x, targets, context = _stack_batches(batches, n_frames=n_frames, n_features=n_features)
            context.generators = generators
            optimizer.zero_grad()
            logits = stacked(x, context)
            n_members, width, n_classes = logits.shape
            losses = F.cross_entropy(
                logits.reshape(-1, n_classes),
                targets.reshape(-1),
                reduction="none",
                label_smoothing=label_smoothing,
            ).view(n_members, width)
            if not context.ragged:
                member_losses = losses.mean(dim=1)
            else:
                real = torch.arange(width) < context.valid.unsqueeze(1)
                member_losses = (losses * real).sum(dim=1) / context.valid.clamp_min(1)
            member_losses.sum().backward()
            active = np.array([batch is not None for batch in batches])
            optimizer.step(active)
            detached = member_losses.detach()
            for index, (member, batch) in enumerate(zip(members, batches, strict=True)):
                if batch is None:
                    continue
                size = context.batch_sizes[index]
                net = member.net
                net.history.record_batch("train_loss", detached[index].item())
                net.history.record_batch("train_batch_size", size)
                net.notify(
                    "on_batch_end",
                    batch=batch,
                    training=True,
                    loss=detached[index],
                    y_pred=logits[index, :size].detach(),
                )
                batch_counts[index] += 1
        # The callbacks (checkpoint copies, precise statistics) read each member's module.
        stacked.copy_to_members([net.module_ for net in nets])
        for member, runs, count in zip(members, running, batch_counts, strict=True):
            if runs:
                member.net.history.record("train_batch_count", count)
                member.net.notify("on_epoch_end", dataset_train=member.dataset, dataset_valid=None)
    for member in members:
        member.net.notify("on_train_end", X=member.X, y=member.y)


def _hand_over_optimizer_state(
    net: Any, optimizer: StackedAdam, names: list[str], index: int
) -> None:
    """Give a member's own Adam the moments it accumulated, so ``partial_fit`` continues."""
    step, exp_avg, exp_avg_sq = optimizer.member_state(index)
    params = dict(net.module_.named_parameters())
    for name, m, v in zip(names, exp_avg, exp_avg_sq, strict=True):
        net.optimizer_.state[params[name]] = {
            "step": torch.tensor(step),
            "exp_avg": m,
            "exp_avg_sq": v,
        }
