"""Early vs late fusion of log-mel and face key-point distances on the embedded corpus.

Run after ``skemotion reproduce table2 --epochs 30 --output runs/embedded_table2``::

    python benchmarks/embedded_late_fusion.py --table2 runs/embedded_table2

It reads that run's corpus and three of its cells, on the paper's five actor folds:
``None x LMS`` (speech alone), ``Face KPD x None`` (face alone) and ``Face KPD x LMS`` (the
early-fusion ``FusionClassifier``). It adds two late fusions of the same two single-modality
models on the same folds:

* the product rule of the two cells' out-of-fold posteriors, which the table run saved
  under ``Face KPD x LMS``'s ``__late`` cell (:func:`skemotion.model_selection.fuse_reports`;
  nothing trained);
* the Luna-Jiménez et al. baseline, :class:`~skemotion.compose.LateFusionClassifier` with
  stacking: inside every outer training fold, each modality's TIM-Net is cross-validated
  over ``--inner-cv`` actor-grouped inner folds, a logistic regression learns from those
  out-of-fold log-posteriors how far to trust each modality for each emotion, and the
  modality models are refitted on the whole training fold. This trains
  ``5 x 2 x (inner + 1)`` TIM-Nets.

The single-modality models are the table's own (same settings, seeds and epochs: the
cells' fingerprint is checked), and
the features come from the same extractors (the landmark cache makes the face cheap).
Prints one table and writes the stacking report with its figures under ``--output``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skorch.helper import SliceDict

from skemotion.compose import LateFusionClassifier
from skemotion.datasets import load_ravdess_audiovisual
from skemotion.model_selection import ActorCVReport, RavdessActorFolds, evaluate_actor_cv
from skemotion.paper import ReproduceSettings

CELLS = {
    "speech alone (LMS)": "none__lms",
    "face alone (KPD)": "face_kpd__none",
    "early fusion (FusionClassifier)": "face_kpd__lms",
    "late fusion, product rule": "face_kpd__lms__late",
}
TRAINED_CELLS = ("none__lms", "face_kpd__none", "face_kpd__lms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table2", type=Path, default=Path("runs/embedded_table2"))
    parser.add_argument("--epochs", type=int, default=30, help="the table run's --epochs")
    parser.add_argument("--inner-cv", type=int, default=3, help="inner actor folds (stacking)")
    parser.add_argument("--n-jobs", type=int, default=2, help="outer folds in parallel")
    parser.add_argument("--output", type=Path, default=Path("runs/embedded_late_fusion"))
    args = parser.parse_args()

    cells = args.table2 / "cells"
    reports = {
        name: ActorCVReport.from_json(cells / slug / "report.json") for name, slug in CELLS.items()
    }
    corpus = load_ravdess_audiovisual(args.table2 / "corpus", video="video-only").frame
    y, groups = corpus["emotion"].to_numpy(), corpus["actor"].to_numpy()
    # The cells' fingerprint covers the corpus and every setting: matching it means the
    # models below are the table's own.
    settings = ReproduceSettings(max_epochs=args.epochs)
    for slug in TRAINED_CELLS:
        record = json.loads((cells / slug / "cell.json").read_text())
        if record.get("fingerprint") != settings.fingerprint(corpus):
            raise SystemExit(
                f"{cells / slug} was not run on this corpus with --epochs {args.epochs}"
            )
    for report in reports.values():
        _same_clips_and_folds(report, reports["speech alone (LMS)"])
    if not np.array_equal(y, reports["speech alone (LMS)"].y_true):
        raise SystemExit(f"{args.table2}/corpus is not in the clip order of its cells")
    features = {}
    for name in ("lms", "kpd"):
        transformer, column = settings.extractor(name)
        features[name] = np.asarray(transformer.transform(corpus[column]), dtype=np.float32)

    late = LateFusionClassifier(
        [(name, settings.model((name,))) for name in ("lms", "kpd")],
        fusion="stacking",
        cv=args.inner_cv,
    )
    started = time.perf_counter()
    stacking = evaluate_actor_cv(
        late,
        SliceDict(**features),
        y,
        groups,
        cv=RavdessActorFolds(),
        n_jobs=args.n_jobs,
        verbose=2,
    )
    minutes = (time.perf_counter() - started) / 60
    name = f"late fusion, stacking ({args.inner_cv} inner actor folds)"
    reports[name] = _same_clips_and_folds(stacking, reports["speech alone (LMS)"])

    print(f"\nstacking: {minutes:.1f} min for 5 outer folds, n_jobs={args.n_jobs}\n")
    print("| model | " + " | ".join(f"fold {k}" for k in range(5)) + " | mean ± std | macro-F1 |")
    print("| --- |" + " ---: |" * 7)
    for model, report in reports.items():
        folds = " | ".join(f"{100 * a:.2f}" for a in report.fold_accuracy)
        print(
            f"| {model} | {folds} | {100 * report.mean_accuracy:.2f} ± "
            f"{100 * report.std_accuracy:.2f} | {report.macro_f1:.3f} |"
        )
    labels = list(reports["speech alone (LMS)"].labels or [])
    print("\n| model | " + " | ".join(labels) + " |")
    print("| --- |" + " ---: |" * len(labels))
    for model, report in reports.items():
        print(
            f"| {model} | " + " | ".join(f"{report.per_emotion_f1[e]:.3f}" for e in labels) + " |"
        )
    args.output.mkdir(parents=True, exist_ok=True)
    stacking.metadata.update({"inner_cv": args.inner_cv, "minutes": minutes})
    stacking.save(args.output / "stacking", title=name)
    print(f"\nreports written to {args.output}/")


def _same_clips_and_folds(report: ActorCVReport, reference: ActorCVReport) -> ActorCVReport:
    """``report``, after checking it scored the reference's clips on the same folds."""
    if not (
        np.array_equal(report.y_true, reference.y_true)
        and np.array_equal(report.test_fold, reference.test_fold)
    ):
        raise SystemExit("a report does not cover the table's clips and folds")
    return report


if __name__ == "__main__":
    main()
