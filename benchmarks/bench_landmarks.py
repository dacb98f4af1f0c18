"""Landmark extraction speed on one core: detect-then-track vs. detecting in every frame.

Run: ``python benchmarks/bench_landmarks.py [--seconds 4] [--repeat 3]``. It writes a
1280x720, 30 fps H.264 clip to a temporary folder: the face of
``skimage.data.astronaut()`` enlarged to a RAVDESS-like ~300 px face, drifting and
slightly zooming over a shaded background, with mild noise in every frame. Then, with
the process pinned to one CPU core (the most idle one, ``os.sched_setaffinity``;
OpenCV and BLAS threads 1), it times per clip, decoding included:

(c) decoding alone (gray frames, :func:`skemotion.face.iter_frames`);
(a) :func:`skemotion.face.track_face_landmarks` with its defaults: detection on a
    320 px wide copy, then tracking;
(b) the baseline, ``detect_every_frame=True, detect_width=None``: dlib's HOG detector
    on the full-resolution frame, then the shape predictor, in every frame;

as frames/s of wall time and per CPU-second of this process (the latter leaves out
the time other processes on a shared machine take from the core; best of
``--repeat`` runs; (b) runs once unless ``--repeat-baseline``),
detector runs per frame, and the mean distance between the landmarks of (a) and
(b). Loading the 100 MB predictor (once per process) is reported separately.
"""

from __future__ import annotations

import argparse
import os

# Must precede the numpy / OpenCV imports to limit their thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np
from skimage import data

from skemotion.face import TrackedLandmarks, iter_frames, track_face_landmarks, video_info

WIDTH, HEIGHT, FPS = 1280, 720, 30
T = TypeVar("T")


def write_clip(path: Path, *, seconds: float, seed: int = 0) -> Path:
    """A moving astronaut face, ~300 px tall, in a 1280x720 30 fps H.264 mp4."""
    rng = np.random.default_rng(seed)
    head = data.astronaut()[20:270, 120:340]  # hair to chin, 250 x 220 px
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = (70 + 50 * xx / WIDTH + 20 * yy / HEIGHT).astype(np.float32)[..., None]
    background = np.repeat(background, 3, axis=2) * [1.0, 0.95, 0.9]
    n = round(seconds * FPS)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i in range(n):
            t = i / FPS
            scale = 2.4 * (1.0 + 0.04 * np.sin(2 * np.pi * t / 5.0))
            face = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            x = int(420 + 120 * np.sin(2 * np.pi * t / 6.0))
            y = int(60 + 25 * np.sin(2 * np.pi * t / 4.0))
            frame = background.copy()
            h, w = min(face.shape[0], HEIGHT - y), min(face.shape[1], WIDTH - x)
            frame[y : y + h, x : x + w] = face[:h, :w]
            frame += rng.normal(0.0, 3.0, frame.shape[:2])[..., None]
            rgb = np.clip(frame, 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, float, T]:
    """(best wall time, best CPU time of this process, over ``repeat`` calls; last result)."""
    wall, cpu = [], []
    for _ in range(max(repeat, 1)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu), result


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


def decode_only(path: Path) -> int:
    return sum(1 for _ in iter_frames(path, color="gray"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (c); best kept")
    parser.add_argument("--repeat-baseline", type=int, default=1, help="runs of (b)")
    args = parser.parse_args()

    # Other processes may share the machine: take the core they leave most idle.
    cpu = idlest_cpu(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is not needed here
        pass

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = write_clip(Path(tmp) / "face.mp4", seconds=args.seconds)
        info = video_info(path)
        print(
            f"clip: {info.width}x{info.height}, {info.fps:g} fps, {info.n_frames} frames "
            f"(written in {time.perf_counter() - start:.1f} s); pinned to CPU {cpu}, "
            f"cv2 threads {cv2.getNumThreads()}"
        )
        start = time.perf_counter()
        track_face_landmarks([np.zeros((64, 64), dtype=np.uint8)])  # loads the model
        print(f"shape predictor load (once per process): {time.perf_counter() - start:.2f} s")

        n = info.n_frames
        t_dec, c_dec, n_dec = best_of(args.repeat, lambda: decode_only(path))
        assert n_dec == n
        t_a, c_a, res_a = best_of(
            args.repeat, lambda: track_face_landmarks(iter_frames(path, color="gray"))
        )
        t_b, c_b, res_b = best_of(
            args.repeat_baseline,
            lambda: track_face_landmarks(
                iter_frames(path, color="gray"), detect_every_frame=True, detect_width=None
            ),
        )
    assert isinstance(res_a, TrackedLandmarks) and isinstance(res_b, TrackedLandmarks)

    both = res_a.success & res_b.success
    diff = np.linalg.norm(res_a.landmarks[both] - res_b.landmarks[both], axis=-1)
    rows = [
        ("(c) decode only (gray)", n / t_dec, n / c_dec, "", "", ""),
        (
            "(a) detect-then-track",
            n / t_a,
            n / c_a,
            f"{res_a.n_detections / n:.3f}",
            f"{res_a.success.mean():.3f}",
            f"{(n / t_a) / (n / t_b):.1f}x",
        ),
        (
            "(b) detect every frame",
            n / t_b,
            n / c_b,
            f"{res_b.n_detections / n:.3f}",
            f"{res_b.success.mean():.3f}",
            "1.0x",
        ),
    ]
    print(
        f"\n{'':26s}{'frames/s':>10s}{'per CPU-s':>11s}{'det/frame':>11s}{'found':>8s}"
        f"{'vs (b)':>9s}"
    )
    for label, fps, fps_cpu, det, found, ratio in rows:
        print(f"{label:26s}{fps:10.1f}{fps_cpu:11.1f}{det:>11s}{found:>8s}{ratio:>9s}")
    print(
        f"\nlandmarks (a) vs (b): mean {diff.mean():.2f} px, 95th percentile "
        f"{np.percentile(diff, 95):.2f} px, over {both.sum()} frames"
    )


if __name__ == "__main__":
    main()
