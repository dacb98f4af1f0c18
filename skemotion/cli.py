"""The ``skemotion`` command line: evaluate, train, predict and reproduce.

``skemotion evaluate`` runs the paper's speaker-independent protocol (log-mel spectrogram ->
TIM-Net, or face key-point distances -> TIM-Net, five actor folds) on RAVDESS or, without
``--data``, on a synthetic RAVDESS-like corpus it generates; ``skemotion train`` fits the
speech or face pipeline on every clip and saves it; ``skemotion predict`` labels clips with a
saved model, optionally calibrated to the speaker or face from a few enrollment clips;
``skemotion reproduce`` runs the paper's tables.

Heavy imports (torch, librosa, matplotlib) happen inside the subcommands so that
``skemotion --version`` and ``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from ._version import __version__
from .datasets import EMOTIONS
from .paper import FEATURES, PAPER_HYPERPARAMETERS, PaperFeature

__all__ = [
    "CLIPS_PER_ACTOR",
    "EMBEDDED_DEFAULT_EPOCHS",
    "EMBEDDED_N_ACTORS",
    "PAPER_EPOCHS",
    "QUICK_EPOCHS",
    "QUICK_N_ACTORS",
    "main",
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

_PAPER_F1_LABEL = "paper, binary macro-F1"
_SPEECH_TITLE = "Speech: log-mel spectrogram + TIM-Net"
_FACE_TITLE = "Face: key-point distances + TIM-Net"


# What --features selects: clip modality, report title, the paper's figures.
class _Feature(TypedDict):
    modality: str
    title: str
    name: str
    accuracy: float  # the paper's, %
    f1: dict[str, float]  # the paper's binary macro-F1 per emotion


def _paper_accuracy(feature: PaperFeature) -> float:
    if feature.accuracy is None:
        raise ValueError(f"Table 2 has no accuracy for {feature.name!r} alone.")
    return feature.accuracy


_FEATURES: dict[str, _Feature] = {
    "lms": {
        "modality": "audio-only",
        "title": _SPEECH_TITLE,
        "name": "log-mel + TIM-Net",
        "accuracy": _paper_accuracy(FEATURES["lms"]),
        "f1": FEATURES["lms"].binary_macro_f1,
    },
    "kpd": {
        "modality": "video-only",
        "title": _FACE_TITLE,
        "name": "face key-point distances + TIM-Net",
        "accuracy": _paper_accuracy(FEATURES["kpd"]),
        "f1": FEATURES["kpd"].binary_macro_f1,
    },
}


class CLIError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""


# -- argument parsing ---------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skemotion",
        description=(
            "Emotion classification from speech and faces with speaker-independent evaluation."
        ),
    )
    parser.add_argument("--version", action="version", version=f"skemotion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    evaluate = commands.add_parser(
        "evaluate",
        help="actor-grouped 5-fold cross-validation of the speech or face pipeline",
        description=(
            "Cross-validate log-mel spectrogram + TIM-Net (or, with --features kpd, face "
            "key-point distances + TIM-Net) with no actor in both train and test (the paper's "
            "protocol) and write report.json, report.md and PNG figures. Without --data, a "
            "synthetic RAVDESS-like corpus is generated into OUTPUT/corpus (and reused on "
            "later runs)."
        ),
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=(
            "RAVDESS folder (Actor_XX/03-01-*.wav for lms; for kpd Actor_XX/02-01-*.mp4 or "
            "01-01-*.mp4, or OpenFace tracking CSVs named like them, e.g. 01-01-*.csv)"
        ),
    )
    evaluate.add_argument(
        "--features",
        choices=tuple(_FEATURES),
        default="lms",
        help=(
            "lms: speech log-mel spectrogram; kpd: face key-point distances from the videos "
            "(embedded dlib landmarks, cached on disk) or from OpenFace tracking CSVs "
            "(default: %(default)s)"
        ),
    )
    evaluate.add_argument(
        "--output",
        type=Path,
        default=Path("skemotion-results"),
        metavar="DIR",
        help="where results go (default: %(default)s)",
    )
    evaluate.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help=(
            f"training epochs per fold (default: {EMBEDDED_DEFAULT_EPOCHS} on the embedded "
            f"corpus, {PAPER_EPOCHS} with --data, {QUICK_EPOCHS} with --quick)"
        ),
    )
    evaluate.add_argument(
        "--folds",
        choices=("paper", "groupkfold"),
        help=(
            "the paper's 5 fixed actor folds, or GroupKFold(5) on actors (default: paper when "
            "all 24 actors are present, else groupkfold)"
        ),
    )
    evaluate.add_argument(
        "--n-jobs",
        type=int,
        metavar="N",
        help="parallel jobs for feature extraction and folds (default: 1; -1: all cores)",
    )
    evaluate.add_argument(
        "--exclude-reference-clips",
        action="store_true",
        help=(
            "leave each actor's neutral reference recordings (repetition 1 of the neutral "
            "clip of each statement, 2 per actor, which calibrate the key-point distances) "
            "out of the test folds; they are still trained on. Default: tested, as in the paper"
        ),
    )
    evaluate.add_argument("--seed", type=int, default=0, help="model seed (default: 0)")
    evaluate.add_argument(
        "--subject-norm",
        type=_subject_norm,
        default=None,
        metavar="{none,all,neutral,K}",
        help=(
            "calibrate every actor's features with statistics of its own unlabeled clips: "
            "all of them, its neutral clips, or its first K; a transductive protocol, "
            "reported as such (default: none, the paper's standard protocol)"
        ),
    )
    evaluate.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"smoke test: {QUICK_N_ACTORS} actors, {QUICK_EPOCHS} epochs, a small network; "
            "the scores mean nothing"
        ),
    )
    evaluate.set_defaults(handler=_evaluate)

    train = commands.add_parser(
        "train",
        help="fit the speech or face pipeline on every clip and save it",
        description=(
            "Fit log-mel spectrogram + TIM-Net (or, with --features kpd, face key-point "
            "distances + TIM-Net) on all clips of --data and save it."
        ),
    )
    train.add_argument("--data", type=Path, required=True, metavar="DIR", help="RAVDESS folder")
    train.add_argument(
        "--features",
        choices=tuple(_FEATURES),
        default="lms",
        help="lms: speech log-mel spectrogram; kpd: face key-point distances (default: lms)",
    )
    train.add_argument(
        "--model", type=Path, required=True, metavar="OUT.skem", help="model file to write"
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=PAPER_EPOCHS,
        metavar="N",
        help="training epochs (default: %(default)s)",
    )
    train.add_argument("--seed", type=int, default=0, help="model seed (default: 0)")
    train.add_argument(
        "--subject-norm",
        type=_subject_norm,
        default=None,
        metavar="{none,all,neutral,K}",
        help=(
            "train with per-actor calibration (see evaluate); the saved model then needs "
            "clips of each new speaker or face to calibrate to: predict --enroll"
        ),
    )
    train.set_defaults(handler=_train)

    predict = commands.add_parser(
        "predict",
        help="label clips with a saved model",
        description=(
            "Print the predicted emotion and the class probabilities of each clip (audio "
            "files for a speech model, videos or OpenFace tracking CSVs for a face model). A "
            "model trained with --subject-norm is calibrated to the person in the clips: "
            "from --enroll clips (a few unlabeled recordings of the same person), or else "
            "from the clips themselves when there are enough of them. All clips of one call "
            "are taken to be of one person."
        ),
    )
    predict.add_argument(
        "--model", type=Path, required=True, metavar="MODEL.skem", help="a saved model"
    )
    predict.add_argument("clips", type=Path, nargs="+", metavar="CLIP", help="clips to label")
    predict.add_argument(
        "--enroll",
        type=Path,
        nargs="+",
        metavar="CLIP",
        help="unlabeled clips of the same person to calibrate a --subject-norm model first",
    )
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.set_defaults(handler=_predict)

    reproduce = commands.add_parser(
        "reproduce",
        help="run the paper's Table 1 or Table 2 grid, resumably",
        description=(
            "Table 1: a binary (emotion vs rest) TIM-Net per feature and emotion, macro-F1. "
            "Table 2: 8-class accuracy of visual features (rows) x speech features (columns), "
            "one fusion TIM-Net per cell. Every cell is a 5-fold actor cross-validation; cells "
            "whose inputs are missing (videos, OpenFace CSVs, pretrained weights) are skipped "
            "with the reason. Writes OUTPUT/tableN.{md,csv,json,png} and one folder per cell; "
            "run again to resume an interrupted run. A cell is reused only if it was computed "
            "from the same clips (by content), settings and skemotion version; if OUTPUT holds "
            "cells of another run the command stops and says what differs. Without --data, "
            "the embedded corpus (with video) is generated into OUTPUT/corpus."
        ),
    )
    reproduce.add_argument("table", choices=("table1", "table2"), help="which table")
    reproduce.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="RAVDESS folder: audio, and videos or OpenFace tracking CSVs (01-01-*.csv)",
    )
    reproduce.add_argument(
        "--output", type=Path, metavar="DIR", help="where results go (default: skemotion-TABLE)"
    )
    reproduce.add_argument(
        "--rows",
        nargs="+",
        metavar="NAME",
        help="Table 2 rows or Table 1 features to run, by name (default: all)",
    )
    reproduce.add_argument(
        "--columns", nargs="+", metavar="NAME", help="Table 2 columns to run (default: all)"
    )
    reproduce.add_argument(
        "--emotions", nargs="+", metavar="NAME", help="Table 1 emotions (default: all eight)"
    )
    reproduce.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="epochs of every model (default: the paper's per feature, Table 3)",
    )
    reproduce.add_argument("--openface", type=Path, metavar="DIR", help="OpenFace CSV folder")
    reproduce.add_argument("--wav2vec2", metavar="MODEL", help="Wav2Vec2 hub id or folder")
    reproduce.add_argument("--resnet", metavar="MODEL", help="ResNet hub id or folder")
    reproduce.add_argument("--n-actors", type=_positive_int, metavar="N", help="first N actors")
    reproduce.add_argument("--n-jobs", type=int, metavar="N", help="parallel jobs (default: 1)")
    reproduce.add_argument("--seed", type=int, default=0, help="model seed (default: 0)")
    reproduce.add_argument(
        "--exclude-reference-clips",
        action="store_true",
        help=(
            "leave each actor's neutral reference recordings out of the test folds (default: "
            "tested, as in the paper); see skemotion evaluate --help"
        ),
    )
    reproduce.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "recompute the cells OUTPUT holds from another run (other data, settings or "
            "skemotion version) instead of stopping"
        ),
    )
    reproduce.add_argument(
        "--quiet", action="store_true", help="one line per cell, no progress bars"
    )
    reproduce.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_N_ACTORS} actors, {QUICK_EPOCHS} epochs, a small network",
    )
    reproduce.set_defaults(handler=_reproduce)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _subject_norm(text: str) -> str | int | None:
    if text in ("none", "all", "neutral"):
        return None if text == "none" else text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected none, all, neutral or a number of clips, got {text!r}"
        ) from None


# -- data -----------------------------------------------------------------------------------


def _load_data(root: Path, *, n_actors: int | None, modality: str = "audio-only") -> Any:
    from .datasets import load_ravdess

    if not root.is_dir():
        raise CLIError(f"data folder {root} does not exist or is not a folder")
    actors = None if n_actors is None else range(1, n_actors + 1)
    try:
        return load_ravdess(root, modalities=[modality], actors=actors)
    except ValueError as exc:
        # Badly named files, duplicates, missing actors: the user's data, not a bug.
        raise CLIError(str(exc)) from exc


def _load_face_data(root: Path, *, n_actors: int | None) -> Any:
    """The face clip of each recording: its video-only file, else its audio-video one.

    Either may be an OpenFace tracking CSV named like the video (RAVDESS's own tracking
    set is named after the audio-video files, 01-01-*.csv), see ``load_ravdess``.
    """
    for modality in ("video-only", "audio-video"):
        try:
            return _load_data(root, n_actors=n_actors, modality=modality)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no RAVDESS face clips under {root}: expected videos (Actor_XX/02-01-*.mp4 or "
        "01-01-*.mp4) or OpenFace tracking CSVs named like them (01-01-*.csv)"
    )


def _embedded_corpus(
    root: Path, *, n_actors: int, n_jobs: int | None, modality: str = "audio-only"
) -> Any:
    from .datasets import make_ravdess_like

    try:
        data = _load_data(root, n_actors=n_actors, modality=modality)
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
    return _load_data(root, n_actors=n_actors, modality=modality) if video else corpus


# -- commands -------------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    from sklearn.model_selection import GroupKFold

    from .model_selection import RavdessActorFolds, evaluate_actor_cv

    start = time.perf_counter()
    if args.output.exists() and not args.output.is_dir():
        raise CLIError(f"--output {args.output} exists and is not a folder")
    embedded = args.data is None
    n_actors = QUICK_N_ACTORS if args.quick else None
    feature = _FEATURES[args.features]
    if embedded:
        data = _embedded_corpus(
            args.output / "corpus",
            n_actors=n_actors or EMBEDDED_N_ACTORS,
            n_jobs=args.n_jobs,
            modality=feature["modality"],
        )
    elif args.features == "kpd":
        data = _load_face_data(args.data, n_actors=n_actors)
    else:
        data = _load_data(args.data, n_actors=n_actors, modality=feature["modality"])
    if args.epochs is not None:
        epochs = args.epochs
    elif args.quick:
        epochs = QUICK_EPOCHS
    else:
        epochs = EMBEDDED_DEFAULT_EPOCHS if embedded else PAPER_EPOCHS

    n_found = int(data.groups.nunique())
    if n_found < (5 if args.folds == "groupkfold" else 2):
        raise CLIError(
            f"{data.root} has clips of {n_found} actor(s), too few for actor-grouped folds"
        )
    cv: Any = None
    if args.folds == "paper":
        cv = RavdessActorFolds()
        try:
            # split() checks its actors before yielding the first fold.
            next(cv.split(data.frame, data.y, data.groups))
        except ValueError as exc:
            raise CLIError(f"--folds paper: {exc}") from exc
    elif args.folds == "groupkfold":
        cv = GroupKFold(n_splits=5)
    if args.exclude_reference_clips:
        from .datasets import is_ravdess_neutral_reference
        from .model_selection import ExcludeFromTest, default_actor_cv

        if cv is None:
            cv = default_actor_cv(set(data.groups.unique().tolist()))
        cv = ExcludeFromTest(cv, is_ravdess_neutral_reference(data.frame["path"]))

    # Imported only now: torch takes seconds to load, input errors should not wait for it.
    from .compose import make_face_pipeline, make_speech_pipeline

    backend = None
    if args.features == "kpd":
        from .face import FaceLandmarks, landmark_backend_for

        # Tracking CSVs in place of the videos: OpenFace's landmarks, read, not tracked.
        backend = landmark_backend_for(data.frame["path"])
        landmarks = FaceLandmarks(backend, n_jobs=args.n_jobs, verbose=1)
        pipeline = make_face_pipeline(
            landmarks=landmarks,
            max_epochs=epochs,
            random_state=args.seed,
            subject_normalization=args.subject_norm,
            **(QUICK_NET if args.quick else {}),
        )
    else:
        pipeline = make_speech_pipeline(
            max_epochs=epochs,
            random_state=args.seed,
            n_jobs=args.n_jobs,
            subject_normalization=args.subject_norm,
            **(QUICK_NET if args.quick else {}),
        )
    # Log-mel and key-point features learn nothing from data: evaluate_actor_cv extracts
    # them once for all clips (extract_once="auto"), the scaler and the network still learn
    # inside the folds.
    report = evaluate_actor_cv(
        pipeline, data.frame, data.y, data.groups, cv=cv, n_jobs=args.n_jobs, verbose=1
    )
    face_found: dict[str, Any] = {}
    if args.features == "kpd":
        import numpy as np

        # Read back from the landmark cache the evaluation filled: how often the face was
        # actually found.
        tracks = landmarks.extract(data.frame["path"].tolist())
        success = np.concatenate([t.success for t in tracks if t is not None])
        face_found = {
            "landmarks": backend,
            "face_found_fraction": round(float(success.mean()), 5),
        }
        print(
            f"Face found in {100 * success.mean():.2f} % of {success.size} frames "
            "(the others interpolated from their neighbours).",
            file=sys.stderr,
        )

    report.metadata.update(
        {
            "skemotion_version": __version__,
            "data": "embedded synthetic corpus" if embedded else str(args.data),
            "corpus": str(data.root),
            "n_clips": len(data.frame),
            "n_actors": n_found,
            "features": args.features,
            **face_found,
            "epochs": epochs,
            "seed": args.seed,
            "exclude_reference_clips": bool(args.exclude_reference_clips),
            "quick": bool(args.quick),
            "pipeline": repr(pipeline),
            "wall_time_s": round(time.perf_counter() - start, 1),
        }
    )
    if embedded:
        title = f"{feature['title']}, embedded synthetic corpus"
        reference: dict[str, Any] = {}
    else:
        title = f"{feature['title']}, RAVDESS"
        reference = {
            "reference_accuracy": feature["accuracy"] / 100,
            "reference": feature["f1"],
            "reference_label": _PAPER_F1_LABEL,
        }
    paths = report.save(args.output, title=title, **reference)
    print(report.to_markdown(title=title, **reference))
    if not embedded:
        print(
            f"Paper (RAVDESS, {feature['name']}): {feature['accuracy']:.1f} % accuracy; "
            f"this run: {100 * report.mean_accuracy:.1f} %"
            + (
                " (transductive: each test actor calibrated from its own unlabeled clips; "
                "compare it with a run without --subject-norm, not with the paper)."
                if report.protocol["protocol"] == "transductive"
                else "."
            )
        )
    elif not args.quick:
        print(
            "The embedded corpus is synthetic: its scores check the pipeline, they are not "
            "comparable with the paper's RAVDESS numbers."
        )
    print(
        f"Results written to {args.output}/ in {report.metadata['wall_time_s'] / 60:.1f} min: "
        + ", ".join(p.name for p in paths.values())
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.features == "kpd":
        data = _load_face_data(args.data, n_actors=None)
    else:
        data = _load_data(args.data, n_actors=None)
    if not args.model.parent.is_dir():
        raise CLIError(f"folder {args.model.parent} of --model does not exist")
    from . import save_model
    from .compose import make_face_pipeline, make_speech_pipeline

    if args.features == "kpd":
        from .face import FaceLandmarks, landmark_backend_for

        landmarks = FaceLandmarks(landmark_backend_for(data.frame["path"]), verbose=1)
        pipeline = make_face_pipeline(
            landmarks=landmarks,
            max_epochs=args.epochs,
            random_state=args.seed,
            verbose=1,
            subject_normalization=args.subject_norm,
        )
    else:
        pipeline = make_speech_pipeline(
            max_epochs=args.epochs,
            random_state=args.seed,
            verbose=1,
            subject_normalization=args.subject_norm,
        )
    pipeline.fit(data.frame, data.y)
    # Progress output is for this training run; `skemotion predict` should print results only.
    _quiet(pipeline)
    save_model(pipeline, args.model)
    print(f"Trained on {len(data.frame)} clips of {data.groups.nunique()} actors.")
    if args.subject_norm is not None:
        print("Calibrated per actor: predict needs clips of each new person (--enroll).")
    print(f"Model saved to {args.model}")
    return 0


def _quiet(pipeline: Any) -> None:
    """Switch off every progress output of a fitted pipeline, fitted inner copies too."""
    from .preprocessing import SubjectNormalizer

    pipeline.set_params(**{name: 0 for name in pipeline.get_params() if name.endswith("verbose")})
    for part in pipeline.get_params().values():
        # A SubjectNormalizer's extractor is a fitted clone that set_params does not reach.
        fitted = (
            getattr(part, "transformer_", None) if isinstance(part, SubjectNormalizer) else None
        )
        if fitted is not None and "verbose" in fitted.get_params():
            fitted.set_params(verbose=0)


ENROLLED_SUBJECT = "enrolled"
"""Subject id ``skemotion predict`` gives the person of its clips when they are not all
RAVDESS clips of one actor (one person per call)."""


def _clip_tables(*clip_lists: Sequence[Path]) -> list[Any]:
    """The tables a saved pipeline reads: paths, RAVDESS fields when named so, one subject.

    RAVDESS clips of a single actor keep that actor (the face model's neutral reference
    is looked up by it); any other set of files is one person named ENROLLED_SUBJECT.
    """
    import dataclasses

    import pandas as pd

    from .datasets import parse_ravdess_name

    row_lists: list[list[dict[str, Any]]] = []
    for clips in clip_lists:
        rows: list[dict[str, Any]] = []
        for clip in clips:
            try:
                rows.append({**dataclasses.asdict(parse_ravdess_name(clip)), "path": str(clip)})
            except ValueError:
                rows.append({"path": str(clip)})
        row_lists.append(rows)
    tables = [pd.DataFrame(rows, columns=None if rows else ["path"]) for rows in row_lists]
    actors = {row.get("actor") for rows in row_lists for row in rows}
    if len(actors) != 1 or None in actors:
        tables = [table.assign(actor=ENROLLED_SUBJECT) for table in tables]
    return tables


def _predict(args: argparse.Namespace) -> int:
    missing = [str(clip) for clip in [*args.clips, *(args.enroll or [])] if not clip.is_file()]
    if missing:
        raise CLIError(f"clip(s) not found: {', '.join(missing)}")
    if not args.model.is_file():
        raise CLIError(f"model file {args.model} does not exist")
    import numpy as np

    from . import load_model
    from .exceptions import NotASkemotionModelError
    from .preprocessing import SubjectNormalizer

    try:
        model = load_model(args.model)
    except NotASkemotionModelError as exc:
        # Its message names the file and says why; nothing from the file was executed.
        raise CLIError(str(exc)) from exc

    normalizers = [
        step for step in model.get_params(deep=True).values() if isinstance(step, SubjectNormalizer)
    ]
    if args.enroll and not normalizers:
        raise CLIError(
            f"{args.model} was trained without subject calibration: --enroll needs a model "
            "trained with --subject-norm"
        )
    clips, enrollment = _clip_tables(args.clips, args.enroll or [])
    try:
        if args.enroll:
            for normalizer in normalizers:
                normalizer.enroll(enrollment)
        probabilities = np.asarray(model.predict_proba(clips))
    except ValueError as exc:
        if not normalizers:
            raise
        # Too few clips to calibrate to the person: the user's input, said in one line.
        raise CLIError(
            f"{exc} (give --enroll clips of the same person, at least {normalizers[0].min_clips})"
        ) from exc
    classes = [str(label) for label in model.classes_]
    # Emotions in RAVDESS code order (classes_ is alphabetical), other labels after them.
    order = sorted(
        range(len(classes)),
        key=lambda i: EMOTIONS.index(classes[i]) if classes[i] in EMOTIONS else len(EMOTIONS),
    )
    results = [
        {
            "clip": str(clip),
            "emotion": classes[int(np.argmax(row))],
            "probabilities": {classes[i]: float(row[i]) for i in order},
        }
        for clip, row in zip(args.clips, probabilities, strict=True)
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result, row in zip(results, probabilities, strict=True):
        print(f"{result['clip']}: {result['emotion']}")
        print("  " + "  ".join(f"{classes[i]} {row[i]:.3f}" for i in order))
    return 0


# -- entry point ----------------------------------------------------------------------------


def _reproduction_corpus(args: argparse.Namespace, output: Path, n_actors: int | None) -> Any:
    """One row per recording: audio_path and / or video_path (a video or tracking CSV), labels."""
    from .datasets import load_ravdess_audiovisual

    if args.data is None:
        video = _embedded_corpus(
            output / "corpus",
            n_actors=n_actors or EMBEDDED_N_ACTORS,
            n_jobs=args.n_jobs,
            modality="video-only",
        )
        root = Path(video.root)
    else:
        root = args.data
        if not root.is_dir():
            raise CLIError(f"data folder {root} does not exist or is not a folder")
    actors = None if n_actors is None else range(1, n_actors + 1)
    for video_modality in ("video-only", "audio-video"):
        try:
            return load_ravdess_audiovisual(
                root, video=video_modality, actors=actors, on_unpaired="skip"
            ).frame
        except (ValueError, FileNotFoundError):
            continue
    # One side only: speech (every visual cell is then skipped with that reason) or faces,
    # videos or tracking CSVs (every speech cell skipped).
    try:
        speech = _load_data(root, n_actors=n_actors).frame
    except FileNotFoundError:
        try:
            face = _load_face_data(root, n_actors=n_actors).frame
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no RAVDESS clips under {root}: expected audio (Actor_XX/03-01-*.wav), "
                "videos (02-01-*.mp4, 01-01-*.mp4) or OpenFace tracking CSVs (01-01-*.csv)"
            ) from None
        return face.rename(columns={"path": "video_path"})
    return speech.rename(columns={"path": "audio_path"})


def _reproduce(args: argparse.Namespace) -> int:
    from .exceptions import StaleResultsError
    from .paper import ReproduceSettings, reproduce_table1, reproduce_table2

    output = args.output or Path(f"skemotion-{args.table}")
    if output.exists() and not output.is_dir():
        raise CLIError(f"--output {output} exists and is not a folder")
    n_actors = QUICK_N_ACTORS if args.quick and args.n_actors is None else args.n_actors
    corpus = _reproduction_corpus(args, output, n_actors)
    settings = ReproduceSettings(
        max_epochs=QUICK_EPOCHS if args.quick and args.epochs is None else args.epochs,
        small_net=args.quick,
        openface_dir=None if args.openface is None else str(args.openface),
        wav2vec2=args.wav2vec2,
        resnet=args.resnet,
        random_state=args.seed,
        exclude_reference_clips=args.exclude_reference_clips,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 2,
    )
    print(f"{len(corpus)} recordings of {corpus['actor'].nunique()} actors", file=sys.stderr)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.table == "table2":
            _, markdown = reproduce_table2(
                corpus,
                output,
                settings=settings,
                rows=args.rows,
                columns=args.columns,
                log=log,
                overwrite=args.overwrite,
            )
        else:
            _, markdown = reproduce_table1(
                corpus,
                output,
                settings=settings,
                features=args.rows,
                emotions=args.emotions,
                log=log,
                overwrite=args.overwrite,
            )
    except StaleResultsError as exc:
        raise CLIError(
            f"{exc.summary()}. Pass --output DIR to write elsewhere, or --overwrite to "
            f"recompute those cells in {exc.folder}"
        ) from exc
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    print(markdown)
    print(f"results written to {output}/", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skemotion`` command line.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 for a usage or input error (reported as one line on stderr), 130
        when interrupted.

    Examples
    --------
    >>> from skemotion.cli import main
    >>> main(["evaluate", "--quick", "--output", "results"])  # doctest: +SKIP
    0
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (CLIError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"skemotion {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skemotion {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
