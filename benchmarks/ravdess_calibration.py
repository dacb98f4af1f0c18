"""Subject calibration on real RAVDESS: speech TIM-Net, AU-means model and their fusion.

Every figure comes in two protocols, always side by side:

* **standard (inductive)**: the paper's: a test clip is classified from that clip alone;
* **calibrated (transductive)**: each test actor's own unlabeled clips set its statistics:
  batch-norm statistics of every TIM-Net layer for speech
  (:class:`~skemotion.compose.SubjectAdaptiveClassifier`, AdaBN), mean and standard
  deviation of the action units for the face model
  (:class:`~skemotion.preprocessing.SubjectNormalizer`). No label of a test actor is read;
  the test fold is still scored only.

The enrollment curve varies what calibrates a test actor: nothing (standard), its 4 neutral
clips (found by RAVDESS name), 8, 16 or 30 of its clips drawn at random (seeded), or all 60.
Every test clip is scored, enrollment clips included. Speech and face are fused by the
product rule (:func:`~skemotion.model_selection.fuse_reports`), which learns nothing.

The speech networks are the paper's (log-mel, TIM-Net, 100 epochs, precise batch-norm
statistics), trained once per seed and fold on the paper's five actor folds; each
calibration only changes what the trained network normalises with. Each (seed, fold) is
stored under ``--output`` as soon as it ends, so a stopped run resumes (the folder records
the clips' names and sizes, the AU file's digest and the epochs, and refuses other ones).
Usage::

    python benchmarks/ravdess_calibration.py --output runs/ravdess_calibration --seeds 0 1
    python benchmarks/ravdess_calibration.py --output runs/ravdess_calibration --summary-only
    python benchmarks/ravdess_calibration.py --output runs/calibration_subject_batches \
        --batching subject --seeds 0

``--batching subject`` trains each network on batches that hold one actor each
(:class:`~skemotion.nets.SubjectBatchLoader`), the statistics it is calibrated with;
``--set NAME=VALUE`` sets any other :class:`~skemotion.nets.TIMNetClassifier` parameter
(``--set lr_schedule=cosine``; values are Python literals, else strings).

It prints a markdown summary (mean ± spread over seeds of the five-fold mean accuracy),
writes ``summary.md``, ``summary.json``, the enrollment curve ``enrollment_curve.png`` and the
confusion matrices and per-emotion F1 of the standard and calibrated models.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from skemotion.datasets import load_openface_au_means, load_ravdess

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
# What calibrates a test actor: None is the standard protocol.
ENROLLMENT: dict[str, dict[str, Any] | None] = {
    "standard": None,
    "neutral": {"source": "neutral"},
    "8": {"n_clips": 8},
    "16": {"n_clips": 16},
    "30": {"n_clips": 30},
    "all": {},
}


def _log_mel(corpus: Any, output: Path, n_jobs: int) -> np.ndarray:
    """Log-mel features of every clip, computed once and kept beside the results."""
    from skemotion.audio import LogMelSpectrogram

    cache = output / "log_mel.npz"
    paths = np.asarray([os.path.basename(p) for p in corpus.frame["path"]])
    if cache.exists():
        stored = np.load(cache)
        if np.array_equal(stored["names"], paths):
            return stored["X"]
    X = LogMelSpectrogram(n_jobs=n_jobs, verbose=1).fit_transform(corpus.frame)
    np.savez(cache, X=X, names=paths)
    return X


def _check_provenance(args: argparse.Namespace, corpus: Any) -> None:
    """Stop rather than mix this run's folds with stored ones made from other data."""
    sizes = sorted((os.path.basename(p), os.path.getsize(p)) for p in corpus.frame["path"])
    current = {
        "clips": hashlib.sha256(json.dumps(sizes).encode()).hexdigest(),
        "au_means": hashlib.sha256(args.au_means.read_bytes()).hexdigest(),
        "epochs": args.epochs,
        "network": _network_params(args),
    }
    record = args.output / "provenance.json"
    if record.exists() and json.loads(record.read_text()) != current:
        raise SystemExit(
            f"{args.output} holds results of other data or settings ({record}); "
            "choose another --output."
        )
    record.write_text(json.dumps(current, indent=1))


def _network_params(args: argparse.Namespace) -> dict[str, Any]:
    """TIMNetClassifier parameters beyond the paper's: ``--batching`` and every ``--set``."""
    params: dict[str, Any] = {"batching": args.batching}
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value  # a bare word: a string (lr_schedule=cosine)
    return params


def _enrollment_rows(
    table: Any, groups: np.ndarray, test: np.ndarray, setting: dict[str, Any], seed: int
) -> np.ndarray:
    """Rows (indices into the corpus) that calibrate the test actors under ``setting``."""
    from skemotion.preprocessing import select_calibration_clips

    chosen = select_calibration_clips(
        table.iloc[test],
        groups[test],
        source=setting.get("source", "all"),
        n_clips=setting.get("n_clips"),
        selection="random",
        random_state=seed,
    )
    return test[chosen]


def _speech_fold(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    table: Any,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    epochs: int,
    network_params: dict[str, Any],
) -> dict[str, Any]:
    """Train one network, then predict the test actors under every enrollment setting."""
    import torch
    from sklearn.pipeline import make_pipeline

    from skemotion.compose import SubjectAdaptiveClassifier
    from skemotion.nets import TIMNetClassifier
    from skemotion.preprocessing import TemporalStandardScaler

    torch.set_num_threads(1)
    start = time.perf_counter()
    network = TIMNetClassifier.from_paper(
        "lms", max_epochs=epochs, random_state=seed, **network_params
    )
    model = SubjectAdaptiveClassifier(make_pipeline(TemporalStandardScaler(), network))
    model.fit(X[train], y[train], subjects=groups[train])
    fit_time = time.perf_counter() - start
    proba = {}
    for name, setting in ENROLLMENT.items():
        if setting is None:
            proba[name] = model.estimator_.predict_proba(X[test])
            continue
        calibrated = copy.deepcopy(model)
        rows = _enrollment_rows(table, groups, test, setting, seed)
        calibrated.enroll(X[rows], subjects=groups[rows])
        proba[name] = calibrated.predict_proba(X[test], subjects=groups[test])
    return {
        "test": test,
        "classes": np.asarray(model.classes_).astype(str),
        "fit_time": fit_time,
        **{f"proba_{name}": p for name, p in proba.items()},
    }


def _au_fold(
    table: Any, y: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> dict[str, Any]:
    """The AU-means model of one fold, standard and calibrated as the speech network is.

    Training actors are calibrated by all their clips (by their neutral clips for the
    neutral setting); a test actor by its enrollment clips
    (:meth:`~skemotion.preprocessing.SubjectNormalizer.enroll`), as a new user would be.
    """
    from skemotion.compose import make_au_means_pipeline

    start = time.perf_counter()
    standard = make_au_means_pipeline().fit(table.iloc[train], y[train])
    # Training actors are calibrated from the same source as test actors: neutral clips
    # are not a sample of all clips (their mean is the neutral face), random ones are.
    calibrated = {
        source: make_au_means_pipeline(subject_normalization=source).fit(
            table.iloc[train], y[train]
        )
        for source in ("all", "neutral")
    }
    fit_time = time.perf_counter() - start
    proba = {}
    for name, setting in ENROLLMENT.items():
        if setting is None:
            proba[name] = standard.predict_proba(table.iloc[test])
            continue
        model = copy.deepcopy(calibrated[setting.get("source", "all")])
        rows = _enrollment_rows(table, groups, test, setting, seed)
        model.named_steps["au"].enroll(table.iloc[rows])
        proba[name] = model.predict_proba(table.iloc[test])
    return {
        "test": test,
        "classes": np.asarray(standard.classes_).astype(str),
        "fit_time": fit_time,
        **{f"proba_{name}": p for name, p in proba.items()},
    }


def _report(
    name: str, folds: list[dict[str, Any]], y: np.ndarray, groups: np.ndarray, calibration: str
):
    """One ActorCVReport from the folds of one seed, under enrollment setting ``name``."""
    from skemotion.model_selection import ActorCVReport

    order = np.concatenate([f["test"] for f in folds])
    proba = np.empty((len(y), len(folds[0]["classes"])))
    proba[order] = np.concatenate([f[f"proba_{name}"] for f in folds])
    test_fold = np.empty(len(y), dtype=int)
    test_fold[order] = np.repeat(np.arange(len(folds)), [len(f["test"]) for f in folds])
    classes = folds[0]["classes"]
    setting = ENROLLMENT[name]
    protocol: dict[str, Any] = {"protocol": "inductive"}
    if setting is not None:
        protocol = {
            "protocol": "transductive",
            "calibrations": {
                "model": {
                    "subject_normalization": calibration,
                    "source": setting.get("source", "all"),
                    "n_clips": setting.get("n_clips"),
                    "selection": "random" if "n_clips" in setting else None,
                }
            },
        }
    return ActorCVReport(
        y_true=y,
        y_pred=classes[proba.argmax(axis=1)],
        test_fold=test_fold,
        fold_actors=[sorted(np.unique(groups[f["test"]]).tolist()) for f in folds],
        fit_time=[float(f["fit_time"]) for f in folds],
        score_time=[0.0] * len(folds),
        protocol=protocol,
        y_proba=proba,
        proba_classes=classes.tolist(),
    )


def _run_folds(args: argparse.Namespace, X, y, groups, table, splits) -> None:
    from joblib import Parallel, delayed

    todo = [
        (seed, fold)
        for seed in args.seeds
        for fold in args.folds
        if not (args.output / f"speech_s{seed}_f{fold}.npz").exists()
    ]
    if not todo:
        return
    print(f"training {len(todo)} speech network(s): {todo}", file=sys.stderr)
    network_params = _network_params(args)
    jobs = (
        delayed(_speech_fold)(X, y, groups, table, *splits[fold], seed, args.epochs, network_params)
        for seed, fold in todo
    )
    # Each result is written as it arrives, so a stopped run keeps its finished folds.
    results = Parallel(n_jobs=args.n_jobs, return_as="generator")(jobs)
    for (seed, fold), result in zip(todo, results, strict=True):
        np.savez(args.output / f"speech_s{seed}_f{fold}.npz", **result)
        standard = np.mean(
            result["classes"][result["proba_standard"].argmax(1)] == y[result["test"]]
        )
        calibrated = np.mean(result["classes"][result["proba_all"].argmax(1)] == y[result["test"]])
        print(
            f"seed {seed} fold {fold}: standard {100 * standard:.2f} %, "
            f"calibrated (all) {100 * calibrated:.2f} % ({result['fit_time']:.0f} s)",
            file=sys.stderr,
        )


def _summarise(args: argparse.Namespace, y, groups, table, splits) -> str:
    n_folds = len(splits)
    from skemotion.model_selection import fuse_reports

    seeds = [
        seed
        for seed in sorted(
            {int(p.stem.split("_")[1][1:]) for p in args.output.glob("speech_s*_f*.npz")}
        )
        if all((args.output / f"speech_s{seed}_f{f}.npz").exists() for f in range(n_folds))
    ]
    if not seeds:
        raise SystemExit(f"{args.output}: no seed has all {n_folds} folds yet.")
    scores: dict[str, dict[str, list[float]]] = {}
    per_fold: dict[str, list[list[float]]] = {}
    best: dict[str, Any] = {}
    for seed in seeds:
        folds = [dict(np.load(args.output / f"speech_s{seed}_f{f}.npz")) for f in range(n_folds)]
        au_folds = [_au_fold(table, y, groups, *splits[f], seed) for f in range(n_folds)]
        for name in ENROLLMENT:
            speech = _report(name, folds, y, groups, "per-subject batch-norm statistics")
            face = _report(name, au_folds, y, groups, "per-subject AU mean and std")
            fused = fuse_reports({"speech": speech, "face": face})
            for model, report in (("speech", speech), ("face", face), ("fusion", fused)):
                scores.setdefault(f"{model}/{name}", {}).setdefault("seeds", []).append(
                    100 * report.mean_accuracy
                )
                per_fold.setdefault(f"{model}/{name}", []).append(
                    [100 * a for a in report.fold_accuracy]
                )
                if seed == seeds[0] and name in ("standard", "all"):
                    best[f"{model}/{name}"] = report

    ensemble = _seed_ensemble(args.output, seeds, table, y, groups, splits)

    def cell(key: str) -> str:
        values = scores[key]["seeds"]
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    lines = [
        f"Seeds {seeds} (mean ± spread (std) over seeds of the five-fold mean accuracy, %).",
        "",
        "| calibrates a test actor | protocol | speech TIM-Net | AU means | speech x AU |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    labels = {
        "standard": "nothing (standard)",
        "neutral": "its 4 neutral clips",
        "8": "8 random clips",
        "16": "16 random clips",
        "30": "30 random clips",
        "all": "all 60 clips",
    }
    for name in ENROLLMENT:
        protocol = "inductive" if name == "standard" else "transductive"
        row = [cell(f"{m}/{name}") for m in ("speech", "face", "fusion")]
        lines.append(f"| {labels[name]} | {protocol} | " + " | ".join(row) + " |")
    if ensemble:
        lines += [
            "",
            f"Seed ensemble: the posteriors of the {len(seeds)} seeds' networks averaged "
            "(settings whose enrollment clips do not depend on the seed):",
            "",
            "| calibrates a test actor | speech TIM-Net ensemble | speech x AU |",
            "| --- | ---: | ---: |",
        ]
        for name, (speech_acc, fused_acc) in ensemble.items():
            lines.append(f"| {labels[name]} | {speech_acc:.2f} | {fused_acc:.2f} |")
    header = " | ".join(f"fold {f}" for f in range(n_folds))
    lines += ["", "Per fold, first seed:", "", f"| model | {header} |"]
    lines.append("| --- |" + " ---: |" * n_folds)
    for key in best:
        lines.append(f"| {key} | " + " | ".join(f"{a:.2f}" for a in per_fold[key][0]) + " |")
    emotions = sorted(best["speech/standard"].per_emotion_f1)
    lines += ["", "Per-emotion F1 (%), first seed:", "", "| model | " + " | ".join(emotions) + " |"]
    lines.append("| --- |" + " ---: |" * len(emotions))
    for key, report in best.items():
        f1 = report.per_emotion_f1
        lines.append(f"| {key} | " + " | ".join(f"{100 * f1[e]:.1f}" for e in emotions) + " |")
    summary = "\n".join(lines)
    (args.output / "summary.md").write_text(summary + "\n")
    (args.output / "summary.json").write_text(
        json.dumps(
            {"seeds": seeds, "scores": scores, "per_fold": per_fold, "ensemble": ensemble},
            indent=1,
        )
    )
    _plots(args.output, scores, best)
    return summary


def _seed_ensemble(
    output: Path, seeds: list[int], table: Any, y: np.ndarray, groups: np.ndarray, splits: list
) -> dict[str, tuple[float, float]]:
    """Five-fold mean accuracy of the seeds' networks averaged, alone and fused with AU."""
    from skemotion.model_selection import fuse_reports

    if len(seeds) < 2:
        return {}
    runs = [
        [dict(np.load(output / f"speech_s{seed}_f{f}.npz")) for f in range(len(splits))]
        for seed in seeds
    ]
    au_folds = [_au_fold(table, y, groups, *split, seeds[0]) for split in splits]
    found = {}
    for name in ("standard", "neutral", "all"):
        folds = [
            {**run[0], f"proba_{name}": np.mean([r[f][f"proba_{name}"] for r in runs], axis=0)}
            for f, run in enumerate(zip(*runs, strict=True))
        ]
        speech = _report(name, folds, y, groups, "per-subject batch-norm statistics")
        face = _report(name, au_folds, y, groups, "per-subject AU mean and std")
        fused = fuse_reports({"speech": speech, "face": face})
        found[name] = (100 * speech.mean_accuracy, 100 * fused.mean_accuracy)
    return found


def _plots(output: Path, scores: dict[str, dict[str, list[float]]], best: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(ENROLLMENT))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for model, label in (
        ("speech", "speech TIM-Net"),
        ("face", "AU means"),
        ("fusion", "speech x AU"),
    ):
        values = [scores[f"{model}/{name}"]["seeds"] for name in ENROLLMENT]
        ax.errorbar(
            x,
            [np.mean(v) for v in values],
            yerr=[np.std(v) for v in values],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xticks(x, ["0\n(standard)", "4\nneutral", "8", "16", "30", "60\n(all)"])
    ax.set_xlabel("clips of the test actor that calibrate it (unlabeled)")
    ax.set_ylabel("accuracy, % (5 actor folds)")
    ax.set_title("Subject calibration on real RAVDESS")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(output / "enrollment_curve.png", dpi=120)
    plt.close(fig)
    for key, report in best.items():
        stem = key.replace("/", "_")
        report.plot_confusion_matrix().figure.savefig(output / f"confusion_{stem}.png", dpi=110)
        plt.close("all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "speech")
    parser.add_argument("--au-means", type=Path, default=SHARED / "openface_au_clip_means.csv")
    parser.add_argument("--output", type=Path, default=Path("runs/ravdess_calibration"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--batching",
        choices=["mixed", "subject"],
        default="mixed",
        help="training batches: random clips (the paper's) or one actor each",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another TIMNetClassifier parameter, e.g. --set lr_schedule=cosine",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)

    from skemotion.model_selection import RavdessActorFolds

    corpus = load_ravdess(args.data)
    table = load_openface_au_means(args.au_means, corpus.frame).frame
    y, groups = corpus.y.to_numpy(), corpus.groups.to_numpy()
    splits = list(RavdessActorFolds().split(table, y, groups))
    _check_provenance(args, corpus)
    if not args.summary_only:
        X = _log_mel(corpus, args.output, args.n_jobs)
        _run_folds(args, X, y, groups, table, splits)
    print(_summarise(args, y, groups, table, splits))


if __name__ == "__main__":
    main()
