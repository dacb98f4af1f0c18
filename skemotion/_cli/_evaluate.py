"""``skemotion evaluate``: the paper's actor-grouped cross-validation, report and figures."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .._version import __version__
from ._common import (
    EMBEDDED_DEFAULT_EPOCHS,
    EMBEDDED_N_ACTORS,
    FEATURE_CHOICES,
    PAPER_EPOCHS,
    QUICK_EPOCHS,
    QUICK_N_ACTORS,
    QUICK_NET,
    CLIError,
    Feature,
    embedded_corpus,
    feature_pipeline,
    load_feature_clips,
)

__all__ = ["evaluate"]

_PAPER_F1_LABEL = "paper, binary macro-F1"


def evaluate(args: argparse.Namespace) -> int:
    """Cross-validate the speech or face pipeline, then write and print its report."""
    from ..model_selection import evaluate_actor_cv

    start = time.perf_counter()
    if args.output.exists() and not args.output.is_dir():
        raise CLIError(f"--output {args.output} exists and is not a folder")
    embedded = args.data is None
    n_actors = QUICK_N_ACTORS if args.quick else None
    feature = FEATURE_CHOICES[args.features]
    if embedded:
        data = embedded_corpus(
            args.output / "corpus",
            n_actors=n_actors or EMBEDDED_N_ACTORS,
            n_jobs=args.n_jobs,
            modality=feature["modality"],
        )
    else:
        data = load_feature_clips(args.data, args.features, n_actors=n_actors)
    epochs = _epochs(args, embedded=embedded)
    n_found = int(data.groups.nunique())
    cv = _actor_splitter(args, data, n_found)
    pipeline, landmarks = feature_pipeline(
        args.features,
        data.frame["path"],
        epochs=epochs,
        seed=args.seed,
        subject_normalization=args.subject_norm,
        n_jobs=args.n_jobs,
        network=QUICK_NET if args.quick else None,
    )
    # Log-mel and key-point features learn nothing from data: evaluate_actor_cv extracts
    # them once for all clips (extract_once="auto"), the scaler and the network still learn
    # inside the folds.
    report = evaluate_actor_cv(
        pipeline, data.frame, data.y, data.groups, cv=cv, n_jobs=args.n_jobs, verbose=1
    )
    report.metadata.update(
        {
            "skemotion_version": __version__,
            "data": "embedded synthetic corpus" if embedded else str(args.data),
            "corpus": str(data.root),
            "n_clips": len(data.frame),
            "n_actors": n_found,
            "features": args.features,
            **(_face_found(landmarks, data.frame["path"]) if landmarks is not None else {}),
            "epochs": epochs,
            "seed": args.seed,
            "exclude_reference_clips": bool(args.exclude_reference_clips),
            "quick": bool(args.quick),
            "pipeline": repr(pipeline),
            "wall_time_s": round(time.perf_counter() - start, 1),
        }
    )
    _write_and_print(report, args, feature, embedded=embedded)
    return 0


def _epochs(args: argparse.Namespace, *, embedded: bool) -> int:
    if args.epochs is not None:
        return int(args.epochs)
    if args.quick:
        return QUICK_EPOCHS
    return EMBEDDED_DEFAULT_EPOCHS if embedded else PAPER_EPOCHS


def _actor_splitter(args: argparse.Namespace, data: Any, n_found: int) -> Any:
    """The folds ``--folds`` and ``--exclude-reference-clips`` ask for (None: the default)."""
    from sklearn.model_selection import GroupKFold

    from ..model_selection import RavdessActorFolds

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
        from ..datasets import is_ravdess_neutral_reference
        from ..model_selection import ExcludeFromTest, default_actor_cv

        if cv is None:
            cv = default_actor_cv(set(data.groups.unique().tolist()))
        cv = ExcludeFromTest(cv, is_ravdess_neutral_reference(data.frame["path"]))
    return cv


def _face_found(landmarks: Any, paths: Any) -> dict[str, Any]:
    """How often the face was found, read back from the landmark cache the run filled."""
    import numpy as np

    tracks = landmarks.extract(paths.tolist())
    success = np.concatenate([t.success for t in tracks if t is not None])
    print(
        f"Face found in {100 * success.mean():.2f} % of {success.size} frames "
        "(the others interpolated from their neighbours).",
        file=sys.stderr,
    )
    return {"landmarks": landmarks.backend, "face_found_fraction": round(float(success.mean()), 5)}


def _write_and_print(
    report: Any, args: argparse.Namespace, feature: Feature, *, embedded: bool
) -> None:
    """Save the report's files, print it, and say how it compares with the paper."""
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
