"""The model file: ``save_model`` and ``load_model``, its format marker and its digest.

A model file is a ``torch.save`` archive holding only plain containers, strings, numbers
and tensors: each estimator is stored as the name of its class, its constructor
parameters and its fitted state. :func:`load_model` reads it with
``torch.load(weights_only=True)``, which refuses anything else, and rebuilds estimators
only from the classes of the allow-list (:mod:`._allowed`). A file crafted to run code on
unpickling is therefore rejected, not executed. A SHA-256 digest of the encoded model is
stored beside it and checked on load, so accidental corruption or an edit that does not
also recompute the digest is refused rather than loaded as a different model.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..exceptions import NotASkemotionModelError
from ..utils._io import atomic_write
from ._allowed import allowed_classes
from ._codec import decode_estimator, encode_estimator

__all__ = ["load_model", "save_model"]

_FORMAT = "skemotion-model"
_FORMAT_VERSION = 1


# -- integrity --------------------------------------------------------------------------


def _digest(value: Any) -> str:
    """SHA-256 of an encoded model: its structure, scalars and tensor bytes.

    torch's zip reader does not check the CRCs of the archive, so a flipped bit in the
    weights would load as a silently different model; this digest, stored beside the
    model, is checked on load.
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}|".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"L{len(value)}|".encode())
        for item in value:
            _feed(digest, item)
    else:
        # type name too, so that 1, 1.0, True and "1" differ.
        digest.update(f"S{type(value).__name__}:{value!r}|".encode())


def _check_finite_weights(spec: Any, path: Path) -> None:
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "module_state" and isinstance(value, dict):
                bad = [
                    name
                    for name, tensor in value.items()
                    if isinstance(tensor, torch.Tensor)
                    and tensor.is_floating_point()
                    and not bool(torch.isfinite(tensor).all())
                ]
                if bad:
                    raise NotASkemotionModelError(
                        f"{path}: damaged skemotion model, NaN or infinite weights in "
                        f"{', '.join(bad[:3])} (retrain or restore the file from a copy)"
                    )
            else:
                _check_finite_weights(value, path)
    elif isinstance(spec, list):
        for item in spec:
            _check_finite_weights(item, path)


# -- public API -------------------------------------------------------------------------


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a fitted (or unfitted) skemotion model in the safe skemotion format.

    Supported: every public skemotion estimator and :class:`~sklearn.pipeline.Pipeline`
    of them, with every parameter type they document: numbers (NumPy scalars keep their
    type), strings, None, tuples, lists, dicts, arrays, ``pathlib`` paths (a concrete
    path loads as the loading machine's ``Path``, ``PurePosixPath`` and
    ``PureWindowsPath`` keep their flavour), torch dtypes and devices, ``joblib.Memory``,
    :class:`~skemotion.face.FaceTrack`, the network, loss and optimizer classes,
    skemotion's callbacks, scikit-learn's and skemotion's splitters,
    ``make_column_selector``, and transformers' ``Wav2Vec2Model`` / ``ResNetModel``
    instances (stored as their configuration and weights). What would have to be stored
    as code is refused with a ``TypeError`` naming the parameter, before anything is
    written: a function (e.g. a callable ``ModalityUnion`` column), another torch module,
    another class. The file is written to a temporary name and renamed, so an interrupted
    save never leaves a half-written model behind.

    Parameters
    ----------
    model : estimator
    path : path-like
        Destination (conventionally ``*.skem``).

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skemotion.preprocessing import TemporalStandardScaler
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scaler.skem"
    >>> _ = save_model(TemporalStandardScaler(), path)
    >>> load_model(path)
    TemporalStandardScaler()
    """
    path = Path(path)
    encoded = encode_estimator(model)
    payload = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "skemotion_version": __version__,
        "model": encoded,
        "sha256": _digest(encoded),
    }
    with atomic_write(path) as stream:
        torch.save(payload, stream)
    return path


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model written by :func:`save_model`.

    The file is read with ``torch.load(weights_only=True)``: no pickled code is executed,
    whatever the file contains. Files that are not skemotion models (other archives,
    pickles, corrupt or truncated files) raise :class:`NotASkemotionModelError` naming
    the file. So do files whose content no longer matches the SHA-256 digest
    :func:`save_model` stored with it (a flipped bit, an edited weight), and files with
    NaN or infinite weights. A file saved before digests were written loads with a
    warning.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    estimator
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # pickle errors, zip errors, refused globals...
        # torch's own message suggests weights_only=False, exactly what must not be done
        # with an untrusted file; say what happened instead.
        raise NotASkemotionModelError(
            f"{path} is not a skemotion model: it cannot be read as skemotion's safe format "
            f"({type(error).__name__}); pickled Python objects are never loaded."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise NotASkemotionModelError(
            f"{path} is not a skemotion model (no skemotion format marker)."
        )
    if payload.get("format_version") != _FORMAT_VERSION:
        raise NotASkemotionModelError(
            f"{path} uses skemotion model format {payload.get('format_version')!r}; this "
            f"version of skemotion reads format {_FORMAT_VERSION}."
        )
    if "model" not in payload:
        raise NotASkemotionModelError(f"{path}: damaged skemotion model, it holds no model.")
    stored = payload.get("sha256")
    if stored is None:
        # Files from before the digest was added: loadable, but nothing vouches for them.
        warnings.warn(
            f"{path}: skemotion model without an integrity digest (saved by an older "
            "skemotion); it cannot be checked for corruption. Save it again to add one.",
            UserWarning,
            stacklevel=2,
        )
    elif stored != _digest(payload["model"]):
        raise NotASkemotionModelError(
            f"{path}: damaged or modified skemotion model, its content does not match the "
            "digest written with it (restore the file from a copy or save the model again)"
        )
    _check_finite_weights(payload["model"], path)
    try:
        return decode_estimator(payload["model"], allowed_classes())
    except NotASkemotionModelError as error:
        raise NotASkemotionModelError(f"{path}: {error}") from error
    # RuntimeError: load_state_dict on weights whose names or shapes do not fit the net.
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise NotASkemotionModelError(
            f"{path} is a damaged skemotion model: {type(error).__name__}: {error}"
        ) from error
