"""Face KPD scored with and without each actor's neutral reference recordings.

Run after ``skemotion evaluate --features kpd --output runs/embedded_kpd``::

    python benchmarks/kpd_reference_clips.py --run runs/embedded_kpd

Repetition 1 of each actor's neutral clip of each statement calibrates the key-point
distances of that actor's clips, and is itself a clip of the corpus (2 of 60 per actor):
normalised by itself, its most neutral frame is exactly 1.0 in all 780 distances. The paper
tests these clips like the others; ``skemotion evaluate --exclude-reference-clips`` leaves
them out of the test folds. That option changes no training set
(:class:`~skemotion.model_selection.ExcludeFromTest` keeps the training indices of the
paper's folds), so with the same seed it trains the very same five models and only scores
fewer clips. This script therefore rescores the run's out-of-fold predictions without the
48 reference recordings, which is what that command reports, and also prints how the
reference recordings themselves were classified. ``--check RUN`` compares with a run made
with the option (the same folds and predictions on every clip it tested).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from skemotion.datasets import is_ravdess_neutral_reference, load_ravdess
from skemotion.model_selection import ActorCVReport


def _without(report: ActorCVReport, exclude: np.ndarray) -> ActorCVReport:
    keep = ~exclude
    return ActorCVReport(
        y_true=report.y_true[keep],
        y_pred=report.y_pred[keep],
        test_fold=report.test_fold[keep],
        fold_actors=report.fold_actors,
        fit_time=report.fit_time,
        score_time=report.score_time,
        metadata={**report.metadata, "untested_clips": np.flatnonzero(exclude).tolist()},
    )


def _line(name: str, report: ActorCVReport) -> str:
    folds = " | ".join(f"{100 * a:.2f}" for a in report.fold_accuracy)
    return (
        f"| {name} | {len(report.y_true)} | {folds} | "
        f"{100 * report.mean_accuracy:.2f} ± {100 * report.std_accuracy:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/embedded_kpd"))
    parser.add_argument("--check", type=Path, help="a run made with --exclude-reference-clips")
    args = parser.parse_args()

    report = ActorCVReport.from_json(args.run / "report.json")
    data = load_ravdess(args.run / "corpus", modalities=["video-only"])
    if not np.array_equal(data.y.to_numpy(), report.y_true):
        raise SystemExit(f"{args.run}/corpus is not in the clip order of its report")
    reference = is_ravdess_neutral_reference(data.frame["path"])
    without = _without(report, reference)
    print("| test clips | n | " + " | ".join(f"fold {k}" for k in range(5)) + " | mean ± std |")
    print("| --- | ---: |" + " ---: |" * 5 + " ---: |")
    print(_line("all (the paper's protocol, default)", report))
    print(_line("without the reference recordings", without))
    right = report.y_pred == report.y_true
    labels, counts = np.unique(report.y_pred[reference], return_counts=True)
    other_neutral = ~reference & (report.y_true == "neutral")
    print(
        f"\nThe {reference.sum()} reference recordings (all neutral): "
        f"{100 * right[reference].mean():.1f} % right, predicted "
        f"{dict(zip(labels.tolist(), counts.tolist(), strict=True))}; the "
        f"{other_neutral.sum()} other neutral clips: {100 * right[other_neutral].mean():.1f} %."
    )
    if args.check is not None:
        checked = ActorCVReport.from_json(args.check / "report.json")
        same = np.array_equal(checked.y_pred, without.y_pred) and np.array_equal(
            checked.test_fold, without.test_fold
        )
        print(f"\n{args.check}: {'the same' if same else 'NOT the same'} predictions and folds.")


if __name__ == "__main__":
    main()
