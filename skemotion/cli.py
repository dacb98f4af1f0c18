"""The ``skemotion`` command line: evaluate, train, predict and reproduce.

``skemotion evaluate`` runs the paper's speaker-independent protocol (log-mel spectrogram ->
TIM-Net, or face key-point distances -> TIM-Net, five actor folds) on RAVDESS or, without
``--data``, on a synthetic RAVDESS-like corpus it generates; ``skemotion train`` fits the
speech or face pipeline on every clip and saves it; ``skemotion predict`` labels clips with a
saved model, optionally calibrated to the speaker or face from a few enrollment clips;
``skemotion reproduce`` runs the paper's tables.

This module is the parser and the entry point; the commands are in ``skemotion._cli``,
whose heavy imports (torch, librosa, matplotlib) happen inside the commands so that
``skemotion --version`` and ``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cli._common import (
    CLIPS_PER_ACTOR,
    EMBEDDED_DEFAULT_EPOCHS,
    EMBEDDED_N_ACTORS,
    FEATURE_CHOICES,
    PAPER_EPOCHS,
    QUICK_EPOCHS,
    QUICK_N_ACTORS,
    CLIError,
    positive_int,
    subject_norm,
)
from ._cli._evaluate import evaluate
from ._cli._model_files import predict, train
from ._cli._reproduce import reproduce
from ._version import __version__

__all__ = [
    "CLIPS_PER_ACTOR",
    "EMBEDDED_DEFAULT_EPOCHS",
    "EMBEDDED_N_ACTORS",
    "PAPER_EPOCHS",
    "QUICK_EPOCHS",
    "QUICK_N_ACTORS",
    "main",
]

# -- argument parsing ---------------------------------------------------------------------

# What an option means wherever a command takes it; each command adds its own help.
_OPTIONS: dict[str, dict[str, Any]] = {
    "--data": {"type": Path, "metavar": "DIR"},
    "--features": {"choices": tuple(FEATURE_CHOICES), "default": "lms"},
    "--output": {"type": Path, "metavar": "DIR"},
    "--epochs": {"type": positive_int, "metavar": "N"},
    "--n-jobs": {"type": int, "metavar": "N"},
    "--seed": {"type": int, "default": 0, "help": "model seed (default: 0)"},
    "--subject-norm": {"type": subject_norm, "default": None, "metavar": "{none,all,neutral,K}"},
    "--exclude-reference-clips": {"action": "store_true"},
    "--quick": {"action": "store_true"},
}


def _option(parser: argparse.ArgumentParser, flag: str, **settings: Any) -> None:
    """Add the shared option ``flag`` to ``parser``, with ``settings`` of this command."""
    parser.add_argument(flag, **{**_OPTIONS[flag], **settings})


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skemotion",
        description=(
            "Emotion classification from speech and faces with speaker-independent evaluation."
        ),
    )
    parser.add_argument("--version", action="version", version=f"skemotion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_evaluate(commands)
    _add_train(commands)
    _add_predict(commands)
    _add_reproduce(commands)
    return parser


def _add_evaluate(commands: Any) -> None:
    evaluate_parser = commands.add_parser(
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
    _option(
        evaluate_parser,
        "--data",
        help=(
            "RAVDESS folder (Actor_XX/03-01-*.wav for lms; for kpd Actor_XX/02-01-*.mp4 or "
            "01-01-*.mp4, or OpenFace tracking CSVs named like them, e.g. 01-01-*.csv)"
        ),
    )
    _option(
        evaluate_parser,
        "--features",
        help=(
            "lms: speech log-mel spectrogram; kpd: face key-point distances from the videos "
            "(embedded dlib landmarks, cached on disk) or from OpenFace tracking CSVs "
            "(default: %(default)s)"
        ),
    )
    _option(
        evaluate_parser,
        "--output",
        default=Path("skemotion-results"),
        help="where results go (default: %(default)s)",
    )
    _option(
        evaluate_parser,
        "--epochs",
        help=(
            f"training epochs per fold (default: {EMBEDDED_DEFAULT_EPOCHS} on the embedded "
            f"corpus, {PAPER_EPOCHS} with --data, {QUICK_EPOCHS} with --quick)"
        ),
    )
    evaluate_parser.add_argument(
        "--folds",
        choices=("paper", "groupkfold"),
        help=(
            "the paper's 5 fixed actor folds, or GroupKFold(5) on actors (default: paper when "
            "all 24 actors are present, else groupkfold)"
        ),
    )
    _option(
        evaluate_parser,
        "--n-jobs",
        help="parallel jobs for feature extraction and folds (default: 1; -1: all cores)",
    )
    _option(
        evaluate_parser,
        "--exclude-reference-clips",
        help=(
            "leave each actor's neutral reference recordings (repetition 1 of the neutral "
            "clip of each statement, 2 per actor, which calibrate the key-point distances) "
            "out of the test folds; they are still trained on. Default: tested, as in the paper"
        ),
    )
    _option(evaluate_parser, "--seed")
    _option(
        evaluate_parser,
        "--subject-norm",
        help=(
            "calibrate every actor's features with statistics of its own unlabeled clips: "
            "all of them, its neutral clips, or its first K; a transductive protocol, "
            "reported as such (default: none, the paper's standard protocol)"
        ),
    )
    _option(
        evaluate_parser,
        "--quick",
        help=(
            f"smoke test: {QUICK_N_ACTORS} actors, {QUICK_EPOCHS} epochs, a small network; "
            "the scores mean nothing"
        ),
    )
    evaluate_parser.set_defaults(handler=evaluate)


def _add_train(commands: Any) -> None:
    train_parser = commands.add_parser(
        "train",
        help="fit the speech or face pipeline on every clip and save it",
        description=(
            "Fit log-mel spectrogram + TIM-Net (or, with --features kpd, face key-point "
            "distances + TIM-Net) on all clips of --data and save it."
        ),
    )
    _option(train_parser, "--data", required=True, help="RAVDESS folder")
    _option(
        train_parser,
        "--features",
        help="lms: speech log-mel spectrogram; kpd: face key-point distances (default: lms)",
    )
    train_parser.add_argument(
        "--model", type=Path, required=True, metavar="OUT.skem", help="model file to write"
    )
    _option(
        train_parser,
        "--epochs",
        default=PAPER_EPOCHS,
        help="training epochs (default: %(default)s)",
    )
    _option(train_parser, "--seed")
    _option(
        train_parser,
        "--subject-norm",
        help=(
            "train with per-actor calibration (see evaluate); the saved model then needs "
            "clips of each new speaker or face to calibrate to: predict --enroll"
        ),
    )
    train_parser.set_defaults(handler=train)


def _add_predict(commands: Any) -> None:
    predict_parser = commands.add_parser(
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
    predict_parser.add_argument(
        "--model", type=Path, required=True, metavar="MODEL.skem", help="a saved model"
    )
    predict_parser.add_argument(
        "clips", type=Path, nargs="+", metavar="CLIP", help="clips to label"
    )
    predict_parser.add_argument(
        "--enroll",
        type=Path,
        nargs="+",
        metavar="CLIP",
        help="unlabeled clips of the same person to calibrate a --subject-norm model first",
    )
    predict_parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict_parser.set_defaults(handler=predict)


def _add_reproduce(commands: Any) -> None:
    reproduce_parser = commands.add_parser(
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
    reproduce_parser.add_argument("table", choices=("table1", "table2"), help="which table")
    _option(
        reproduce_parser,
        "--data",
        help="RAVDESS folder: audio, and videos or OpenFace tracking CSVs (01-01-*.csv)",
    )
    _option(reproduce_parser, "--output", help="where results go (default: skemotion-TABLE)")
    reproduce_parser.add_argument(
        "--rows",
        nargs="+",
        metavar="NAME",
        help="Table 2 rows or Table 1 features to run, by name (default: all)",
    )
    reproduce_parser.add_argument(
        "--columns", nargs="+", metavar="NAME", help="Table 2 columns to run (default: all)"
    )
    reproduce_parser.add_argument(
        "--emotions", nargs="+", metavar="NAME", help="Table 1 emotions (default: all eight)"
    )
    _option(
        reproduce_parser,
        "--epochs",
        help="epochs of every model (default: the paper's per feature, Table 3)",
    )
    reproduce_parser.add_argument(
        "--openface", type=Path, metavar="DIR", help="OpenFace CSV folder"
    )
    reproduce_parser.add_argument("--wav2vec2", metavar="MODEL", help="Wav2Vec2 hub id or folder")
    reproduce_parser.add_argument("--resnet", metavar="MODEL", help="ResNet hub id or folder")
    reproduce_parser.add_argument(
        "--n-actors", type=positive_int, metavar="N", help="first N actors"
    )
    _option(reproduce_parser, "--n-jobs", help="parallel jobs (default: 1)")
    _option(reproduce_parser, "--seed")
    _option(
        reproduce_parser,
        "--exclude-reference-clips",
        help=(
            "leave each actor's neutral reference recordings out of the test folds (default: "
            "tested, as in the paper); see skemotion evaluate --help"
        ),
    )
    reproduce_parser.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "recompute the cells OUTPUT holds from another run (other data, settings or "
            "skemotion version) instead of stopping"
        ),
    )
    reproduce_parser.add_argument(
        "--quiet", action="store_true", help="one line per cell, no progress bars"
    )
    _option(
        reproduce_parser,
        "--quick",
        help=f"smoke test: {QUICK_N_ACTORS} actors, {QUICK_EPOCHS} epochs, a small network",
    )
    reproduce_parser.set_defaults(handler=reproduce)


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
