"""TorchScript / ONNX export: equality with the skorch model, folded scalers, loading."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from torch import nn

from skemotion.compose import ModalityUnion
from skemotion.deploy import (
    METADATA_FILE,
    ExportedClassifier,
    export_onnx,
    export_torchscript,
    load_onnx,
    load_torchscript,
)
from skemotion.exceptions import NotASkemotionModelError
from skemotion.nets import FusionClassifier, TIMNetBinaryClassifier, TIMNetClassifier
from skemotion.preprocessing import TemporalStandardScaler

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
    # torch 2.13 deprecates torch.jit and the TorchScript-based ONNX exporter; both work.
    pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
]

ATOL = 1e-5
SMALL: dict[str, Any] = {
    "max_epochs": 2,
    "module__filters": 8,
    "module__n_scales": 3,
    "random_state": 0,
}
CLASSES = np.array(["angry", "calm", "happy"])
# What the data fixtures give: the clips (one array, or one per modality) and their labels.
ArrayData = tuple[np.ndarray, np.ndarray]
FusionData = tuple[dict[str, np.ndarray], np.ndarray]


def _labels(n: int) -> np.ndarray:
    return CLASSES[np.arange(n) % 3]


@pytest.fixture(scope="module")
def array_data() -> ArrayData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 14, 6)).astype(np.float32)
    return X, _labels(len(X))


@pytest.fixture(scope="module")
def fusion_data() -> FusionData:
    # Two modalities of different lengths and widths, raw (far from standardised).
    rng = np.random.default_rng(1)
    X = {
        "lms": (rng.normal(size=(24, 14, 6)) * 4.0 - 30.0).astype(np.float32),
        "kpd": (rng.normal(size=(24, 9, 11)) * 0.05 + 1.0).astype(np.float32),
    }
    return X, _labels(24)


@pytest.fixture(scope="module")
def timnet(array_data: ArrayData) -> TIMNetClassifier:
    return TIMNetClassifier(**SMALL).fit(*array_data)


@pytest.fixture(scope="module")
def fusion(fusion_data: FusionData) -> FusionClassifier:
    return FusionClassifier(**SMALL).fit(*fusion_data)


def _scaler_union() -> ModalityUnion:
    return ModalityUnion(
        [("lms", TemporalStandardScaler(), "lms"), ("kpd", TemporalStandardScaler(), "kpd")]
    )


@pytest.fixture(scope="module")
def fusion_pipeline(fusion_data: FusionData) -> Pipeline:
    pipe = Pipeline([("scaler", _scaler_union()), ("fusion", FusionClassifier(**SMALL))])
    return pipe.fit(*fusion_data)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b)))


def _assert_answers_as(
    exported: ExportedClassifier, model: Any, X: Any, *, graph_X: Any = None
) -> None:
    """``exported`` gives ``model``'s probabilities on ``X`` (to ATOL) and its labels.

    ``graph_X``: what the graph takes in place of ``X`` when the model starts with steps
    that are not exported (their output); ``X`` itself by default.
    """
    graph_X = X if graph_X is None else graph_X
    assert _max_diff(exported.predict_proba(graph_X), model.predict_proba(X)) <= ATOL
    np.testing.assert_array_equal(exported.predict(graph_X), model.predict(X))


# -- TorchScript equality -------------------------------------------------------------------


def test_timnet_classifier_torchscript_equals_predict_proba(
    timnet: TIMNetClassifier, array_data: ArrayData, tmp_path: Path
) -> None:
    X, _ = array_data
    exported = export_torchscript(timnet, tmp_path / "timnet.pt")
    loaded = load_torchscript(tmp_path / "timnet.pt")
    for model in (exported, loaded):
        assert isinstance(model, ExportedClassifier)
        assert model.input_names_ == ("x",)
        assert model.classes_.tolist() == CLASSES.tolist()
        _assert_answers_as(model, timnet, X)
    # The trace is not tied to the example's length: other clip lengths agree as well.
    longer = np.random.default_rng(5).normal(size=(3, 40, 6)).astype(np.float32)
    _assert_answers_as(loaded, timnet, longer)


def test_exported_network_has_the_fitted_weights_on_the_reference_path(
    timnet: TIMNetClassifier, tmp_path: Path
) -> None:
    export_torchscript(timnet, tmp_path / "m.pt")
    loaded = load_torchscript(tmp_path / "m.pt")
    exported = {
        key.removeprefix("network."): value
        for key, value in loaded.module_.state_dict().items()
        if key.startswith("network.")
    }
    fitted = timnet.module_.state_dict()
    assert exported.keys() == fitted.keys()
    for key, value in fitted.items():
        torch.testing.assert_close(exported[key], value, rtol=0, atol=0)
    # the skorch model itself still runs the fused kernel
    assert all(layer.fused for layer in timnet.module_.modules() if hasattr(layer, "fused"))


def test_binary_classifier_exports_the_sigmoid_pair(array_data: ArrayData, tmp_path: Path) -> None:
    X, y = array_data
    clf = TIMNetBinaryClassifier(**SMALL, threshold=0.4).fit(X, y == "angry")
    exported = export_torchscript(clf, tmp_path / "binary.pt")
    assert exported.classes_.tolist() == [False, True]
    _assert_answers_as(exported, clf, X)
    assert exported.metadata_["threshold"] == 0.4


def test_fusion_classifier_two_modalities_of_different_lengths_and_widths(
    fusion: FusionClassifier,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    X, _ = fusion_data
    export_torchscript(fusion, tmp_path / "fusion.pt")
    exported = load_torchscript(tmp_path / "fusion.pt")
    assert exported.input_names_ == ("lms", "kpd")
    assert exported.n_features_per_input_ == {"lms": 6, "kpd": 11}
    _assert_answers_as(exported, fusion, X)
    # The module itself takes the modalities positionally, in input_names_ order.
    raw = exported.module_(torch.from_numpy(X["lms"]), torch.from_numpy(X["kpd"]))
    assert _max_diff(raw.numpy(), fusion.predict_proba(X)) <= ATOL


def test_pipeline_scalers_are_folded_into_the_graph(
    fusion_pipeline: Pipeline,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    X, _ = fusion_data
    exported = export_torchscript(fusion_pipeline, tmp_path / "pipe.pt")
    assert exported.folded_steps_ == ["scaler"]
    assert exported.unexported_steps_ == []
    # Raw features in, the pipeline's probabilities out (the scaler moved lms by ~30 units).
    _assert_answers_as(exported, fusion_pipeline, X)


def test_temporal_scaler_before_timnet_is_folded_and_extractors_are_left_out(
    array_data: ArrayData, tmp_path: Path
) -> None:
    X, y = array_data
    raw = X * 7.0 + 3.0
    pipe = Pipeline(
        [
            ("features", FunctionTransformer(lambda a: a * 7.0 + 3.0)),
            ("scaler", TemporalStandardScaler()),
            ("skip", "passthrough"),
            ("timnet", TIMNetClassifier(**SMALL)),
        ]
    ).fit(X, y)
    exported = export_torchscript(pipe, tmp_path / "speech.pt")
    assert exported.folded_steps_ == ["scaler"]
    assert exported.unexported_steps_ == ["features"]
    # The graph takes the output of the unexported "features" step.
    _assert_answers_as(exported, pipe, X, graph_X=raw)


def test_extractor_union_before_the_scalers_is_left_out(
    fusion_data: FusionData, tmp_path: Path
) -> None:
    # make_fusion_pipeline's shape: features (a ModalityUnion of extractors), scaler, fusion.
    X, y = fusion_data
    features = ModalityUnion(
        [("lms", FunctionTransformer(), "lms"), ("kpd", FunctionTransformer(), "kpd")]
    )
    pipe = Pipeline(
        [("features", features), ("scaler", _scaler_union()), ("fusion", FusionClassifier(**SMALL))]
    )
    pipe[1:].fit(X, y)  # the extractors stay unfitted, as stateless ones may
    exported = export_torchscript(pipe, tmp_path / "pipe.pt")
    assert exported.folded_steps_ == ["scaler"]
    assert exported.unexported_steps_ == ["features"]
    _assert_answers_as(exported, pipe[1:], X)


def test_batch_of_one_clip(
    fusion_pipeline: Pipeline,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    X, _ = fusion_data
    one = {name: array[:1] for name, array in X.items()}
    exported = export_torchscript(fusion_pipeline, tmp_path / "pipe.pt", example=one)
    assert exported.predict_proba(one).shape == (1, 3)
    _assert_answers_as(exported, fusion_pipeline, one)
    # traced on one clip, it still takes several
    _assert_answers_as(exported, fusion_pipeline, X)


def test_loads_in_a_fresh_process_without_skemotion(
    fusion_pipeline: Pipeline,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    X, _ = fusion_data
    path = tmp_path / "pipe.pt"
    export_torchscript(fusion_pipeline, path)
    np.savez(tmp_path / "inputs.npz", lms=X["lms"], kpd=X["kpd"])
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["skemotion"] = None  # any import of skemotion now fails
        import numpy as np
        import torch

        extra = {{"{METADATA_FILE}": ""}}
        m = torch.jit.load({str(path)!r}, _extra_files=extra)
        meta = json.loads(extra["{METADATA_FILE}"])
        inputs = np.load({str(tmp_path / "inputs.npz")!r})
        with torch.inference_mode():
            proba = m(*(torch.from_numpy(inputs[i["name"]]) for i in meta["inputs"]))
        np.save({str(tmp_path / "proba.npy")!r}, proba.numpy())
        print(json.dumps({{"classes": meta["classes"], "skemotion": sys.modules["skemotion"]}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"classes": CLASSES.tolist(), "skemotion": None}
    proba = np.load(tmp_path / "proba.npy")
    assert _max_diff(proba, fusion_pipeline.predict_proba(X)) <= ATOL


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("export", [export_torchscript, export_onnx])
@pytest.mark.parametrize(
    "model",
    [
        TIMNetClassifier(),
        FusionClassifier(),
        Pipeline([("scaler", TemporalStandardScaler()), ("timnet", TIMNetClassifier())]),
    ],
    ids=["timnet", "fusion", "pipeline"],
)
def test_unfitted_model_raises_not_fitted(export: Any, model: Any, tmp_path: Path) -> None:
    if export is export_onnx:
        pytest.importorskip("onnxruntime")
    with pytest.raises(NotFittedError):
        export(model, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_unsupported_estimator_raises_type_error_naming_it(
    array_data: ArrayData, tmp_path: Path
) -> None:
    X, y = array_data
    flat = X.reshape(len(X), -1)
    logistic = LogisticRegression().fit(flat, y)
    with pytest.raises(TypeError, match="LogisticRegression"):
        export_torchscript(logistic, tmp_path / "m.pt")
    pipe = Pipeline([("scaler", TemporalStandardScaler()), ("clf", LogisticRegression())])
    with pytest.raises(TypeError, match="ends in LogisticRegression"):
        export_torchscript(pipe.fit(flat, y), tmp_path / "m.pt")


def test_classifier_whose_probabilities_are_not_a_softmax_is_refused(
    array_data: ArrayData, tmp_path: Path
) -> None:
    X, y = array_data
    clf = TIMNetClassifier(**SMALL, criterion=nn.NLLLoss).fit(X, y)
    with pytest.raises(ValueError, match="NLLLoss"):
        export_torchscript(clf, tmp_path / "m.pt")


def test_wrong_inputs_are_refused(
    fusion: FusionClassifier,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    X, _ = fusion_data
    with pytest.raises(ValueError, match=r"'kpd'.*11"):
        export_torchscript(fusion, tmp_path / "m.pt", example={**X, "kpd": X["kpd"][..., :5]})
    exported = export_torchscript(fusion, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"missing \['kpd'\]"):
        exported.predict_proba({"lms": X["lms"]})
    with pytest.raises(ValueError, match="mapping"):
        exported.predict_proba(X["lms"])
    with pytest.raises(ValueError, match="different numbers of clips"):
        exported.predict_proba({"lms": X["lms"], "kpd": X["kpd"][:3]})


def test_torchscript_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(nn.Linear(3, 2)), str(path))
    with pytest.raises(NotASkemotionModelError, match=r"other\.pt"):
        load_torchscript(path)


# -- ONNX --------------------------------------------------------------------------------------


def test_onnx_fusion_pipeline_matches_the_skorch_model(
    fusion_pipeline: Pipeline,
    fusion_data: FusionData,
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime")
    X, _ = fusion_data
    # The TorchScript-based exporter: a couple of seconds rather than the default's ~30.
    export_onnx(fusion_pipeline, tmp_path / "pipe.onnx", dynamo=False)
    loaded = load_onnx(tmp_path / "pipe.onnx")
    session = loaded.module_
    assert [i.name for i in session.get_inputs()] == ["lms", "kpd"]
    assert session.get_inputs()[0].shape[:2] == ["batch", "lms_frames"]
    for n_clips in (1, 5, 24):
        part = {name: array[:n_clips] for name, array in X.items()}
        _assert_answers_as(loaded, fusion_pipeline, part)
    assert loaded.folded_steps_ == ["scaler"]


def test_onnx_default_exporter_dynamic_batch(array_data: ArrayData, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X, y = array_data
    # the smallest network keeps torch.export's tracing and ONNX rewriting short
    clf = TIMNetClassifier(**{**SMALL, "module__n_scales": 1, "module__n_layers": 1}).fit(X, y)
    exported = export_onnx(clf, tmp_path / "timnet.onnx")
    assert exported.metadata_["backend"] == "onnx"
    for part in (X[:1], X[:7], X):
        _assert_answers_as(exported, clf, part)


def test_a_subject_calibrated_pipeline_exports_for_one_known_person(
    array_data: ArrayData, tmp_path: Path
) -> None:
    import pandas as pd

    from skemotion.preprocessing import SubjectNormalizer

    X, y = array_data
    actors = np.repeat([1, 2, 3], 8)
    raw = X + actors[:, None, None].astype(np.float32)  # each person their own offset
    table = pd.DataFrame({"clip": list(raw), "actor": actors})
    stack = FunctionTransformer(lambda t: np.stack(t["clip"].to_list()))
    pipe = Pipeline(
        [
            ("features", SubjectNormalizer(stack, min_clips_for_std=4)),
            ("scaler", TemporalStandardScaler()),
            ("timnet", TIMNetClassifier(**SMALL)),
        ]
    ).fit(table, y)
    with pytest.raises(ValueError, match="pass subject="):
        export_torchscript(pipe, tmp_path / "any.pt")
    with pytest.raises(ValueError, match="No statistics for subject 7"):
        export_torchscript(pipe, tmp_path / "any.pt", subject=7)
    exported = export_torchscript(pipe, tmp_path / "actor2.pt", subject=2)
    assert exported.folded_steps_ == ["features[subject=2]", "scaler"]
    assert exported.unexported_steps_ == ["features__transformer"]
    # The graph takes actor 2's raw features and answers as the pipeline does for actor 2.
    mine = actors == 2
    _assert_answers_as(exported, pipe, table[mine], graph_X=raw[mine])
