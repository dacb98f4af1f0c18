"""Ready-made pipelines for the paper's configurations."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

from ..audio import LogMelSpectrogram
from ..face import FaceLandmarks, KeyPointDistances
from ..nets import TIMNetClassifier
from ..preprocessing import TemporalStandardScaler

__all__ = ["make_face_pipeline", "make_speech_pipeline"]


def _timnet(
    *,
    max_epochs: int,
    lr: float,
    batch_size: int,
    n_scales: int,
    filters: int,
    n_layers: int,
    random_state: int | None,
    verbose: int,
    **classifier_params: Any,
) -> TIMNetClassifier:
    return TIMNetClassifier(
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


def make_speech_pipeline(
    *,
    max_epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 64,
    n_scales: int = 7,
    filters: int = 64,
    n_layers: int = 3,
    random_state: int | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    path_column: str = "path",
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
    classifier = _timnet(
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
            ("lms", LogMelSpectrogram(n_jobs=n_jobs, verbose=verbose, path_column=path_column)),
            ("scaler", TemporalStandardScaler()),
            ("timnet", classifier),
        ]
    )


def make_face_pipeline(
    *,
    landmarks: FaceLandmarks | None = None,
    normalization: str = "neutral_reference",
    max_epochs: int = 100,
    lr: float = 5e-4,
    batch_size: int = 64,
    n_scales: int = 7,
    filters: int = 64,
    n_layers: int = 3,
    random_state: int | None = None,
    verbose: int = 0,
    path_column: str = "path",
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
    classifier = _timnet(
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
    features = KeyPointDistances(landmarks, normalization=normalization, path_column=path_column)
    return Pipeline(
        [("kpd", features), ("scaler", TemporalStandardScaler()), ("timnet", classifier)]
    )
