"""Late fusion on real RAVDESS: speech TIM-Net posteriors x OpenFace AU-means posteriors.

The one real multimodal measurement possible on this machine: ``../shared/data/ravdess``
holds the speech audio and, for the same clips, per-clip means of OpenFace action units
(no videos). The speech model is the paper's log-mel + TIM-Net run by
``ravdess_speech_protocol.py``, whose report keeps the out-of-fold posteriors; the face
model is :func:`~skemotion.compose.make_au_means_pipeline` (the 35 AU means standardised,
logistic regression, C=0.1) on :func:`~skemotion.datasets.load_openface_au_means`'s table,
cross-validated here on the same five actor folds. The posteriors are fused by the product
rule (summed log-probabilities), which learns nothing, so no fold sees its test actors.

Usage::

    python benchmarks/ravdess_speech_protocol.py --output runs/ravdess_speech_proba
    python benchmarks/ravdess_late_fusion.py --speech-report runs/ravdess_speech_proba/report.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from skemotion.compose import make_au_means_pipeline
from skemotion.datasets import load_openface_au_means, load_ravdess
from skemotion.model_selection import ActorCVReport, evaluate_actor_cv, fuse_reports

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
# Figures quoted by the issue for plain sklearn models on these folds, for scale.
REFERENCE = {
    "LMS statistics + logistic regression": 47.2,
    "AU means + logistic regression": 56.8,
    "both, summed log-probabilities": 70.4,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speech-report", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED / "speech")
    parser.add_argument("--au-means", type=Path, default=SHARED / "openface_au_clip_means.csv")
    parser.add_argument("--output", type=Path, default=Path("runs/ravdess_late_fusion"))
    args = parser.parse_args()

    data = load_ravdess(args.data, modalities=["audio-only"])
    speech = ActorCVReport.from_dict(json.loads(args.speech_report.read_text()))
    if speech.y_proba is None:
        raise SystemExit(f"{args.speech_report} has no posteriors: rerun the speech protocol")
    if not np.array_equal(speech.y_true, data.y.to_numpy()):
        raise SystemExit(f"{args.speech_report} is not in the clip order of {args.data}")

    # Each speech clip gets the action units of the same recording, in the same row order.
    table = load_openface_au_means(args.au_means, data.frame).frame
    face = evaluate_actor_cv(
        make_au_means_pipeline(), table, data.y.to_numpy(), data.groups.to_numpy()
    )
    # fuse_reports refuses a speech report made on other folds than the paper's five.

    classes = list(speech.labels or [])
    fused = fuse_reports({"speech": speech, "face": face}, rule="product")

    rows = [("speech: log-mel + TIM-Net", speech), ("face: AU means + logistic regression", face),
            ("late fusion: product rule", fused)]  # fmt: skip
    print("| model | " + " | ".join(f"fold {i}" for i in range(5)) + " | mean ± std |")
    print("| --- | " + " | ".join("---:" for _ in range(5)) + " | ---: |")
    for name, report in rows:
        folds = " | ".join(f"{100 * a:.2f}" for a in report.fold_accuracy)
        print(f"| {name} | {folds} | **{100 * report.mean_accuracy:.2f} ± "
              f"{100 * report.std_accuracy:.2f}** |")  # fmt: skip
    print()
    print("| model | " + " | ".join(classes) + " | macro |")
    print("| --- | " + " | ".join("---:" for _ in classes) + " | ---: |")
    for name, report in rows:
        scores = " | ".join(f"{report.per_emotion_f1[c]:.3f}" for c in classes)
        print(f"| {name} | {scores} | {report.macro_f1:.3f} |")
    print()
    for name, value in REFERENCE.items():
        print(f"for scale (plain sklearn, same folds): {name}: {value:.1f} %")

    args.output.mkdir(parents=True, exist_ok=True)
    face.save(args.output / "au_means", title="Face: OpenFace AU means + logistic regression")
    fused.save(args.output / "fused", title="Late fusion: speech TIM-Net x AU means")
    print(f"reports written to {args.output}/")


if __name__ == "__main__":
    main()
