"""TIM-Net module: shapes, causality, gradients, the fused kernel against its reference."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from skemotion.nets import (
    TemporalAwareBlock,
    TIMNet,
    causal_conv_bn_relu,
    causal_conv_bn_relu_reference,
)


def _small_net(**kwargs: object) -> TIMNet:
    params: dict[str, object] = {"n_features": 5, "n_classes": 4, "filters": 8, "n_scales": 4}
    params.update(kwargs)
    return TIMNet(**params)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_frames", [1, 7, 88])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shape_any_length_and_batch_one(batch: int, n_frames: int) -> None:
    net = _small_net()
    for training in (True, False):
        net.train(training)
        out = net(torch.randn(batch, n_frames, 5))
        assert out.shape == (batch, 4)
        assert torch.isfinite(out).all()
    assert net.embed(torch.randn(batch, n_frames, 5)).shape == (batch, 8)


def test_rejects_wrong_rank_and_kernel() -> None:
    with pytest.raises(ValueError, match="batch, time, features"):
        _small_net()(torch.randn(3, 5))
    with pytest.raises(ValueError, match="kernel_size=2"):
        _small_net(kernel_size=3)


def _stream(net: TIMNet, x: torch.Tensor, *, backward: bool) -> torch.Tensor:
    if backward:
        stream = net.input_backward(torch.flip(x, dims=(1,)))
        blocks = net.backward_blocks
    else:
        stream = net.input_forward(x)
        blocks = net.forward_blocks
    for block in blocks:
        stream = block(stream)
    return stream


def test_each_direction_is_causal() -> None:
    torch.manual_seed(0)
    net = _small_net().eval()
    x = torch.randn(2, 30, 5)
    t0 = 12
    x_changed = x.clone()
    x_changed[:, t0] += 5.0
    with torch.no_grad():
        forward_before = _stream(net, x, backward=False)
        forward_after = _stream(net, x_changed, backward=False)
        backward_before = _stream(net, x, backward=True)
        backward_after = _stream(net, x_changed, backward=True)
    # The forward chain at time t sees frames <= t only.
    torch.testing.assert_close(forward_before[:, :t0], forward_after[:, :t0])
    assert not torch.allclose(forward_before[:, t0], forward_after[:, t0])
    # The backward chain reads reversed time: position s is frame T-1-s and sees frames >= it.
    s0 = 30 - 1 - t0
    torch.testing.assert_close(backward_before[:, :s0], backward_after[:, :s0])
    assert not torch.allclose(backward_before[:, s0], backward_after[:, s0])


def test_directions_do_not_share_weights() -> None:
    net = _small_net()
    forward_ids = {id(p) for p in net.forward_blocks.parameters()}
    backward_ids = {id(p) for p in net.backward_blocks.parameters()}
    assert not forward_ids & backward_ids
    assert net.input_forward.weight is not net.input_backward.weight


def test_dilations_are_powers_of_two() -> None:
    net = _small_net(n_scales=5, n_layers=2)
    blocks = [block for block in net.forward_blocks if isinstance(block, TemporalAwareBlock)]
    assert [block.layers[0].dilation for block in blocks] == [1, 2, 4, 8, 16]
    assert all(len(block.layers) == 2 for block in blocks)


@pytest.mark.parametrize("fused", [True, False])
def test_gradients_reach_every_parameter(fused: bool) -> None:
    torch.manual_seed(0)
    net = _small_net(fused=fused, dropout=0.0)
    loss = torch.nn.functional.cross_entropy(net(torch.randn(6, 20, 5)), torch.arange(6) % 4)
    loss.backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_fused_matches_reference_in_training_and_eval() -> None:
    torch.manual_seed(0)
    fused = _small_net(fused=True, dropout=0.2).double()
    reference = _small_net(fused=False, dropout=0.2).double()
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(4, 25, 5, dtype=torch.double)
    for training in (True, False):
        fused.train(training)
        reference.train(training)
        torch.manual_seed(1)
        out_fused = fused(x)
        torch.manual_seed(1)
        out_reference = reference(x)
        torch.testing.assert_close(out_fused, out_reference)
        if training:
            grads_fused = torch.autograd.grad(out_fused.square().sum(), list(fused.parameters()))
            grads_ref = torch.autograd.grad(
                out_reference.square().sum(), list(reference.parameters())
            )
            for g_fused, g_ref in zip(grads_fused, grads_ref, strict=True):
                torch.testing.assert_close(g_fused, g_ref)
    for (name, buffer), (_, buffer_ref) in zip(
        fused.named_buffers(), reference.named_buffers(), strict=True
    ):
        torch.testing.assert_close(buffer, buffer_ref, msg=name)


@pytest.mark.parametrize("dilation", [1, 3, 40])
def test_fused_layer_gradcheck(dilation: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 9, 3, dtype=torch.double, requires_grad=True)
    weight = torch.randn(3, 8, dtype=torch.double, requires_grad=True)
    gamma = (torch.rand(4, dtype=torch.double) + 0.5).requires_grad_()
    beta = torch.randn(4, dtype=torch.double, requires_grad=True)
    mask = (torch.rand(2, 1, 4) > 0.3).double() / 0.7

    def layer(x: torch.Tensor, weight: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor):
        return causal_conv_bn_relu(
            x,
            weight=weight,
            gamma=gamma,
            beta=beta,
            running_mean=torch.zeros(4, dtype=torch.double),
            running_var=torch.ones(4, dtype=torch.double),
            dilation=dilation,
            training=True,
            drop_mask=mask,
        )

    assert torch.autograd.gradcheck(layer, (x, weight, gamma, beta))


def test_bfloat16_matmuls_stay_close_to_float32() -> None:
    torch.manual_seed(0)
    args: dict[str, Any] = {
        "weight": torch.randn(6, 16) * 0.3,
        "gamma": torch.ones(8),
        "beta": torch.zeros(8),
        "dilation": 2,
        "training": False,
    }
    x = torch.randn(3, 20, 6)
    exact = causal_conv_bn_relu_reference(
        x, running_mean=torch.zeros(8), running_var=torch.ones(8), **args
    )
    approx = causal_conv_bn_relu(
        x,
        running_mean=torch.zeros(8),
        running_var=torch.ones(8),
        matmul_dtype=torch.bfloat16,
        **args,
    )
    assert approx.dtype == torch.float32
    torch.testing.assert_close(approx, exact, atol=0.05, rtol=0.02)


def test_deterministic_under_seed() -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = _small_net()
        outputs.append(net(torch.ones(2, 10, 5)))
    torch.testing.assert_close(outputs[0], outputs[1])
