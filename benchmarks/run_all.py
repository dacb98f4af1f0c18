"""The performance suite: every benchmark part, each against a baseline timed in the same run.

Run: ``python benchmarks/run_all.py [--quick] [--output benchmarks-results.json]
[--parts logmel landmarks kpd timnet fusion growth scaling] [--seed 0]``.

``--quick`` sizes every part for a few seconds (a check that the suite runs, not a
measurement); the full mode is the measurement and wants an idle machine. Every part
prints a table and goes into one JSON file with its figure, its baseline, the ratio,
its settings and the load average before and after it; the file also records the
machine (CPU model, cores, library versions, thread settings, load average at start and
end), so a run on a loaded machine is visible as such. Seeds are fixed; every timing is
the best of its repeats (wall clock) unless said otherwise. BLAS, OpenMP, OpenCV and
torch use one thread, so a figure is one core's worth of work.

The ratio is always the speed-up over the baseline: baseline cost / figure cost (> 1:
faster than the baseline). Parts:

* ``logmel``: :class:`~skemotion.audio.LogMelSpectrogram` vs. a bare librosa loop
  (``bench_logmel.bare_librosa_loop``) on synthetic 3.5 s 48 kHz wav clips;
* ``landmarks``: dlib detect-then-track (:func:`~skemotion.face.track_face_landmarks`
  defaults) vs. detecting at full resolution in every frame, decoding included, on
  ``bench_landmarks.write_clip``'s 1280x720 moving face;
* ``kpd``: the 780 key-point distances of random 68-point tracks (88 frames, 2D and 3D):
  :func:`~skemotion.face.keypoint_distances` vs. :func:`per_frame_pairwise_distances`
  (a loop over frames, kept here as the reference), with the previous vectorised form
  (:func:`norm_pairwise_distances`, ``np.linalg.norm`` over the last axis) as "before";
  then the whole :class:`~skemotion.face.KeyPointDistances` transform on OpenFace-CSV
  clips with a warm landmark cache, neutral-reference calibration included, with each
  of the three distance functions, and the landmark extractions it makes;
* ``timnet``: TIM-Net training (samples/s, ``bench_timnet.training_throughput``) and
  single-clip inference (crop + log-mel + forward, ``bench_timnet.inference_latency_ms``)
  with the fused causal-convolution kernel vs. the plain autograd path (``fused=False``);
* ``fusion``: :class:`~skemotion.nets.FusionClassifier` on log-mel (88 x 24) + KPD
  (88 x 780) vs. the sum of the two single-modality
  :class:`~skemotion.nets.TIMNetClassifier` fits on the same data and epochs;
* ``growth``: the cost of log-mel, KPD and one TIM-Net training epoch vs. the number of
  clips and vs. frames per clip, with the log-log slope (1: linear);
* ``scaling``: ``bench_scaling.py`` (log-mel and landmark extraction on a Dask
  LocalCluster of 1, 2, 4 workers vs. serial) in a subprocess. It writes a 60-video
  corpus first, so ``--quick`` leaves it out unless named in ``--parts``.
"""

from __future__ import annotations

import os

# Must precede the numpy / torch / OpenCV imports to limit their thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import soundfile as sf
import torch

# The other benchmark scripts are modules of this folder, on sys.path when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_landmarks
import bench_logmel
import bench_timnet

import skemotion
from skemotion.audio import LogMelSpectrogram
from skemotion.datasets import parse_ravdess_name
from skemotion.face import (
    KPD_LANDMARK_INDICES,
    OPENFACE_REQUIRED_COLUMNS,
    FaceLandmarks,
    FaceTrack,
    KeyPointDistances,
    pairwise_distances,
)

PARTS = ("logmel", "landmarks", "kpd", "timnet", "fusion", "growth", "scaling")

# (quick, full) settings of every part.
SIZES: dict[str, tuple[Any, Any]] = {
    "logmel_clips": (8, 200),
    "landmark_seconds": (0.4, 4.0),
    "kpd_clips": (20, 400),
    "kpd_transform_clips": (20, 200),
    "timnet_steps": (2, 20),
    "timnet_latency_repeats": (10, 100),
    "fusion_clips": (64, 512),
    "fusion_epochs": (1, 5),
    "growth_logmel_clips": ((4, 8, 16), (50, 100, 200)),
    "growth_kpd_clips": ((25, 50, 100), (100, 200, 400)),
    "growth_timnet_clips": ((32, 64, 128), (128, 256, 512)),
    "growth_frames": ((44, 88, 176), (44, 88, 176)),
    "repeats": (1, 3),
}


# -- reference implementations --------------------------------------------------------------


def per_frame_pairwise_distances(points: np.ndarray) -> np.ndarray:
    """The baseline: pairwise distances one frame at a time, a Python loop over frames.

    Parameters
    ----------
    points : np.ndarray, shape (n_frames, n_points, n_dims)

    Returns
    -------
    distances : np.ndarray of float64, shape (n_frames, n_points * (n_points - 1) // 2)
    """
    points = np.asarray(points, dtype=np.float64)
    first, second = np.triu_indices(points.shape[1], k=1)
    return np.stack([np.linalg.norm(frame[first] - frame[second], axis=-1) for frame in points])


def norm_pairwise_distances(points: np.ndarray) -> np.ndarray:
    """skemotion's form before the speed work: all frames at once, norm over the last axis.

    Parameters
    ----------
    points : np.ndarray, shape (n_frames, n_points, n_dims)

    Returns
    -------
    distances : np.ndarray of float64, shape (n_frames, n_points * (n_points - 1) // 2)
    """
    points = np.asarray(points, dtype=np.float64)
    first, second = np.triu_indices(points.shape[1], k=1)
    return np.linalg.norm(points[:, first] - points[:, second], axis=-1)


# -- helpers ---------------------------------------------------------------------------------


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(best wall seconds, best CPU seconds of this process, last result) of ``repeats`` runs."""
    return bench_landmarks.best_of(repeats, fn)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were measured on, so runs on different machines are not compared."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    import librosa

    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "node": platform.node(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "librosa": librosa.__version__,
        "skemotion": skemotion.__version__,
        "torch_threads": torch.get_num_threads(),
        "thread_env": {
            name: os.environ.get(name)
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }


def part_record(
    *,
    figure: float,
    baseline: float,
    unit: str,
    figure_name: str,
    baseline_name: str,
    higher_is_better: bool,
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    started: list[float],
) -> dict[str, Any]:
    """One part's JSON entry; ``ratio`` is the speed-up of the figure over the baseline."""
    ratio = figure / baseline if higher_is_better else baseline / figure
    return {
        "figure": {"name": figure_name, "value": figure, "unit": unit},
        "baseline": {"name": baseline_name, "value": baseline, "unit": unit},
        "ratio": ratio,
        "ratio_meaning": "speed-up over the baseline (> 1: faster)",
        "settings": settings,
        "rows": rows,
        "load_average_before": started,
        "load_average_after": load(),
    }


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    print(f"\n## {title}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(" --- " for _ in columns) + "|")
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            if isinstance(value, float):
                value = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
            cells.append(str(value))
        print("| " + " | ".join(cells) + " |")


def loglog_slope(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Exponent b of cost ~ size**b, a least-squares fit of log cost on log size."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def write_wavs(folder: Path, n: int, *, seconds: float, seed: int) -> list[Path]:
    """``n`` tones in noise, 48 kHz 16-bit, as in bench_logmel."""
    rng = np.random.default_rng(seed)
    sr = bench_logmel.SR
    t = np.arange(int(seconds * sr)) / sr
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        y = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
        y += 0.05 * rng.standard_normal(len(t))
        path = folder / f"clip_{i:04d}.wav"
        sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
        paths.append(path)
    return paths


def random_tracks(n_clips: int, n_frames: int, *, seed: int, dims: int = 2) -> np.ndarray:
    """(n_clips, n_frames, 68, dims) landmarks: a fixed face with per-frame jitter."""
    rng = np.random.default_rng(seed)
    face = rng.uniform(300, 700, size=(1, 1, 68, dims))
    return face + rng.normal(0, 2.0, size=(n_clips, n_frames, 68, dims))


def face_tracks(landmarks: np.ndarray) -> list[FaceTrack]:
    n_frames = landmarks.shape[1]
    return [
        FaceTrack(
            landmarks_2d=clip.astype(np.float32),
            head_pose=np.zeros((n_frames, 6), dtype=np.float32),
            success=np.ones(n_frames, dtype=bool),
            confidence=np.ones(n_frames, dtype=np.float32),
            frame_indices=np.arange(n_frames),
            fps=30.0,
            frame_size=(1280, 720),
            source=f"clip_{i}",
            backend="dlib",
        )
        for i, clip in enumerate(landmarks)
    ]


def epoch_seconds(n_clips: int, n_frames: int, *, seed: int) -> float:
    """One training epoch of the paper's TIM-Net (fused) over random 24-mel clips, batch 64."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_clips, n_frames, 24, generator=generator)
    y = torch.randint(0, 8, (n_clips,), generator=generator)
    torch.manual_seed(seed)
    net = bench_timnet.TIMNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.93, 0.98))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    net.train()

    def step(batch: slice) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x[batch]), y[batch]).backward()
        optimizer.step()

    step(slice(0, bench_timnet.BATCH))  # first-call costs
    start = time.perf_counter()
    for first in range(0, n_clips, bench_timnet.BATCH):
        step(slice(first, first + bench_timnet.BATCH))
    return time.perf_counter() - start


# -- parts -----------------------------------------------------------------------------------


def part_logmel(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    started = load()
    n, repeats = size("logmel_clips"), size("repeats")
    paths = write_wavs(tmp / "logmel", n, seconds=3.5, seed=seed)
    bench_logmel.bare_librosa_loop(paths[:1])  # imports, numba compilation
    base, base_cpu, ref = best(lambda: bench_logmel.bare_librosa_loop(paths), repeats)
    lms = LogMelSpectrogram(n_jobs=1)
    lms.fit_transform(paths[:1])
    wall, cpu, X = best(lambda: lms.fit_transform(paths), repeats)
    rows = [
        {"setting": "bare librosa loop (baseline)", "clips/s": n / base, "per CPU-s": n / base_cpu},
        {
            "setting": "LogMelSpectrogram(n_jobs=1)",
            "clips/s": n / wall,
            "per CPU-s": n / cpu,
            "speed-up": base / wall,
            "max |diff| dB": float(np.abs(X - ref).max()),
        },
    ]
    print_table(f"log-mel: {n} synthetic 3.5 s clips", rows, list(rows[1]))
    return part_record(
        figure=n / wall,
        baseline=n / base,
        unit="clips/s",
        figure_name="LogMelSpectrogram(n_jobs=1)",
        baseline_name="bare librosa loop (soundfile + crop + melspectrogram + power_to_db)",
        higher_is_better=True,
        settings={"clips": n, "clip_seconds": 3.5, "repeats": repeats, **bench_logmel.PARAMS},
        rows=rows,
        started=started,
    )


def part_landmarks(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    import cv2

    from skemotion.face import iter_frames, track_face_landmarks

    started = load()
    cv2.setNumThreads(1)
    seconds, repeats = size("landmark_seconds"), size("repeats")
    path = bench_landmarks.write_clip(tmp / "face.mp4", seconds=seconds, seed=seed)
    start = time.perf_counter()
    track_face_landmarks([np.zeros((64, 64), dtype=np.uint8)])  # loads the 100 MB model
    model_load = time.perf_counter() - start
    n = bench_landmarks.decode_only(path)
    t_dec, c_dec, _ = best(lambda: bench_landmarks.decode_only(path), repeats)
    t_a, c_a, res_a = best(lambda: track_face_landmarks(iter_frames(path, color="gray")), repeats)
    # The baseline is the slow part: one run, as bench_landmarks does.
    t_b, c_b, res_b = best(
        lambda: track_face_landmarks(
            iter_frames(path, color="gray"), detect_every_frame=True, detect_width=None
        ),
        1,
    )
    both = res_a.success & res_b.success
    gap = np.linalg.norm(res_a.landmarks[both] - res_b.landmarks[both], axis=-1)
    rows = [
        {"setting": "decode only (gray)", "frames/s": n / t_dec, "per CPU-s": n / c_dec},
        {
            "setting": "detect every frame, full resolution (baseline)",
            "frames/s": n / t_b,
            "per CPU-s": n / c_b,
            "detections/frame": res_b.n_detections / n,
        },
        {
            "setting": "detect-then-track (defaults)",
            "frames/s": n / t_a,
            "per CPU-s": n / c_a,
            "detections/frame": res_a.n_detections / n,
            "speed-up": t_b / t_a,
        },
    ]
    print_table(f"landmarks: {n} frames of 1280x720, decoding included", rows, list(rows[2]))
    print(
        f"model load {model_load:.2f} s (once per process); landmarks (a) vs (b): mean "
        f"{gap.mean() if both.any() else float('nan'):.2f} px over {int(both.sum())} frames"
    )
    return part_record(
        figure=n / t_a,
        baseline=n / t_b,
        unit="frames/s",
        figure_name="track_face_landmarks, detect-then-track (detect_width=320)",
        baseline_name="track_face_landmarks(detect_every_frame=True, detect_width=None)",
        higher_is_better=True,
        settings={
            "frames": n,
            "size": [bench_landmarks.WIDTH, bench_landmarks.HEIGHT],
            "repeats": repeats,
            "baseline_repeats": 1,
            "model_load_seconds": model_load,
            "mean_landmark_gap_px": float(gap.mean()) if both.any() else None,
        },
        rows=rows,
        started=started,
    )


def _openface_corpus(root: Path, n_clips: int, *, seed: int) -> list[str]:
    """RAVDESS-named OpenFace CSVs; one clip in five is a neutral repetition 1 (a reference)."""
    from skemotion.datasets import RavdessName

    emotions = ("neutral", "calm", "happy", "sad", "angry")
    paths = []
    for i in range(n_clips):
        emotion = emotions[i % 5]
        statement, actor = 1 + (i // 5) % 2, 1 + i // 10
        name = RavdessName(
            modality="video-only",
            vocal_channel="speech",
            emotion=emotion,
            intensity="normal",
            statement=statement,
            repetition=1,
            actor=actor,
        )
        path = root / f"Actor_{actor:02d}" / name.to_name(".csv")
        _write_openface_csv(path, n_frames=88, seed=seed + i)
        paths.append(str(path))
    return paths


def _write_openface_csv(path: Path, *, n_frames: int, seed: int) -> None:
    """A FeatureExtraction CSV of a still face that wobbles: what KPD reads, 2D and 3D."""
    rng = np.random.default_rng(seed)
    face = np.random.default_rng(0).uniform(300, 700, size=(68, 2))
    landmarks = face + rng.normal(0, 2.0, size=(n_frames, 68, 2))
    table = {column: np.zeros(n_frames) for column in OPENFACE_REQUIRED_COLUMNS}
    table["frame"] = np.arange(1, n_frames + 1)
    table["timestamp"] = np.round(np.arange(n_frames) / 30.0, 3)
    table["confidence"] = np.full(n_frames, 0.98)
    table["success"] = np.ones(n_frames)
    table["pose_Tz"] = np.full(n_frames, 600.0)
    for i in range(68):
        table[f"x_{i}"], table[f"y_{i}"] = landmarks[:, i, 0], landmarks[:, i, 1]
        table[f"X_{i}"], table[f"Y_{i}"] = landmarks[:, i, 0] / 10, landmarks[:, i, 1] / 10
        table[f"Z_{i}"] = 500 + rng.normal(0, 1, n_frames)
    lines = [", ".join(table)]
    lines += [", ".join(f"{values[row]:g}" for values in table.values()) for row in range(n_frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def part_kpd(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    started = load()
    n, repeats = size("kpd_clips"), size("repeats")
    functions = {
        "per-frame loop (baseline)": per_frame_pairwise_distances,
        "all frames, norm over last axis (before)": norm_pairwise_distances,
        "all frames, coordinate-major (now)": pairwise_distances,
    }
    rows: list[dict[str, Any]] = []
    figures: dict[tuple[str, int], float] = {}
    indices = list(KPD_LANDMARK_INDICES)
    for dims in (2, 3):
        clips = random_tracks(n, 88, seed=seed, dims=dims).astype(np.float32)
        reference = None
        for label, fn in functions.items():
            wall, _, out = best(lambda fn=fn, x=clips: [fn(c[:, indices]) for c in x], repeats)
            if reference is None:
                reference = out
            else:
                np.testing.assert_allclose(out, reference, rtol=1e-12, atol=0)
            figures[(label, dims)] = n / wall
            rows.append({"distances": label, "dims": dims, "clips/s": n / wall})
        for row in rows[-3:]:
            row["speed-up"] = row["clips/s"] / rows[-3]["clips/s"]
    print_table(f"KPD: 780 distances of {n} clips x 88 frames", rows, list(rows[-1]))

    # The whole transformer, from a warm cache, as a grid search or a second run sees it.
    n_transform = size("kpd_transform_clips")
    clips_csv = _openface_corpus(tmp / "openface", n_transform, seed=seed)
    extractor = FaceLandmarks("openface", cache_dir=tmp / "landmark-cache")
    kpd = KeyPointDistances(extractor)
    kpd.transform(clips_csv)  # fills the cache
    transform_rows = []
    for label, fn in functions.items():
        # The only private name here: the transformer's own distance function, swapped
        # for the older ones to time them inside the whole transform.
        with mock.patch("skemotion.face._geometry.pairwise_distances", fn):
            wall, _, _ = best(lambda: kpd.transform(clips_csv), repeats)
        transform_rows.append({"distances": label, "clips/s": n_transform / wall})
    for row in transform_rows:
        row["speed-up"] = row["clips/s"] / transform_rows[0]["clips/s"]
    calls: list[str] = []
    original = extractor.extract

    def counting(paths: Any, *args: Any, **kwargs: Any) -> Any:
        paths = list(paths)
        calls.extend(paths)
        return original(paths, *args, **kwargs)

    with mock.patch.object(extractor, "extract", counting):
        kpd.transform(clips_csv)
    neutral = [p for p in clips_csv if parse_ravdess_name(p).emotion == "neutral"]
    # What the previous code did on top: extract every neutral clip in X again as a
    # reference (a cache read here; decoding and dlib tracking without a cache).
    extra, _, _ = best(lambda: extractor.extract(neutral), repeats)
    print_table(
        f"KeyPointDistances.transform: {n_transform} OpenFace-CSV clips (3D), warm cache, "
        "neutral-reference calibration",
        transform_rows,
        list(transform_rows[0]),
    )
    print(
        f"landmark extractions per transform: {len(calls)} for {n_transform} clips "
        f"(before: {len(calls) + len(neutral)}, each of the {len(neutral)} neutral clips "
        f"extracted again as a reference, {1e3 * extra:.1f} ms from the warm cache)"
    )
    label_now, label_base = "all frames, coordinate-major (now)", "per-frame loop (baseline)"
    return part_record(
        figure=figures[(label_now, 2)],
        baseline=figures[(label_base, 2)],
        unit="clips/s (2D, 88 frames, 780 distances)",
        figure_name="skemotion.face.keypoint_distances",
        baseline_name="per_frame_pairwise_distances (loop over frames)",
        higher_is_better=True,
        settings={"clips": n, "frames": 88, "repeats": repeats, "transform_clips": n_transform},
        rows=rows
        + [{"transform": True, **row} for row in transform_rows]
        + [
            {
                "extractions_per_transform": len(calls),
                "extractions_before": len(calls) + len(neutral),
                "reference_reextraction_seconds_avoided_warm_cache": extra,
            }
        ],
        started=started,
    )


def part_timnet(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    started = load()
    steps, repeats = size("timnet_steps"), size("timnet_latency_repeats")
    warmup = 1 if steps < 5 else 3
    torch.manual_seed(seed)
    base = bench_timnet.training_throughput(
        bench_timnet.TIMNet(fused=False), steps=steps, warmup=warmup
    )
    torch.manual_seed(seed)
    fused = bench_timnet.training_throughput(bench_timnet.TIMNet(), steps=steps, warmup=warmup)
    torch.manual_seed(seed)
    latency_base = bench_timnet.inference_latency_ms(
        bench_timnet.TIMNet(fused=False), repeats=repeats
    )
    torch.manual_seed(seed)
    latency = bench_timnet.inference_latency_ms(bench_timnet.TIMNet(), repeats=repeats)
    rows = [
        {"measure": "training, autograd path (baseline)", "value": base, "unit": "samples/s"},
        {
            "measure": "training, fused kernel",
            "value": fused,
            "unit": "samples/s",
            "speed-up": fused / base,
        },
        {"measure": "inference, autograd path (baseline)", "value": latency_base, "unit": "ms"},
        {
            "measure": "inference, fused kernel",
            "value": latency,
            "unit": "ms",
            "speed-up": latency_base / latency,
        },
    ]
    print_table(
        "TIM-Net (3 layers/block, 64 filters, 7 scales): training batch 64 x 88 x 24; "
        "single-clip inference (crop + log-mel + forward)",
        rows,
        list(rows[1]),
    )
    record = part_record(
        figure=fused,
        baseline=base,
        unit="training samples/s",
        figure_name="TIMNet() fused causal-convolution kernel",
        baseline_name="TIMNet(fused=False), plain autograd",
        higher_is_better=True,
        settings={"steps": steps, "warmup": warmup, "batch": bench_timnet.BATCH},
        rows=rows,
        started=started,
    )
    record["inference"] = {
        "figure": {"name": "TIMNet() fused", "value": latency, "unit": "ms per clip"},
        "baseline": {"name": "TIMNet(fused=False)", "value": latency_base, "unit": "ms per clip"},
        "ratio": latency_base / latency,
        "settings": {"repeats": repeats, "statistic": "median"},
    }
    return record


def part_fusion(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    from skemotion.nets import FusionClassifier, TIMNetClassifier

    started = load()
    n, epochs = size("fusion_clips"), size("fusion_epochs")
    rng = np.random.default_rng(seed)
    lms = (rng.normal(size=(n, 88, 24)) * 10.0 - 40.0).astype(np.float32)
    kpd = (rng.normal(size=(n, 88, 780)) * 0.05 + 1.0).astype(np.float32)
    y = np.asarray(skemotion.EMOTIONS)[np.arange(n) % 8]
    common = {"max_epochs": epochs, "batch_size": 64, "random_state": seed}

    def fit_time(model: Any, X: Any) -> float:
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start

    # First-call costs (skorch, torch kernels) would otherwise land on whichever fit is first.
    warm = {**common, "max_epochs": 1}
    TIMNetClassifier(**warm).fit(lms[:8], y[:8])
    FusionClassifier(**warm).fit({"lms": lms[:8], "kpd": kpd[:8]}, y[:8])
    t_lms = fit_time(TIMNetClassifier(**common), lms)
    t_kpd = fit_time(TIMNetClassifier(**common), kpd)
    t_fusion = fit_time(FusionClassifier(**common), {"lms": lms, "kpd": kpd})
    rows = [
        {"model": "TIMNetClassifier on log-mel", "seconds": t_lms},
        {"model": "TIMNetClassifier on KPD", "seconds": t_kpd},
        {"model": "sum of the two (baseline)", "seconds": t_lms + t_kpd},
        {
            "model": "FusionClassifier, log-mel + KPD",
            "seconds": t_fusion,
            "speed-up": (t_lms + t_kpd) / t_fusion,
        },
    ]
    print_table(
        f"fusion training: {n} clips, {epochs} epoch(s), 64 filters, 7 scales",
        rows,
        ["model", "seconds", "speed-up"],
    )
    return part_record(
        figure=t_fusion,
        baseline=t_lms + t_kpd,
        unit="seconds per fit",
        figure_name="FusionClassifier({'lms': 88x24, 'kpd': 88x780})",
        baseline_name="TIMNetClassifier(lms).fit + TIMNetClassifier(kpd).fit",
        higher_is_better=False,
        settings={"clips": n, **common},
        rows=rows,
        started=started,
    )


def part_growth(size: Callable[[str], Any], tmp: Path, seed: int) -> dict[str, Any]:
    started = load()
    repeats = size("repeats")
    frames = list(size("growth_frames"))
    hop = bench_logmel.PARAMS["hop_length"]
    tables: dict[str, dict[str, Any]] = {}

    def table(name: str, axis: str, sizes: list[int], seconds: list[float]) -> None:
        tables[name] = {
            "axis": axis,
            "sizes": sizes,
            "seconds": seconds,
            "loglog_slope": loglog_slope(sizes, seconds),
        }

    # log-mel: clips of 6 s, long enough for the largest crop.
    clip_counts = list(size("growth_logmel_clips"))
    wavs = write_wavs(tmp / "growth", max(clip_counts), seconds=6.0, seed=seed)
    lms = LogMelSpectrogram(n_jobs=1)
    lms.fit_transform(wavs[:1])
    table(
        "log-mel vs clips",
        "clips (88 frames)",
        clip_counts,
        [best(lambda k=k: lms.fit_transform(wavs[:k]), repeats)[0] for k in clip_counts],
    )
    k = clip_counts[0]
    times = []
    for f in frames:
        lms_f = LogMelSpectrogram(n_jobs=1, crop_length=f * hop)
        assert lms_f.fit_transform(wavs[:1]).shape[1] == f
        times.append(best(lambda lms_f=lms_f: lms_f.fit_transform(wavs[:k]), repeats)[0])
    table("log-mel vs frames", f"frames per clip ({k} clips)", frames, times)

    # KPD: the transformer on in-memory tracks (no decoding), per-frame eye-distance scale.
    kpd = KeyPointDistances(normalization="inter_ocular")
    clip_counts = list(size("growth_kpd_clips"))
    tracks = face_tracks(random_tracks(max(clip_counts), 88, seed=seed))
    table(
        "KPD vs clips",
        "clips (88 frames)",
        clip_counts,
        [best(lambda k=k: kpd.fit_transform(tracks[:k]), repeats)[0] for k in clip_counts],
    )
    k = clip_counts[0]
    times = []
    for f in frames:
        tracks_f = face_tracks(random_tracks(k, f, seed=seed))
        times.append(best(lambda t=tracks_f: kpd.fit_transform(t), repeats)[0])
    table("KPD vs frames", f"frames per clip ({k} clips)", frames, times)

    # TIM-Net: one training epoch, batches of 64.
    clip_counts = list(size("growth_timnet_clips"))
    table(
        "TIM-Net epoch vs clips",
        "clips (88 frames)",
        clip_counts,
        [epoch_seconds(k, 88, seed=seed) for k in clip_counts],
    )
    k = clip_counts[0]
    table(
        "TIM-Net epoch vs frames",
        f"frames per clip ({k} clips)",
        frames,
        [epoch_seconds(k, f, seed=seed) for f in frames],
    )

    rows = []
    for name, t in tables.items():
        rows.append(
            {
                "cost": name,
                "axis": t["axis"],
                "sizes": " / ".join(map(str, t["sizes"])),
                "seconds": " / ".join(f"{s:.3g}" for s in t["seconds"]),
                "log-log slope": t["loglog_slope"],
            }
        )
    print_table("growth: cost vs corpus size and clip length", rows, list(rows[0]))
    return {"tables": tables, "load_average_before": started, "load_average_after": load()}


def part_scaling(quick: bool, tmp: Path, seed: int) -> dict[str, Any]:
    """bench_scaling.py in a subprocess: its Dask cluster stays out of this process."""
    script = Path(__file__).resolve().parent / "bench_scaling.py"
    started = load()
    output = tmp / "scaling.json"
    sizes = (
        ["--workers", "1", "2", "--audio-actors", "1", "--video-clips", "2", "--repeat", "1"]
        if quick
        else ["--workers", "1", "2", "4"]
    )
    command = [sys.executable, str(script), *sizes, "--seed", str(seed), "--output", str(output)]
    print("\n## scaling (bench_scaling.py)\n$ " + " ".join(command[1:]), flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0 or not output.is_file():
        return {"error": f"bench_scaling.py exited with {done.returncode}"}
    report = json.loads(output.read_text())
    report["load_average_before"], report["load_average_after"] = started, load()
    return dict(report)


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds per part: a check")
    parser.add_argument("--output", type=Path, default=Path("benchmarks-results.json"))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    parts = args.parts or [p for p in PARTS if not (args.quick and p == "scaling")]

    torch.set_num_threads(1)
    mode = "quick" if args.quick else "full"

    def size(name: str) -> Any:
        return SIZES[name][0 if args.quick else 1]

    info = machine()
    info["load_average_start"] = load()
    print(
        f"performance suite ({mode}): {info['cpu_model']}, {info['logical_cores']} logical "
        f"cores ({info['cores_available']} available); torch {info['torch']} "
        f"({info['torch_threads']} thread), numpy {info['numpy']}; load average "
        f"{' '.join(map(str, info['load_average_start']))}"
    )
    runners: dict[str, Callable[[Path], dict[str, Any]]] = {
        "logmel": lambda tmp: part_logmel(size, tmp, args.seed),
        "landmarks": lambda tmp: part_landmarks(size, tmp, args.seed),
        "kpd": lambda tmp: part_kpd(size, tmp, args.seed),
        "timnet": lambda tmp: part_timnet(size, tmp, args.seed),
        "fusion": lambda tmp: part_fusion(size, tmp, args.seed),
        "growth": lambda tmp: part_growth(size, tmp, args.seed),
        "scaling": lambda tmp: part_scaling(args.quick, tmp, args.seed),
    }
    results: dict[str, Any] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in parts:
            part_start = time.perf_counter()
            folder = Path(tmp) / name
            folder.mkdir()
            results[name] = runners[name](folder)
            results[name]["seconds_taken"] = time.perf_counter() - part_start
    if "scaling" not in parts:
        print("\n## scaling\nnot run (--quick leaves it out; --parts scaling runs it)")
    info["load_average_end"] = load()
    report = {
        "suite": "benchmarks/run_all.py",
        "mode": mode,
        "seed": args.seed,
        "sizes": {name: SIZES[name][0 if args.quick else 1] for name in SIZES},
        "machine": info,
        "seconds": time.perf_counter() - start,
        "parts": results,
    }
    summary = [
        {
            "part": name,
            "figure": f"{r['figure']['value']:.3g} {r['figure']['unit']}",
            "baseline": f"{r['baseline']['value']:.3g}",
            "speed-up": r["ratio"],
        }
        for name, r in results.items()
        if "figure" in r
    ]
    if summary:
        print_table("summary (speed-up = baseline cost / figure cost)", summary, list(summary[0]))
    print(
        f"\nload average at start {' '.join(map(str, info['load_average_start']))}, at end "
        f"{' '.join(map(str, info['load_average_end']))}; {report['seconds']:.0f} s in all"
    )
    args.output.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
