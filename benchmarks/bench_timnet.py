"""TIM-Net training throughput and single-clip inference latency on the CPU.

Run: ``python benchmarks/bench_timnet.py [--threads 1 2] [--steps 20]``.

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
import resource
import statistics
import time

import numpy as np
import torch

from skemotion.audio import center_crop, log_mel_spectrogram
from skemotion.nets import TIMNet

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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    main()
