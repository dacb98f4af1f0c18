"""The predictor an exported file loads as: validation, batching and labels around a graph."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._check import input_arrays

__all__ = ["ExportedClassifier"]


class ExportedClassifier:
    """An exported TIM-Net classifier: ``predict_proba`` and ``predict`` on raw features.

    Returned by :func:`load_torchscript`, :func:`load_onnx` and the export functions. It
    validates the input against the stored input names and widths, runs the graph in
    batches and maps the probabilities to the stored class labels; it cannot be fitted.

    Parameters
    ----------
    run : callable
        Takes a list of float32 ``(batch, frames, features)`` arrays, one per input, and
        returns the ``(batch, n_classes)`` probabilities.
    metadata : dict
        The export's :data:`METADATA_FILE` entry.
    path : str or path-like, optional
        File the graph was read from.
    module : object, optional
        The loaded graph (a ``torch.jit.ScriptModule`` or an ``onnxruntime`` session).
    batch_size : int, default=64
        Clips per call of the graph.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    input_names_ : tuple of str
        Names of the graph's inputs, in their positional order; a mapping given to
        :meth:`predict_proba` is keyed by them.
    n_features_per_input_ : dict of str to int
    folded_steps_ : list of str
        Pipeline steps inside the graph (the standardisation).
    unexported_steps_ : list of str
        Pipeline steps that must be run before the graph (the feature extractors).
    metadata_ : dict
    module_ : object
    path_ : str or None

    Examples
    --------
    >>> exported = load_torchscript("fusion.pt")  # doctest: +SKIP
    >>> exported.input_names_  # doctest: +SKIP
    ('lms', 'kpd')
    >>> exported.predict_proba({"lms": lms, "kpd": kpd}).shape  # doctest: +SKIP
    (1, 8)
    """

    def __init__(
        self,
        run: Callable[[list[np.ndarray]], np.ndarray],
        metadata: dict[str, Any],
        *,
        path: str | os.PathLike[str] | None = None,
        module: Any = None,
        batch_size: int = 64,
    ) -> None:
        self._run = run
        self.metadata_ = metadata
        self.classes_ = np.asarray(metadata["classes"])
        self._inputs = [(str(item["name"]), int(item["n_features"])) for item in metadata["inputs"]]
        self.input_names_ = tuple(name for name, _ in self._inputs)
        self.n_features_per_input_ = dict(self._inputs)
        self.folded_steps_ = list(metadata.get("folded_steps", []))
        self.unexported_steps_ = list(metadata.get("unexported_steps", []))
        self.module_ = module
        self.path_ = None if path is None else os.fspath(path)
        self.batch_size = batch_size

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_clips, n_classes), columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like or mapping of str to array-like
            ``(n_clips, n_frames, n_features)`` features (a 2-D array is one frame per
            clip): one array for a single-input model, else a mapping by input name.

        Returns
        -------
        ndarray of shape (n_clips, n_classes), float64
        """
        arrays = input_arrays(X, self._inputs, what="X")
        n_clips = len(arrays[0])
        batches = [
            self._run([array[start : start + self.batch_size] for array in arrays])
            for start in range(0, n_clips, self.batch_size)
        ]
        return np.concatenate(batches).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label of every clip (the threshold rule for binary models).

        Parameters
        ----------
        X : array-like or mapping of str to array-like
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        proba = self.predict_proba(X)
        if self.metadata_["output"] == "sigmoid":
            threshold = self.metadata_.get("threshold")
            threshold = 0.5 if threshold is None else float(threshold)
            return self.classes_[(proba[:, 1] > threshold).astype(int)]
        return self.classes_[proba.argmax(axis=1)]

    def __repr__(self) -> str:
        backend = self.metadata_.get("backend", "?")
        return (
            f"ExportedClassifier({backend}, estimator={self.metadata_.get('estimator')}, "
            f"inputs={self.n_features_per_input_}, classes={self.classes_.tolist()})"
        )
