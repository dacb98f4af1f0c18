"""Saving and loading fitted models without pickle's arbitrary code execution.

``_model_file`` writes and reads the file (format marker, integrity digest,
``save_model`` / ``load_model``); ``_codec`` turns a model into plain values and back;
``_allowed`` lists the classes a file may name.
"""

from ._model_file import load_model, save_model

__all__ = ["load_model", "save_model"]
