"""The parallel loops run under any joblib backend, including those that cannot stream."""

from __future__ import annotations

import numpy as np
import pytest
from joblib import parallel_config, register_parallel_backend
from joblib._parallel_backends import ThreadingBackend
from sklearn.linear_model import LogisticRegression

from skemotion._parallel import streaming_return_as
from skemotion.audio import LogMelSpectrogram
from skemotion.model_selection import evaluate_actor_cv


@pytest.mark.parametrize(
    ("backend", "ordered", "expected"),
    [
        ("loky", True, "generator"),
        ("threading", False, "generator_unordered"),
        # Neither multiprocessing nor Ray's backend has result callbacks.
        ("multiprocessing", True, "list"),
        ("multiprocessing", False, "list"),
    ],
)
def test_streaming_return_as_follows_the_active_backend(
    backend: str, ordered: bool, expected: str
) -> None:
    with parallel_config(backend=backend):
        assert streaming_return_as(ordered) == expected


def test_streaming_return_as_sees_the_prefer_hint() -> None:
    assert streaming_return_as(prefer="threads") == "generator"
    assert streaming_return_as() == "generator"


class _ThreadsWithoutStreaming(ThreadingBackend):
    """Threads that, like multiprocessing and Ray, refuse return_as="generator"."""

    supports_return_generator = False


register_parallel_backend("threads-without-streaming", _ThreadsWithoutStreaming)


def test_loops_run_under_a_backend_that_cannot_stream() -> None:
    # return_as="generator" hard-coded made these raise ValueError under such a backend.
    # Not multiprocessing itself: it forks the whole test process, which after a few
    # hundred tests holds torch's thread pools and took minutes on CI (Ray, the other such
    # backend, runs for real in test_distributed.py).
    rng = np.random.default_rng(0)
    waves = rng.normal(scale=0.1, size=(40, 16_000)).astype(np.float32)
    lms = LogMelSpectrogram(sr=16_000, n_fft=400, hop_length=160, fmax=None, crop_length=None)
    serial = lms.set_params(n_jobs=1).transform(waves)
    with parallel_config(backend="threads-without-streaming"):
        assert streaming_return_as() == "list"
        parallel = lms.set_params(n_jobs=2).transform(waves)
    np.testing.assert_array_equal(parallel, serial)

    X = rng.normal(size=(48, 3))
    y = np.tile(["calm", "sad"], 24)
    X[y == "sad"] += 1.0
    groups = np.repeat(np.arange(6), 8)
    expected = evaluate_actor_cv(LogisticRegression(), X, y, groups, cv=3)
    with parallel_config(backend="threads-without-streaming"):
        report = evaluate_actor_cv(LogisticRegression(), X, y, groups, cv=3, n_jobs=2)
    np.testing.assert_array_equal(report.y_pred, expected.y_pred)
