"""Scaling of feature extraction on a Dask cluster: 1, 2, ... worker processes vs. serial.

Run: ``python benchmarks/bench_scaling.py [--workers 1 2] [--audio-actors 4]
[--video-clips 16] [--repeat 2] [--output bench_scaling.json]`` (needs
``skemotion[distributed,face]``).

It writes a synthetic RAVDESS-like corpus (:func:`skemotion.datasets.make_ravdess_like`,
seed ``--seed``): ``--audio-actors`` actors of 60 wav clips, and one actor's 640x360
H.264 videos, of which the first ``--video-clips`` are used. Then it times, over the same
clips:

* ``log-mel``: :class:`~skemotion.audio.LogMelSpectrogram` (88 x 24 per clip, batches of
  16 clips per task);
* ``landmarks``: :class:`~skemotion.face.FaceLandmarks` with the cache off (mp4 decoding
  and dlib detect-then-track over the 88 centre frames, one task per clip);

first serially in this process (``n_jobs=1``: the baseline), then under
``joblib.parallel_config(backend="dask")`` on a ``dask.distributed.LocalCluster`` of
``n`` worker processes with one thread each, for each ``n`` of ``--workers``. Every
worker has extracted one clip of each kind before the timing (imports, dlib's 100 MB
model), as the baseline process has; cluster start-up is reported apart. Each setting
keeps the best of ``--repeat`` runs; the speed-up is the baseline's time over the
setting's, measured in the same run. Every cluster result is checked to equal the serial
one exactly. BLAS / OpenMP / OpenCV use one thread everywhere, so a worker is one core's
worth of work: on a machine with fewer free cores than workers the speed-up stops
growing, which the printed ``os.cpu_count()`` and load average help read. The defaults are
sized for about 3 minutes on two idle cores, about a minute of it writing the corpus.
"""

from __future__ import annotations

import os

# Must precede the numpy / OpenCV imports to limit their thread pools; the cluster's
# worker processes inherit the variables.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import dask
import distributed
import joblib
import numpy as np

import skemotion
from skemotion.audio import LogMelSpectrogram
from skemotion.datasets import make_ravdess_like
from skemotion.face import FaceLandmarks


def _logmel(paths: list[str], n_jobs: int) -> np.ndarray:
    return LogMelSpectrogram(n_jobs=n_jobs).transform(paths)


def _landmarks(paths: list[str], n_jobs: int) -> np.ndarray:
    tracks = FaceLandmarks(n_jobs=n_jobs, cache_dir=False, on_error="raise").extract(paths)
    return np.stack([track.landmarks_2d for track in tracks if track is not None])


TASKS: dict[str, Callable[[list[str], int], np.ndarray]] = {
    "log-mel": _logmel,
    "landmarks": _landmarks,
}


def _warm_up(audio: str, video: str) -> None:
    """Imports, the dlib model and first-call costs, in whichever process runs it."""
    _logmel([audio], 1)
    _landmarks([video], 1)


def best_time(run: Callable[[], np.ndarray], *, repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` runs, and the result of the last one."""
    best, result = float("inf"), np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def write_corpus(root: Path, *, audio_actors: int, video_clips: int, seed: int) -> dict:
    """Audio clips of ``audio_actors`` actors and the first video clips of actor 1."""
    start = time.perf_counter()
    audio = make_ravdess_like(root / "audio", n_actors=audio_actors, random_state=seed, n_jobs=-1)
    video = make_ravdess_like(root / "video", n_actors=1, video=True, random_state=seed, n_jobs=-1)
    frame = video.frame
    videos = frame.loc[frame["modality"] == "video-only", "path"].tolist()[:video_clips]
    return {
        "log-mel": audio.frame["path"].tolist(),
        "landmarks": videos,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes to time"
    )
    parser.add_argument(
        "--audio-actors", type=int, default=4, help="actors of 60 audio clips each (log-mel)"
    )
    parser.add_argument(
        "--video-clips", type=int, default=16, help="video clips of actor 1 (landmarks), <= 60"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting; best kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.video_clips <= 60:
        parser.error("--video-clips must be in 1..60")

    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}, "
        f"skemotion {skemotion.__version__}, joblib {joblib.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_corpus(
            Path(tmp),
            audio_actors=args.audio_actors,
            video_clips=args.video_clips,
            seed=args.seed,
        )
        print(f"corpus written in {clips['seconds']:.1f} s")
        warm = (clips["log-mel"][0], clips["landmarks"][0])

        _warm_up(*warm)
        serial: dict[str, tuple[float, np.ndarray]] = {}
        for task, run in TASKS.items():
            serial[task] = best_time(partial(run, clips[task], 1), repeat=args.repeat)
            rows.append(
                {
                    "task": task,
                    "setting": "serial, this process (n_jobs=1)",
                    "workers": 0,
                    "clips": len(clips[task]),
                    "seconds": serial[task][0],
                    "speedup": 1.0,
                    "identical": True,
                }
            )

        startup: dict[int, float] = {}
        for n_workers in args.workers:
            start = time.perf_counter()
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            with cluster, distributed.Client(cluster) as client:
                client.wait_for_workers(n_workers)
                startup[n_workers] = time.perf_counter() - start
                client.run(_warm_up, *warm)
                for task, run in TASKS.items():
                    with joblib.parallel_config(backend="dask"):
                        seconds, result = best_time(
                            partial(run, clips[task], -1), repeat=args.repeat
                        )
                    rows.append(
                        {
                            "task": task,
                            "setting": f"dask LocalCluster, {n_workers} worker(s) x 1 thread",
                            "workers": n_workers,
                            "clips": len(clips[task]),
                            "seconds": seconds,
                            "speedup": serial[task][0] / seconds,
                            "identical": bool(np.array_equal(result, serial[task][1])),
                        }
                    )

    print()
    print(
        f"{'task':<10} {'setting':<40} {'clips':>5} {'seconds':>8} {'clips/s':>8} {'speed-up':>8}"
    )
    for row in rows:
        print(
            f"{row['task']:<10} {row['setting']:<40} {row['clips']:>5} {row['seconds']:>8.2f} "
            f"{row['clips'] / row['seconds']:>8.2f} {row['speedup']:>7.2f}x"
            + ("" if row["identical"] else "  RESULT DIFFERS FROM SERIAL")
        )
    print(
        "cluster start-up (s): " + ", ".join(f"{n} worker(s) {s:.1f}" for n, s in startup.items())
    )

    if args.output is not None:
        report = {
            "benchmark": "bench_scaling",
            "machine": {
                "node": platform.node(),
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg(),
                "python": platform.python_version(),
            },
            "versions": {
                "skemotion": skemotion.__version__,
                "joblib": joblib.__version__,
                "dask": dask.__version__,
                "distributed": distributed.__version__,
            },
            "settings": {
                "workers": args.workers,
                "audio_actors": args.audio_actors,
                "video_clips": args.video_clips,
                "repeat": args.repeat,
                "seed": args.seed,
                "baseline": "serial, this process (n_jobs=1)",
            },
            "corpus_seconds": clips["seconds"],
            "cluster_startup_seconds": {str(n): s for n, s in startup.items()},
            "results": rows,
        }
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {args.output}")
    if not all(row["identical"] for row in rows):
        raise SystemExit("a cluster result differs from the serial one")


if __name__ == "__main__":
    main()
