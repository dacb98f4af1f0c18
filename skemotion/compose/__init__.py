"""Composition: the multimodal union, late fusion, ready-made pipelines."""

from ._late_fusion import LateFusionClassifier
from ._pipelines import (
    FUSION_MODALITIES,
    make_au_means_pipeline,
    make_face_pipeline,
    make_fusion_pipeline,
    make_speech_pipeline,
)
from ._subject_adaptive import SubjectAdaptiveClassifier
from ._union import ModalityUnion

__all__ = [
    "FUSION_MODALITIES",
    "LateFusionClassifier",
    "ModalityUnion",
    "SubjectAdaptiveClassifier",
    "make_au_means_pipeline",
    "make_face_pipeline",
    "make_fusion_pipeline",
    "make_speech_pipeline",
]
