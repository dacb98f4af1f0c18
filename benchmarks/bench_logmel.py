"""Throughput of the log-mel speech features: LogMelSpectrogram vs. a bare librosa loop.

Run: ``python benchmarks/bench_logmel.py [--n-clips 200]``. It writes synthetic 3.5 s
48 kHz 16-bit wav clips to a temporary folder and times, on the paper's parameters
(140,800-sample centre crop, 24 mels, window 4800, hop 1600, fmax 17 kHz):

(a) the baseline: per clip ``soundfile.read`` + crop + ``librosa.feature.melspectrogram``
    + ``librosa.power_to_db``;
(b) ``LogMelSpectrogram(n_jobs=1)``;
(c) ``LogMelSpectrogram(n_jobs=2)``;

each as clips/s with its ratio to (a), and the largest difference to (a) in dB. The
baseline runs once (after a one-clip warm-up: it is the slow part); the transformer
reports its first call and its best of ``--repeats`` further calls. Workers of (c) are
threads (the transformer's default joblib hint). The same on the first ``--n-clips`` real RAVDESS
clips when ``../shared/data/ravdess/speech`` is present. Peak RSS comes from
``resource.getrusage``.

librosa's mel product is a small multi-threaded BLAS call per clip, which is slow when
the cores are busy; the transformer uses a sparse product without BLAS. The ratio to
(a) therefore depends on the BLAS thread count printed first: compare with
``OPENBLAS_NUM_THREADS=1`` (or ``OMP_NUM_THREADS=1``) too.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_info

from skemotion.audio import LogMelSpectrogram, center_crop

SR = 48_000
PARAMS = {"sr": SR, "n_fft": 4800, "hop_length": 1600, "n_mels": 24, "fmax": 17_000.0}
RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "speech"


def bare_librosa_loop(paths: list[Path]) -> np.ndarray:
    out = []
    for path in paths:
        y, _ = sf.read(path, dtype="float32")
        if y.ndim == 2:
            y = y.mean(axis=1)
        y = center_crop(y, length=140_800)
        S = librosa.feature.melspectrogram(y=y, **PARAMS)  # type: ignore[arg-type]
        out.append(librosa.power_to_db(S, ref=1.0, top_db=None)[:, :88].T)
    return np.stack(out)


def best_time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, float, np.ndarray]:
    """(first-call time, best time of ``repeats`` further calls, result)."""
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    warm = [cold]
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        warm.append(time.perf_counter() - start)
    return cold, min(warm), result


def run(label: str, paths: list[Path], repeats: int) -> None:
    n = len(paths)
    print(f"\n{label}: {n} clips")
    bare_librosa_loop(paths[:1])  # imports, numba compilation
    start = time.perf_counter()
    ref = bare_librosa_loop(paths)
    base = time.perf_counter() - start
    print(f"  (a) bare librosa loop          {n / base:8.1f} clips/s   1.00x")
    for tag, n_jobs in (("(b)", 1), ("(c)", 2)):
        lms = LogMelSpectrogram(n_jobs=n_jobs)
        cold, warm, X = best_time(partial(lms.fit_transform, paths), repeats)
        err = float(np.abs(X - ref).max())
        print(
            f"  {tag} LogMelSpectrogram n_jobs={n_jobs}  {n / warm:8.1f} clips/s  "
            f"{base / warm:5.2f}x   (first call {n / cold:.1f} clips/s; "
            f"max |diff| vs (a) {err:.1e} dB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    print("BLAS:", ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in blas))

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        n = int(3.5 * SR)
        t = np.arange(n) / SR
        for i in range(args.n_clips):
            y = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(n)
            path = Path(tmp) / f"clip_{i:04d}.wav"
            sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
            paths.append(path)
        run("synthetic 3.5 s wav", paths, args.repeats)

    real = sorted(RAVDESS.glob("Actor_*/03-01-*.flac"))[: args.n_clips]
    if real:
        run(f"RAVDESS flac ({RAVDESS})", real, args.repeats)
    else:
        print(f"\nRAVDESS clips not found under {RAVDESS}: skipped")

    # ru_maxrss is in KiB on Linux; thread workers share this process's memory.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
