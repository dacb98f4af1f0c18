"""The feature registry: every feature of the paper, its Table 3 row and its figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._tables import PAPER_TABLE1, PAPER_TABLE2, network_settings

__all__ = ["FEATURES", "TABLE1_FEATURES", "PaperFeature", "make_extractor"]

# Extractor factories: each builds the feature's stateless transformer and names the
# recording-table column(s) it reads. The extractors' packages are imported on use, so
# the registry stays importable by every package (nets reads Table 3 through it).


def _log_mel(options: dict[str, Any]) -> tuple[Any, Any]:
    from ..audio import LogMelSpectrogram

    extractor = LogMelSpectrogram(n_jobs=options["n_jobs"], verbose=options["verbose"])
    return extractor, options["audio_column"]


def _wav2vec2(options: dict[str, Any]) -> tuple[Any, Any]:
    from ..embed import Wav2Vec2Embedder

    audio = options["audio_column"]
    embedder = Wav2Vec2Embedder(options["wav2vec2"], path_column=audio, verbose=options["verbose"])
    return embedder, [audio]


def _face_columns(options: dict[str, Any]) -> list[str]:
    return [options["video_column"], options["subject_column"]]


def _key_points(kind: str) -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    def build(options: dict[str, Any]) -> tuple[Any, Any]:
        from ..face import EyeKeyPointDistances, KeyPointDistances

        cls = KeyPointDistances if kind == "face" else EyeKeyPointDistances
        extractor = cls(
            options["landmarks"],
            path_column=options["video_column"],
            subject_column=options["subject_column"],
        )
        return extractor, _face_columns(options)

    return build


def _tracked(kind: str) -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    def build(options: dict[str, Any]) -> tuple[Any, Any]:
        from ..face import ActionUnits, HeadPose

        cls = ActionUnits if kind == "au" else HeadPose
        extractor = cls(options["landmarks"], path_column=options["video_column"])
        return extractor, _face_columns(options)

    return build


def _resnet(region: str) -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    def build(options: dict[str, Any]) -> tuple[Any, Any]:
        from ..embed import ResNetEmbedder
        from ..face import FaceRegions

        video = options["video_column"]
        regions = FaceRegions(region, landmarks=options["landmarks"], path_column=video)
        embedder = ResNetEmbedder(
            options["resnet"], regions=regions, path_column=video, verbose=options["verbose"]
        )
        return embedder, _face_columns(options)

    return build


@dataclass(frozen=True)
class PaperFeature:
    """One feature of the paper: what it is, how the paper trains on it, what it scored.

    Parameters
    ----------
    name : str
        skemotion's name of the feature (the key of :data:`FEATURES`, the modality name
        of ``make_fusion_pipeline`` and ``reproduce_table1/2``).
    label : str
        Its row in Table 1 (and in Table 2 for a visual feature).
    modality : {"speech", "face"}
    description : str
        What the feature is, with its shape per clip.
    hyperparameters : str
        Its row of Table 3 (:data:`~skemotion.paper.PAPER_HYPERPARAMETERS`): features
        trained alike share one (head pose, which Table 3 omits, is trained like KPD).
    extract : callable
        Builds the feature's stateless transformer and names the recording-table
        column(s) it reads (see :func:`make_extractor`).
    table2_label : str or None, default=None
        Its label in Table 2 where it differs from ``label`` (the large Wav2Vec2).

    Examples
    --------
    >>> FEATURES["kpd"].accuracy, FEATURES["kpd"].settings()["lr"]
    (67.13, 0.0005)
    """

    name: str
    label: str
    modality: str
    description: str
    hyperparameters: str
    extract: Callable[[dict[str, Any]], tuple[Any, Any]]
    table2_label: str | None = None

    def settings(self, task: str = "multiclass") -> dict[str, Any]:
        """Table 3's network settings for this feature alone (see ``network_settings``)."""
        return network_settings([self.name], task=task)

    @property
    def binary_macro_f1(self) -> dict[str, float]:
        """Table 1: macro-F1 of the paper's binary (emotion vs rest) model per emotion."""
        return dict(PAPER_TABLE1[self.label])

    @property
    def accuracy(self) -> float | None:
        """Table 2: 8-class accuracy (%) of the feature alone; None where not reported."""
        label = self.table2_label or self.label
        key = ("None", label) if self.modality == "speech" else (label, "None")
        return PAPER_TABLE2.get(key)


FEATURES: dict[str, PaperFeature] = {
    feature.name: feature
    for feature in (
        PaperFeature(
            "lms", "LMS", "speech", "log-mel spectrogram of the audio (88 x 24)", "lms", _log_mel
        ),
        PaperFeature(
            "wav2vec2",
            "Wav2Vec2-B",
            "speech",
            "Wav2Vec2 hidden states of the audio (frames x 768 base, 1024 large)",
            "wav2vec2",
            _wav2vec2,
            table2_label="Wav2Vec2-L",
        ),
        PaperFeature(
            "face_resnet",
            "Face ResNet",
            "face",
            "ResNet embedding of the face crop per frame",
            "resnet",
            _resnet("face"),
        ),
        PaperFeature(
            "kpd",
            "Face KPD",
            "face",
            "face key-point distances (88 x 780)",
            "kpd",
            _key_points("face"),
        ),
        PaperFeature(
            "au",
            "Face AU",
            "face",
            "OpenFace action units (88 x 35; needs the openface landmark backend)",
            "au",
            _tracked("au"),
        ),
        PaperFeature(
            "eyes_resnet",
            "Eyes ResNet",
            "face",
            "ResNet embedding of the eyes crop per frame",
            "resnet",
            _resnet("eyes"),
        ),
        PaperFeature(
            "eyes_kpd",
            "Eyes KPD",
            "face",
            "eye key-point distances and gaze (88 x 179 OpenFace, 88 x 75 dlib)",
            "kpd",
            _key_points("eyes"),
        ),
        PaperFeature(
            "mouth_resnet",
            "Mouth ResNet",
            "face",
            "ResNet embedding of the mouth crop per frame",
            "resnet",
            _resnet("mouth"),
        ),
        PaperFeature(
            "head_pose",
            "Head pose",
            "face",
            "head pose: pitch, yaw, roll, Tx, Ty, Tz (88 x 6)",
            "kpd",
            _tracked("head_pose"),
        ),
    )
}
"""Every feature of the paper by skemotion's name, in Table 1's row order.

A new feature plugs in here (one entry) and as one transformer that extracts it."""

TABLE1_FEATURES: dict[str, str] = {feature.label: name for name, feature in FEATURES.items()}
"""Rows of Table 1 and the feature each uses."""


def make_extractor(
    feature: str,
    *,
    landmarks: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    audio_column: str = "audio_path",
    video_column: str = "video_path",
    subject_column: str = "actor",
    wav2vec2: str | None = None,
    resnet: str | None = None,
) -> tuple[Any, Any]:
    """The stateless transformer that extracts a feature of the paper from recordings.

    Parameters
    ----------
    feature : str
        A name of :data:`FEATURES`.
    landmarks : FaceLandmarks or None, default=None
        Landmark stage of the face features; None is each transformer's default.
    n_jobs, verbose : int
        Parallel extraction and progress, where the transformer has them.
    audio_column, video_column, subject_column : str
        Columns of the recording table: audio file, video file, subject.
    wav2vec2, resnet : str or None, default=None
        Model (hub id or folder) of the embedding features.

    Returns
    -------
    transformer : transformer
    columns : str or list of str
        The table column(s) it reads.

    Examples
    --------
    >>> transformer, columns = make_extractor("kpd")
    >>> type(transformer).__name__, columns
    ('KeyPointDistances', ['video_path', 'actor'])
    """
    if feature not in FEATURES:
        raise ValueError(f"Unknown feature {feature!r}; the paper's are {sorted(FEATURES)}.")
    return FEATURES[feature].extract(
        {
            "landmarks": landmarks,
            "n_jobs": n_jobs,
            "verbose": verbose,
            "audio_column": audio_column,
            "video_column": video_column,
            "subject_column": subject_column,
            "wav2vec2": wav2vec2,
            "resnet": resnet,
        }
    )
