"""Test-session settings shared by every test module."""

import os

import matplotlib
import pytest
import torch

# Tests draw figures to files only.
matplotlib.use("Agg")
# The suite's networks are tiny; one intra-op thread avoids OpenMP spin-waits when another
# process holds the second core, which slows small matrix products tenfold.
torch.set_num_threads(1)


def pytest_configure(config):
    """Keep the landmark cache of the whole session in a temporary folder, not ~/.cache.

    pytest-xdist's workers inherit the controller's environment, so they share it.
    """
    import tempfile

    if "SKEMOTION_CACHE_DIR" not in os.environ:
        os.environ["SKEMOTION_CACHE_DIR"] = tempfile.mkdtemp(prefix="skemotion-test-cache-")


AV_CORPUS_ACTORS = 5
"""Actors of the session's audio-visual corpus (one test actor per GroupKFold fold)."""


@pytest.fixture(scope="session")
def av_corpus(tmp_path_factory: pytest.TempPathFactory):
    """The embedded corpus with video for 5 actors, generated once per test session.

    Shared by the face, fusion and reproduction end-to-end tests, which also share the
    session's landmark cache, so the videos are decoded and tracked once.
    """
    pytest.importorskip("dlib")
    pytest.importorskip("av")
    from skemotion.datasets import make_ravdess_like

    def generate(root):
        make_ravdess_like(root, n_actors=AV_CORPUS_ACTORS, video=True, n_jobs=2, random_state=0)

    return _generated_once(tmp_path_factory, "av_corpus", generate)


@pytest.fixture(scope="session")
def tracking_corpus(tmp_path_factory: pytest.TempPathFactory):
    """Speech and RAVDESS-format OpenFace tracking CSVs of 5 actors, 16 recordings each.

    ``Actor_XX/03-01-*.wav`` (the embedded corpus's speech) beside a flat
    ``FacialTracking/01-01-*.csv`` folder written in the exact header of RAVDESS's
    "Facial Landmark Tracking" set: the normal-intensity first repetitions, which hold
    every actor's neutral reference clips. ``FacialTracking`` alone is a CSV-only corpus.
    """
    from skemotion.face.tests._openface_fixture import write_tracking_corpus

    def generate(root):
        write_tracking_corpus(
            root / "FacialTracking",
            actors=tuple(range(1, AV_CORPUS_ACTORS + 1)),
            intensities=("normal",),
            repetitions=(1,),
            audio_root=root,
        )

    return _generated_once(tmp_path_factory, "tracking_corpus", generate)


def _generated_once(tmp_path_factory: pytest.TempPathFactory, name: str, generate):
    """A session folder written by ``generate(folder)``, once for all pytest-xdist workers.

    Under xdist (``make test`` runs two workers) every worker is its own session: the
    first to ask writes the folder in the run's shared temporary root while the others
    wait on a file lock, then all read it. Without xdist it is a plain session folder.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        root = tmp_path_factory.mktemp(name)
        generate(root)
        return root
    from filelock import FileLock

    # the run's folder (pytest-N), parent of every worker's own base folder
    shared = tmp_path_factory.getbasetemp().parent
    root = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (shared / f"{name}.done").exists():
            root.mkdir(exist_ok=True)
            generate(root)
            (shared / f"{name}.done").touch()
    return root
