"""Composition: ready-made pipelines of transformers and networks."""

from ._pipelines import make_face_pipeline, make_speech_pipeline

__all__ = ["make_face_pipeline", "make_speech_pipeline"]
