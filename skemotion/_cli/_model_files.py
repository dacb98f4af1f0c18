"""``skemotion train`` and ``skemotion predict``: a model fitted on every clip, saved, used."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..datasets import EMOTIONS
from ._common import CLIError, feature_pipeline, load_feature_clips

__all__ = ["ENROLLED_SUBJECT", "predict", "train"]

ENROLLED_SUBJECT = "enrolled"
"""Subject id ``skemotion predict`` gives the person of its clips when they are not all
RAVDESS clips of one actor (one person per call)."""


def train(args: argparse.Namespace) -> int:
    """Fit the speech or face pipeline on every clip of ``--data`` and save it."""
    data = load_feature_clips(args.data, args.features, n_actors=None)
    if not args.model.parent.is_dir():
        raise CLIError(f"folder {args.model.parent} of --model does not exist")
    from .. import save_model

    pipeline, _ = feature_pipeline(
        args.features,
        data.frame["path"],
        epochs=args.epochs,
        seed=args.seed,
        subject_normalization=args.subject_norm,
        verbose=1,
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
    from ..preprocessing import SubjectNormalizer

    pipeline.set_params(**{name: 0 for name in pipeline.get_params() if name.endswith("verbose")})
    for part in pipeline.get_params().values():
        # A SubjectNormalizer's extractor is a fitted clone that set_params does not reach.
        fitted = (
            getattr(part, "transformer_", None) if isinstance(part, SubjectNormalizer) else None
        )
        if fitted is not None and "verbose" in fitted.get_params():
            fitted.set_params(verbose=0)


def _clip_tables(*clip_lists: Sequence[Path]) -> list[Any]:
    """The tables a saved pipeline reads: paths, RAVDESS fields when named so, one subject.

    RAVDESS clips of a single actor keep that actor (the face model's neutral reference
    is looked up by it); any other set of files is one person named ENROLLED_SUBJECT.
    """
    import dataclasses

    import pandas as pd

    from ..datasets import parse_ravdess_name

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


def predict(args: argparse.Namespace) -> int:
    """Label clips with a saved model, calibrated first to ``--enroll`` clips if given."""
    missing = [str(clip) for clip in [*args.clips, *(args.enroll or [])] if not clip.is_file()]
    if missing:
        raise CLIError(f"clip(s) not found: {', '.join(missing)}")
    if not args.model.is_file():
        raise CLIError(f"model file {args.model} does not exist")
    import numpy as np

    from .. import load_model
    from ..exceptions import NotASkemotionModelError
    from ..preprocessing import SubjectNormalizer

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
