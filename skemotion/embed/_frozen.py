"""What the frozen embedders share: their model parameters and the model they run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral
from typing import Any

import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._cache import TORCH_DTYPES, check_device, eval_mode, placed, torch_dtype
from ._hub import load_backbone

__all__ = ["FROZEN_MODEL_CONSTRAINTS", "FrozenModel"]

FROZEN_MODEL_CONSTRAINTS: dict[str, list[Any]] = {
    "model": [str, os.PathLike, HasMethods(["forward", "state_dict"])],
    "revision": [str, None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
    "dtype": [StrOptions(set(TORCH_DTYPES))],
    "cache_dir": [str, os.PathLike, None, "boolean"],
    "verbose": ["verbose"],
}
"""Constraints of the parameters every frozen embedder has (the model and how it runs)."""


class FrozenModel:
    """Mixin: the pretrained model a frozen embedder runs, and where it runs.

    A module given as ``model`` is used as is; a hub id or folder is loaded once per
    process by :func:`~skemotion.embed.load_backbone` as a backbone of ``_backbone_kind``.
    """

    _backbone_kind: str
    model: Any
    revision: str | None
    device: str
    dtype: str

    def _module(self) -> torch.nn.Module:
        if isinstance(self.model, torch.nn.Module):
            return self.model
        return load_backbone(self.model, kind=self._backbone_kind, revision=self.revision)

    @contextmanager
    def _running(self) -> Iterator[tuple[torch.nn.Module, torch.device, torch.dtype]]:
        """The model on ``device`` in ``dtype``, in eval and inference mode, for a block.

        Yields the module, the device and the dtype that inputs must be moved to.
        """
        device = check_device(self.device, self.dtype)
        dtype = torch_dtype(self.dtype)
        module = placed(self._module(), device, dtype)
        with eval_mode(module), torch.inference_mode():
            yield module, device, dtype
