"""Saving and loading fitted models without pickle's arbitrary code execution.

A model file is a ``torch.save`` archive holding only plain containers, strings, numbers
and tensors: each estimator is stored as the name of its class, its constructor
parameters and its fitted state. :func:`load_model` reads it with
``torch.load(weights_only=True)``, which refuses anything else, and rebuilds estimators
only from the classes listed in ``_ALLOWED_CLASSES``. A file crafted to run code on
unpickling is therefore rejected, not executed. A SHA-256 digest of the encoded model is
stored beside it and checked on load, so accidental corruption or an edit that does not
also recompute the digest is refused rather than loaded as a different model.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pathlib
import warnings
from pathlib import Path
from typing import Any, cast

import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ._version import __version__
from .exceptions import NotASkemotionModelError
from .utils._io import atomic_write
from .utils._optional import import_optional

__all__ = ["load_model", "save_model"]

_FORMAT = "skemotion-model"
_FORMAT_VERSION = 1


def _allowed_classes() -> dict[str, type]:
    """Every class a model file may name: the estimators, then the plain parts.

    The estimators are discovered (:func:`~skemotion._discovery.all_estimators`), so a
    new public estimator can be saved as soon as it is exported. The other parts are
    listed here: they are parameter values (networks, callbacks, splitters, losses,
    optimizers), and which of them are safe to rebuild is this module's decision.
    """
    # Imported here: the estimators import the package top level, which imports this module.
    from sklearn.compose import make_column_selector
    from sklearn.model_selection import (
        GroupKFold,
        GroupShuffleSplit,
        KFold,
        LeaveOneGroupOut,
        PredefinedSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
    )
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from ._discovery import all_estimators
    from .datasets import RavdessNeutralReference
    from .embed import PretrainedTIMNet, UnfreezeBackbone
    from .model_selection import ExcludeFromTest, RavdessActorFolds
    from .nets import (
        ArrayBatchLoader,
        FusionTIMNet,
        GroupedValidSplit,
        RestoreBestCheckpoint,
        TIMNet,
    )

    classes: list[type] = [
        Pipeline,
        *(cls for _, cls in all_estimators()),
        PretrainedTIMNet,
        TIMNet,
        FusionTIMNet,
        LogisticRegression,
        StandardScaler,
        GroupedValidSplit,
        UnfreezeBackbone,
        RestoreBestCheckpoint,
        # The face features' reference_resolver: a plain parameter holder.
        RavdessNeutralReference,
        # Splitters, for LateFusionClassifier(cv=...); they are plain parameter holders.
        RavdessActorFolds,
        ExcludeFromTest,
        GroupKFold,
        StratifiedGroupKFold,
        LeaveOneGroupOut,
        GroupShuffleSplit,
        PredefinedSplit,
        KFold,
        StratifiedKFold,
        make_column_selector,
        ArrayBatchLoader,
        Dataset,
        DataLoader,
        torch.nn.CrossEntropyLoss,
        torch.nn.BCEWithLogitsLoss,
        torch.nn.NLLLoss,
        torch.optim.Adam,
        torch.optim.AdamW,
        torch.optim.SGD,
        torch.optim.RMSprop,
    ]
    return {f"{cls.__module__}.{cls.__qualname__}": cls for cls in classes}


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _pretrained_classes() -> dict[str, type]:
    """transformers backbones stored by configuration and weights (no code, no pickle)."""
    from .embed import BACKBONE_KINDS

    transformers = import_optional("transformers", extra="embed", needed_for="Pretrained embedders")
    classes = [getattr(transformers, name) for name, _ in BACKBONE_KINDS.values()]
    return {_qualname(cls): cls for cls in classes}


# Concrete paths load as this machine's Path; pure paths keep their flavour.
_PATH_TYPES: dict[str, type] = {
    "Path": pathlib.Path,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}


# -- encoding ---------------------------------------------------------------------------


def _encode(value: Any, *, where: str) -> Any:
    allowed = _allowed_classes()
    # np.float64 subclasses float: NumPy scalars before the plain-type test, kept as
    # their own type (np.float32(0.1) is not the float 0.1).
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biufU":
            raise TypeError(f"cannot save {where}: NumPy scalar of dtype {value.dtype}.")
        return {"__npscalar__": value.item(), "dtype": value.dtype.str}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            # ascontiguousarray alone would make a 0-d array 1-d.
            contiguous = np.ascontiguousarray(value).reshape(value.shape)
            return {"__ndarray__": torch.from_numpy(contiguous)}
        if value.dtype.kind in "UO" and all(isinstance(v, str) for v in value.ravel()):
            return {"__strarray__": value.tolist()}
        if value.dtype.kind == "O" and all(
            isinstance(v, bool | int | float | np.generic) for v in value.ravel()
        ):
            return {"__objarray__": [_encode(v, where=where) for v in value.tolist()]}
        raise TypeError(f"cannot save {where}: array of dtype {value.dtype}.")
    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu()}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, pathlib.PurePath):
        flavour = "Path" if isinstance(value, pathlib.Path) else type(value).__name__
        if flavour not in _PATH_TYPES:  # a user's own PurePath subclass
            raise TypeError(f"cannot save {where}: path type {type(value).__name__}.")
        return {"__path__": str(value), "type": flavour}
    if isinstance(value, joblib.Memory):
        return {"__memory__": _encode(_memory_params(value), where=where)}
    if isinstance(value, np.random.RandomState):
        # Its whole Mersenne Twister state, so that the loaded model draws what it would have.
        return {"__randomstate__": _encode(value.get_state(legacy=True), where=where)}
    from .face import FaceTrack

    if isinstance(value, FaceTrack):
        return {"__facetrack__": _encode(value.to_arrays(), where=where)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where=where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where=where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {
                "__items__": [
                    [_encode(k, where=where), _encode(v, where=where)] for k, v in value.items()
                ]
            }
        return {k: _encode(v, where=f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, type):
        name = _qualname(value)
        if name not in allowed:
            raise TypeError(f"cannot save {where}: class {name} is not a known skemotion part.")
        return {"__class__": name}
    if _qualname(type(value)) in allowed:
        return _encode_estimator(value, where=where)
    if isinstance(value, torch.nn.Module):
        return _encode_module(value, where=where)
    if callable(value):
        raise TypeError(
            f"cannot save {where}: the function {getattr(value, '__qualname__', value)!r}; "
            "skemotion's safe model format stores no code. Use a column name, a list of "
            "names or sklearn.compose.make_column_selector instead of a function."
        )
    raise TypeError(
        f"cannot save {where}: objects of type {type(value).__name__} are not supported "
        "by skemotion's safe model format."
    )


def _memory_params(memory: joblib.Memory) -> dict[str, Any]:
    return {
        "location": memory.location,
        "backend": memory.backend,
        "mmap_mode": memory.mmap_mode,
        "compress": memory.compress,
        # Memory keeps its verbose argument under a private name.
        "verbose": memory._verbose,
        "backend_options": memory.backend_options,
    }


def _encode_module(module: torch.nn.Module, *, where: str) -> dict[str, Any]:
    """A transformers backbone as its class, configuration and weights."""
    name = _qualname(type(module))
    if name not in _pretrained_classes():
        raise TypeError(
            f"cannot save {where}: a torch module of type {type(module).__name__}; the safe "
            "format stores transformers' Wav2Vec2Model and ResNetModel (configuration and "
            "weights), or pass a hub id or a save_pretrained folder instead."
        )
    # torch types every module attribute as Tensor | Module; transformers' is a config.
    config = cast(Any, module).config.to_dict()
    return {
        "__pretrained__": name,
        "config": _encode(config, where=f"{where} config"),
        "weights": {k: v.detach().cpu() for k, v in module.state_dict().items()},
    }


def _constructor_params(obj: Any) -> dict[str, Any]:
    """Constructor arguments of ``obj``.

    Estimators give theirs through ``get_params``; plain parts (splitters, column
    selectors) are read back from the attributes of the same names, as scikit-learn's
    repr does.
    """
    if hasattr(obj, "get_params"):
        return dict(obj.get_params(deep=False))
    names = [
        name
        for name, parameter in inspect.signature(type(obj).__init__).parameters.items()
        if name != "self"
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    return {name: getattr(obj, name) for name in names}


def _encode_estimator(estimator: Any, *, where: str = "model") -> dict[str, Any]:
    from .nets import TIMNetClassifier

    name = _qualname(type(estimator))
    if name not in _allowed_classes():
        raise TypeError(f"cannot save {where}: {name} is not a skemotion-supported estimator.")
    if isinstance(estimator, Pipeline):
        return {
            "__estimator__": name,
            "steps": [
                [step, _encode_estimator(est, where=f"{where}.{step}")]
                for step, est in estimator.steps
            ],
            "params": {
                "verbose": estimator.verbose,
                "memory": _encode(estimator.memory, where=f"{where}.memory"),
            },
        }
    params = _constructor_params(estimator)
    encoded: dict[str, Any] = {
        "__estimator__": name,
        "params": {k: _encode(v, where=f"{where}.{k}") for k, v in params.items()},
    }
    if isinstance(estimator, TIMNetClassifier):
        if hasattr(estimator, "module_"):
            encoded["state"] = _encode(
                {
                    "classes_": np.asarray(estimator.classes_),
                    "n_features_in_": estimator.n_features_in_,
                    "pos_weight_": getattr(estimator, "pos_weight_", None),
                    # FusionClassifier: the modalities its module was built for.
                    "modalities_": getattr(estimator, "modalities_", None),
                    "n_features_per_modality_": getattr(
                        estimator, "n_features_per_modality_", None
                    ),
                },
                where=f"{where} state",
            )
            encoded["module_state"] = {
                k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()
            }
            encoded["history"] = _encode(
                [
                    {k: v for k, v in epoch.items() if k != "batches"}
                    for epoch in estimator.history_
                ],
                where=f"{where} history",
            )
        return encoded
    state = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_") and key not in params
    }
    if state:
        encoded["state"] = _encode(state, where=f"{where} state")
    return encoded


# -- decoding ---------------------------------------------------------------------------


def _decode(value: Any, allowed: dict[str, type]) -> Any:
    if isinstance(value, list):
        return [_decode(v, allowed) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return value["__ndarray__"].numpy().copy()
    if "__strarray__" in value:
        return np.asarray(value["__strarray__"])
    if "__objarray__" in value:
        return np.asarray([_decode(v, allowed) for v in value["__objarray__"]], dtype=object)
    if "__tensor__" in value:
        return value["__tensor__"]
    if "__dtype__" in value:
        return getattr(torch, value["__dtype__"])
    if "__tuple__" in value:
        return tuple(_decode(v, allowed) for v in value["__tuple__"])
    if "__items__" in value:
        return {_decode(k, allowed): _decode(v, allowed) for k, v in value["__items__"]}
    if "__class__" in value:
        return _resolve(value["__class__"], allowed)
    if "__npscalar__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biufU":
            raise NotASkemotionModelError(f"unknown scalar dtype {dtype} in the model file.")
        return dtype.type(value["__npscalar__"])
    if "__device__" in value:
        return torch.device(value["__device__"])
    if "__path__" in value:
        flavour = value.get("type")
        if flavour not in _PATH_TYPES:
            raise NotASkemotionModelError(f"unknown path type {flavour!r} in the model file.")
        return _PATH_TYPES[flavour](value["__path__"])
    if "__randomstate__" in value:
        random_state = np.random.RandomState()
        random_state.set_state(_decode(value["__randomstate__"], allowed))
        return random_state
    if "__memory__" in value:
        return joblib.Memory(**_decode(value["__memory__"], allowed))
    if "__facetrack__" in value:
        from .face import FaceTrack

        return FaceTrack.from_arrays(_decode(value["__facetrack__"], allowed))
    if "__pretrained__" in value:
        return _decode_module(value, allowed)
    if "__estimator__" in value:
        return _decode_estimator(value, allowed)
    return {k: _decode(v, allowed) for k, v in value.items()}


def _decode_module(spec: dict[str, Any], allowed: dict[str, type]) -> torch.nn.Module:
    cls = _pretrained_classes().get(spec["__pretrained__"])
    if cls is None:
        raise NotASkemotionModelError(
            f"unknown module class {spec['__pretrained__']!r} in the model file."
        )
    config = cls.config_class.from_dict(_decode(spec["config"], allowed))  # type: ignore[attr-defined]
    module = cls(config)
    module.load_state_dict(spec["weights"])
    return module.eval()


def _resolve(name: Any, allowed: dict[str, type]) -> type:
    if not isinstance(name, str) or name not in allowed:
        raise NotASkemotionModelError(f"unknown class {name!r} in the model file.")
    return allowed[name]


def _decode_estimator(spec: dict[str, Any], allowed: dict[str, type]) -> Any:
    from .nets import TIMNetClassifier

    cls = _resolve(spec["__estimator__"], allowed)
    if cls is Pipeline:
        steps = [(step, _decode_estimator(est, allowed)) for step, est in spec["steps"]]
        return Pipeline(
            steps,
            memory=_decode(spec["params"].get("memory"), allowed),
            verbose=bool(spec["params"].get("verbose", False)),
        )
    params = _decode(spec.get("params", {}), allowed)
    estimator = cls(**params)
    state = _decode(spec.get("state", {}), allowed)
    if issubclass(cls, TIMNetClassifier):
        if "module_state" in spec:
            _restore_net(estimator, state, spec)
        return estimator
    for key, value in state.items():
        setattr(estimator, key, value)
    return estimator


def _restore_net(net: Any, state: dict[str, Any], spec: dict[str, Any]) -> None:
    from sklearn.preprocessing import LabelEncoder
    from skorch.history import History

    classes = np.asarray(state["classes_"])
    encoder = LabelEncoder()
    encoder.classes_ = classes
    net.label_encoder_ = encoder
    net.classes_inferred_ = classes
    net.n_features_in_ = int(state["n_features_in_"])
    if state.get("pos_weight_") is not None:
        net.pos_weight_ = float(state["pos_weight_"])
    if state.get("modalities_") is not None:
        net.modalities_ = tuple(state["modalities_"])
        net.n_features_per_modality_ = {
            str(k): int(v) for k, v in state["n_features_per_modality_"].items()
        }
    net.initialize()
    net.module_.load_state_dict(spec["module_state"])
    net.module_.eval()
    net.history_ = History(_decode(spec.get("history", []), {}))


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
    encoded = _encode_estimator(model)
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
        return _decode_estimator(payload["model"], _allowed_classes())
    except NotASkemotionModelError as error:
        raise NotASkemotionModelError(f"{path}: {error}") from error
    # RuntimeError: load_state_dict on weights whose names or shapes do not fit the net.
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise NotASkemotionModelError(
            f"{path} is a damaged skemotion model: {type(error).__name__}: {error}"
        ) from error
