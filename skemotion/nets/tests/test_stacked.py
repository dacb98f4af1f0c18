"""Stacked training of several TIM-Nets: equal to training each one alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from skorch.callbacks import EpochScoring
from torch import Tensor

from skemotion.model_selection import evaluate_actor_cv, evaluate_actor_cv_many
from skemotion.nets import (
    GroupedValidSplit,
    StackedAdam,
    StackedTIMNet,
    TIMNet,
    TIMNetBinaryClassifier,
    TIMNetClassifier,
    fit_stacked,
    stacking_unsupported_reason,
)
from skemotion.nets._stacked import _StepContext
from skemotion.preprocessing import TemporalStandardScaler

SMALL: dict[str, Any] = {"module__filters": 8, "module__n_scales": 3, "batch_size": 16}


def _toy(n_clips: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_clips, 12, 4)).astype(np.float32)
    y = np.array(["a", "b", "c"])[np.arange(n_clips) % 3]
    X[y == "a", :, 0] += 1.0
    X[y == "b", 6:, 1] -= 1.0
    return X, y, np.arange(n_clips) % 6


def _assert_same_fit(single: TIMNetClassifier, stacked: TIMNetClassifier, X: np.ndarray) -> None:
    """Same epoch losses, checkpoints and predictions, to float tolerance.

    Weights are not compared one by one: Adam divides by the root of the squared
    gradients' average, so a parameter whose gradient is rounding noise (batch norm makes
    some directions nearly flat) moves by noise-sized steps of the learning rate's size in
    both paths, differently, without changing what the network computes.
    """
    np.testing.assert_allclose(
        single.history[:, "train_loss"], stacked.history[:, "train_loss"], rtol=1e-5, atol=1e-6
    )
    if single.checkpoint_monitor is not None:
        assert single.history[:, "checkpoint"] == stacked.history[:, "checkpoint"]
    assert single.history[:, "train_batch_count"] == stacked.history[:, "train_batch_count"]
    np.testing.assert_allclose(stacked.predict_proba(X), single.predict_proba(X), atol=1e-3)
    np.testing.assert_array_equal(stacked.predict(X), single.predict(X))


def _scaled_timnet(max_epochs: int, random_state: int) -> Pipeline:
    """A temporal scaler and a small TIM-Net, as the actor-CV tests evaluate."""
    return make_pipeline(
        TemporalStandardScaler(),
        TIMNetClassifier(max_epochs=max_epochs, lr=1e-2, random_state=random_state, **SMALL),
    )


# Different seeds, learning rates, epochs and batch sizes; training sets of different
# sizes, so that members run out of batches at different steps and their last batches
# are ragged.
MEMBERS = [
    ({"random_state": 0, "lr": 1e-2, "max_epochs": 5}, slice(0, 60)),
    ({"random_state": 0, "lr": 1e-2, "max_epochs": 5}, slice(10, 90)),
    ({"random_state": 3, "lr": 3e-3, "max_epochs": 3}, slice(3, 80)),
    ({"random_state": 1, "lr": 1e-2, "max_epochs": 5, "batch_size": 7}, slice(0, 90)),
]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"batchnorm_statistics": "running", "optimizer__weight_decay": 1e-2},
        {"checkpoint_monitor": None, "iterator_train__shuffle": False, "module__dropout": 0.0},
    ],
)
def test_stacked_fit_equals_fitting_each_alone(extra: dict[str, Any]) -> None:
    X, y, _ = _toy()
    # A large learning rate makes the training loss jump between epochs, so the
    # checkpoint rule has real choices to agree on.
    params = [{**SMALL, **member, **extra} for member, _ in MEMBERS]
    singles = [
        TIMNetClassifier(**p).fit(X[rows], y[rows])
        for p, (_, rows) in zip(params, MEMBERS, strict=True)
    ]
    torch.manual_seed(99)
    expected_next = torch.rand(1)
    torch.manual_seed(99)
    nets = [TIMNetClassifier(**p) for p in params]
    fitted = fit_stacked(nets, [X[rows] for _, rows in MEMBERS], [y[rows] for _, rows in MEMBERS])
    assert torch.equal(torch.rand(1), expected_next)  # the caller's generator is untouched
    assert all(a is b for a, b in zip(fitted, nets, strict=True))
    for single, stacked in zip(singles, fitted, strict=True):
        _assert_same_fit(single, stacked, X)


def test_stacked_fit_hands_over_the_optimiser_state() -> None:
    X, y, _ = _toy()
    params = {**SMALL, "random_state": 2, "max_epochs": 3, "lr": 3e-3}
    single = TIMNetClassifier(**params).fit(X[:70], y[:70])
    stacked = fit_stacked(
        [TIMNetClassifier(**params), TIMNetClassifier(**params)], [X[:70], X], [y[:70], y]
    )[0]
    single_params = dict(single.module_.named_parameters())
    for name, param in stacked.module_.named_parameters():
        mine, theirs = stacked.optimizer_.state[param], single.optimizer_.state[single_params[name]]
        assert float(mine["step"]) == float(theirs["step"]) == 15
        torch.testing.assert_close(mine["exp_avg"], theirs["exp_avg"], rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(mine["exp_avg_sq"], theirs["exp_avg_sq"], rtol=1e-4, atol=1e-9)
    # Continuing either one trains on the same way.
    for net in (single, stacked):
        torch.manual_seed(5)
        net.partial_fit(X[:70], y[:70])
    np.testing.assert_allclose(stacked.predict_proba(X), single.predict_proba(X), atol=1e-4)


def _members(n: int, **kwargs: Any) -> list[TIMNet]:
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        nets.append(TIMNet(n_features=5, n_classes=3, filters=8, n_scales=3, **kwargs))
    return nets


def _context(sizes: list[int], seeds: list[int]) -> _StepContext:
    return _StepContext(
        batch_sizes=sizes,
        generators=[torch.Generator().manual_seed(seed) for seed in seeds],
        valid=torch.tensor(sizes),
        ragged=True,
    )


@pytest.mark.parametrize("fused", [True, False])
def test_stacked_step_equals_each_network_step(fused: bool) -> None:
    """Logits, gradients and running statistics of one ragged training step."""
    nets = _members(3, dropout=0.2, fused=fused)
    stacked = StackedTIMNet(nets).train()
    sizes, width, n_frames = [5, 2, 0], 5, 10
    x = torch.randn(3, width, n_frames, 5)
    targets = torch.randint(0, 3, (3, width))
    logits = stacked(x, _context(sizes, seeds=[7, 8, 9]))
    losses = F.cross_entropy(logits.reshape(-1, 3), targets.reshape(-1), reduction="none")
    row_weight = (torch.arange(width) < torch.tensor(sizes)[:, None]).float()
    (losses.view(3, width) * row_weight).sum(dim=1).div(
        torch.tensor(sizes).clamp_min(1)
    ).sum().backward()
    stacked_grads = {name: p.grad for name, p in stacked.named_parameters() if p.grad is not None}
    assert len(stacked_grads) == len(list(stacked.parameters()))
    stacked_state = stacked.state_dict()
    for member, (net, size, seed) in enumerate(zip(nets, sizes, [7, 8, 9], strict=True)):
        net.train()
        if size == 0:  # a member without a batch gets no gradient and keeps its statistics
            for name, tensor in net.state_dict().items():
                torch.testing.assert_close(stacked_state[name][member], tensor)
            assert all(not g[member].any() for g in stacked_grads.values())
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            single_logits = net(x[member, :size])
        torch.testing.assert_close(logits[member, :size], single_logits, rtol=1e-5, atol=1e-6)
        F.cross_entropy(single_logits, targets[member, :size]).backward()
        for name, param in net.named_parameters():
            assert param.grad is not None
            torch.testing.assert_close(
                stacked_grads[name][member], param.grad, rtol=1e-4, atol=1e-6, msg=name
            )
        for name, tensor in net.state_dict().items():
            torch.testing.assert_close(stacked_state[name][member], tensor, msg=name)


def test_stacked_bfloat16_matmuls_stay_close_to_float32() -> None:
    """bfloat16 matrix products: the stated tolerance of ``matmul_dtype="bfloat16"``.

    Logits within 1e-3 relative, the whole gradient within 1 % (relative norm), and every
    parameter's gradient pointing the same way (cosine >= 0.9): small gradients (early
    batch-norm scales) lose up to ~30 % of their magnitude's precision to bfloat16's 8-bit
    mantissa, which is why this is a speed option, not the default.
    """
    x = torch.randn(2, 6, 20, 5, generator=torch.Generator().manual_seed(0))
    results = []
    for dtype in (None, torch.bfloat16):
        stacked = StackedTIMNet(_members(2, dropout=0.0, matmul_dtype=dtype)).train()
        logits = stacked(x)
        logits.square().sum().backward()
        grads = [p.grad for p in stacked.parameters()]
        assert all(g is not None for g in grads)
        results.append(
            (logits.detach(), torch.cat([g.flatten() for g in grads if g is not None]), grads)
        )
    (ref_logits, ref_flat, ref_grads), (bf_logits, bf_flat, bf_grads) = results
    assert (bf_logits - ref_logits).norm() <= 1e-3 * ref_logits.norm()
    assert (bf_flat - ref_flat).norm() <= 0.01 * ref_flat.norm()
    for ref, grad in zip(ref_grads, bf_grads, strict=True):
        assert ref is not None and grad is not None
        assert F.cosine_similarity(grad.flatten(), ref.flatten(), dim=0) >= 0.9


def test_stacked_adam_equals_torch_adam_per_member() -> None:
    torch.manual_seed(0)
    stacked_param = torch.randn(3, 4, requires_grad=True)
    singles = [stacked_param[i].detach().clone().requires_grad_() for i in range(3)]
    lrs = [1e-2, 3e-3, 1e-1]
    optimizers = [
        torch.optim.Adam([p], lr=lr, betas=(0.93, 0.98), eps=1e-8, weight_decay=0.1)
        for p, lr in zip(singles, lrs, strict=True)
    ]
    stacked = StackedAdam([stacked_param], lr=lrs, betas=(0.93, 0.98), eps=1e-8, weight_decay=0.1)
    for step in range(6):
        active = np.array([True, step % 2 == 0, step < 2])
        grad = torch.randn(3, 4)
        stacked_param.grad = grad.clone()
        stacked.step(active)
        for member, (param, optimizer) in enumerate(zip(singles, optimizers, strict=True)):
            if active[member]:
                param.grad = grad[member].clone()
                optimizer.step()
    for member, param in enumerate(singles):
        torch.testing.assert_close(stacked_param[member].detach(), param.detach())
    assert stacked.steps.tolist() == [6, 3, 2]


@pytest.mark.parametrize(
    ("estimator", "reason"),
    [
        (TIMNetBinaryClassifier(), "not a TIMNetClassifier"),
        (TIMNetClassifier(optimizer=torch.optim.SGD), "optimizer is not Adam"),
        (TIMNetClassifier(train_split=GroupedValidSplit()), "validation split"),
        (TIMNetClassifier(callbacks=[("acc", EpochScoring("accuracy"))]), "user callbacks"),
        (TIMNetClassifier(callbacks__print_log__floatfmt=".3f"), "callback parameters"),
        (TIMNetClassifier(optimizer__amsgrad=True), "optimizer parameters ['amsgrad']"),
        (TIMNetClassifier(criterion__weight=torch.ones(8)), "criterion parameters"),
        (TIMNetClassifier(warm_start=True), "warm-starts"),
    ],
)
def test_unsupported_settings_are_named(estimator: Any, reason: str) -> None:
    found = stacking_unsupported_reason(estimator)
    assert found is not None and reason in found
    X, y, _ = _toy(20)
    with pytest.raises(ValueError, match="cannot be stacked"):
        fit_stacked([estimator], [X], [y])


def test_defaults_are_supported() -> None:
    assert stacking_unsupported_reason(TIMNetClassifier()) is None
    assert stacking_unsupported_reason(TIMNetClassifier.from_paper("kpd")) is None
    assert stacking_unsupported_reason(TIMNetClassifier(module__matmul_dtype="bfloat16")) is None


def test_members_must_share_shape_and_adam_settings() -> None:
    X, y, _ = _toy(30)
    with pytest.raises(ValueError, match="identical shape"):
        fit_stacked(
            [TIMNetClassifier(**SMALL), TIMNetClassifier(**{**SMALL, "module__filters": 4})],
            [X, X],
            [y, y],
        )
    with pytest.raises(ValueError, match="Adam betas"):
        fit_stacked(
            [TIMNetClassifier(**SMALL), TIMNetClassifier(**SMALL, optimizer__betas=(0.9, 0.9))],
            [X, X],
            [y, y],
        )
    with pytest.raises(ValueError, match="frames and features"):
        fit_stacked([TIMNetClassifier(**SMALL)] * 2, [X, X[:, :6]], [y, y])


@pytest.mark.parametrize(
    ("max_epochs", "n_jobs"), [(4, None), (2, 2)], ids=["in-process", "two-workers"]
)
def test_evaluate_actor_cv_stacks_the_folds_and_matches_fold_by_fold(
    max_epochs: int, n_jobs: int | None
) -> None:
    # With n_jobs=2 the stack of folds is split over the workers.
    X, y, groups = _toy(120)
    model = _scaled_timnet(max_epochs, random_state=0)
    alone = evaluate_actor_cv(model, X, y, groups, cv=3, stack_folds=False)
    together = evaluate_actor_cv(model, X, y, groups, cv=3, n_jobs=n_jobs, stack_folds="auto")
    assert alone.metadata["stacked_folds"] is False
    assert together.metadata["stacked_folds"] is True
    assert together.y_proba is not None and alone.y_proba is not None
    np.testing.assert_allclose(together.y_proba, alone.y_proba, atol=1e-5)
    np.testing.assert_array_equal(together.y_pred, alone.y_pred)
    assert together.fold_actors == alone.fold_actors


def test_evaluate_actor_cv_stack_folds_true_refuses_what_cannot_stack() -> None:
    X, y, groups = _toy(60)
    flat = X.reshape(len(X), -1)
    with pytest.raises(ValueError, match="cannot be stacked: LogisticRegression"):
        evaluate_actor_cv(LogisticRegression(), flat, y, groups, cv=3, stack_folds=True)
    report = evaluate_actor_cv(LogisticRegression(), flat, y, groups, cv=3)
    assert report.metadata["stacked_folds"] is False
    with pytest.raises(ValueError, match="stack_folds must be"):
        evaluate_actor_cv(LogisticRegression(), flat, y, groups, cv=3, stack_folds="yes")


def test_evaluate_actor_cv_many_stacks_seeds_and_folds() -> None:
    X, y, groups = _toy(120)
    models = [_scaled_timnet(3, random_state=seed) for seed in (0, 1)]
    reports = evaluate_actor_cv_many(models, X, y, groups, cv=3)
    assert [r.metadata["stacked_folds"] for r in reports] == [True, True]
    for model, report in zip(models, reports, strict=True):
        alone = evaluate_actor_cv(model, X, y, groups, cv=3, stack_folds=False)
        assert alone.y_proba is not None and report.y_proba is not None
        np.testing.assert_allclose(report.y_proba, alone.y_proba, atol=1e-5)
    assert not np.allclose(reports[0].y_proba, reports[1].y_proba)  # type: ignore[arg-type]
    flat = X.reshape(len(X), -1)
    plain = evaluate_actor_cv_many(
        [LogisticRegression(), LogisticRegression(C=0.1)], flat, y, groups, cv=3
    )
    assert [r.metadata["stacked_folds"] for r in plain] == [False, False]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_kernels_equal_their_torch_twins(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skemotion.nets import _cpu_kernels as kernels

    if kernels.compiled_kernels() is None:
        pytest.skip("no C++ compiler: the torch-operation path is the only one")
    members, rows, n_frames, channels, dilation = 3, 5, 11, 8, 4
    valid = torch.tensor([5, 3, 0])
    gen = torch.Generator().manual_seed(0)
    scale, beta, slope, offset = torch.randn(4, members, channels, generator=gen)
    mask = (torch.rand(members * rows, channels, generator=gen) > 0.2).float() / 0.8
    z = torch.randn(members * rows, n_frames, 2 * channels, generator=gen).to(dtype)
    grad = torch.randn(members * rows, n_frames, channels, generator=gen)

    def run() -> list[Tensor]:
        y, sums, squares = kernels.shift_add_stats(z, valid, members=members, dilation=dilation)
        mean = (sums / 55).float()
        out = kernels.bn_apply(y, mean, scale, beta, mask, members=members)
        reduced = kernels.bn_backward_reduce(grad, out, y, mean, mask, valid, members=members)
        grad_z = kernels.bn_backward_apply(
            grad,
            out,
            y,
            mean,
            scale,
            slope,
            offset,
            mask,
            valid,
            members=members,
            dilation=dilation,
            dtype=dtype,
        )
        return [y, sums, squares, out, *reduced, grad_z.float()]

    compiled = run()
    monkeypatch.setattr(kernels, "compiled_kernels", lambda: None)
    for fused, reference in zip(compiled, run(), strict=True):
        torch.testing.assert_close(fused, reference.to(fused.dtype), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_stacked_fit_follows_the_learning_rate_schedule(schedule: str) -> None:
    X, y, _ = _toy()
    params = [{**SMALL, **member, "lr_schedule": schedule} for member, _ in MEMBERS]
    singles = [
        TIMNetClassifier(**p).fit(X[rows], y[rows])
        for p, (_, rows) in zip(params, MEMBERS, strict=True)
    ]
    fitted = fit_stacked(
        [TIMNetClassifier(**p) for p in params],
        [X[rows] for _, rows in MEMBERS],
        [y[rows] for _, rows in MEMBERS],
    )
    for single, stacked in zip(singles, fitted, strict=True):
        _assert_same_fit(single, stacked, X)
        schedule_callback = dict(stacked.callbacks_)["lr_schedule"]
        assert schedule_callback.step_ == schedule_callback.total_steps_
        assert sum(stacked.history[:, "train_batch_count"]) == schedule_callback.total_steps_
