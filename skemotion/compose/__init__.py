"""Composition: ready-made pipelines of transformers and networks."""

from ._pipelines import make_speech_pipeline

__all__ = ["make_speech_pipeline"]
