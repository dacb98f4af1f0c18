"""Precise batch-norm statistics: exact pooled statistics, and what they fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.model_selection import GroupKFold, cross_val_score
from torch import nn

from skemotion.nets import (
    FusionClassifier,
    TemporalAwareBlock,
    TIMNet,
    TIMNetClassifier,
    recompute_batchnorm_statistics,
)
from skemotion.nets._timnet import _CausalConvLayer


def _batches(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    return list(torch.split(x, size))


def _first_layer(net: TIMNet) -> _CausalConvLayer:
    block = net.forward_blocks[0]
    assert isinstance(block, TemporalAwareBlock)
    layer = block.layers[0]
    assert isinstance(layer, _CausalConvLayer)
    return layer


def _mean_var(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.get_buffer("running_mean"), layer.get_buffer("running_var")


def test_batchnorm_gets_the_exact_statistics_of_the_whole_data() -> None:
    torch.manual_seed(0)
    x = torch.randn(103, 5, 7) * torch.linspace(0.5, 3, 5)[:, None] + 2.0
    bn = nn.BatchNorm1d(5, momentum=0.01)
    n = recompute_batchnorm_statistics(bn, _batches(x, 16), forward=bn)
    values = x.transpose(0, 1).reshape(5, -1).double()
    assert n == 1
    mean, var = _mean_var(bn)
    torch.testing.assert_close(mean.double(), values.mean(dim=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(var.double(), values.var(dim=1), rtol=1e-5, atol=1e-5)
    # Momentum and mode are put back.
    assert bn.momentum == 0.01
    assert bn.training


def test_timnet_first_layers_get_the_statistics_of_their_inputs() -> None:
    torch.manual_seed(0)
    net = TIMNet(n_features=6, n_classes=3, filters=8, n_scales=2, dropout=0.3).eval()
    x = torch.randn(50, 20, 6) * 3 + 1
    recompute_batchnorm_statistics(net, _batches(x, 7), forward=net)
    assert not net.training
    # The first causal layer of the forward chain sees a fixed input (no batch norm
    # before it): its statistics are those of its pre-normalisation values exactly.
    layer = _first_layer(net)
    assert layer.dropout == 0.3 and layer.bn_momentum == 0.01
    with torch.no_grad():
        stream = net.input_forward(x)
        out = layer.weight.shape[1] // 2
        past = nn.functional.pad(stream, (0, 0, layer.dilation, 0))[:, : x.shape[1]]
        pre_bn = stream @ layer.weight[:, out:] + past @ layer.weight[:, :out]
    values = pre_bn.reshape(-1, out).double()
    mean, var = _mean_var(layer)
    torch.testing.assert_close(mean.double(), values.mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(var.double(), values.var(0), rtol=1e-4, atol=1e-4)


def test_dropout_is_off_during_the_pass_and_frozen_layers_are_left_alone() -> None:
    torch.manual_seed(0)
    frozen = nn.BatchNorm1d(4)
    trained = nn.BatchNorm1d(4)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frozen, self.drop, self.trained = frozen, nn.Dropout(0.9), trained

        def train(self, mode: bool = True) -> Any:
            super().train(mode)
            self.frozen.eval()  # a frozen backbone keeps its own statistics
            return self

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.trained(self.drop(self.frozen(x)))

    net = Net()
    x = torch.randn(64, 4) + 5
    recompute_batchnorm_statistics(net, _batches(x, 8), forward=net)
    frozen_mean, frozen_var = _mean_var(frozen)
    assert torch.equal(frozen_mean, torch.zeros(4))
    # Dropout at 0.9 would have scaled the values by 10 where kept: the mean would be off.
    expected = ((x - frozen_mean) / torch.sqrt(frozen_var + frozen.eps)).mean(0)
    torch.testing.assert_close(_mean_var(trained)[0], expected, rtol=1e-5, atol=1e-5)
    assert net.drop.training


def test_a_failing_pass_leaves_the_statistics_as_they_were() -> None:
    net = TIMNet(n_features=3, n_classes=2, filters=4, n_scales=1)
    layer = _first_layer(net)
    before = _mean_var(layer)[0].clone()

    def batches() -> Any:
        yield torch.randn(4, 5, 3) + 10
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        recompute_batchnorm_statistics(net, batches(), forward=net)
    assert torch.equal(_mean_var(layer)[0], before)
    assert layer.bn_momentum == 0.01 and layer.dropout == 0.1


def test_single_value_batches_keep_the_old_statistics() -> None:
    # One clip of one frame has no batch statistics (TIM-Net then uses the running ones).
    net = TIMNet(n_features=3, n_classes=2, filters=4, n_scales=1)
    layer = _first_layer(net)
    _mean_var(layer)[0].fill_(2.0)
    assert recompute_batchnorm_statistics(net, [torch.randn(1, 1, 3)], forward=net) == 0
    assert torch.equal(_mean_var(layer)[0], torch.full((4,), 2.0))


@pytest.mark.parametrize("estimator", [TIMNetClassifier, FusionClassifier])
def test_fit_recomputes_the_statistics_of_the_kept_weights(estimator: type) -> None:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(48, 10, 4)) * 4 + 3).astype(np.float32)
    y = np.array(["a", "b", "c"])[np.arange(48) % 3]
    params = {"max_epochs": 2, "module__filters": 4, "module__n_scales": 2, "random_state": 0}
    data = {"x": X} if estimator is FusionClassifier else X
    precise = estimator(**params).fit(data, y)
    running = estimator(**params, batchnorm_statistics="running").fit(data, y)
    # Same seed, same training: only the statistics differ.
    for (name, a), (_, b) in zip(
        precise.module_.state_dict().items(), running.module_.state_dict().items(), strict=True
    ):
        if "running" not in name:
            assert torch.equal(a, b), name
    module = precise.module_
    expected = TIMNet(n_features=4, n_classes=None, filters=4, n_scales=2)
    expected.load_state_dict(
        {k: v for k, v in running.module_.state_dict().items() if not k.startswith("head")}
        if estimator is TIMNetClassifier
        else {
            k.split(".", 2)[2]: v
            for k, v in running.module_.state_dict().items()
            if k.startswith("backbones.x.")
        },
        strict=False,
    )
    recompute_batchnorm_statistics(expected, _batches(torch.from_numpy(X), 64), forward=expected)
    prefix = "" if estimator is TIMNetClassifier else "backbones.x."
    state = module.state_dict()
    for name, value in expected.state_dict().items():
        if "running" in name:
            torch.testing.assert_close(state[prefix + name], value, rtol=1e-5, atol=1e-5)


def test_batchnorm_statistics_is_validated() -> None:
    X = np.zeros((6, 4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="batchnorm_statistics must be"):
        TIMNetClassifier(batchnorm_statistics="exact").fit(X, np.arange(6) % 2)


@pytest.fixture(scope="module")
def six_actor_log_mel(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from skemotion.audio import LogMelSpectrogram
    from skemotion.datasets import make_ravdess_like

    root: Path = tmp_path_factory.mktemp("six_actors")
    data = make_ravdess_like(root, n_actors=6, random_state=0, n_jobs=2)
    return LogMelSpectrogram().fit_transform(data.frame), data.y, data.groups


@pytest.mark.slow
def test_a_short_run_on_a_small_corpus_is_well_above_chance(six_actor_log_mel: Any) -> None:
    # The newcomer's run of issue 11: 4 actors to train on, 30 epochs (~120 steps). With
    # the running statistics of momentum 0.01 it scored 14-18 % (chance 12.5 %).
    X, y, groups = six_actor_log_mel
    clf = TIMNetClassifier(max_epochs=30, module__filters=16, module__n_scales=4, random_state=0)
    scores = cross_val_score(clf, X, y, groups=groups, cv=GroupKFold(3))
    assert scores.mean() > 0.30, scores
