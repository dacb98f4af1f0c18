"""The parallel loops on a real cluster: joblib's dask (and ray) backends, results as serial.

Every parallel loop of skemotion goes through joblib, so that
``joblib.parallel_config(backend="dask")`` with a ``dask.distributed.Client`` open sends it
to the cluster unchanged. One two-process :class:`~dask.distributed.LocalCluster` serves the
module. Each test checks that the result equals the serial one and, from the scheduler's
task stream, that the calls really ran on the cluster's workers (a backend silently
falling back to local threads would give the same numbers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skemotion.audio import LogMelSpectrogram
from skemotion.audio._logmel import _CLIPS_PER_TASK
from skemotion.compose import LateFusionClassifier, ModalityUnion
from skemotion.datasets import make_ravdess_like
from skemotion.model_selection import evaluate_actor_cv
from skemotion.nets import FusionClassifier
from skemotion.preprocessing import TemporalStandardScaler

from ._toy_data import two_modalities

pytestmark = pytest.mark.timeout(600)

N_VIDEO_CLIPS = 4

# joblib's dask backend names each task after the batch of calls it runs.
_BATCH_KEY = re.compile(r"^(?:mixed_)?batch_of_(?P<func>.+)_(?P<calls>\d+)_calls-")


@pytest.fixture(scope="module")
def distributed() -> Any:
    # Skipped here rather than for the module, so that the Ray test runs without Dask.
    return pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client(distributed: Any) -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def audio_corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_ravdess_like(tmp_path_factory.mktemp("audio"), n_actors=1)


@pytest.fixture(scope="module")
def video_clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    pytest.importorskip("av")
    pytest.importorskip("dlib")
    data = make_ravdess_like(
        tmp_path_factory.mktemp("video"),
        n_actors=1,
        video=True,
        video_size=(320, 180),
        duration_range=(2.5, 2.9),
    )
    frame = data.frame
    paths: list[str] = frame.loc[frame["modality"] == "video-only", "path"].tolist()
    return paths[:N_VIDEO_CLIPS]


def _calls_on_workers(stream: Any, client: Any, func: str) -> int:
    """Calls of ``func`` the task stream saw run, after checking they ran on the workers."""
    workers = set(client.scheduler_info()["workers"])
    calls = 0
    for record in stream.data:
        match = _BATCH_KEY.match(str(record["key"]))
        if match is None or match["func"] != func:
            continue
        assert record["worker"] in workers, record
        calls += int(match["calls"])
    return calls


def _flatten(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)


def _flat_logistic() -> Pipeline:
    return make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=500))


# -- extraction ------------------------------------------------------------------------


def test_logmel_on_cluster_equals_serial(distributed: Any, client: Any, audio_corpus: Any) -> None:
    paths = audio_corpus.frame["path"].tolist()
    serial = LogMelSpectrogram(n_jobs=1).transform(paths)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = LogMelSpectrogram(n_jobs=2).transform(paths)
    np.testing.assert_array_equal(on_cluster, serial)
    assert on_cluster.dtype == serial.dtype
    # Every batch of clips was decoded and transformed by a worker, none locally.
    assert _calls_on_workers(stream, client, "_paths_task") == math.ceil(
        len(paths) / _CLIPS_PER_TASK
    )


def test_logmel_n_jobs_none_follows_parallel_config(
    distributed: Any, client: Any, audio_corpus: Any
) -> None:
    # n_jobs=None leaves the number of jobs to the context: the cluster's cores.
    paths = audio_corpus.frame["path"].tolist()[:32]
    serial = LogMelSpectrogram().transform(paths)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = LogMelSpectrogram().transform(paths)
    np.testing.assert_array_equal(on_cluster, serial)
    assert _calls_on_workers(stream, client, "_paths_task") == 2


def test_synthetic_corpus_on_cluster_is_byte_identical(
    distributed: Any, client: Any, audio_corpus: Any, tmp_path: Path
) -> None:
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        data = make_ravdess_like(tmp_path, n_actors=1, n_jobs=2)
    assert _calls_on_workers(stream, client, "_write_clip") == len(data.frame)

    def digests(root: Path) -> dict[str, str]:
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*.wav"))
        }

    serial_root = Path(audio_corpus.frame["path"].iloc[0]).parents[1]
    assert digests(tmp_path) == digests(serial_root)
    assert len(digests(tmp_path)) == 60


def _assert_tracks_equal(left: Any, right: Any) -> None:
    for field in dataclasses.fields(left):
        a, b = getattr(left, field.name), getattr(right, field.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


def test_face_landmarks_on_cluster_equal_serial(
    distributed: Any, client: Any, video_clips: list[str]
) -> None:
    from skemotion.face import FaceLandmarks

    serial = FaceLandmarks(n_jobs=1, cache_dir=False).extract(video_clips)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = FaceLandmarks(n_jobs=2, cache_dir=False).extract(video_clips)
    assert len(on_cluster) == len(serial) == N_VIDEO_CLIPS
    for left, right in zip(on_cluster, serial, strict=True):
        assert left is not None and right is not None
        _assert_tracks_equal(left, right)
    assert _calls_on_workers(stream, client, "_extract_cached") == N_VIDEO_CLIPS


# -- model selection -------------------------------------------------------------------


def test_grid_search_over_fusion_pipeline_on_cluster(distributed: Any, client: Any) -> None:
    X, y, groups = two_modalities(64)
    pipe = Pipeline(
        [
            ("scaler", ModalityUnion([(name, TemporalStandardScaler(), name) for name in X])),
            (
                "fusion",
                FusionClassifier(
                    max_epochs=2,
                    module__filters=8,
                    module__n_scales=2,
                    batch_size=16,
                    random_state=0,
                ),
            ),
        ]
    )
    grid = {"fusion__lr": [1e-3, 1e-2]}
    search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=2), n_jobs=2)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        search.fit(X, y, groups=groups)
    assert search.best_params_["fusion__lr"] in grid["fusion__lr"]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.predict_proba(X).shape == (len(y), 4)
    # Two candidates x two folds, each fitted and scored on a worker.
    assert _calls_on_workers(stream, client, "_fit_and_score") == 4


def test_evaluate_actor_cv_on_cluster_equals_serial(distributed: Any, client: Any) -> None:
    X, y, groups = two_modalities(64)
    serial = evaluate_actor_cv(_flat_logistic(), X["speech"], y, groups, cv=4, n_jobs=1)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = evaluate_actor_cv(_flat_logistic(), X["speech"], y, groups, cv=4, n_jobs=2)
    np.testing.assert_array_equal(on_cluster.fold_accuracy, serial.fold_accuracy)
    np.testing.assert_array_equal(on_cluster.y_pred, serial.y_pred)
    assert on_cluster.y_proba is not None and serial.y_proba is not None
    np.testing.assert_array_equal(on_cluster.y_proba, serial.y_proba)
    assert on_cluster.fold_actors == serial.fold_actors
    assert _calls_on_workers(stream, client, "_fit_and_predict") == 4


def test_evaluate_actor_cv_of_dict_and_late_fusion_on_cluster(
    distributed: Any, client: Any
) -> None:
    # A dict X (its arrays sent apart) and a nested parallel loop: LateFusionClassifier
    # fits its modality models from inside each fold's task.
    X, y, groups = two_modalities(64)
    features = {"speech": X["speech"], "face": X["face"]}
    model = LateFusionClassifier(
        [("speech", _flat_logistic()), ("face", _flat_logistic())], cv=2, n_jobs=2
    )
    serial = evaluate_actor_cv(clone(model).set_params(n_jobs=1), features, y, groups, cv=4)
    with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
        on_cluster = evaluate_actor_cv(model, features, y, groups, cv=4, n_jobs=2)
    np.testing.assert_array_equal(on_cluster.fold_accuracy, serial.fold_accuracy)
    np.testing.assert_array_equal(on_cluster.y_pred, serial.y_pred)
    assert _calls_on_workers(stream, client, "_fit_and_predict_parts") == 4
    # Per fold: 2 modalities x (2 inner folds + 1 refit).
    assert _calls_on_workers(stream, client, "_fit_one") == 4 * 6


# -- ray -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    # No dashboard: the machine may be small, and the test needs none of it.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    register_ray()
    try:
        yield ray
    finally:
        ray.shutdown()


def test_logmel_on_ray_equals_serial(ray_runtime: Any, audio_corpus: Any) -> None:
    import os

    from ray._private import state

    paths = audio_corpus.frame["path"].tolist()
    serial = LogMelSpectrogram(n_jobs=1).transform(paths)
    with parallel_config(backend="ray"):
        # Ray's backend cannot stream results (return_as="generator" raises there).
        on_ray = LogMelSpectrogram(n_jobs=2).transform(paths)
    np.testing.assert_array_equal(on_ray, serial)
    # joblib's ray backend runs the batches in a pool of actors, other processes than
    # this one. (Ray's public state API needs the dashboard; the GCS table does not.)
    pool = [
        actor
        for actor in state.actors().values()
        if actor["ActorClassName"] == "PoolActor" and actor["Pid"] != os.getpid()
    ]
    assert len(pool) == 2
