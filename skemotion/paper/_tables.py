"""The paper's tables: Table 1 (binary macro-F1), Table 2 (8-class accuracy), Table 3 (settings).

The one home of the figures and settings of Houmard et al.'s study; everything else
(ready-made pipelines, ``TIMNetClassifier.from_paper``, the CLI, ``reproduce_table1/2``,
the benchmarks) reads them from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "PAPER_HYPERPARAMETERS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "TABLE1_EMOTIONS",
    "TABLE2_COLUMNS",
    "TABLE2_ROWS",
    "classifier_parameters",
    "network_settings",
]

PAPER_HYPERPARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("wav2vec2", "multiclass"): {"lr": 5e-5, "batch_size": 16, "max_epochs": 100, "n_scales": 8},
    ("wav2vec2", "binary"): {"lr": 5e-5, "batch_size": 16, "max_epochs": 100, "n_scales": 8},
    ("lms", "multiclass"): {"lr": 1e-3, "batch_size": 64, "max_epochs": 100, "n_scales": 7},
    ("lms", "binary"): {"lr": 1e-3, "batch_size": 64, "max_epochs": 100, "n_scales": 7},
    ("resnet", "multiclass"): {"lr": 2e-4, "batch_size": 8, "max_epochs": 60, "n_scales": 5},
    ("resnet", "binary"): {"lr": 2e-4, "batch_size": 8, "max_epochs": 60, "n_scales": 5},
    ("kpd", "multiclass"): {"lr": 5e-4, "batch_size": 64, "max_epochs": 100, "n_scales": 7},
    ("kpd", "binary"): {"lr": 2e-4, "batch_size": 64, "max_epochs": 100, "n_scales": 7},
    ("au", "multiclass"): {"lr": 2e-4, "batch_size": 64, "max_epochs": 40, "n_scales": 7},
    ("au", "binary"): {"lr": 2e-4, "batch_size": 64, "max_epochs": 40, "n_scales": 7},
    ("fusion_wav2vec2", "multiclass"): {
        "lr": 1e-4,
        "batch_size": 64,
        "max_epochs": 100,
        "n_scales": 7,
    },
    ("fusion_lms", "multiclass"): {"lr": 2e-3, "batch_size": 64, "max_epochs": 100, "n_scales": 7},
}
"""Table 3 of the paper: learning rate, batch size, epochs and scales per feature and task.

Keys are ``(feature, task)``: feature one of ``"lms"``, ``"wav2vec2"`` (base and large),
``"resnet"`` (face, mouth, eyes), ``"kpd"`` (face and eyes key-point distances), ``"au"``,
``"fusion_lms"`` / ``"fusion_wav2vec2"`` (multimodal models whose speech branch is that
feature); task ``"multiclass"`` or ``"binary"``. All runs use 64 filters except the
multiclass eyes ResNet and LMS + eyes KPD runs (32).
"""

TABLE1_EMOTIONS = (
    "angry",
    "calm",
    "disgust",
    "fearful",
    "happy",
    "neutral",
    "sad",
    "surprised",
)
"""Column order of Table 1 (alphabetical)."""

PAPER_TABLE1: dict[str, dict[str, float]] = {
    feature: dict(zip(TABLE1_EMOTIONS, values, strict=True))
    for feature, values in {
        "LMS": (0.83, 0.83, 0.85, 0.76, 0.79, 0.70, 0.68, 0.81),
        "Wav2Vec2-B": (0.91, 0.88, 0.93, 0.87, 0.85, 0.82, 0.75, 0.88),
        "Face ResNet": (0.81, 0.82, 0.84, 0.76, 0.90, 0.75, 0.75, 0.70),
        "Face KPD": (0.78, 0.82, 0.85, 0.73, 0.89, 0.79, 0.76, 0.67),
        "Face AU": (0.77, 0.78, 0.79, 0.67, 0.87, 0.63, 0.62, 0.63),
        "Eyes ResNet": (0.68, 0.72, 0.77, 0.75, 0.75, 0.68, 0.69, 0.65),
        "Eyes KPD": (0.69, 0.69, 0.69, 0.73, 0.73, 0.73, 0.69, 0.59),
        "Mouth ResNet": (0.80, 0.77, 0.80, 0.67, 0.88, 0.77, 0.63, 0.68),
        "Head pose": (0.65, 0.65, 0.56, 0.54, 0.55, 0.55, 0.53, 0.53),
    }.items()
}
"""Table 1 of the paper: binary (emotion vs rest) macro-F1 per feature and emotion."""

TABLE2_ROWS: dict[str, tuple[str, ...]] = {
    "None": (),
    "Eyes ResNet": ("eyes_resnet",),
    "Eyes KPD": ("eyes_kpd",),
    "Mouth ResNet": ("mouth_resnet",),
    "Eyes + Mouth ResNets": ("eyes_resnet", "mouth_resnet"),
    "Face ResNet": ("face_resnet",),
    "Face KPD": ("kpd",),
    "Face AU": ("au",),
}
"""Rows of Table 2: the visual features of each row (``"None"``: speech alone)."""

TABLE2_COLUMNS: dict[str, str | None] = {"None": None, "LMS": "lms", "Wav2Vec2-L": "wav2vec2"}
"""Columns of Table 2: the speech feature (``"None"``: the visual features alone)."""

PAPER_TABLE2: dict[tuple[str, str], float] = {
    ("None", "LMS"): 65.60,
    ("Eyes ResNet", "None"): 53.18,
    ("Eyes ResNet", "LMS"): 53.18,
    ("Eyes ResNet", "Wav2Vec2-L"): 82.48,
    ("Eyes KPD", "None"): 52.35,
    ("Eyes KPD", "LMS"): 70.30,
    ("Eyes KPD", "Wav2Vec2-L"): 81.42,
    ("Mouth ResNet", "None"): 61.58,
    ("Mouth ResNet", "LMS"): 59.97,
    ("Mouth ResNet", "Wav2Vec2-L"): 82.04,
    ("Eyes + Mouth ResNets", "None"): 63.48,
    ("Eyes + Mouth ResNets", "LMS"): 60.98,
    ("Eyes + Mouth ResNets", "Wav2Vec2-L"): 83.51,
    ("Face ResNet", "None"): 71.20,
    ("Face ResNet", "LMS"): 69.58,
    ("Face ResNet", "Wav2Vec2-L"): 83.57,
    ("Face KPD", "None"): 67.13,
    ("Face KPD", "LMS"): 76.82,
    ("Face KPD", "Wav2Vec2-L"): 81.63,
    ("Face AU", "None"): 58.63,
    ("Face AU", "LMS"): 70.93,
    ("Face AU", "Wav2Vec2-L"): 81.65,
}
"""Table 2 of the paper: 8-class accuracy (%) per visual row and speech column; the
speech-only LMS figure (65.6) comes from the text. Wav2Vec2-L alone is not reported."""


# The paper's two 32-channel runs; every other run has 64.
_THIRTY_TWO_FILTERS = (("eyes_resnet",), ("eyes_kpd", "lms"))


def network_settings(features: Sequence[str], *, task: str = "multiclass") -> dict[str, Any]:
    """Table 3's settings of the TIM-Net that the paper trains on ``features``.

    Parameters
    ----------
    features : sequence of str
        Feature names of :data:`~skemotion.paper.FEATURES`; several make a multimodal
        model, whose settings follow its speech feature ("Multimodal with LMS + ...").
    task : {"multiclass", "binary"}, default="multiclass"

    Returns
    -------
    settings : dict
        ``lr``, ``batch_size``, ``max_epochs``, ``n_scales`` and ``filters``.

    Examples
    --------
    >>> network_settings(["lms", "eyes_kpd"])["filters"]
    32
    >>> network_settings(["kpd"], task="binary")["lr"]
    0.0002
    """
    from ._features import FEATURES

    features = tuple(features)
    unknown = [name for name in features if name not in FEATURES]
    if unknown or not features:
        raise ValueError(f"Unknown feature(s) {unknown}; the paper's are {sorted(FEATURES)}.")
    if len(features) == 1:
        key = (FEATURES[features[0]].hyperparameters, task)
    else:
        speech = "wav2vec2" if "wav2vec2" in features else "lms"
        key = (f"fusion_{speech}", task)
    if key not in PAPER_HYPERPARAMETERS:
        raise ValueError(f"The paper has no {task} model on {list(features)}.")
    settings = dict(PAPER_HYPERPARAMETERS[key])
    thirty_two = task == "multiclass" and tuple(sorted(features)) in _THIRTY_TWO_FILTERS
    settings["filters"] = 32 if thirty_two else 64
    return settings


def classifier_parameters(row: str, task: str = "multiclass") -> dict[str, Any]:
    """A row of Table 3 as classifier parameters (``lr``, ``batch_size``, ``max_epochs``,
    ``module__n_scales``), what ``TIMNetClassifier.from_paper`` sets.

    Parameters
    ----------
    row : str
        A row of :data:`PAPER_HYPERPARAMETERS` (``"lms"``, ``"kpd"``, ``"fusion_lms"``...).
    task : {"multiclass", "binary"}, default="multiclass"

    Returns
    -------
    params : dict

    Raises
    ------
    KeyError
        If Table 3 has no such row for ``task``.

    Examples
    --------
    >>> classifier_parameters("au")["max_epochs"]
    40
    """
    settings = dict(PAPER_HYPERPARAMETERS[(row, task)])
    return {"module__n_scales": settings.pop("n_scales"), **settings}
