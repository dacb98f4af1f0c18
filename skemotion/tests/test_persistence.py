"""save_model / load_model: round trips, and files that are not skemotion models."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skemotion import load_model, save_model
from skemotion.exceptions import NotASkemotionModelError
from skemotion.nets import TIMNetClassifier
from skemotion.preprocessing import TemporalStandardScaler

_EXECUTED: list[str] = []


def _record(message: str) -> None:
    _EXECUTED.append(message)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_record, ("code ran",))


def test_fitted_scaler_round_trip(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(5, 7, 3)).astype(np.float32)
    scaler = TemporalStandardScaler().fit(X)
    loaded = load_model(save_model(scaler, tmp_path / "scaler.skem"))
    np.testing.assert_array_equal(loaded.transform(X), scaler.transform(X))


def test_unfitted_pipeline_round_trip_keeps_params(tmp_path: Path) -> None:
    pipe = make_pipeline(
        TemporalStandardScaler(with_mean=False),
        TIMNetClassifier(max_epochs=7, module__filters=16, module__matmul_dtype=torch.bfloat16),
    )
    loaded = load_model(save_model(pipe, tmp_path / "pipe.skem"))
    params = loaded.get_params()
    assert params["temporalstandardscaler__with_mean"] is False
    assert params["timnetclassifier__max_epochs"] == 7
    assert params["timnetclassifier__module__matmul_dtype"] is torch.bfloat16
    assert params["timnetclassifier__optimizer__betas"] == (0.93, 0.98)


def test_refuses_to_save_foreign_estimators(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not a skemotion-supported estimator"):
        save_model(SVC(), tmp_path / "svc.skem")
    assert not list(tmp_path.iterdir())


def test_pickle_payload_is_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.skem"
    path.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(NotASkemotionModelError, match=r"evil\.skem is not a skemotion model"):
        load_model(path)
    torch.save({"model": _Payload()}, tmp_path / "evil2.skem")
    with pytest.raises(NotASkemotionModelError, match="never loaded"):
        load_model(tmp_path / "evil2.skem")
    assert _EXECUTED == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot be read"),
        (b"not a model at all", "cannot be read"),
    ],
)
def test_garbage_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "junk.skem"
    path.write_bytes(content)
    with pytest.raises(NotASkemotionModelError, match=message):
        load_model(path)


def test_other_torch_files_and_versions(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "weights.pt")
    with pytest.raises(NotASkemotionModelError, match="no skemotion format marker"):
        load_model(tmp_path / "weights.pt")
    torch.save({"format": "skemotion-model", "format_version": 99}, tmp_path / "future.skem")
    with pytest.raises(NotASkemotionModelError, match="format 99"):
        load_model(tmp_path / "future.skem")
    torch.save(
        {
            "format": "skemotion-model",
            "format_version": 1,
            "model": {"__estimator__": "os.system", "params": {}},
        },
        tmp_path / "forged.skem",
    )
    with pytest.raises(NotASkemotionModelError, match=r"unknown class 'os\.system'"):
        load_model(tmp_path / "forged.skem")
    with pytest.raises(FileNotFoundError, match=r"missing\.skem"):
        load_model(tmp_path / "missing.skem")


def test_face_feature_pipeline_round_trips(tmp_path):
    from skemotion.face import FaceLandmarks, KeyPointDistances
    from skemotion.preprocessing import TemporalStandardScaler

    model = make_pipeline(
        KeyPointDistances(
            FaceLandmarks("openface", n_jobs=2, cache_dir=False),
            references={1: np.ones((68, 2))},
        ),
        TemporalStandardScaler(),
    )
    model[1].fit(np.random.default_rng(0).random((4, 88, 780), dtype=np.float32))
    save_model(model, tmp_path / "face.skem")
    restored = load_model(tmp_path / "face.skem")
    assert restored.get_params()["keypointdistances__landmarks__backend"] == "openface"
    np.testing.assert_array_equal(restored[0].references[1], np.ones((68, 2)))
    np.testing.assert_array_equal(restored[1].mean_, model[1].mean_)


def test_fusion_models_round_trip(tmp_path: Path) -> None:
    from skemotion.compose import LateFusionClassifier, ModalityUnion
    from skemotion.nets import FusionClassifier

    rng = np.random.default_rng(0)
    y = np.tile(["calm", "angry"], 20)
    X = {
        "lms": rng.normal(size=(40, 16, 6)).astype(np.float32),
        "kpd": rng.normal(size=(40, 12, 10)).astype(np.float32),
    }
    net: dict[str, Any] = {
        "max_epochs": 2,
        "module__filters": 8,
        "module__n_scales": 2,
        "random_state": 0,
    }
    early = make_pipeline(
        ModalityUnion([(m, TemporalStandardScaler(), m) for m in X]),
        FusionClassifier(**{**net, "module__n_scales": {"lms": 2, "kpd": 3}}),
    ).fit(X, y)
    loaded = load_model(save_model(early, tmp_path / "early.skem"))
    np.testing.assert_allclose(loaded.predict_proba(X), early.predict_proba(X), rtol=1e-6)
    assert loaded[-1].modalities_ == ("lms", "kpd")

    late = LateFusionClassifier(
        [(m, make_pipeline(TemporalStandardScaler(), TIMNetClassifier(**net))) for m in X],
        cv=2,
    ).fit(X, y, groups=np.repeat(np.arange(4), 10))
    loaded_late = load_model(save_model(late, tmp_path / "late.skem"))
    np.testing.assert_allclose(loaded_late.predict_proba(X), late.predict_proba(X), rtol=1e-6)


def test_fusion_pipeline_with_path_parameters_round_trips(tmp_path: Path) -> None:
    # The issue: a Path cache folder made the whole fusion model unsaveable.
    from skemotion.compose import make_fusion_pipeline
    from skemotion.face import FaceLandmarks

    landmarks = FaceLandmarks(cache_dir=tmp_path / "landmarks", openface_dir=tmp_path / "csv")
    model = make_fusion_pipeline(("lms", "kpd"), landmarks=landmarks, max_epochs=1)
    restored = load_model(save_model(model, tmp_path / "fusion.skem"))
    found = [
        value
        for key, value in restored.get_params().items()
        if key.endswith("landmarks__cache_dir")
    ]
    assert found and all(value == tmp_path / "landmarks" for value in found)
    assert all(isinstance(value, Path) for value in found)
