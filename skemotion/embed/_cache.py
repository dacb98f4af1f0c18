"""Per-clip embedding cache on disk, keyed by content, model and parameters."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils._io import atomic_savez, file_digest
from ..utils._npz_cache import read_npz_entry
from ._hub import default_cache_dir

# Bump when an embedder's output changes, so stale entries are never read.
_CACHE_VERSION = 1

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
"""The ``dtype`` parameter's values and the torch dtypes they name."""


def resolve_cache_dir(cache_dir: Any) -> Path | None:
    """The cache folder of a ``cache_dir`` parameter (None: default, False: no cache)."""
    if cache_dir is False:
        return None
    if cache_dir is True:
        raise ValueError("cache_dir=True is ambiguous: pass a folder, None or False")
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and values."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def entry_path(cache: Path, *, stem: str, digest: str, settings: dict[str, Any]) -> Path:
    """Where the embedding of one clip (content ``digest``) under ``settings`` lives."""
    key = json.dumps({"version": _CACHE_VERSION, "clip": digest, **settings}, sort_keys=True)
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache / f"{stem}-{name}.npz"


def read_entry(path: Path) -> np.ndarray | None:
    """A cached embedding, or None when absent or damaged (it is then rebuilt)."""
    return read_npz_entry(
        path,
        lambda arrays: np.asarray(arrays["embedding"], dtype=np.float32),
        what="embedding",
        remedy="computing the embedding again and replacing it",
    )


def write_entry(path: Path, embedding: np.ndarray) -> None:
    """Write one clip's embedding atomically (readers never see half a file)."""
    atomic_savez(path, {"embedding": np.asarray(embedding, dtype=np.float32)})


def torch_dtype(name: str) -> torch.dtype:
    return TORCH_DTYPES[name]


def check_device(device: str, dtype: str) -> torch.device:
    """Validate a ``device`` / ``dtype`` pair against what this machine offers."""
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device={device!r} is not a torch device: {error}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available here (torch {torch.__version__}); "
            "use device='cpu'."
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but MPS is not available here; use device='cpu'.")
    if dtype == "float16" and resolved.type == "cpu":
        raise ValueError(
            "dtype='float16' needs a GPU (device='cuda'); on the CPU use 'float32' or 'bfloat16'."
        )
    return resolved


def placed(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """``module`` itself if already on ``device`` in ``dtype``, else a moved copy.

    The caller's module (or the process-wide cached one) is never moved in place.
    """
    import copy

    tensors = [*module.parameters(), *module.buffers()]
    floating = [t for t in tensors if t.is_floating_point()]
    if all(t.device == device or (t.device.type == device.type == "cpu") for t in tensors) and all(
        t.dtype == dtype for t in floating
    ):
        return module
    return copy.deepcopy(module).to(device=device, dtype=dtype)


class eval_mode:
    """Put a module in eval mode for a block and restore every submodule's mode after."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self._modes: list[tuple[torch.nn.Module, bool]] = []

    def __enter__(self) -> torch.nn.Module:
        self._modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        return self.module

    def __exit__(self, *exc: Any) -> None:
        for module, training in self._modes:
            module.training = training


def clip_stem(clip: Any, index: int) -> str:
    if isinstance(clip, str | os.PathLike):
        return Path(clip).stem
    return f"waveform{index}"


def clip_entry(cache: Path, clip: Any, index: int, *, settings: dict[str, Any]) -> Path:
    """The entry of clip ``index`` of a batch: a file path keyed by the file's content, a
    waveform by its values."""
    digest = (
        file_digest(clip)
        if isinstance(clip, str)
        else array_digest(np.asarray(clip, dtype=np.float32))
    )
    return entry_path(cache, stem=clip_stem(clip, index), digest=digest, settings=settings)
