"""Speech + face fusion end to end on the embedded corpus, as a user runs it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from skemotion.compose import LateFusionClassifier, make_fusion_pipeline
from skemotion.datasets import load_ravdess_audiovisual
from skemotion.model_selection import evaluate_actor_cv
from skemotion.nets import TIMNetClassifier
from skemotion.preprocessing import TemporalStandardScaler

# Small enough for CI, large enough that each modality learns: 5 actors, one per fold.
SMALL_NET: dict[str, Any] = {
    "max_epochs": 30,
    "filters": 32,
    "n_scales": 5,
    "random_state": 0,
    "module__bn_momentum": 0.1,
}


@pytest.fixture(scope="module")
def recordings(av_corpus):
    return load_ravdess_audiovisual(av_corpus)


@pytest.fixture(scope="module")
def features(recordings):
    # The extractors learn nothing: one pass over the clips serves every model below.
    return make_fusion_pipeline(("lms", "kpd"))[0].transform(recordings.frame)


@pytest.mark.slow
def test_fused_lms_and_kpd_beat_each_modality_alone(recordings, features):
    """Late fusion of the two networks beats each of them on the same actor folds.

    On this 5-actor corpus the face is far easier (about 80 %) than the voice (about 40 %);
    the product of their posteriors still gains, because they err on different emotions.
    (The early-fusion network's gain needs more training actors: see the Table 2 analogue
    in docs/results.md; here it is exercised by the other tests.)
    """
    cv = GroupKFold(n_splits=5)
    y, groups = recordings.y.to_numpy(), recordings.groups.to_numpy()

    def single_modality_model():
        # make_fusion_pipeline's scaler and network, on one modality's array.
        net = make_fusion_pipeline(("lms",), **SMALL_NET)[-1]
        return make_pipeline(TemporalStandardScaler(), net)

    reports = {
        modality: evaluate_actor_cv(
            single_modality_model(), features[modality], y, groups, cv=cv, n_jobs=2
        )
        for modality in ("lms", "kpd")
    }
    speech, face = reports["lms"], reports["kpd"]
    assert speech.proba_classes == face.proba_classes
    assert speech.y_proba is not None and face.y_proba is not None
    product = np.log(speech.y_proba + 1e-7) + np.log(face.y_proba + 1e-7)
    fused = np.asarray(speech.proba_classes)[product.argmax(axis=1)]
    accuracy = {
        "speech": speech.mean_accuracy,
        "face": face.mean_accuracy,
        "fused": float(np.mean(fused == y)),
    }
    assert accuracy["fused"] > accuracy["face"] > accuracy["speech"] > 2 / 8, accuracy

    # The same fused model as an estimator: LateFusionClassifier's product rule over the
    # same two models gives the same predictions (checked on one fold).
    late = LateFusionClassifier(
        [(m, single_modality_model()) for m in ("lms", "kpd")], fusion="product"
    )
    train, test = next(cv.split(y, y, groups))
    late.fit({m: features[m][train] for m in ("lms", "kpd")}, y[train])
    pred = late.predict({m: features[m][test] for m in ("lms", "kpd")})
    assert np.mean(pred == fused[test]) > 0.97


@pytest.mark.slow
def test_fusion_pipeline_on_the_clip_table_survives_sklearn_tools(recordings, features):
    """Dict inputs through cross_val_score, GridSearchCV and clone, from the raw table on."""
    tiny: dict[str, Any] = {"max_epochs": 2, "filters": 8, "n_scales": 2, "random_state": 0}
    pipe = make_fusion_pipeline(("lms", "kpd"), **tiny)
    frame, y, groups = recordings.frame, recordings.y, recordings.groups
    scores = cross_val_score(pipe, frame, y, groups=groups, cv=GroupKFold(5))
    assert scores.shape == (5,) and np.all((scores >= 0) & (scores <= 1))

    search = GridSearchCV(
        pipe[1:],
        {"fusion__module__filters": [4, 8], "fusion__lr": [2e-3]},
        cv=GroupKFold(3),
    )
    search.fit(features, y, groups=groups)
    assert search.best_params_["fusion__module__filters"] in (4, 8)
    assert search.predict(features[:3]).shape == (3,)

    copy = clone(pipe)
    assert copy.get_params()["features__kpd__path_column"] == "video_path"
    assert copy.get_params()["fusion__module__n_scales"] == 2


@pytest.mark.slow
def test_late_fusion_estimator_on_the_same_folds(recordings, features):
    def timnet():
        return make_pipeline(
            TemporalStandardScaler(),
            TIMNetClassifier(max_epochs=3, module__filters=8, module__n_scales=2, random_state=0),
        )

    # One TIM-Net per modality, stacked by a logistic regression over inner actor folds;
    # evaluate_actor_cv hands each outer fold's training actors to fit.
    late = LateFusionClassifier([("lms", timnet()), ("kpd", timnet())], cv=2)
    report = evaluate_actor_cv(late, features, recordings.y, recordings.groups, cv=GroupKFold(5))
    assert 0 <= report.mean_accuracy <= 1
    assert report.y_proba is not None and np.allclose(report.y_proba.sum(axis=1), 1)
