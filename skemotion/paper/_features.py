"""The feature registry: every feature of the paper, its Table 3 row and its figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._tables import PAPER_TABLE1, PAPER_TABLE2, network_settings

__all__ = ["FEATURES", "TABLE1_FEATURES", "PaperFeature"]


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
        PaperFeature("lms", "LMS", "speech", "log-mel spectrogram of the audio (88 x 24)", "lms"),
        PaperFeature(
            "wav2vec2",
            "Wav2Vec2-B",
            "speech",
            "Wav2Vec2 hidden states of the audio (frames x 768 base, 1024 large)",
            "wav2vec2",
            table2_label="Wav2Vec2-L",
        ),
        PaperFeature(
            "face_resnet",
            "Face ResNet",
            "face",
            "ResNet embedding of the face crop per frame",
            "resnet",
        ),
        PaperFeature("kpd", "Face KPD", "face", "face key-point distances (88 x 780)", "kpd"),
        PaperFeature(
            "au",
            "Face AU",
            "face",
            "OpenFace action units (88 x 35; needs the openface landmark backend)",
            "au",
        ),
        PaperFeature(
            "eyes_resnet",
            "Eyes ResNet",
            "face",
            "ResNet embedding of the eyes crop per frame",
            "resnet",
        ),
        PaperFeature(
            "eyes_kpd",
            "Eyes KPD",
            "face",
            "eye key-point distances and gaze (88 x 179 OpenFace, 88 x 75 dlib)",
            "kpd",
        ),
        PaperFeature(
            "mouth_resnet",
            "Mouth ResNet",
            "face",
            "ResNet embedding of the mouth crop per frame",
            "resnet",
        ),
        PaperFeature(
            "head_pose",
            "Head pose",
            "face",
            "head pose: pitch, yaw, roll, Tx, Ty, Tz (88 x 6)",
            "kpd",
        ),
    )
}
"""Every feature of the paper by skemotion's name, in Table 1's row order.

A new feature plugs in here (one entry) and as one transformer that extracts it."""

TABLE1_FEATURES: dict[str, str] = {feature.label: name for name, feature in FEATURES.items()}
"""Rows of Table 1 and the feature each uses."""
