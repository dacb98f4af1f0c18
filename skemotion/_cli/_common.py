"""What the commands share: corpus and smoke-run settings, input errors, clips, pipelines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TypedDict

from ..paper import FEATURES, PAPER_HYPERPARAMETERS

__all__ = [
    "CLIPS_PER_ACTOR",
    "EMBEDDED_DEFAULT_EPOCHS",
    "EMBEDDED_N_ACTORS",
    "FEATURE_CHOICES",
    "PAPER_EPOCHS",
    "QUICK_EPOCHS",
    "QUICK_NET",
    "QUICK_N_ACTORS",
    "CLIError",
    "Feature",
    "embedded_corpus",
    "feature_pipeline",
    "load_clips",
    "load_face_clips",
    "load_feature_clips",
    "positive_int",
    "subject_norm",
]

EMBEDDED_DEFAULT_EPOCHS = 30
"""Training epochs of ``skemotion evaluate`` on the embedded corpus, sized so that the five
folds finish in under 10 minutes on 2 CPU cores."""

PAPER_EPOCHS = PAPER_HYPERPARAMETERS[("lms", "multiclass")]["max_epochs"]
"""The paper's epochs for log-mel spectrograms (its Table 3); the default on real data."""

EMBEDDED_N_ACTORS = 24
"""Actors of the embedded synthetic corpus, as in RAVDESS."""

CLIPS_PER_ACTOR = 60
"""Speech clips per actor in RAVDESS and in the embedded corpus."""

QUICK_N_ACTORS = 5
"""Actors used by ``--quick`` (one test actor per fold)."""

QUICK_EPOCHS = 2
"""Epochs used by ``--quick``."""

QUICK_NET: dict[str, Any] = {"filters": 16, "n_scales": 3}
"""A smaller TIM-Net for ``--quick`` smoke runs."""


class CLIError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""


# -- what --features selects --------------------------------------------------------------


class Feature(TypedDict):
    """A ``--features`` choice: clip modality, report title, the paper's figures."""

    modality: str
    title: str
    name: str
    accuracy: float  # the paper's, %
    f1: dict[str, float]  # the paper's binary macro-F1 per emotion


def _feature(name: str, *, modality: str, title: str, description: str) -> Feature:
    """A ``--features`` choice, with the paper's figures of the feature ``name`` alone."""
    paper = FEATURES[name]
    if paper.accuracy is None:
        raise ValueError(f"Table 2 has no accuracy for {paper.name!r} alone.")
    return {
        "modality": modality,
        "title": title,
        "name": description,
        "accuracy": paper.accuracy,
        "f1": paper.binary_macro_f1,
    }


FEATURE_CHOICES: dict[str, Feature] = {
    "lms": _feature(
        "lms",
        modality="audio-only",
        title="Speech: log-mel spectrogram + TIM-Net",
        description="log-mel + TIM-Net",
    ),
    "kpd": _feature(
        "kpd",
        modality="video-only",
        title="Face: key-point distances + TIM-Net",
        description="face key-point distances + TIM-Net",
    ),
}
"""The choices of ``--features`` of ``evaluate`` and ``train``."""


# -- argument types -------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """An integer of at least 1, or argparse's error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def subject_norm(text: str) -> str | int | None:
    """``--subject-norm``: none (None), all, neutral or a number of clips."""
    if text in ("none", "all", "neutral"):
        return None if text == "none" else text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected none, all, neutral or a number of clips, got {text!r}"
        ) from None


# -- data -----------------------------------------------------------------------------------


def load_clips(root: Path, *, n_actors: int | None, modality: str = "audio-only") -> Any:
    """The RAVDESS clips of one modality under ``root`` (``load_ravdess``'s bunch)."""
    from ..datasets import load_ravdess

    if not root.is_dir():
        raise CLIError(f"data folder {root} does not exist or is not a folder")
    actors = None if n_actors is None else range(1, n_actors + 1)
    try:
        return load_ravdess(root, modalities=[modality], actors=actors)
    except ValueError as exc:
        # Badly named files, duplicates, missing actors: the user's data, not a bug.
        raise CLIError(str(exc)) from exc


def load_face_clips(root: Path, *, n_actors: int | None) -> Any:
    """The face clip of each recording: its video-only file, else its audio-video one.

    Either may be an OpenFace tracking CSV named like the video (RAVDESS's own tracking
    set is named after the audio-video files, 01-01-*.csv), see ``load_ravdess``.
    """
    for modality in ("video-only", "audio-video"):
        try:
            return load_clips(root, n_actors=n_actors, modality=modality)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no RAVDESS face clips under {root}: expected videos (Actor_XX/02-01-*.mp4 or "
        "01-01-*.mp4) or OpenFace tracking CSVs named like them (01-01-*.csv)"
    )


def load_feature_clips(root: Path, features: str, *, n_actors: int | None) -> Any:
    """The clips ``--features`` reads: audio for lms, faces for kpd."""
    if features == "kpd":
        return load_face_clips(root, n_actors=n_actors)
    return load_clips(root, n_actors=n_actors, modality=FEATURE_CHOICES[features]["modality"])


def embedded_corpus(
    root: Path, *, n_actors: int, n_jobs: int | None, modality: str = "audio-only"
) -> Any:
    """The embedded synthetic corpus in ``root``: generated once, then reused."""
    from ..datasets import make_ravdess_like

    try:
        data = load_clips(root, n_actors=n_actors, modality=modality)
    except (CLIError, FileNotFoundError):
        data = None
    # Generating 1440 clips takes minutes; a complete corpus from an earlier run is reused
    # (it is deterministic, and clip writes are atomic, so a complete one is a good one).
    if data is not None and (data.groups.value_counts() == CLIPS_PER_ACTOR).all():
        return data
    print(f"Generating the embedded corpus ({n_actors} actors) in {root} ...", file=sys.stderr)
    video = modality == "video-only"
    corpus = make_ravdess_like(
        root, n_actors=n_actors, random_state=0, n_jobs=n_jobs, verbose=1, video=video
    )
    return load_clips(root, n_actors=n_actors, modality=modality) if video else corpus


# -- models ---------------------------------------------------------------------------------


def feature_pipeline(
    features: str,
    paths: Any,
    *,
    epochs: int,
    seed: int,
    subject_normalization: str | int | None,
    n_jobs: int | None = None,
    verbose: int = 0,
    network: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """The speech or face pipeline of ``--features``, and its landmark stage (face only).

    ``paths`` are the clips it will read: OpenFace tracking CSVs in place of videos give
    OpenFace's landmarks, read rather than tracked. ``network`` overrides the TIM-Net's
    shape (``QUICK_NET``).
    """
    # Imported only now: torch takes seconds to load, input errors should not wait for it.
    from ..compose import make_face_pipeline, make_speech_pipeline

    settings: dict[str, Any] = {
        "max_epochs": epochs,
        "random_state": seed,
        "verbose": verbose,
        "subject_normalization": subject_normalization,
        **(network or {}),
    }
    if features == "kpd":
        from ..face import FaceLandmarks, landmark_backend_for

        landmarks = FaceLandmarks(landmark_backend_for(paths), n_jobs=n_jobs, verbose=1)
        return make_face_pipeline(landmarks=landmarks, **settings), landmarks
    return make_speech_pipeline(n_jobs=n_jobs, **settings), None
