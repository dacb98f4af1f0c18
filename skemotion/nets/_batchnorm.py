"""Exact batch-norm statistics over the training data ("precise BN", Wu & Johnson 2021).

Running statistics updated with a small momentum (0.01, Keras' 0.99) still hold mostly
their initial values after a few hundred optimiser steps, and those are what evaluation
uses. Recomputing them once, over the whole training set and for the weights actually
kept, makes a network's predictions independent of how many steps it took.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import Tensor, nn

from ._timnet import _CausalConvLayer

__all__ = [
    "PreciseBatchNorm",
    "batchnorm_statistics",
    "recompute_batchnorm_statistics",
    "using_batchnorm_statistics",
]


def _statistics(layer: nn.Module) -> tuple[Tensor, Tensor]:
    return layer.get_buffer("running_mean"), layer.get_buffer("running_var")


def _momentum_name(module: nn.Module) -> str | None:
    """Attribute holding a batch-norm layer's momentum, or None for other modules."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "momentum" if module.track_running_stats else None
    if isinstance(module, _CausalConvLayer):
        return "bn_momentum"
    return None


def recompute_batchnorm_statistics(
    module: nn.Module,
    batches: Iterable[Any],
    *,
    forward: Callable[[Any], Any],
) -> int:
    """Replace running batch-norm statistics by those of the whole data, in place.

    Every batch-norm layer that trains in ``module.train()`` mode (a frozen backbone that
    stays in ``eval`` mode keeps its own statistics) gets the mean and variance of its
    input over all values of all ``batches``: each batch is normalised with its own
    statistics, as in training, and the per-batch means and variances are pooled exactly
    (law of total variance). Every other layer runs in evaluation mode (no dropout, which
    changes the variance of what follows it), so the statistics describe the activations
    evaluation will see.

    Parameters
    ----------
    module : torch.nn.Module
        Network whose ``nn.BatchNorm*`` layers and TIM-Net causal layers are updated.
    batches : iterable
        Inputs of ``forward``, typically the training data in batches.
    forward : callable
        ``forward(batch)`` runs ``module`` on one batch (e.g. skorch's ``net.infer``).

    Returns
    -------
    n_layers : int
        Number of batch-norm layers whose statistics were recomputed (0 when no batch
        gave any layer more than one value per channel; the old statistics then stay).
    """
    was_training = module.training
    module.train()
    layers = {
        layer: name
        for layer in module.modules()
        if layer.training and (name := _momentum_name(layer)) is not None
    }
    # Everything else runs as at evaluation (dropout, modality dropout, a backbone's time
    # masking), so the statistics describe the activations evaluation will see.
    module.eval()
    for layer in layers:
        layer.train()
    saved: dict[nn.Module, tuple[float, float]] = {
        layer: (getattr(layer, name), getattr(layer, "dropout", 0.0))
        for layer, name in layers.items()
    }
    # The pass overwrites the buffers batch by batch; kept to put back where it fails or
    # where no batch had statistics.
    original = {layer: tuple(stat.clone() for stat in _statistics(layer)) for layer in layers}
    sums: dict[nn.Module, list[Any]] = {layer: [0, 0.0, 0.0] for layer in layers}
    batch_counts: dict[nn.Module, int] = {}

    def count_values(layer: nn.Module, _inputs: Any, output: Tensor) -> None:
        batch_counts[layer] = output.numel() // _statistics(layer)[0].numel()

    hooks = [layer.register_forward_hook(count_values) for layer in layers]
    try:
        for layer, name in layers.items():
            # Momentum 1 leaves exactly the last batch's statistics in the buffers.
            setattr(layer, name, 1.0)
            if isinstance(layer, _CausalConvLayer):
                layer.dropout = 0.0
        with torch.no_grad():
            for batch in batches:
                batch_counts.clear()
                forward(batch)
                for layer in layers:
                    n_values = batch_counts.get(layer, 0)
                    if n_values < 2:  # no batch statistics: the buffers were not updated
                        continue
                    batch_mean, batch_var = (stat.double() for stat in _statistics(layer))
                    # The buffers hold the unbiased variance; pool the biased ones.
                    var = batch_var * (n_values - 1) / n_values
                    total = sums[layer]
                    total[0] += n_values
                    total[1] = total[1] + n_values * batch_mean
                    total[2] = total[2] + n_values * (var + batch_mean**2)
    except BaseException:
        sums = {layer: [0, 0.0, 0.0] for layer in layers}
        raise
    finally:
        for hook in hooks:
            hook.remove()
        for layer, (momentum, dropout_rate) in saved.items():
            setattr(layer, layers[layer], momentum)
            if isinstance(layer, _CausalConvLayer):
                layer.dropout = dropout_rate
        module.train(was_training)
        _store_statistics(layers, sums, original)
    return sum(1 for n_values, _, _ in sums.values() if n_values >= 2)


def _store_statistics(
    layers: Iterable[nn.Module],
    sums: dict[nn.Module, list[Any]],
    original: dict[nn.Module, tuple[Tensor, ...]],
) -> None:
    """Pooled statistics where the pass gave some, the original buffers elsewhere."""
    for layer in layers:
        running_mean, running_var = _statistics(layer)
        n_values, value_sum, square_sum = sums[layer]
        if n_values < 2:
            mean, var = original[layer]
        else:
            mean = value_sum / n_values
            var = (square_sum / n_values - mean**2).clamp_min(0) * n_values / (n_values - 1)
        running_mean.copy_(mean.to(running_mean.dtype))
        running_var.copy_(var.to(running_var.dtype))


class PreciseBatchNorm(Callback):
    """Recompute batch-norm statistics over the training data at the end of ``fit``.

    Runs after the checkpoint callback has restored the kept weights, so the statistics
    are those of the kept weights, computed on the data ``fit`` received (the training
    fold only: the test fold is never seen). Costs one forward pass over that data.
    skemotion's classifiers add it as ``callbacks__precise_bn`` when
    ``batchnorm_statistics="precise"``.
    """

    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        if X is None:
            return
        dataset = net.get_dataset(X, y)
        batches = (inputs for inputs, _ in net.get_iterator(dataset, training=False))
        recompute_batchnorm_statistics(net.module_, batches, forward=net.infer)


def _statistics_names(module: nn.Module) -> list[str]:
    """State-dict names of the running statistics of the layers that train them."""
    was_training = module.training
    module.train()
    try:
        return [
            f"{name}.{buffer}"
            for name, layer in module.named_modules()
            if layer.training and _momentum_name(layer) is not None
            for buffer in ("running_mean", "running_var")
        ]
    finally:
        module.train(was_training)


def batchnorm_statistics(net: Any, X: Any) -> dict[str, np.ndarray]:
    """The batch-norm statistics a fitted skemotion network would have on ``X`` alone.

    Computed as :class:`PreciseBatchNorm` computes them at the end of ``fit``, on a copy:
    ``net`` is left as it is. With the clips of one subject, these are that subject's
    statistics ("AdaBN", Li et al. 2018): the network then normalises every layer by the
    subject, not only its input.

    Parameters
    ----------
    net : TIMNetClassifier or subclass
        Fitted.
    X : array-like or dict of array-like
        Features as ``net.predict`` takes them.

    Returns
    -------
    dict of str to ndarray
        The running mean and variance of every batch-norm layer, by state-dict name.
    """
    module = copy.deepcopy(net.module_)
    X = net._validate_X(X, reset=False)
    dataset = net.get_dataset(X)

    def forward(inputs: Any) -> Any:
        return module(**inputs) if isinstance(inputs, Mapping) else module(inputs)

    batches = (
        {k: v.to(net.device) for k, v in inputs.items()}
        if isinstance(inputs, Mapping)
        else inputs.to(net.device)
        for inputs, _ in net.get_iterator(dataset, training=False)
    )
    recompute_batchnorm_statistics(module, batches, forward=forward)
    state = module.state_dict()
    return {name: state[name].detach().cpu().numpy() for name in _statistics_names(module)}


@contextmanager
def using_batchnorm_statistics(net: Any, statistics: Mapping[str, Any]) -> Iterator[Any]:
    """Within the block, ``net`` predicts with the given batch-norm statistics.

    Parameters
    ----------
    net : TIMNetClassifier or subclass
        Fitted.
    statistics : mapping of str to array
        As :func:`batchnorm_statistics` returns them.

    Yields
    ------
    net
        The same network; its own statistics are put back on leaving the block, whatever
        happens inside.
    """
    state = net.module_.state_dict()
    unknown = sorted(set(statistics) - set(_statistics_names(net.module_)))
    if unknown:
        raise ValueError(f"Not batch-norm statistics of this network: {unknown[:3]}.")
    saved = {name: state[name].clone() for name in statistics}
    try:
        with torch.no_grad():
            for name, value in statistics.items():
                state[name].copy_(torch.as_tensor(np.asarray(value)))
        yield net
    finally:
        with torch.no_grad():
            for name, value in saved.items():
                state[name].copy_(value)
