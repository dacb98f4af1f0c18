"""Adam over the stacked parameters of :class:`~skemotion.nets.StackedTIMNet`, per member."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["StackedAdam"]


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
