"""The paper's speech-only protocol on the real RAVDESS clips.

LMS (88 x 24 log-mel) + TIM-Net, the 5 fixed actor folds of Luna-Jimenez et al., Table 3's
hyperparameters (lr 1e-3, batch 64, 100 epochs, 7 scales, 64 filters, 3 layers per block),
checkpoint of lowest training loss. Prints per-fold and mean accuracy beside the paper's
65.6 %, the run time and the training throughput, and writes the report (JSON, Markdown,
confusion matrix and per-emotion F1 plots) to ``--output``.

    python benchmarks/ravdess_speech_protocol.py --data ../shared/data/ravdess/speech
    python benchmarks/ravdess_speech_protocol.py --seeds 0 1 2     # three seeds, 15 networks
    python benchmarks/ravdess_speech_protocol.py --stacked --matmul-dtype bfloat16 \
        --lr-schedule onecycle --epochs 40                          # the fast settings

Each fold's network trains alone in ``--n-jobs`` single-thread worker processes (the
library's default); ``--stacked`` trains the five folds' networks (times the seeds) as one
stacked network instead (``stack_folds="auto"``): ``--n-jobs`` stacks of about equal work,
each in a worker process with one torch thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from skemotion.paper import FEATURES

PAPER_LMS_ACCURACY = FEATURES["lms"].accuracy
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess" / "speech"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path("runs/ravdess_speech"))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="several seeds (overrides --seed)"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="worker processes (one torch thread each)"
    )
    parser.add_argument(
        "--stacked",
        action="store_true",
        help="train the folds (and seeds) as one stacked network instead of each alone",
    )
    parser.add_argument("--matmul-dtype", default=None, help="e.g. bfloat16")
    parser.add_argument(
        "--lr-schedule",
        default=None,
        choices=["onecycle", "cosine"],
        help="anneal the learning rate over the fit (changes the numbers; default: constant)",
    )
    parser.add_argument(
        "--per-clip-norm",
        action="store_true",
        help="standardise every mel band of each clip over its own frames first (CMVN)",
    )
    args = parser.parse_args(argv)
    if args.n_jobs != 1:
        # One torch thread per worker: two workers fill two cores without the
        # OpenMP oversubscription that two 2-thread processes would cause.
        os.environ["OMP_NUM_THREADS"] = "1"

    import numpy as np
    from sklearn.pipeline import make_pipeline

    from skemotion.audio import LogMelSpectrogram
    from skemotion.datasets import load_ravdess
    from skemotion.model_selection import RavdessActorFolds, evaluate_actor_cv_many
    from skemotion.nets import TIMNetClassifier
    from skemotion.preprocessing import TemporalStandardScaler

    if not args.data.is_dir():
        print(f"error: no RAVDESS folder at {args.data}", file=sys.stderr)
        return 2
    corpus = load_ravdess(args.data)
    print(f"{len(corpus.frame)} clips, {corpus.groups.nunique()} actors from {args.data}")

    start = time.perf_counter()
    features = LogMelSpectrogram(n_jobs=2, verbose=1).fit_transform(corpus.frame)
    extraction_s = time.perf_counter() - start
    print(f"log-mel {features.shape} in {extraction_s:.1f} s")

    module_params = {}
    if args.matmul_dtype:
        module_params["module__matmul_dtype"] = args.matmul_dtype
    steps = [TemporalStandardScaler()]
    if args.per_clip_norm:
        from sklearn.preprocessing import FunctionTransformer

        steps.insert(0, FunctionTransformer(_standardize_each_clip))
    seeds = args.seeds if args.seeds is not None else [args.seed]
    models = [
        make_pipeline(
            *steps,
            TIMNetClassifier.from_paper(
                "lms",
                max_epochs=args.epochs,
                random_state=seed,
                module__filters=args.filters,
                module__n_layers=args.n_layers,
                lr_schedule=args.lr_schedule,
                **module_params,
            ),
        )
        for seed in seeds
    ]
    start = time.perf_counter()
    reports = evaluate_actor_cv_many(
        models,
        features,
        corpus.y.to_numpy(),
        corpus.groups.to_numpy(),
        cv=RavdessActorFolds(),
        n_jobs=args.n_jobs,
        verbose=1,
        stack_folds="auto" if args.stacked else False,
    )
    cv_s = time.perf_counter() - start
    report = reports[0]
    test_sizes = np.bincount(report.test_fold)
    n_trained = int((len(report.test_fold) - test_sizes).sum()) * len(seeds)
    for seed, seed_report in zip(seeds, reports, strict=True):
        print(f"\n## seed {seed}\n")
        print(seed_report.to_markdown())
    means = np.array([100 * r.mean_accuracy for r in reports])
    print(
        f"\nmean accuracy {', '.join(f'{m:.2f}' for m in means)} % (seeds {seeds}); "
        f"over seeds {means.mean():.2f} +- {means.std():.2f} "
        f"(paper, LMS + TIM-Net: {PAPER_LMS_ACCURACY} %)"
    )
    mode = "stacked" if args.stacked else "fold by fold"
    print(
        f"cross-validation {cv_s:.0f} s ({cv_s / 60:.1f} min, {mode}), "
        f"{n_trained * args.epochs / cv_s:.0f} training samples/s over the whole protocol "
        f"(n_jobs={args.n_jobs}); extraction {extraction_s:.0f} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for seed, seed_report in zip(seeds, reports, strict=True):
        seed_report.metadata.update(
            {
                "seed": seed,
                "cv_seconds": cv_s,
                "extraction_seconds": extraction_s,
                "mode": mode,
                "settings": {k: str(v) for k, v in vars(args).items()},
            }
        )
        seed_report.save(args.output if len(seeds) == 1 else args.output / f"seed_{seed}")
    print(f"report written to {args.output}")
    return 0


def _standardize_each_clip(features):  # type: ignore[no-untyped-def]
    mean = features.mean(axis=1, keepdims=True)
    std = features.std(axis=1, keepdims=True)
    return (features - mean) / (std + 1e-5)


if __name__ == "__main__":
    raise SystemExit(main())
