"""What the stateless transformers over clips share: their tags, and the audio ones' ``fit``.

The feature transformers of ``audio``, ``face`` and ``embed`` learn nothing: ``fit`` only
validates, the input is clips (file paths are strings) and the output float32 features.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._clips import AudioClipInput

__all__ = ["AudioClipTransformer", "checked_audio_samples", "stateless_clip_tags"]

_Self = TypeVar("_Self", bound="AudioClipTransformer")


def stateless_clip_tags(tags: Any) -> Any:
    """``tags`` (a transformer's ``__sklearn_tags__``) of a stateless transformer over clips.

    No fit is required, strings (file paths) are accepted and float32 is preserved.
    """
    tags.requires_fit = False
    tags.input_tags.string = True
    tags.transformer_tags.preserves_dtype = ["float32"]
    return tags


def checked_audio_samples(y: np.ndarray, path: str) -> np.ndarray:
    """The samples ``y`` decoded from ``path``, or the error naming a file holding NaN or inf."""
    if not np.isfinite(y).all():
        raise ValueError(f"Audio file '{path}' contains NaN or infinite samples.")
    return y


class AudioClipTransformer(  # type: ignore[call-arg]
    AudioClipInput, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Base of the stateless audio transformers: ``fit`` validates, nothing is learned.

    Subclasses set ``_parameter_constraints``, store their parameters in ``__init__``
    (``path_column`` among them) and implement ``transform``; ``_check_params`` may add
    the checks that span several parameters. The output is not a table
    (``auto_wrap_output_keys=None``): ``set_output`` does not apply.
    """

    def fit(self: _Self, X: Any, y: Any = None) -> _Self:
        """Validate the parameters (and a numeric ``X``); nothing is learned.

        Parameters
        ----------
        X : paths, DataFrame, Series, 2D float array or list of 1D waveforms
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._parse(X, reset=True)
        return self

    def _check_params(self) -> None:
        self._validate_params()

    def __sklearn_tags__(self) -> Any:
        return stateless_clip_tags(super().__sklearn_tags__())
