"""TIM-Net training throughput and single-clip inference latency on the CPU.

Run: ``python benchmarks/bench_timnet.py [--threads 1 2] [--steps 20]``, and for the
training levers of issue 14 (stacked members, fused C++ kernels, bfloat16 matrix products,
each alone and combined, against the plain-autograd network in the same process, timed in
alternating rounds): ``python benchmarks/bench_timnet.py --levers [--members 5]
[--rounds 5] [--profile]``.

Training: samples/s of full optimisation steps (forward, backward, Adam with TIM-Net's
betas, label smoothing 0.1) on batches of 64 log-mel clips (88 x 24), for

* the paper's TIM-Net (3 layers per block, 64 filters, 7 scales) and the original one
  (2 layers per block),
* skemotion's fused causal-convolution kernel against the baseline, the same network in
  plain PyTorch autograd (``TIMNet(fused=False)``), measured in the same process,
* float32 matrix products and bfloat16 ones (``module__matmul_dtype="bfloat16"``),

for each torch intra-op thread count given. Inference: median latency of one clip, from the
48 kHz waveform (centre crop + log-mel) through the network's forward pass, in eval mode.
Peak resident memory comes from ``resource.getrusage``. Seeds are fixed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from skemotion.audio import center_crop, log_mel_spectrogram
from skemotion.nets import StackedAdam, StackedTIMNet, TIMNet

BATCH = 64


def training_throughput(net: TIMNet, *, steps: int, warmup: int = 3) -> float:
    """Samples per second of full training steps on random log-mel-shaped batches."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 88, 24, generator=generator)
    y = torch.randint(0, 8, (BATCH,), generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.93, 0.98))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    net.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * steps / (time.perf_counter() - start)


def _single_step(fused: bool, matmul_dtype: torch.dtype | None) -> tuple[Callable[[], None], int]:
    """One training step of one paper-shape network (the path before issue 14)."""
    torch.manual_seed(0)
    net = TIMNet(fused=fused, matmul_dtype=matmul_dtype).train()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 88, 24, generator=generator)
    y = torch.randint(0, 8, (BATCH,), generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.93, 0.98))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        optimizer.step()

    return step, BATCH


def _stacked_step(
    members: int, matmul_dtype: torch.dtype | None, *, kernels: bool
) -> tuple[Callable[[], None], int]:
    """One step of ``members`` paper-shape networks stacked (what ``fit_stacked`` runs)."""
    torch.manual_seed(0)
    nets = [TIMNet(matmul_dtype=matmul_dtype) for _ in range(members)]
    net = StackedTIMNet(nets).train()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(members, BATCH, 88, 24, generator=generator)
    y = torch.randint(0, 8, (members, BATCH), generator=generator)
    optimizer = StackedAdam(
        list(net.parameters()), lr=[1e-3] * members, betas=(0.93, 0.98), eps=1e-8, weight_decay=0
    )
    active = np.ones(members, dtype=bool)

    def step() -> None:
        with _kernels_enabled(kernels):
            optimizer.zero_grad()
            logits = net(x).reshape(-1, 8)
            losses = F.cross_entropy(logits, y.reshape(-1), label_smoothing=0.1, reduction="none")
            losses.view(members, BATCH).mean(dim=1).sum().backward()
            optimizer.step(active)

    return step, members * BATCH


@contextmanager
def _kernels_enabled(enabled: bool) -> Iterator[None]:
    """The fused C++ kernels, or (False) their torch-operation twins, for one step."""
    if enabled:
        yield
        return
    # The documented switch, read on every use of the kernels.
    original = os.environ.get("SKEMOTION_CPU_KERNELS")
    os.environ["SKEMOTION_CPU_KERNELS"] = "0"
    try:
        yield
    finally:
        if original is None:
            del os.environ["SKEMOTION_CPU_KERNELS"]
        else:
            os.environ["SKEMOTION_CPU_KERNELS"] = original


def lever_throughputs(
    *, members: int, rounds: int, steps: int = 2
) -> list[tuple[str, float, float]]:
    """Samples/s of each training lever and its ratio to the plain-autograd network.

    Every configuration runs ``steps`` steps per round, rounds alternating between them,
    so that a change in machine load hits all alike; the figure is the median round.
    """
    bf16 = torch.bfloat16
    configs = {
        "plain autograd, float32 (baseline)": _single_step(False, None),
        "fused layer, float32 (default before)": _single_step(True, None),
        "fused layer, bfloat16 matmuls": _single_step(True, bf16),
        f"stacked x{members}, torch ops, float32": _stacked_step(members, None, kernels=False),
        "C++ kernels alone (stacked x1), float32": _stacked_step(1, None, kernels=True),
        f"stacked x{members} + C++ kernels, float32": _stacked_step(members, None, kernels=True),
        f"stacked x{members} + C++ kernels + bfloat16": _stacked_step(members, bf16, kernels=True),
    }
    for step, _ in configs.values():  # first-call costs, kernel build or load
        step()
        step()
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (step, _) in configs.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            seconds[name].append((time.perf_counter() - start) / steps)
    baseline = BATCH / statistics.median(seconds["plain autograd, float32 (baseline)"])
    rows = []
    for name, (_, samples) in configs.items():
        rate = samples / statistics.median(seconds[name])
        rows.append((name, rate, rate / baseline))
    return rows


def profile_step(step: Callable[[], None], *, steps: int = 2, rows: int = 12) -> str:
    """torch.profiler's table of the most expensive operations of ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return str(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def inference_latency_ms(net: TIMNet, *, repeats: int = 100) -> float:
    """Median milliseconds from a 3.5 s waveform to class probabilities, one clip."""
    rng = np.random.default_rng(0)
    waveform = (0.1 * rng.standard_normal(168_000)).astype(np.float32)
    net.eval()
    timings = []
    with torch.inference_mode():
        for _ in range(repeats + 5):
            start = time.perf_counter()
            features = log_mel_spectrogram(center_crop(waveform, length=140_800))
            torch.softmax(net(torch.from_numpy(features)[None]), dim=-1)
            timings.append(time.perf_counter() - start)
    return 1000 * statistics.median(timings[5:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--levers", action="store_true", help="issue 14's training levers")
    parser.add_argument("--members", type=int, default=5, help="stacked networks (--levers)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (--levers)")
    parser.add_argument("--profile", action="store_true", help="profile one step before/after")
    args = parser.parse_args(argv)
    if args.levers:
        _print_levers(args)
        return

    configs = [
        ("paper: 3 layers/block, 64 filters, 7 scales", {"n_layers": 3}),
        ("original: 2 layers/block, 64 filters, 7 scales", {"n_layers": 2}),
    ]
    print(f"torch {torch.__version__}, batch {BATCH} x 88 frames x 24 mels")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n## torch threads = {threads}")
        print("| network | baseline (autograd) | fused fp32 | fused + bf16 matmuls |")
        print("| --- | ---: | ---: | ---: |")
        for label, shape in configs:
            torch.manual_seed(0)
            baseline = training_throughput(TIMNet(fused=False, **shape), steps=args.steps)
            fused = training_throughput(TIMNet(**shape), steps=args.steps)
            bf16 = training_throughput(
                TIMNet(matmul_dtype=torch.bfloat16, **shape), steps=args.steps
            )
            print(
                f"| {label} | {baseline:.0f} samples/s | {fused:.0f} ({fused / baseline:.2f}x) "
                f"| {bf16:.0f} ({bf16 / baseline:.2f}x) |"
            )
        latency = inference_latency_ms(TIMNet())
        print(
            f"\nsingle-clip inference (crop + log-mel + forward, paper TIM-Net): {latency:.2f} ms"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak_mib:.0f} MiB")


def _print_levers(args: argparse.Namespace) -> None:
    print(
        f"torch {torch.__version__}, batch {BATCH} x 88 frames x 24 mels, paper TIM-Net, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n## torch threads = {threads}\n")
        print("| configuration | samples/s | x plain autograd |")
        print("| --- | ---: | ---: |")
        for name, rate, ratio in lever_throughputs(members=args.members, rounds=args.rounds):
            print(f"| {name} | {rate:.0f} | {ratio:.2f} |")
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    if args.profile:
        for label, (step, _) in (
            ("before: fused layer, float32, one network", _single_step(True, None)),
            (
                f"after: stacked x{args.members} + C++ kernels + bfloat16",
                _stacked_step(args.members, torch.bfloat16, kernels=True),
            ),
        ):
            print(f"\n### profile, {label} (2 steps)\n")
            print(profile_step(step))


if __name__ == "__main__":
    main()
