"""Training several TIMNetClassifiers as one :class:`~skemotion.nets.StackedTIMNet`.

:func:`fit_stacked` prepares each estimator as its own fit would (initial weights,
shuffling and dropout generators, callbacks), steps the stacked network and
:class:`~skemotion.nets.StackedAdam` over every member's batches, and hands each
member's weights, history and optimizer state back; see :mod:`._stacked` for what
"exactly what it would get alone" means.
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

from ._data import ArrayBatchLoader
from ._stacked import StackedTIMNet, _StepContext
from ._stacked_adam import StackedAdam
from ._timnet import TIMNet

__all__ = ["fit_stacked", "stacking_unsupported_reason"]


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
