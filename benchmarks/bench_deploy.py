"""Single-clip CPU latency of the LMS + KPD fusion model: features + forward, one thread.

Run: ``python benchmarks/bench_deploy.py [--repeats 20] [--output bench_deploy.json]``.

The paper recommends log-mel speech + face key-point distances (LMS + KPD) for
head-mounted displays; this measures what one prediction costs there, on one CPU core
(the process is pinned to the most idle one; torch, BLAS and OpenCV limited to one
thread). It writes one synthetic RAVDESS-like recording (48 kHz wav + 640x360 H.264
video, :func:`skemotion.datasets.make_ravdess_like`'s generator) and its actor's
neutral calibration clip, builds the paper's fusion shape (64 filters, 7 scales per
branch, 3 layers per block; weights from one epoch on random features: latency does not
depend on them), exports it with :func:`skemotion.deploy.export_torchscript` and times,
after ``--warmup`` untimed runs, ``--repeats`` runs of each stage:

* ``log-mel``: :class:`~skemotion.audio.LogMelSpectrogram` on the wav (read, crop, 88 x 24);
* ``landmarks (uncached)``: :class:`~skemotion.face.FaceLandmarks` ``extract`` with the
  cache off: mp4 decoding and dlib detect-then-track over the 88 centre frames;
* ``landmarks (cached)``: the same from a warm on-disk cache (file hash + read);
* ``KPD``: :class:`~skemotion.face.KeyPointDistances` from the track, calibrated by the
  actor's neutral track (extracted once per user, as a headset would at enrolment);
* ``forward, TorchScript``: the exported graph on the raw (1, 88, 24) and (1, 88, 780)
  features (standardisation folded in);
* ``forward, skorch (baseline)``: the fitted steps it replaces, in the same process:
  the ModalityUnion of TemporalStandardScalers, then ``FusionClassifier.predict_proba``;
* ``forward, eager module (fused kernel)``: the fitted torch module alone on the
  standardised features (no validation, no DataLoader): how much of the baseline is the
  network itself;
* ``forward, onnxruntime``: the ONNX export (one intra-op thread), when onnxruntime is
  installed;
* ``pipeline.predict_proba``: the whole scikit-learn pipeline on the one-row table
  (landmark cache warm, the neutral reference included);

then the totals features + forward, cached and not. Median and 90th percentile of wall
time; the median CPU time of this process as well, which leaves out what other processes
on a shared machine take from the core. Results are printed and written as JSON.
"""

from __future__ import annotations

import os

# Must precede the numpy / torch / OpenCV imports to limit their thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import skemotion
from skemotion.audio import LogMelSpectrogram
from skemotion.compose import make_fusion_pipeline
from skemotion.datasets import (
    RavdessName,
    parse_ravdess_name,
    synthesize_face_video,
    synthesize_speech,
)
from skemotion.deploy import export_onnx, export_torchscript
from skemotion.face import FaceLandmarks, KeyPointDistances

CLIP = "03-01-03-02-01-01-01.wav"  # happy, strong, statement 1, repetition 1, actor 1
N_CLASSES = 8


def idlest_cpu(allowed: set[int], *, interval: float = 0.5) -> int:
    """The allowed core with the most idle time over ``interval`` s (Linux /proc/stat)."""

    def idle() -> dict[int, int]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    out[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
        return out

    try:
        before = idle()
        time.sleep(interval)
        after = idle()
    except OSError:
        return min(allowed)
    return max(allowed, key=lambda c: after.get(c, 0) - before.get(c, 0))


def write_recordings(root: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """The clip's wav and mp4 and its neutral calibration mp4, as make_ravdess_like writes them.

    make_ravdess_like has no clip subset (one actor is 60 recordings, minutes of video
    synthesis on a busy machine): the two recordings needed here are synthesized alone,
    the same sound and frames, encoded as it encodes them (16-bit PCM; H.264, yuv420p).
    """
    import av
    import soundfile as sf

    clip = parse_ravdess_name(CLIP)
    neutral = dataclasses.replace(clip, emotion="neutral", intensity="normal")
    folder = root / "Actor_01"
    folder.mkdir(parents=True, exist_ok=True)
    durations = (2.9, 5.2)

    def video(name: RavdessName) -> Path:
        return folder / dataclasses.replace(name, modality="video-only").to_name(".mp4")

    for name in (clip, neutral):
        y = synthesize_speech(
            name, sr=48_000, duration_range=durations, noise_level=0.003, random_state=seed
        )
        pcm = np.round(y * 32767).astype(np.int16)
        sf.write(folder / name.to_name(".wav"), pcm, 48_000, subtype="PCM_16", format="WAV")
        frames, fps = synthesize_face_video(
            name, frame_size=(640, 360), duration_range=durations, random_state=seed
        )
        with av.open(str(video(name)), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "23"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
    return folder / clip.to_name(".wav"), video(clip), video(neutral)


def timed(fn: Callable[[], Any], *, repeats: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    ms = np.asarray(wall) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "min_ms": float(ms.min()),
        "cpu_median_ms": float(np.median(cpu) * 1e3),
        "repeats": repeats,
    }


def fitted_fusion(cache: Path, *, seed: int) -> Any:
    """make_fusion_pipeline(("lms", "kpd")) with the paper's shape, scaler and network fitted."""
    pipe = make_fusion_pipeline(
        ("lms", "kpd"),
        landmarks=FaceLandmarks(cache_dir=cache),
        max_epochs=1,
        batch_size=16,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    n = 32
    features = {
        "lms": (rng.normal(size=(n, 88, 24)) * 10.0 - 40.0).astype(np.float32),
        "kpd": (rng.normal(size=(n, 88, 780)) * 0.05 + 1.0).astype(np.float32),
    }
    labels = np.asarray(skemotion.EMOTIONS)[np.arange(n) % N_CLASSES]
    # The "features" step learns nothing; the scaler and network are fitted on random
    # features (weights do not change latency), sharing the objects of `pipe`.
    pipe[1:].fit(features, labels)
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per stage")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per stage first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime row")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    cpu = idlest_cpu(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - the face extra brings OpenCV
        pass
    load = os.getloadavg()
    print(
        f"pinned to CPU {cpu} of {os.cpu_count()}; torch threads {torch.get_num_threads()}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        wav, mp4, neutral_mp4 = write_recordings(root / "corpus", seed=args.seed)
        print(f"recordings written in {time.perf_counter() - start:.1f} s: {wav.name}, {mp4.name}")
        cache = root / "landmarks"
        start = time.perf_counter()
        pipe = fitted_fusion(cache, seed=args.seed)
        elapsed = time.perf_counter() - start
        print(f"LMS + KPD fusion model (64 filters, 7 scales) fitted in {elapsed:.1f} s")

        logmel = LogMelSpectrogram().fit([str(wav)])
        uncached = FaceLandmarks(cache_dir=False)
        cached = FaceLandmarks(cache_dir=cache)
        # Calibration: the user's neutral face, extracted once at enrolment.
        (reference,) = uncached.extract([str(neutral_mp4)])
        kpd = KeyPointDistances(uncached, references={1: reference}).fit([str(mp4)])
        cached.extract([str(mp4)])  # fills the cache for the cached rows

        lms_features = logmel.transform([str(wav)])
        (track,) = uncached.extract([str(mp4)])
        kpd_features = kpd.transform([track])
        raw = {"lms": lms_features, "kpd": kpd_features}
        print(f"features: lms {lms_features.shape}, kpd {kpd_features.shape}")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's deprecation
            exported = export_torchscript(pipe, root / "fusion.pt", example=raw)
        module = exported.module_
        tensors = (torch.from_numpy(raw["lms"]), torch.from_numpy(raw["kpd"]))
        scaler, fusion = pipe.named_steps["scaler"], pipe.named_steps["fusion"]
        baseline = fusion.predict_proba(scaler.transform(raw))
        with torch.inference_mode():
            scripted = module(*tensors).numpy()
        difference = float(np.abs(scripted - baseline).max())

        def torchscript_forward() -> Any:
            with torch.inference_mode():
                return module(*tensors)

        table = pd.DataFrame({"audio_path": [str(wav)], "video_path": [str(mp4)], "actor": [1]})
        pipe.named_steps["features"].fit(table)  # records the input; warms the cache

        network = fusion.module_
        scaled = {name: torch.from_numpy(array) for name, array in scaler.transform(raw).items()}

        def eager_forward() -> Any:
            with torch.inference_mode():
                return torch.softmax(network(**scaled), dim=-1)

        stages: dict[str, Callable[[], Any]] = {
            "log-mel": lambda: logmel.transform([str(wav)]),
            "landmarks (uncached)": lambda: uncached.extract([str(mp4)]),
            "landmarks (cached)": lambda: cached.extract([str(mp4)]),
            "KPD from track": lambda: kpd.transform([track]),
            "forward, skorch (baseline)": lambda: fusion.predict_proba(scaler.transform(raw)),
            "forward, eager module (fused kernel)": eager_forward,
            "forward, TorchScript": torchscript_forward,
        }
        onnx_note = None
        if not args.no_onnx:
            try:
                import onnxruntime

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exported_onnx = export_onnx(pipe, root / "fusion.onnx", example=raw)
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                session = onnxruntime.InferenceSession(
                    str(root / "fusion.onnx"), options, providers=["CPUExecutionProvider"]
                )
                feeds = {name: raw[name] for name in exported_onnx.input_names_}
                stages["forward, onnxruntime"] = lambda: session.run(["proba"], feeds)
            except ImportError as error:
                onnx_note = f"skipped: {error}"
        stages["pipeline.predict_proba (cache warm)"] = lambda: pipe.predict_proba(table)

        results: dict[str, dict[str, float]] = {}
        for name, fn in stages.items():
            results[name] = timed(fn, repeats=args.repeats, warmup=args.warmup)
            row = results[name]
            print(
                f"  {name:38s} median {row['median_ms']:9.2f} ms  p90 {row['p90_ms']:9.2f} ms"
                f"  cpu {row['cpu_median_ms']:9.2f} ms"
            )

    def median(name: str) -> float:
        return results[name]["median_ms"]

    features_uncached = (
        median("log-mel") + median("landmarks (uncached)") + median("KPD from track")
    )
    features_cached = median("log-mel") + median("landmarks (cached)") + median("KPD from track")
    totals = {
        "features (landmarks uncached) + TorchScript": features_uncached
        + median("forward, TorchScript"),
        "features (landmarks cached) + TorchScript": features_cached
        + median("forward, TorchScript"),
        "features (landmarks uncached) + skorch": features_uncached
        + median("forward, skorch (baseline)"),
    }
    ratios = {
        "skorch / TorchScript forward": median("forward, skorch (baseline)")
        / median("forward, TorchScript")
    }
    if "forward, onnxruntime" in results:
        ratios["skorch / onnxruntime forward"] = median("forward, skorch (baseline)") / median(
            "forward, onnxruntime"
        )

    print(f"\n{'stage (one clip, one thread)':44s}{'median ms':>11s}{'p90 ms':>10s}{'CPU ms':>10s}")
    for name, row in results.items():
        print(
            f"{name:44s}{row['median_ms']:11.2f}{row['p90_ms']:10.2f}{row['cpu_median_ms']:10.2f}"
        )
    print(f"\n{'total (sum of medians)':44s}{'ms':>11s}")
    for name, value in totals.items():
        print(f"{name:44s}{value:11.2f}")
    for name, value in ratios.items():
        print(f"{name:44s}{value:10.2f}x")
    print(f"TorchScript vs skorch probabilities: max |difference| {difference:.2g}")
    if onnx_note:
        print(f"onnxruntime: {onnx_note}")

    report = {
        "benchmark": "bench_deploy",
        "model": "LMS + KPD FusionClassifier, 64 filters, 7 scales, 3 layers",
        "inputs": {"lms": list(lms_features.shape), "kpd": list(kpd_features.shape)},
        "video": "640x360 H.264, 30 fps (synthetic RAVDESS-like)",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "seed": args.seed,
        "stages": results,
        "totals_ms": totals,
        "ratios": ratios,
        "torchscript_vs_skorch_max_abs_diff": difference,
        "onnx": onnx_note or "measured",
        "machine": {
            "cpu_pinned": cpu,
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load,
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "skemotion": skemotion.__version__,
        },
    }
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {args.output}")


if __name__ == "__main__":
    main()
