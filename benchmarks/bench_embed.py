"""Embedding throughput of the pretrained embedders on the CPU, by batch size.

Run: ``python benchmarks/bench_embed.py [--threads 1] [--clips 16] [--images-clips 4]``.

No pretrained weights can be downloaded here, so the models are randomly initialised
from transformers configurations: the speed of a network does not depend on its weights.

* Wav2Vec2, tiny (hidden 16, 2 layers: the tests' size) and base-size (hidden 768,
  12 layers, 7 convolutions: the shape of ``facebook/wav2vec2-base``; large is about 3x
  its cost). Input: 2.93 s clips given as 48 kHz waveforms, so resampling to 16 kHz and
  normalisation are included; the output is (146, hidden) per clip.
* ResNet, tiny (two stages of width 8 and 16) and ResNet-18-shaped (``ResNetConfig``
  with basic blocks, widths 64-512, depths 2-2-2-2). Input: 20 face patches of 224 x 224
  per clip (the paper's fine-tuning frames), as FaceRegions gives them.

For each model and batch size (clips per pass for Wav2Vec2, images per pass for
ResNet) it reports clips/s (best of ``--repeat``) and the peak growth of the process's
resident memory while embedding (sampled every 2 ms, after ``malloc_trim`` so freed
pages are not silently reused; a lower bound of what the pass needs), each also as a
ratio to batch size 1 in the same process (memory ratios only above 1 MB). The disk
cache is off except in one line, which times a second pass served from the cache.
Torch uses ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
import transformers

from skemotion.embed import ResNetEmbedder, Wav2Vec2Embedder

_PAGE = os.sysconf("SC_PAGE_SIZE")
try:  # glibc keeps freed pages; trimming first makes each run's RSS growth visible
    import ctypes

    _trim: Callable[[int], int] | None = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):  # pragma: no cover - not glibc
    _trim = None


def _rss() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * _PAGE


def measure(run: Callable[[], Any], *, repeat: int) -> tuple[float, float]:
    """Best wall time of ``run`` and the peak RSS growth (MB) seen during the runs."""
    best, peak_growth = float("inf"), 0
    for _ in range(repeat):
        if _trim is not None:
            _trim(0)
        base, peak, done = _rss(), [0], threading.Event()

        def sample(base: int = base, peak: list[int] = peak, done: threading.Event = done) -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss() - base)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
        done.set()
        sampler.join()
        peak_growth = max(peak_growth, peak[0], _rss() - base)
    return best, peak_growth / 2**20


def wav2vec2_models() -> dict[str, torch.nn.Module]:
    tiny = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8, 8),
        conv_stride=(5, 8, 8),
        conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
    )
    base = transformers.Wav2Vec2Config()  # hidden 768, 12 layers: wav2vec2-base's shape
    return {
        "wav2vec2 tiny": transformers.Wav2Vec2Model(tiny).eval(),
        "wav2vec2 base-size": transformers.Wav2Vec2Model(base).eval(),
    }


def resnet_models() -> dict[str, torch.nn.Module]:
    tiny = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
    )
    r18 = transformers.ResNetConfig(
        embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic"
    )
    return {
        "resnet tiny": transformers.ResNetModel(tiny).eval(),
        "resnet-18-shaped": transformers.ResNetModel(r18).eval(),
    }


def table(title: str, unit: str, extra: str, rows: list[tuple[int, float, float, float]]) -> None:
    print(f"\n{title}")
    print(f"| batch ({unit}) | clips/s | x batch 1 | {extra} | peak RSS +MB | x batch 1 |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    base_rate, base_mem = rows[0][1], rows[0][3]
    for batch, rate, value, mem in rows:
        # A ratio to a baseline under 1 MB would only measure allocator noise.
        mem_ratio = f"{mem / base_mem:.2f}" if base_mem >= 1 else "n/a"
        print(
            f"| {batch} | {rate:.2f} | {rate / base_rate:.2f} | {value:.3g} | {mem:.0f} | "
            f"{mem_ratio} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clips", type=int, default=16, help="audio clips per timing")
    parser.add_argument("--images-clips", type=int, default=4, help="face clips per timing")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{args.threads} thread(s), CPU count {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.2f}"
    )

    waves = (0.1 * rng.standard_normal((args.clips, 140_800))).astype(np.float32)
    for name, model in wav2vec2_models().items():
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        rows = []
        for batch in args.batches:
            emb = Wav2Vec2Embedder(model, batch_size=batch, cache_dir=False)
            emb.transform(waves[:1])  # warm-up
            seconds, mem = measure(partial(emb.transform, waves), repeat=args.repeat)
            rows.append((batch, args.clips / seconds, 1000 * seconds / args.clips, mem))
        title = f"{name} ({n_params:.1f} M parameters), {args.clips} clips of 2.93 s"
        table(title, "clips", "ms/clip", rows)

    with tempfile.TemporaryDirectory() as cache:
        model = wav2vec2_models()["wav2vec2 tiny"]
        emb = Wav2Vec2Embedder(model, batch_size=16, cache_dir=cache)
        computed, _ = measure(lambda: emb.transform(waves), repeat=1)
        cached, _ = measure(lambda: emb.transform(waves), repeat=args.repeat)
        print(
            f"\nwav2vec2 tiny, disk cache: first pass {args.clips / computed:.1f} clips/s, "
            f"cached pass {args.clips / cached:.1f} clips/s ({computed / cached:.1f}x)"
        )

    frames = 20
    patches = rng.standard_normal((args.images_clips, frames, 3, 224, 224)).astype(np.float32)
    for name, model in resnet_models().items():
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        rows = []
        for batch in args.batches:
            emb = ResNetEmbedder(model, batch_size=batch, cache_dir=False)
            emb.transform(patches[:1, :2])  # warm-up
            seconds, mem = measure(partial(emb.transform, patches), repeat=args.repeat)
            images = args.images_clips * frames
            rows.append((batch, args.images_clips / seconds, images / seconds, mem))
        table(
            f"{name} ({n_params:.1f} M parameters), {args.images_clips} clips x {frames} "
            "face patches 224 x 224",
            "images",
            "images/s",
            rows,
        )


if __name__ == "__main__":
    main()
