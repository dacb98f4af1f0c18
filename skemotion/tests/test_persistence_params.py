"""Every parameter type a public skemotion estimator documents survives save/load.

The estimators are discovered from the subpackages' ``__all__``
(:func:`skemotion._discovery.all_estimators`), and every constructor
parameter of each must have examples below, one per type its docstring documents: a new
estimator or parameter fails :func:`test_every_parameter_has_examples` until it gets some.
"""

from __future__ import annotations

import inspect
import pathlib
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import joblib
import numpy as np
import pytest
import torch
from sklearn.compose import make_column_selector
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline

from skemotion import load_model, save_model
from skemotion._discovery import all_estimators
from skemotion.audio import LogMelSpectrogram
from skemotion.datasets import RavdessNeutralReference
from skemotion.embed import PretrainedTIMNet, UnfreezeBackbone
from skemotion.face import (
    ActionUnitMeans,
    FaceLandmarks,
    FaceRegions,
    FaceTrack,
    KeyPointDistances,
)
from skemotion.model_selection import ExcludeFromTest, RavdessActorFolds
from skemotion.nets import (
    FusionTIMNet,
    GroupedValidSplit,
    RestoreBestCheckpoint,
    TIMNet,
    TIMNetClassifier,
)
from skemotion.preprocessing import TemporalStandardScaler

from ._tiny_models import tiny_wav2vec2

ESTIMATORS = dict(all_estimators())


def _track() -> FaceTrack:
    rng = np.random.default_rng(0)
    return FaceTrack(
        landmarks_2d=rng.random((4, 68, 2), dtype=np.float32),
        head_pose=np.zeros((4, 6), dtype=np.float32),
        success=np.array([True, True, False, True]),
        confidence=np.array([0.9, 0.8, 0.0, 0.95], dtype=np.float32),
        frame_indices=np.arange(4),
        fps=30.0,
        frame_size=(640, 360),
        source="Actor_01/02-01-01-01-01-01-01.mp4",
        backend="dlib",
    )


def _tiny_backbone(kind: str) -> Any:
    transformers = pytest.importorskip("transformers")
    if kind == "wav2vec2":
        return tiny_wav2vec2()
    torch.manual_seed(0)
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1])
    return transformers.ResNetModel(config).eval()


_PATHS = ["cache", Path("cache/landmarks"), PurePosixPath("/data/cache"), None]
_CACHE_DIRS = [*_PATHS, False, PureWindowsPath("C:/Users/me/cache")]
_LANDMARKS = [FaceLandmarks(cache_dir=Path("landmarks"), openface_dir=Path("csv")), None]
_SPLITS = [(np.array([0, 1]), np.array([2, 3])), (np.array([2, 3]), np.array([0, 1]))]
_NET = TIMNetClassifier(max_epochs=1, module__filters=8)
_CROP = [140_800, None, np.int64(48_000)]

# Examples per estimator and parameter: one per documented type (numpy scalars where an
# int or a float is documented, since they come out of configs and grids).
EXAMPLES: dict[str, dict[str, list[Any]]] = {
    "LogMelSpectrogram": {
        "sr": [16_000, np.int32(44_100)],
        "n_mels": [40],
        "n_fft": [2048],
        "hop_length": [512],
        "fmin": [20.0, np.float32(50.0)],
        "fmax": [8000.0, None],
        "crop_length": _CROP,
        "pad_mode": ["reflect"],
        "path_column": ["audio_path"],
        "n_jobs": [2, None],
        "verbose": [1],
        "on_error": ["raise"],
    },
    "LateFusionClassifier": {
        "estimators": [[("speech", _NET), ("face", make_pipeline(TemporalStandardScaler(), _NET))]],
        "fusion": ["product"],
        "final_estimator": [LogisticRegression(C=0.5), None],
        "weights": [[1.0, 2.0], (0.5, 0.5), np.array([1.0, 3.0]), None],
        "cv": [
            3,
            GroupKFold(3),
            StratifiedKFold(2, shuffle=True, random_state=0),
            LeaveOneGroupOut(),
            RavdessActorFolds(),
            ExcludeFromTest(RavdessActorFolds(), np.tile([True, False], 720)),
            _SPLITS,
        ],
        "n_jobs": [2],
        "verbose": [1],
    },
    "ModalityUnion": {
        "transformers": [
            [
                ("speech", LogMelSpectrogram(), "path"),
                ("face", KeyPointDistances(), ["video_path", "actor"]),
                ("features", "passthrough", 0),
                ("off", "drop", "x"),
                ("picked", TemporalStandardScaler(), make_column_selector(pattern="lms_")),
            ]
        ],
        "n_jobs": [2],
        "memory": [
            "joblib-cache",
            Path("joblib-cache"),
            # joblib makes a Memory's folder when the Memory is made, here and on load.
            joblib.Memory(Path(tempfile.gettempdir()) / "skemotion-test-memory", verbose=0),
            None,
        ],
        "label_columns": [("emotion",)],
        "verbose": [1],
    },
    "FineTunedTIMNetClassifier": {
        "module": [PretrainedTIMNet],
        "lr": [1e-4, np.float64(3e-4)],
        "batch_size": [8],
        "max_epochs": [3],
        "backbone_lr": [1e-5, None],
        "unfreeze_backbone_after": [2, None],
    },
    "ResNetEmbedder": {
        "model": ["microsoft/resnet-50", Path("models/resnet"), "resnet"],
        "revision": ["main", None],
        "regions": [FaceRegions("eyes", landmarks=_LANDMARKS[0]), None],
        "batch_size": [16],
        "device": ["cpu"],
        "dtype": ["bfloat16"],
        "cache_dir": _CACHE_DIRS,
        "path_column": ["video_path"],
        "verbose": [1],
    },
    "Wav2Vec2Embedder": {
        "model": ["facebook/wav2vec2-large", Path("models/w2v"), "wav2vec2"],
        "revision": ["v1", None],
        "layer": [6, "mean", np.int64(-2)],
        "sr": [16_000],
        "crop_length": _CROP,
        "pad_mode": ["edge"],
        "normalize": [False],
        "batch_size": [4],
        "device": ["cpu"],
        "dtype": ["float16"],
        "cache_dir": _CACHE_DIRS,
        "path_column": ["audio_path"],
        "verbose": [1],
    },
    "Wav2Vec2Preprocessor": {
        "sr": [16_000],
        "crop_length": _CROP,
        "pad_mode": ["error"],
        "normalize": [False, np.bool_(False)],
        "path_column": ["audio_path"],
    },
    "ActionUnits": {"landmarks": _LANDMARKS, "path_column": ["video_path"]},
    "HeadPose": {"landmarks": _LANDMARKS, "path_column": ["video_path"]},
    "EyeKeyPointDistances": {
        "landmarks": _LANDMARKS,
        "normalization": ["inter_ocular"],
        "references": [
            {
                1: "Actor_01/02-01-01-01-01-01-01.mp4",
                2: Path("neutral/actor2.mp4"),
                3: _track(),
                np.int64(4): np.ones((68, 2)),
                "spk5": np.ones((68, 3), dtype=np.float32),
            },
            None,
        ],
        "reference_resolver": [RavdessNeutralReference(), None],
        "subject_column": ["speaker"],
        "path_column": ["video_path"],
    },
    "KeyPointDistances": {
        "landmarks": _LANDMARKS,
        "normalization": ["none"],
        "references": [{1: Path("neutral.mp4"), 2: _track()}, None],
        "reference_resolver": [RavdessNeutralReference(), None],
        "subject_column": ["speaker"],
        "use_3d": [True, "auto"],
        "path_column": ["video_path"],
    },
    "FaceLandmarks": {
        "backend": ["openface"],
        "openface_dir": _PATHS,
        "n_frames": [20, np.int64(88)],
        "frame_selection": ["even"],
        "short": ["raise"],
        "detect_width": [640],
        "max_missing": [0.25, np.float32(0.5)],
        "confidence_threshold": [0.9, np.float64(0.5)],
        "on_error": ["warn"],
        "cache_dir": _CACHE_DIRS,
        "n_jobs": [2, None],
        "verbose": [1],
    },
    "FaceRegions": {
        "region": ["mouth"],
        "landmarks": _LANDMARKS,
        "normalize": [False],
        "reference_height": [1080],
        "path_column": ["video_path"],
    },
    "FusionClassifier": {
        "module": [FusionTIMNet],
        "lr": [1e-3],
        "max_epochs": [5],
        "batch_size": [32],
        "auxiliary_weight": [0.5],
    },
    "TIMNetBinaryClassifier": {
        "module": [TIMNet],
        "criterion": [torch.nn.BCEWithLogitsLoss],
        "pos_label": ["happy", 1, np.str_("happy"), None],
        "class_weight": ["balanced", {"happy": 2.0, "rest": 1.0}, {1: 3.0, 0: 1.0}, None],
        "threshold": [0.3, np.float32(0.7)],
    },
    "TIMNetClassifier": {
        "module": [TIMNet],
        "criterion": [torch.nn.CrossEntropyLoss, torch.nn.NLLLoss],
        "optimizer": [torch.optim.AdamW, torch.optim.SGD],
        "lr": [5e-4, np.float32(1e-3)],
        "max_epochs": [10],
        "batch_size": [16],
        "label_smoothing": [0.0],
        "train_split": [GroupedValidSplit(0.25, random_state=3), None],
        "checkpoint_monitor": ["valid_loss", None],
        "batchnorm_statistics": ["running"],
        "lr_schedule": ["onecycle", "cosine", None],
        "batching": ["subject"],
        "random_state": [7, None],
        "device": ["cpu"],
        "verbose": [1],
    },
    "TemporalStandardScaler": {"with_mean": [False], "with_std": [np.bool_(False)]},
    "SubjectNormalizer": {
        "transformer": [LogMelSpectrogram(n_mels=32), ActionUnitMeans(), None],
        "subject_column": ["speaker"],
        "source": ["neutral"],
        "n_clips": [8, np.int64(16), None],
        "selection": ["random"],
        "with_std": [False, np.bool_(True)],
        "min_clips_for_std": [4],
        "min_clips": [1],
        "on_uncalibrated": ["global"],
        "path_column": ["audio_path"],
        "random_state": [3, np.random.RandomState(0), None],
    },
    "SubjectAdaptiveClassifier": {
        "estimator": [make_pipeline(TemporalStandardScaler(), _NET), _NET],
        "subject_column": ["speaker"],
        "source": ["neutral"],
        "n_clips": [8, None],
        "selection": ["random"],
        "min_clips": [4],
        "on_uncalibrated": ["global"],
        "path_column": ["audio_path"],
        "random_state": [3, np.random.RandomState(0), None],
    },
    "ActionUnitMeans": {
        "columns": [("AU01_r", "AU12_r"), ["AU45_c"]],
        "id_column": ["clip"],
    },
}

# What the ``**kwargs`` of the skorch classifiers document: prefixed skorch parameters.
KWARGS: dict[str, dict[str, list[Any]]] = {
    "TIMNetClassifier": {
        "module__filters": [32],
        "module__n_scales": [np.int64(4)],
        "module__n_layers": [2],
        "optimizer__weight_decay": [1e-4],
        "optimizer__betas": [(0.93, 0.98)],
        "callbacks__checkpoint__monitor": ["valid_loss"],
        "callbacks": [
            [("best", RestoreBestCheckpoint("valid_acc"))],
            [("unfreeze", UnfreezeBackbone(after=2))],
        ],
        "iterator_train__shuffle": [True],
        "device": [torch.device("cpu")],
    },
    "FusionClassifier": {
        "module__filters": [{"lms": 8, "kpd": 16}, 32],
        "module__n_scales": [{"lms": 2, "kpd": 3}],
        "module__hidden_units": [(64, 32)],
        "train_split": [GroupedValidSplit(0.2)],
    },
    "FineTunedTIMNetClassifier": {
        "module__backbone": [
            "facebook/wav2vec2-base",
            Path("models/w2v"),
            PurePosixPath("/models/w2v"),
        ],
        "module__layer": ["weighted", -1],
        "module__freeze_backbone": [True],
        "optimizer__param_groups": [[("backbone.*", {"lr": 1e-5})]],
    },
}
KWARGS["TIMNetBinaryClassifier"] = KWARGS["TIMNetClassifier"]

# The documented "torch.nn.Module" of the embedders and backbones: transformers models.
MODULES: dict[str, tuple[str, str]] = {
    "ResNetEmbedder": ("model", "resnet"),
    "Wav2Vec2Embedder": ("model", "wav2vec2"),
    "FineTunedTIMNetClassifier": ("module__backbone", "wav2vec2"),
}


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types, recursively (estimators by their parameters)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        keys = zip(a, b, strict=True)
        return list(a) == list(b) and all(_same(k, j) and _same(a[k], b[j]) for k, j in keys)
    if isinstance(a, FaceTrack):
        return _same(a.to_arrays(), b.to_arrays())
    if isinstance(a, np.random.RandomState):
        left, right = a.get_state(legacy=True), b.get_state(legacy=True)
        return all(
            np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(left, right, strict=True)
        )
    if isinstance(a, joblib.Memory):
        return (a.location, a.mmap_mode, a.compress) == (b.location, b.mmap_mode, b.compress)
    if isinstance(a, torch.nn.Module):
        left, right = a.state_dict(), b.state_dict()
        return list(left) == list(right) and all(torch.equal(left[k], right[k]) for k in left)
    if isinstance(a, Pipeline):
        return _same(a.steps, b.steps)
    if not isinstance(a, type) and _is_part(a):
        from skemotion._persistence._codec import _constructor_params

        return _same(_constructor_params(a), _constructor_params(b))
    if isinstance(a, float) and np.isnan(a):
        return bool(np.isnan(b))
    return bool(a == b)


def _is_part(value: Any) -> bool:
    from skemotion._persistence._allowed import allowed_classes

    name = f"{type(value).__module__}.{type(value).__qualname__}"
    return name in allowed_classes()


_REQUIRED = {
    "LateFusionClassifier": "estimators",
    "ModalityUnion": "transformers",
    "SubjectAdaptiveClassifier": "estimator",
}


def _required(name: str) -> dict[str, Any]:
    """The compositions' required first argument, from their first example."""
    param = _REQUIRED.get(name)
    return {} if param is None else {param: EXAMPLES[name][param][0]}


def _cases() -> list[Any]:
    cases = []
    for name, params in EXAMPLES.items():
        for param, values in {**params, **KWARGS.get(name, {})}.items():
            for i, value in enumerate(values):
                cases.append(pytest.param(name, param, value, id=f"{name}-{param}-{i}"))
    return cases


def test_every_estimator_can_be_loaded() -> None:
    """The load allow-list holds every discovered estimator class."""
    from skemotion._persistence._allowed import allowed_classes

    allowed = set(allowed_classes().values())
    missing = [name for name, cls in ESTIMATORS.items() if cls not in allowed]
    assert not missing, f"load_model would refuse {missing}"


def test_every_parameter_has_examples() -> None:
    assert set(ESTIMATORS) == set(EXAMPLES), "a public estimator has no examples here"
    for name, cls in ESTIMATORS.items():
        documented = {
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.kind is not p.VAR_KEYWORD
        }
        assert documented == set(EXAMPLES[name]), name


@pytest.mark.parametrize(("name", "param", "value"), _cases())
def test_parameter_round_trips(name: str, param: str, value: Any, tmp_path: Path) -> None:
    estimator = ESTIMATORS[name](**{**_required(name), param: value})
    restored = load_model(save_model(estimator, tmp_path / "model.skem"))
    assert type(restored) is type(estimator)
    got = restored.get_params(deep=False)[param]
    assert _same(got, value), f"{param}: saved {value!r}, loaded {got!r}"
    # A concrete path loads as this machine's Path; a pure one keeps its flavour.
    if isinstance(value, pathlib.PurePath):
        assert type(got) is type(value)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_transformers_backbone_round_trips(name: str, tmp_path: Path) -> None:
    param, kind = MODULES[name]
    backbone = _tiny_backbone(kind)
    estimator = ESTIMATORS[name](**{param: backbone})
    restored = load_model(save_model(estimator, tmp_path / "model.skem"))
    got: Any = restored.get_params(deep=False)[param]
    assert got is not backbone and _same(got, backbone)
    assert got.config.to_dict() == backbone.config.to_dict()
    assert not got.training


def test_what_cannot_be_saved_safely_is_refused_by_name(tmp_path: Path) -> None:
    from skemotion.compose import ModalityUnion

    def lms_columns(table: Any) -> list[str]:
        return ["lms"]

    union = ModalityUnion([("speech", TemporalStandardScaler(), lms_columns)])
    with pytest.raises(TypeError, match=r"transformers.*function.*lms_columns.*stores no code"):
        save_model(union, tmp_path / "union.skem")
    with pytest.raises(TypeError, match="torch module of type Linear"):
        save_model(ESTIMATORS["ResNetEmbedder"](torch.nn.Linear(2, 2)), tmp_path / "r.skem")
    assert not list(tmp_path.iterdir())
