"""Loading pretrained backbones through transformers, offline-safe, cached per process."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from torch import nn

from ..utils._optional import import_optional

__all__ = [
    "BACKBONE_KINDS",
    "clear_model_cache",
    "default_cache_dir",
    "load_backbone",
    "model_fingerprint",
]

BACKBONE_KINDS: dict[str, tuple[str, frozenset[str]]] = {
    # kind: (transformers model class, accepted config.model_type values)
    "wav2vec2": ("Wav2Vec2Model", frozenset({"wav2vec2"})),
    "resnet": ("ResNetModel", frozenset({"resnet"})),
}
"""The backbone families skemotion loads, by name."""

# Loaded models kept per process, so that GridSearchCV's folds and clones reuse one copy.
# Small on purpose: a Wav2Vec2-large checkpoint is 1.2 GB.
_MODEL_CACHE_SIZE = 2
_MODEL_CACHE: OrderedDict[tuple[Any, ...], nn.Module] = OrderedDict()
_MODEL_CACHE_LOCK = threading.Lock()
_HUB_TIMEOUT_S = 3.0


def default_cache_dir() -> Path:
    """Where embeddings are cached unless told otherwise.

    The ``embeddings`` folder beside the landmark cache: ``$SKEMOTION_CACHE_DIR/embeddings``
    if that variable is set, else ``~/.cache/skemotion/embeddings`` (``$XDG_CACHE_HOME``
    respected).

    Returns
    -------
    folder : Path
    """
    from ..face import default_cache_dir as landmark_cache_dir

    return landmark_cache_dir().parent / "embeddings"


def clear_model_cache() -> None:
    """Forget the pretrained models loaded by this process (frees their memory)."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hub_reachable() -> bool:
    """Whether the Hugging Face hub answers a TCP connection within a few seconds.

    huggingface_hub retries unreachable hosts for about 20 s before giving up; checking
    first makes a missing network fail at once.
    """
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=_HUB_TIMEOUT_S):
            return True
    except OSError:
        return False


def _how_to_supply(name: str, kind: str) -> str:
    model_class = BACKBONE_KINDS[kind][0]
    return (
        f"To use it without network, download it where the hub is reachable "
        f"(transformers.{model_class}.from_pretrained({name!r}).save_pretrained(folder), "
        "or `hf download` into the Hugging Face cache) and pass that folder's path as "
        "the model, or set HF_HUB_OFFLINE=1 to read the local Hugging Face cache only."
    )


def load_backbone(
    model: str | os.PathLike[str],
    *,
    kind: str,
    revision: str | None = None,
    cache: bool = True,
) -> nn.Module:
    """Load a pretrained Wav2Vec2 or ResNet from a hub id or a local folder.

    A local folder (one written by ``save_pretrained``) is read directly. A hub id is
    looked up in the local Hugging Face cache first, then downloaded when the hub is
    reachable; without network the call fails at once (no retries) with a message
    naming the model and saying how to supply a local copy.

    Parameters
    ----------
    model : str or path-like
        Hub id (``"facebook/wav2vec2-base"``, ``"microsoft/resnet-18"``) or folder.
    kind : {"wav2vec2", "resnet"}
    revision : str or None, default=None
        Branch, tag or commit of a hub id (ignored for folders).
    cache : bool, default=True
        Reuse (and keep) the copy already loaded by this process. The returned module
        is then shared: do not train it in place, copy it first.

    Returns
    -------
    module : torch.nn.Module
        The transformers model in eval mode, on the CPU, float32.

    Raises
    ------
    OSError
        The model cannot be found or downloaded.
    ValueError
        The checkpoint is of another architecture than ``kind``.
    """
    if kind not in BACKBONE_KINDS:
        raise ValueError(f"kind must be one of {sorted(BACKBONE_KINDS)}, got {kind!r}.")
    name = os.fspath(model)
    local = Path(name).expanduser()
    key: tuple[Any, ...] = (kind, str(local.resolve()) if local.is_dir() else name, revision)
    if local.is_dir():
        key = (*key, _folder_stamp(local))
    if cache:
        with _MODEL_CACHE_LOCK:
            if key in _MODEL_CACHE:
                _MODEL_CACHE.move_to_end(key)
                return _MODEL_CACHE[key]
    module = _load_uncached(name, kind=kind, revision=revision, local=local.is_dir())
    if cache:
        with _MODEL_CACHE_LOCK:
            _MODEL_CACHE[key] = module
            while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
    return module


def _load_uncached(name: str, *, kind: str, revision: str | None, local: bool) -> nn.Module:
    transformers = import_optional("transformers", extra="embed", needed_for="Pretrained embedders")
    model_class_name, model_types = BACKBONE_KINDS[kind]
    model_class = getattr(transformers, model_class_name)
    source = f"folder {name!r}" if local else f"{name!r}"
    options: dict[str, Any] = {} if local else {"revision": revision}

    def attempt(local_files_only: bool) -> Any:
        config = transformers.AutoConfig.from_pretrained(
            name, local_files_only=local_files_only, **options
        )
        if config.model_type not in model_types:
            raise ValueError(
                f"{source} holds a {config.model_type!r} model, not a {kind} checkpoint "
                f"({model_class_name} expects model_type in {sorted(model_types)})."
            )
        return model_class.from_pretrained(
            name, config=config, local_files_only=local_files_only, **options
        )

    if local and not (Path(name).expanduser() / "config.json").is_file():
        raise OSError(
            f"Cannot load {kind} model from {source}: it is not a transformers checkpoint "
            "folder (no config.json; write one with save_pretrained)."
        )
    try:
        loaded = attempt(local_files_only=True)
    except OSError as error:
        if local:
            raise OSError(
                f"Cannot load {kind} model from {source}: it is not a transformers "
                f"checkpoint folder (config.json and weights written by save_pretrained): "
                f"{error}"
            ) from error
        if _offline() or not _hub_reachable():
            why = (
                "HF_HUB_OFFLINE is set"
                if _offline()
                else "the Hugging Face hub is unreachable (no network)"
            )
            raise OSError(
                f"Cannot load {kind} model {source}: it is not a local folder, not in the "
                f"local Hugging Face cache, and {why}. {_how_to_supply(name, kind)}"
            ) from error
        try:
            loaded = attempt(local_files_only=False)
        except OSError as download_error:
            raise OSError(
                f"Cannot load {kind} model {source} (revision {revision!r}) from the "
                f"Hugging Face hub: {download_error}. Check the name and revision. "
                f"{_how_to_supply(name, kind)}"
            ) from download_error
    loaded.eval()
    return loaded


def _folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of a checkpoint folder's files."""
    stamp = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            info = path.stat()
            stamp.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(stamp)


def model_fingerprint(model: Any, *, revision: str | None = None) -> str:
    """A string that changes whenever the model's weights may have changed.

    A hub id gives its name and revision; a folder its absolute path and its files'
    sizes and modification times; a torch module the SHA-256 of its class, its config
    (when it has one) and every parameter and buffer.
    """
    if isinstance(model, nn.Module):
        digest = hashlib.sha256(type(model).__qualname__.encode())
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_json_string"):
            digest.update(config.to_json_string(use_diff=False).encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            array = tensor.detach().cpu()
            digest.update(str(array.dtype).encode())
            digest.update(np.ascontiguousarray(array.float().numpy()).tobytes())
        return f"module:{digest.hexdigest()}"
    name = os.fspath(model)
    local = Path(name).expanduser()
    if local.is_dir():
        return json.dumps(["folder", str(local.resolve()), _folder_stamp(local)])
    return json.dumps(["hub", name, revision])
