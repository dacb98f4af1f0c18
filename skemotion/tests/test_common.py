"""scikit-learn's own estimator checks over every public skemotion estimator.

The estimators are discovered from the subpackages' ``__all__``
(:func:`skemotion._discovery.all_estimators`), so a new one is checked as soon as it is
exported. Most get small constructor arguments (``INIT_PARAMS``) so the checks run in
seconds; one missing from it is checked with its defaults, and one that cannot be built
with them fails the collection with a message to add it. Every check that cannot apply
is listed in ``EXPECTED_FAILED_CHECKS`` with the reason, and is run anyway by
scikit-learn as an expected failure (xfail).

The checks feed 2D float arrays: the audio transformer reads them as ``n_clips`` waveforms
of ``n_features`` samples, the temporal estimators as clips of a single frame. The face
transformers cannot read them (a float matrix holds no face): every check that feeds one
is an expected failure for the same written reason, and
``skemotion/face/tests/test_features.py`` runs the same contract (clone, pickle, fit
returns self, idempotence, sample-order invariance, Pipeline, GridSearchCV) on real clips.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from skemotion._discovery import all_estimators
from skemotion.audio import LogMelSpectrogram
from skemotion.compose import LateFusionClassifier, ModalityUnion, SubjectAdaptiveClassifier
from skemotion.embed import (
    FineTunedTIMNetClassifier,
    ResNetEmbedder,
    Wav2Vec2Embedder,
    Wav2Vec2Preprocessor,
)
from skemotion.face import FaceLandmarks
from skemotion.nets import FusionClassifier, TIMNetBinaryClassifier, TIMNetClassifier
from skemotion.preprocessing import TemporalStandardScaler

from ._tiny_models import tiny_wav2vec2


class _FrameBackbone(torch.nn.Module):
    """A stand-in speech backbone: each input value becomes a one-feature frame.

    It lets FineTunedTIMNetClassifier face the checks' 2D float matrices (read as
    waveforms) with the same backbone interface as Wav2Vec2, while a real Wav2Vec2 needs
    at least 400 samples per clip.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, output_hidden_states: bool = False) -> Any:
        return (x[..., None] * self.scale,)


class _WholeTable:
    """Column selector handing the whole (numeric) table to one modality.

    A class with a fixed repr, not a function: the test ids hold the estimator's repr, and
    a function's holds its address, which differs between pytest-xdist workers.
    """

    def __call__(self, X: Any) -> Any:
        return X

    def __repr__(self) -> str:
        return "whole_table"


# Ten epochs (seven pass every check): the fitted networks' batch-norm statistics are
# recomputed over the training data ("precise", the default), right after any number of
# steps.
_SMALL_NET = {
    "max_epochs": 10,
    "batch_size": 32,
    "lr": 1e-2,
    "module__filters": 8,
    "module__n_scales": 2,
    "random_state": 0,
}

# Estimators whose defaults are already small and need no argument have no entry.
INIT_PARAMS: dict[type[Any], dict[str, Any]] = {
    LogMelSpectrogram: {
        "sr": 1000,
        "n_fft": 64,
        "hop_length": 16,
        "n_mels": 8,
        "fmax": None,
        "crop_length": 256,
    },
    TIMNetClassifier: _SMALL_NET,
    # One logit starts near zero; a larger step lets the class-weight check's bias show
    # within the same few dozen steps.
    TIMNetBinaryClassifier: {**_SMALL_NET, "lr": 5e-2},
    # No disk cache: the checks must not write into the user's cache folder.
    FaceLandmarks: {"cache_dir": False},
    Wav2Vec2Preprocessor: {"sr": 16_000, "crop_length": 512},
    ResNetEmbedder: {"model": torch.nn.Conv2d(3, 4, 3), "cache_dir": False},
    FusionClassifier: _SMALL_NET,
    ModalityUnion: {"transformers": [("x", TemporalStandardScaler(), _WholeTable())]},
    # An explicit splitter: the checks' rows are not actors (the default GroupKFold(5)
    # refuses to run without them).
    LateFusionClassifier: {
        "estimators": [("x", LogisticRegression())],
        "cv": StratifiedKFold(3),
    },
    FineTunedTIMNetClassifier: {
        **_SMALL_NET,
        "module__backbone": _FrameBackbone(),
        "module__kind": "wav2vec2",
        "module__n_features": 1,
    },
    SubjectAdaptiveClassifier: {
        "estimator": TIMNetClassifier(
            max_epochs=2, module__filters=4, module__n_scales=2, random_state=0
        )
    },
}
# Estimators that cannot be checked in this environment, with the reason: reported as
# skipped by test_unavailable_estimator, never left out silently.
UNAVAILABLE: dict[type[Any], str] = {}
try:
    _WAV2VEC2 = tiny_wav2vec2()
except ImportError:  # the embed extra is not installed: see UNAVAILABLE
    _WAV2VEC2 = None
if _WAV2VEC2 is not None:
    INIT_PARAMS[Wav2Vec2Embedder] = {
        "model": _WAV2VEC2,
        "sr": 16_000,
        "crop_length": 512,
        "cache_dir": False,
    }
else:
    UNAVAILABLE[Wav2Vec2Embedder] = (
        "transformers is not installed (the embed extra): the default model is a hub "
        "download, and no tiny stand-in can be built"
    )

_SKORCH_INIT = (
    "skorch's NeuralNet.__init__ stores its prefixed keyword parameters (module__filters, "
    "optimizer__betas, ...) and its bookkeeping attributes history_, initialized_ and "
    "virtual_params_ in __init__; all of them are returned by get_params and survive clone, "
    "which is what the check guards."
)
_FLOAT32_BATCHING = (
    "Predictions are computed in float32 by batched matrix products whose blocking (and so "
    "rounding) depends on how many clips are in the batch: a subset can differ in the 7th "
    "significant digit, just above the check's 1e-7 absolute tolerance. "
    "nets/tests/test_fusion.py checks that subsets agree to float32 rounding (1e-5)."
)
_SKORCH_NET_FAILURES = {
    "check_no_attributes_set_in_init": _SKORCH_INIT,
    "check_methods_subset_invariance": _FLOAT32_BATCHING,
}

_NEEDS_MEDIA = (
    "Reads faces from videos, OpenFace CSVs or FaceTrack objects; a float matrix holds no "
    "face and is refused with a TypeError. Tested on real clips in face/tests/test_features.py."
)
# Every check below fits or transforms a generated numeric matrix (or its sparse,
# complex, object, 1D, NaN or empty variants).
_MEDIA_ONLY_CHECKS = (
    "check_complex_data",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit1d",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_transformers_unfitted_stateless",
)
_FACE_TRANSFORMER_FAILURES = dict.fromkeys(_MEDIA_ONLY_CHECKS, _NEEDS_MEDIA)

_LANDMARK_STAGE = (
    "FaceLandmarks is the landmark stage nested in the face transformers (their "
    "landmarks parameter), not a model: it learns nothing and has no fit, only "
    "extract(clips) -> FaceTrack per video or OpenFace CSV, which a float matrix is not. "
    "The checks that need no fit (clone, repr, tags, get/set_params, no attributes set "
    "in __init__) pass; face/tests/test_landmarks.py tests extract and its cache on real "
    "clips."
)
# Every check below calls fit: the media-only checks but those of transformers and scoring.
_FIT_CHECKS = tuple(
    check
    for check in _MEDIA_ONLY_CHECKS
    if not check.startswith(("check_transformer", "check_fit_score"))
)

_NEEDS_TABLE = (
    "Reads named action-unit columns of a clip table (a DataFrame); a bare matrix has no "
    "column names and is refused with a TypeError saying so. "
    "datasets/tests/test_au_means.py tests it on tables, inside the AU pipeline."
)

_INTEGER_PCM = (
    "Integer arrays are refused on purpose with a TypeError: integer PCM has a "
    "format-dependent full scale (int16: 32768), so converting it as is would "
    "shift every dB value; users must scale waveforms to [-1, 1] floats."
)
_MODULE_HASH = (
    "The check compares joblib.hash of each parameter with that of a deepcopy taken "
    "before fit; a torch.nn.Module (the backbone) hashes differently from its own "
    "deepcopy even untouched, since torch pickles tensors by storage. fit never changes "
    "the caller's module: skemotion/embed/tests compare its weights (and training "
    "mode) before and after."
)
_UNPICKLABLE_WAV2VEC2 = (
    "The estimator holds a loaded transformers Wav2Vec2Model here (to avoid a download); "
    "its positional convolution uses torch's weight-norm parametrisation, which torch "
    "refuses to pickle. With a hub id or a folder as model (the default, and what "
    "save_backbone writes) the estimator pickles; test_wav2vec2.py saves and loads it."
)
_NEEDS_IMAGES = (
    "ResNetEmbedder reads image patches (n_clips, n_frames, [2,] 3, H, W) as FaceRegions "
    "gives them, or videos; a 2D float matrix holds no image and is refused with a "
    "TypeError saying what is expected. skemotion/embed/tests/test_resnet.py tests the "
    "transformer on patches and clips."
)

_DICT_OUTPUT = (
    "ModalityUnion returns a SliceDict of per-modality arrays (of different shapes in use), "
    "not one array; the check compares outputs as arrays (subtraction, dtype, "
    "assert_allclose). test_modality_union_contract_on_its_dict_output below checks the "
    "same property on the dict."
)
_MODALITY_UNION_FAILURES = dict.fromkeys(
    (
        "check_estimators_pickle",
        "check_fit_idempotent",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_pipeline_consistency",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
    ),
    _DICT_OUTPUT,
)

_NEEDS_SUBJECTS = (
    "Standardises each subject's clips by that subject's statistics, so it needs the subject "
    "of every clip: from the clip table's subject column or fit(X, subjects=...). The checks "
    "fit bare matrices and are refused with a ValueError saying so (malformed matrices "
    "still get scikit-learn's own messages: those checks pass). "
    "preprocessing/tests/test_subject.py runs the same contract with subjects."
)
# The media-only checks that SubjectNormalizer passes: scikit-learn's own validation
# refuses these malformed matrices (complex, sparse, empty, 1D) before subjects are asked
# for, and the stateless-transformer check is not run on a transformer that must be fitted.
_PASSED_BEFORE_SUBJECTS = (
    "check_complex_data",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_empty_data_messages",
    "check_fit1d",
    "check_transformers_unfitted_stateless",
)
_SUBJECT_CHECKS = tuple(
    check for check in _MEDIA_ONLY_CHECKS if check not in _PASSED_BEFORE_SUBJECTS
)

_ADAPTIVE_NEEDS_SUBJECTS = (
    "Gives each subject its own batch-norm statistics, so it needs the subject of every "
    "clip, from the clip table's subject column or fit(X, y, subjects=...); it asks for "
    "them before anything else, so every check that fits a bare matrix gets that "
    "ValueError. compose/tests/test_subject_adaptive.py runs the contract with subjects "
    "(fit, predict, clone, grid search, save/load, unfitted errors)."
)
_ADAPTIVE_CHECKS = (
    *_SUBJECT_CHECKS,
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label",
    "check_classifiers_one_label_sample_weights",
    "check_classifiers_regression_target",
    "check_classifiers_train",
    "check_complex_data",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_empty_data_messages",
    "check_requires_y_none",
    "check_supervised_y_2d",
)

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "LogMelSpectrogram": {"check_estimators_dtypes": _INTEGER_PCM},
    "TemporalStandardScaler": {},
    "SubjectNormalizer": dict.fromkeys(_SUBJECT_CHECKS, _NEEDS_SUBJECTS),
    "SubjectAdaptiveClassifier": dict.fromkeys(_ADAPTIVE_CHECKS, _ADAPTIVE_NEEDS_SUBJECTS),
    "TIMNetClassifier": _SKORCH_NET_FAILURES,
    "FusionClassifier": _SKORCH_NET_FAILURES,
    "TIMNetBinaryClassifier": _SKORCH_NET_FAILURES,
    "ModalityUnion": _MODALITY_UNION_FAILURES,
    "KeyPointDistances": _FACE_TRANSFORMER_FAILURES,
    "EyeKeyPointDistances": _FACE_TRANSFORMER_FAILURES,
    "ActionUnits": _FACE_TRANSFORMER_FAILURES,
    "ActionUnitMeans": dict.fromkeys(_MEDIA_ONLY_CHECKS, _NEEDS_TABLE),
    "HeadPose": _FACE_TRANSFORMER_FAILURES,
    "FaceRegions": _FACE_TRANSFORMER_FAILURES,
    "FaceLandmarks": dict.fromkeys(_FIT_CHECKS, _LANDMARK_STAGE),
    "Wav2Vec2Preprocessor": {"check_estimators_dtypes": _INTEGER_PCM},
    "Wav2Vec2Embedder": {
        "check_estimators_dtypes": _INTEGER_PCM,
        "check_estimators_overwrite_params": _MODULE_HASH,
        "check_estimators_pickle": _UNPICKLABLE_WAV2VEC2,
    },
    "ResNetEmbedder": dict.fromkeys(_MEDIA_ONLY_CHECKS, _NEEDS_IMAGES),
    "FineTunedTIMNetClassifier": {
        "check_no_attributes_set_in_init": _SKORCH_INIT,
        "check_estimators_overwrite_params": _MODULE_HASH,
    },
}
"""Checks that cannot pass, by estimator class name, with the reason."""


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


ESTIMATORS: dict[str, type[Any]] = dict(all_estimators())


def _checked_estimators() -> list[Any]:
    """An instance of every discovered estimator, with INIT_PARAMS where it has some."""
    instances = []
    for name, cls in ESTIMATORS.items():
        if cls in UNAVAILABLE:
            continue
        if cls in INIT_PARAMS:
            instances.append(cls(**INIT_PARAMS[cls]))
            continue
        try:
            instances.append(cls())
        except TypeError as error:
            raise TypeError(
                f"{name} has required constructor arguments, so the estimator checks cannot "
                f"build it with its defaults: add small ones to INIT_PARAMS in {__name__}."
            ) from error
    return instances


CHECKED = _checked_estimators()


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)


def test_every_public_estimator_is_checked() -> None:
    """The tables name only public estimators, and each is checked or said unavailable."""
    discovered = set(ESTIMATORS.values())
    assert {type(estimator) for estimator in CHECKED} | set(UNAVAILABLE) == discovered
    assert set(INIT_PARAMS) <= discovered, "INIT_PARAMS names a class that is not exported"
    assert set(EXPECTED_FAILED_CHECKS) <= set(ESTIMATORS), "a stale EXPECTED_FAILED_CHECKS key"


@pytest.mark.parametrize("cls", list(UNAVAILABLE), ids=lambda cls: cls.__name__)
def test_unavailable_estimator(cls: Any) -> None:
    """Report each estimator these checks cannot build here as a skip with its reason."""
    pytest.skip(f"{cls.__name__}: {UNAVAILABLE[cls]}")


def test_modality_union_contract_on_its_dict_output() -> None:
    """The array checks ModalityUnion cannot take, restated for its dict output."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4, 3))
    table = {"speech": X, "face": X[:, :2, :2] ** 2}
    union = ModalityUnion(
        [("speech", TemporalStandardScaler(), "speech"), ("face", TemporalStandardScaler(), "face")]
    )

    def assert_same(a: Any, b: Any) -> None:
        assert list(a) == list(b)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6)

    first = union.fit(table).transform(table)
    assert first["speech"].dtype == X.dtype  # dtype preserved per modality
    assert_same(union.fit(table).transform(table), first)  # fit is idempotent
    assert_same(pickle.loads(pickle.dumps(union)).transform(table), first)
    assert_same(union.fit_transform(table), first)  # fit_transform == fit + transform
    order = rng.permutation(30)
    shuffled = union.transform({k: v[order] for k, v in table.items()})
    assert_same(shuffled, first[order])  # sample order invariance
    assert_same(union.transform({k: v[:7] for k, v in table.items()}), first[:7])  # subsets
