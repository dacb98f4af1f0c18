"""A model as plain containers, strings, numbers and tensors, and back.

Each estimator becomes the name of its class, its constructor parameters and its fitted
state; every value of those is encoded as something ``torch.load(weights_only=True)``
reads, and decoded only into the classes of the allow-list (:mod:`._allowed`).
"""

from __future__ import annotations

import inspect
import pathlib
from typing import Any, cast

import joblib
import numpy as np
import torch
from sklearn.pipeline import Pipeline

from ..exceptions import NotASkemotionModelError
from ._allowed import allowed_classes, pretrained_classes, qualname

__all__ = ["decode_estimator", "encode_estimator"]


# Concrete paths load as this machine's Path; pure paths keep their flavour.
_PATH_TYPES: dict[str, type] = {
    "Path": pathlib.Path,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}


# -- encoding ---------------------------------------------------------------------------


def _encode(value: Any, *, where: str) -> Any:
    allowed = allowed_classes()
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
    from ..face import FaceTrack

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
        name = qualname(value)
        if name not in allowed:
            raise TypeError(f"cannot save {where}: class {name} is not a known skemotion part.")
        return {"__class__": name}
    if qualname(type(value)) in allowed:
        return encode_estimator(value, where=where)
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
    name = qualname(type(module))
    if name not in pretrained_classes():
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


def encode_estimator(estimator: Any, *, where: str = "model") -> dict[str, Any]:
    from ..nets import TIMNetClassifier

    name = qualname(type(estimator))
    if name not in allowed_classes():
        raise TypeError(f"cannot save {where}: {name} is not a skemotion-supported estimator.")
    if isinstance(estimator, Pipeline):
        return {
            "__estimator__": name,
            "steps": [
                [step, encode_estimator(est, where=f"{where}.{step}")]
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
        from ..face import FaceTrack

        return FaceTrack.from_arrays(_decode(value["__facetrack__"], allowed))
    if "__pretrained__" in value:
        return _decode_module(value, allowed)
    if "__estimator__" in value:
        return decode_estimator(value, allowed)
    return {k: _decode(v, allowed) for k, v in value.items()}


def _decode_module(spec: dict[str, Any], allowed: dict[str, type]) -> torch.nn.Module:
    cls = pretrained_classes().get(spec["__pretrained__"])
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


def decode_estimator(spec: dict[str, Any], allowed: dict[str, type]) -> Any:
    from ..nets import TIMNetClassifier

    cls = _resolve(spec["__estimator__"], allowed)
    if cls is Pipeline:
        steps = [(step, decode_estimator(est, allowed)) for step, est in spec["steps"]]
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
