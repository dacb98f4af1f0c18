"""Ready-made pipelines for the paper's configurations."""

from __future__ import annotations

from typing import Any, TypeVar

from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..audio import LogMelSpectrogram
from ..face import (
    ActionUnitMeans,
    FaceLandmarks,
    KeyPointDistances,
)
from ..nets import FusionClassifier, TIMNetClassifier
from ..paper import FEATURES, make_extractor, network_settings
from ..preprocessing import SubjectNormalizer, TemporalStandardScaler
from ._union import ModalityUnion

__all__ = [
    "FUSION_MODALITIES",
    "make_au_means_pipeline",
    "make_face_pipeline",
    "make_fusion_pipeline",
    "make_speech_pipeline",
]

FUSION_MODALITIES: dict[str, str] = {
    name: FEATURES[name].description for name in ("lms", "kpd", "eyes_kpd", "au", "head_pose")
}
"""Modalities :func:`make_fusion_pipeline` builds by name; any other transformer composes
through :class:`ModalityUnion` directly (Wav2Vec2 and ResNet embedders, for instance)."""

# Table 3's rows the ready-made pipelines default to (the paper package is their one home).
_LMS = network_settings(["lms"])
_KPD = network_settings(["kpd"])
_FUSION = network_settings(["lms", "kpd"])


def _subject_normalized(
    extractor: Any, subject_normalization: Any, *, subject_column: str, path_column: str
) -> Any:
    """``extractor`` as it is, or wrapped in the SubjectNormalizer the setting names."""
    if subject_normalization is None:
        return extractor
    if isinstance(subject_normalization, SubjectNormalizer):
        return clone(subject_normalization).set_params(
            transformer=extractor, subject_column=subject_column, path_column=path_column
        )
    settings: dict[str, Any]
    if subject_normalization in ("all", "neutral"):
        settings = {"source": subject_normalization}
    elif isinstance(subject_normalization, int) and not isinstance(subject_normalization, bool):
        settings = {"n_clips": subject_normalization}
    else:
        raise ValueError(
            "subject_normalization must be None, 'all', 'neutral', a number of clips or a "
            f"SubjectNormalizer, got {subject_normalization!r}."
        )
    return SubjectNormalizer(
        extractor, subject_column=subject_column, path_column=path_column, **settings
    )


_Network = TypeVar("_Network", TIMNetClassifier, FusionClassifier)


def _network(
    cls: type[_Network],
    *,
    max_epochs: int,
    lr: float,
    batch_size: int,
    n_scales: Any,
    filters: Any,
    n_layers: int,
    random_state: int | None,
    verbose: int,
    **classifier_params: Any,
) -> _Network:
    """``cls`` with a pipeline's training settings, the TIM-Net shape as ``module__`` ones."""
    return cls(
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        random_state=random_state,
        verbose=verbose,
        module__n_scales=n_scales,
        module__filters=filters,
        module__n_layers=n_layers,
        **classifier_params,
    )


def _timnet_pipeline(
    step: str,
    extractor: Any,
    *,
    subject_normalization: Any,
    subject_column: str,
    path_column: str,
    **network: Any,
) -> Pipeline:
    """The paper's single-modality model: ``extractor`` -> standardisation -> TIM-Net.

    The feature step, named ``step``, is ``extractor`` wrapped in the SubjectNormalizer
    that ``subject_normalization`` names (or ``extractor`` itself); ``network`` are the
    :func:`_network` settings of the TIM-Net.
    """
    features = _subject_normalized(
        extractor, subject_normalization, subject_column=subject_column, path_column=path_column
    )
    classifier = _network(TIMNetClassifier, **network)
    return Pipeline(
        [(step, features), ("scaler", TemporalStandardScaler()), ("timnet", classifier)]
    )


def make_speech_pipeline(
    *,
    max_epochs: int = _LMS["max_epochs"],
    lr: float = _LMS["lr"],
    batch_size: int = _LMS["batch_size"],
    n_scales: int = _LMS["n_scales"],
    filters: int = _LMS["filters"],
    n_layers: int = 3,
    random_state: int | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    path_column: str = "path",
    subject_normalization: Any = None,
    subject_column: str = "actor",
    **classifier_params: Any,
) -> Pipeline:
    """The paper's speech-only model: log-mel spectrogram -> standardisation -> TIM-Net.

    Takes a table of clips (a DataFrame with a ``path`` column, as returned by
    :func:`skemotion.datasets.load_ravdess`), a list of paths or an array of 48 kHz
    waveforms. Defaults are the paper's LMS settings (Table 3). Steps are named
    ``"lms"``, ``"scaler"`` and ``"timnet"``, so grid searches address e.g.
    ``lms__n_mels``, ``timnet__lr`` or ``timnet__module__filters``.

    Parameters
    ----------
    max_epochs, lr, batch_size : training settings of the classifier.
    n_scales, filters, n_layers : TIM-Net shape (``module__`` parameters).
    random_state : int or None
        Seed of the network (weights, shuffling, dropout).
    n_jobs : int or None
        Parallel feature extraction over clips.
    verbose : int
        Progress bar of the extraction and skorch's per-epoch table.
    path_column : str
        Column of the clip table holding file paths.
    subject_normalization : None, "all", "neutral", int or SubjectNormalizer
        Per-subject calibration of the features (a transductive protocol: see
        :class:`~skemotion.preprocessing.SubjectNormalizer`). None (default) is the
        paper's standard, inductive model. ``"all"``: each subject's statistics from all
        its clips; ``"neutral"``: from its neutral clips (RAVDESS names); an int ``k``:
        from its first ``k`` clips; a ``SubjectNormalizer``: its settings. The feature
        step then is a ``SubjectNormalizer`` wrapping the extractor, so the extractor's
        parameters gain a ``transformer__`` (``lms__transformer__n_mels``) and the
        normaliser's own are searchable (``lms__with_std``, ``lms__n_clips``). The clip
        table needs the subject column.
    subject_column : str
        Column of the clip table naming the speaker (for ``subject_normalization``).
    **classifier_params
        Any further :class:`~skemotion.nets.TIMNetClassifier` parameter.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> pipe = make_speech_pipeline(max_epochs=10, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['lms', 'scaler', 'timnet']
    """
    return _timnet_pipeline(
        "lms",
        LogMelSpectrogram(n_jobs=n_jobs, verbose=verbose, path_column=path_column),
        subject_normalization=subject_normalization,
        subject_column=subject_column,
        path_column=path_column,
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        n_scales=n_scales,
        filters=filters,
        n_layers=n_layers,
        random_state=random_state,
        verbose=verbose,
        **classifier_params,
    )


def make_face_pipeline(
    *,
    landmarks: FaceLandmarks | None = None,
    normalization: str = "neutral_reference",
    max_epochs: int = _KPD["max_epochs"],
    lr: float = _KPD["lr"],
    batch_size: int = _KPD["batch_size"],
    n_scales: int = _KPD["n_scales"],
    filters: int = _KPD["filters"],
    n_layers: int = 3,
    random_state: int | None = None,
    verbose: int = 0,
    path_column: str = "path",
    subject_normalization: Any = None,
    subject_column: str = "actor",
    **classifier_params: Any,
) -> Pipeline:
    """The paper's face-only model: key-point distances -> standardisation -> TIM-Net.

    Takes a table of video clips (a DataFrame with a ``path`` column, e.g.
    ``load_ravdess(root, modalities=["video-only"]).frame``), a list of paths, or
    :class:`~skemotion.face.FaceTrack` objects. Defaults are the paper's face-KPD
    multiclass settings (Table 3: lr 5e-4, batch 64, 100 epochs, 7 scales). Steps are
    named ``"kpd"``, ``"scaler"`` and ``"timnet"`` (``kpd__normalization``,
    ``kpd__landmarks__backend``, ``timnet__lr``, ...).

    Parameters
    ----------
    landmarks : FaceLandmarks or None
        The landmark stage (backend, frames, cache, ``n_jobs``); None is
        ``FaceLandmarks()``, the embedded dlib backend.
    normalization : {"neutral_reference", "inter_ocular", "none"}
        Key-point calibration (see :class:`~skemotion.face.KeyPointDistances`).
    max_epochs, lr, batch_size : training settings of the classifier.
    n_scales, filters, n_layers : TIM-Net shape (``module__`` parameters).
    random_state : int or None
        Seed of the network.
    verbose : int
        skorch's per-epoch table.
    path_column : str
        Column of the clip table holding file paths.
    subject_normalization : None, "all", "neutral", int or SubjectNormalizer
        Per-subject calibration of the features (transductive), as in
        :func:`make_speech_pipeline`.
    subject_column : str
        Column of the clip table naming the subject.
    **classifier_params
        Any further :class:`~skemotion.nets.TIMNetClassifier` parameter.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> pipe = make_face_pipeline(max_epochs=10, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['kpd', 'scaler', 'timnet']
    """
    return _timnet_pipeline(
        "kpd",
        KeyPointDistances(landmarks, normalization=normalization, path_column=path_column),
        subject_normalization=subject_normalization,
        subject_column=subject_column,
        path_column=path_column,
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        n_scales=n_scales,
        filters=filters,
        n_layers=n_layers,
        random_state=random_state,
        verbose=verbose,
        **classifier_params,
    )


def _subject_normalized_modality(
    extractor: tuple[str, Any, Any],
    subject_normalization: Any,
    *,
    subject_column: str,
    audio_column: str,
    video_column: str,
) -> tuple[str, Any, Any]:
    """A modality's (name, SubjectNormalizer(extractor), columns) triple of the union."""
    name, transformer, columns = extractor
    if name == "lms":
        # The normaliser takes the table, so the log-mel reads its column by name.
        transformer = transformer.set_params(path_column=audio_column)
        columns, path_column = [audio_column, subject_column], audio_column
    else:
        path_column = video_column
    wrapped = _subject_normalized(
        transformer, subject_normalization, subject_column=subject_column, path_column=path_column
    )
    return name, wrapped, columns


def make_fusion_pipeline(
    modalities: tuple[str, ...] | list[str] = ("lms", "kpd"),
    *,
    landmarks: FaceLandmarks | None = None,
    max_epochs: int = _FUSION["max_epochs"],
    lr: float = _FUSION["lr"],
    batch_size: int = _FUSION["batch_size"],
    n_scales: int | dict[str, int] = _FUSION["n_scales"],
    filters: int | dict[str, int] | None = None,
    n_layers: int = 3,
    random_state: int | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    audio_column: str = "audio_path",
    video_column: str = "video_path",
    subject_column: str = "actor",
    subject_normalization: Any = None,
    **classifier_params: Any,
) -> Pipeline:
    """The paper's multimodal model: per-modality features -> standardisation -> fusion TIM-Net.

    Takes a table of recordings with an audio and a video path per row, as returned by
    :func:`skemotion.datasets.load_ravdess_audiovisual`. Steps:

    ``"features"``
        A :class:`ModalityUnion` of the extractors (stateless: nothing is learned, so a
        cross-validation may extract once and refit only the rest).
    ``"scaler"``
        A :class:`ModalityUnion` of one :class:`~skemotion.preprocessing.TemporalStandardScaler`
        per modality, fitted on the training clips.
    ``"fusion"``
        :class:`~skemotion.nets.FusionClassifier`: one TIM-Net per modality, concatenated
        vectors, a 3-layer MLP. Defaults are Table 3's "LMS + ..." settings (lr 2e-3,
        batch 64, 100 epochs, 7 scales, 64 filters, 32 with eyes KPD).

    Grid searches address ``features__kpd__normalization``, ``features__kpd`` (set it to
    ``"drop"`` together with ``scaler__kpd`` to remove the modality),
    ``fusion__module__filters``, ``fusion__lr``...

    Parameters
    ----------
    modalities : sequence of str, default=("lms", "kpd")
        Names from :data:`FUSION_MODALITIES`; they key the feature dict and the network's
        branches. One name gives a single-modality model with the same head.
    landmarks : FaceLandmarks or None
        Landmark stage shared by the face modalities; None is ``FaceLandmarks()``
        (embedded dlib), except for ``"au"``, which needs ``FaceLandmarks("openface")``.
    max_epochs, lr, batch_size : training settings of the classifier.
    n_scales, filters : int or {modality: int}
        Per-branch TIM-Net shape (``module__`` parameters). ``filters=None`` is the
        paper's for these modalities: 32 for LMS + eyes KPD, 64 otherwise (Table 3).
    n_layers : int
        Convolution layers per temporal-aware block.
    random_state : int or None
        Seed of the network.
    n_jobs : int or None
        Parallel extraction over clips (log-mel) and modalities.
    verbose : int
        Progress of the extraction and skorch's per-epoch table.
    audio_column, video_column, subject_column : str
        Columns of the recording table: audio file, video file, actor.
    subject_normalization : None, "all", "neutral", int or SubjectNormalizer
        Per-subject calibration of the features (transductive), as in
        :func:`make_speech_pipeline`.
        Each modality is calibrated on its own (``features__lms__with_std``...).
    **classifier_params
        Any further :class:`~skemotion.nets.FusionClassifier` parameter.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> pipe = make_fusion_pipeline(("lms", "kpd"), max_epochs=10, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['features', 'scaler', 'fusion']
    >>> pipe.get_params()["fusion__lr"]
    0.002
    """
    names = list(modalities)
    if not names:
        raise ValueError("make_fusion_pipeline needs at least one modality.")
    if len(set(names)) != len(names):
        raise ValueError(f"Modalities repeat: {names}.")
    unknown = [name for name in names if name not in FUSION_MODALITIES]
    if unknown:
        raise ValueError(
            f"Unknown modality {unknown[0]!r}; make_fusion_pipeline builds "
            f"{sorted(FUSION_MODALITIES)}. Compose other transformers with ModalityUnion."
        )
    extractors = [
        (
            name,
            *make_extractor(
                name,
                landmarks=landmarks,
                n_jobs=n_jobs,
                verbose=verbose,
                audio_column=audio_column,
                video_column=video_column,
                subject_column=subject_column,
            ),
        )
        for name in names
    ]
    if subject_normalization is not None:
        extractors = [
            _subject_normalized_modality(
                extractor,
                subject_normalization,
                subject_column=subject_column,
                audio_column=audio_column,
                video_column=video_column,
            )
            for extractor in extractors
        ]
    if filters is None:
        filters = network_settings(names)["filters"]
    scalers = [(name, TemporalStandardScaler(), name) for name in names]
    classifier = _network(
        FusionClassifier,
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        n_scales=n_scales,
        filters=filters,
        n_layers=n_layers,
        random_state=random_state,
        verbose=verbose,
        **classifier_params,
    )
    return Pipeline(
        [
            ("features", ModalityUnion(extractors, n_jobs=n_jobs)),
            ("scaler", ModalityUnion(scalers)),
            ("fusion", classifier),
        ]
    )


def make_au_means_pipeline(
    *,
    C: float = 0.1,
    subject_normalization: Any = None,
    subject_column: str = "actor",
    path_column: str = "path",
) -> Pipeline:
    """A face model on per-clip action-unit means: standardisation -> logistic regression.

    For data that has OpenFace's action units only as one mean per clip (the RAVDESS
    table :func:`~skemotion.datasets.load_openface_au_means` reads), which cannot feed a
    temporal network. Takes the clip table with the 35 action-unit columns; steps
    ``"au"`` (:class:`~skemotion.face.ActionUnitMeans`), ``"scaler"`` and
    ``"classifier"``. Its ``predict_proba`` fuses with the speech TIM-Net's
    (:class:`LateFusionClassifier`, :func:`~skemotion.model_selection.fuse_reports`).

    The default ``C=0.1`` is the best of 0.03-10 on real RAVDESS (the paper's five actor
    folds, docs/results.md), where a logistic regression also matched an RBF SVM, LDA and
    a one-layer MLP to within a point.

    Parameters
    ----------
    C : float, default=0.1
        Inverse L2 strength of the logistic regression.
    subject_normalization : None, "all", "neutral", int or SubjectNormalizer
        Per-subject calibration of the action units (transductive), as in
        :func:`make_speech_pipeline`. On real RAVDESS it is worth 19 points.
    subject_column, path_column : str
        Columns of the clip table naming the subject and the clip's file (whose RAVDESS
        name finds neutral clips).

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> pipe = make_au_means_pipeline(subject_normalization="all")
    >>> [name for name, _ in pipe.steps]
    ['au', 'scaler', 'classifier']
    """
    features = _subject_normalized(
        ActionUnitMeans(),
        subject_normalization,
        subject_column=subject_column,
        path_column=path_column,
    )
    return Pipeline(
        [
            ("au", features),
            ("scaler", StandardScaler()),
            ("classifier", LogisticRegression(C=C, max_iter=5000)),
        ]
    )
