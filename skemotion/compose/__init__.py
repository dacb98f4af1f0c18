"""Composition: the multimodal union, ready-made pipelines of transformers and networks."""

from ._pipelines import (
    FUSION_MODALITIES,
    make_face_pipeline,
    make_fusion_pipeline,
    make_speech_pipeline,
)
from ._union import ModalityUnion

__all__ = [
    "FUSION_MODALITIES",
    "ModalityUnion",
    "make_face_pipeline",
    "make_fusion_pipeline",
    "make_speech_pipeline",
]
