"""
Grid search over a fusion pipeline, grouped by actor
====================================================

Tune the speech + face fusion model with scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV`: the network's width
(``fusion__module__filters``), its learning rate (``fusion__lr``) and the face calibration
(``features__kpd__normalization``), each candidate scored by GroupKFold on actors, so no
actor is ever on both sides of a split.

Feature extraction is the slow part (decoding audio and video, tracking the face) and
learns nothing: the ``features`` step of :func:`~skemotion.compose.make_fusion_pipeline`
is stateless (``requires_fit=False``), so it gives the same arrays whatever the training
fold. :func:`~skemotion.model_selection.extract_stateless_head` runs such leading steps
once and returns the learning part of the pipeline (per-modality standardisation +
network), which GridSearchCV refits per fold; the script does that once per value of the
extraction parameter (here: once per normalization). Searching the whole pipeline on the
clip table gives the same scores but extracts every clip again for every candidate and
fold. (:func:`~skemotion.model_selection.evaluate_actor_cv` does the same by default.)

The script writes a small synthetic RAVDESS-like corpus with video (3 actors) so that it
runs anywhere in a few minutes; pass ``--data`` with a RAVDESS folder holding the speech
wavs and the video-only clips to use the real ones::

    python examples/grid_search_fusion.py [--data RAVDESS_DIR] [--actors N] [--epochs N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.model_selection import GridSearchCV, GroupKFold

from skemotion.compose import make_fusion_pipeline
from skemotion.datasets import load_ravdess_audiovisual, make_ravdess_like
from skemotion.face import FaceLandmarks
from skemotion.model_selection import extract_stateless_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--data", type=Path, help="RAVDESS folder with wavs and video-only mp4s")
    parser.add_argument("--actors", type=int, default=3, help="actors of the synthetic corpus")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="parallel extraction and search")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="skemotion-example-"))
    root = args.data
    if root is None:
        root = workdir / "corpus"
        make_ravdess_like(root, n_actors=args.actors, video=True, n_jobs=args.jobs)
    data = load_ravdess_audiovisual(root)
    n_actors = data.groups.nunique()
    print(f"{len(data.frame)} recordings of {n_actors} actors")

    pipe = make_fusion_pipeline(
        ("lms", "kpd"),
        landmarks=FaceLandmarks(n_jobs=args.jobs),
        max_epochs=args.epochs,
        n_scales=5,
        random_state=0,
    )

    # %%
    # The network's grid: any parameter of the learning part by its nested name.
    param_grid = {"fusion__module__filters": [16, 32], "fusion__lr": [1e-3, 2e-3]}
    cv = GroupKFold(n_splits=min(5, n_actors))

    # %%
    # The extraction parameter selects which features the search sees. The landmarks are
    # cached on disk, so the second normalization reuses the face tracking of the first.
    results = []
    for normalization in ["neutral_reference", "inter_ocular"]:
        pipe.set_params(features__kpd__normalization=normalization)
        # The stateless features step, run once on every clip: no fit, no leakage.
        features, learner = extract_stateless_head(pipe, data.frame)
        print(normalization, {name: array.shape for name, array in features.items()})
        search = GridSearchCV(learner, param_grid, cv=cv, n_jobs=args.jobs)
        search.fit(features, data.y, groups=data.groups)
        table = pd.DataFrame(search.cv_results_["params"])
        table.insert(0, "features__kpd__normalization", normalization)
        table["mean_accuracy"] = search.cv_results_["mean_test_score"]
        table["std_accuracy"] = search.cv_results_["std_test_score"]
        results.append(table)

    results_table = pd.concat(results, ignore_index=True)
    results_table = results_table.sort_values("mean_accuracy", ascending=False)
    print(results_table.to_string(index=False, float_format="{:.3f}".format))
    best = results_table.iloc[0]

    # %%
    # The chosen setting, as one pipeline on the clip table, ready to fit on all actors
    # and save (skemotion.save_model) or to score with evaluate_actor_cv.
    chosen_params = {
        str(key): value.item() if hasattr(value, "item") else value  # numpy -> Python scalar
        for key, value in best.drop(["mean_accuracy", "std_accuracy"]).items()
    }
    final = pipe.set_params(**chosen_params)
    chosen = {key: final.get_params()[key] for key in ["features__kpd__normalization", *param_grid]}
    print("best:", chosen, "- final pipeline steps:", [step for step, _ in final.steps])


if __name__ == "__main__":
    main()
