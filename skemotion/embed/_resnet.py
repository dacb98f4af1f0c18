"""ResNet image embeddings of face, eye and mouth patches, per frame."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils._param_validation import HasMethods

from ..face import FaceRegions
from ..utils._clip_transformers import stateless_clip_tags
from ..utils._tables import clip_table_column
from ._cache import clip_entry, read_entry, resolve_cache_dir, write_entry
from ._frozen import FROZEN_MODEL_CONSTRAINTS, FrozenModel
from ._hub import model_fingerprint

__all__ = ["ResNetEmbedder", "image_features"]

# Settings of the landmark stage that cannot change the patches.
_IRRELEVANT_REGION_PARAMS = ("cache_dir", "n_jobs", "verbose", "on_error", "max_missing")


def image_features(module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Pooled features ``(n_images, d)`` of an image model for ``(n_images, 3, H, W)``.

    A transformers ``ResNetModel`` gives its ``pooler_output`` (global average pool
    of the last stage: 512 values for ResNet-18/34, 2048 for ResNet-50/101/152). Any
    other module may return a tensor ``(n, d)`` or a feature map ``(n, d, h, w)``
    (averaged over space), or an output object with ``pooler_output``.
    """
    output = module(images)
    pooled = getattr(output, "pooler_output", None)
    if pooled is None:
        pooled = output if isinstance(output, torch.Tensor) else output[0]
    if pooled.dim() == 4:
        pooled = pooled.mean(dim=(2, 3))
    if pooled.dim() != 2:
        raise ValueError(
            f"{type(module).__name__} gave features of shape {tuple(pooled.shape)}; "
            "expected (n_images, d) or (n_images, d, h, w)."
        )
    return pooled


class ResNetEmbedder(  # type: ignore[call-arg]
    FrozenModel, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """ResNet features of face, eye or mouth patches, as ``(n_clips, n_frames, d)``.

    The paper's image features: every frame's patch goes through an ImageNet-pretrained
    ResNet, whose globally pooled output is the frame's vector (``d`` = 512 for
    ResNet-18/34, 2048 for ResNet-50/101/152). For the eyes, both eyes' vectors are
    averaged. Input is either the patches :class:`~skemotion.face.FaceRegions` produces
    (ImageNet-normalised, channels first) or the video clips themselves, which are then
    cut by the ``regions`` transformer. Its landmark stage sets the frames: 88
    consecutive centre frames by default (the paper's frozen multimodal runs), or 20
    evenly spaced ones, the paper's fine-tuning setting::

        FaceRegions("face", landmarks=FaceLandmarks(n_frames=20, frame_selection="even"))

    The model is loaded on first use and kept by the process. For video input, each
    clip's embedding is cached on disk under a key made of the file's content, the
    model and the region settings.

    Parameters
    ----------
    model : str, path-like or torch.nn.Module, default="microsoft/resnet-18"
        A hub id (``"microsoft/resnet-18"``, ``"microsoft/resnet-50"``...) loaded with
        ``transformers.ResNetModel.from_pretrained``, a folder written by
        ``save_pretrained``, or any torch image model (see :func:`image_features`).
        torchvision's ResNets work as modules too where torchvision imports.
    revision : str or None, default=None
        Branch, tag or commit of a hub id.
    regions : FaceRegions or None, default=None
        Patch extractor for video input; None is ``FaceRegions("face")``.
    batch_size : int, default=64
        Images (frames, or eyes) per forward pass.
    device : str, default="cpu"
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Precision of the model (``"float16"`` on a GPU only); the output is float32.
    cache_dir : str, path-like, None or False, default=None
        Cache folder for video input; None is :func:`default_cache_dir`; False
        disables it. Patch arrays are never cached.
    path_column : str, default="path"
    verbose : int, default=0
        A tqdm progress bar over clips when positive.

    Notes
    -----
    Accepted ``X``: a float array ``(n_clips, n_frames, 3, H, W)`` (face, mouth) or
    ``(n_clips, n_frames, 2, 3, H, W)`` (both eyes), or video paths (list, Series, or
    a DataFrame's ``path_column``). A clip whose face was not found (NaN patches under
    ``on_error="warn"``) gets NaN embeddings.

    Examples
    --------
    >>> from skemotion.embed import ResNetEmbedder
    >>> from skemotion.face import FaceRegions
    >>> emb = ResNetEmbedder("microsoft/resnet-18", regions=FaceRegions("eyes"))
    >>> emb.fit_transform(["02-01-05-01-01-01-01.mp4"]).shape  # doctest: +SKIP
    (1, 88, 512)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **FROZEN_MODEL_CONSTRAINTS,
        "regions": [HasMethods(["transform", "get_params"]), None],
        "path_column": [str],
    }
    _backbone_kind = "resnet"

    def __init__(
        self,
        model: Any = "microsoft/resnet-18",
        *,
        revision: str | None = None,
        regions: FaceRegions | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        dtype: str = "float32",
        cache_dir: str | os.PathLike[str] | bool | None = None,
        path_column: str = "path",
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.revision = revision
        self.regions = regions
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.path_column = path_column
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> ResNetEmbedder:
        """Validate the parameters and ``X``, and load the model; nothing is learned.

        Returns
        -------
        self : ResNetEmbedder
        """
        self._validate_params()
        self._parse(X)
        self._module()
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed every frame of every clip.

        Parameters
        ----------
        X : patch array or video paths
            See the class Notes.

        Returns
        -------
        X_emb : np.ndarray of float32, shape (n_clips, n_frames, d)
        """
        self._validate_params()
        kind, data = self._parse(X)
        if kind == "patches":
            return self._embed_patches(data)
        return self._embed_paths(data)

    def __sklearn_tags__(self) -> Any:
        return stateless_clip_tags(super().__sklearn_tags__())

    # -- helpers -----------------------------------------------------------------------

    def _regions(self) -> FaceRegions:
        return FaceRegions("face") if self.regions is None else self.regions

    def _parse(self, X: Any) -> tuple[str, Any]:
        import pandas as pd

        if isinstance(X, str | bytes | os.PathLike):
            raise TypeError(
                f"X must be a collection of clips, got the single path {X!r}; wrap it in a list."
            )
        if isinstance(X, pd.DataFrame):
            X = clip_table_column(X, self.path_column, holds="video paths")
        elif isinstance(X, pd.Series):
            X = X.tolist()
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim in (5, 6) and X.shape[-3] == 3 and (X.ndim == 5 or X.shape[2] == 2):
                if len(X) == 0:
                    raise ValueError("X holds no clips (0 samples); at least 1 is required.")
                return "patches", X
            raise TypeError(
                "ResNetEmbedder reads image patches shaped (n_clips, n_frames, 3, H, W) or "
                "(n_clips, n_frames, 2, 3, H, W) for the eyes, as FaceRegions gives them, or "
                f"video paths; got a float array of shape {X.shape}, which holds no images."
            )
        items = list(X) if isinstance(X, list | tuple | np.ndarray) else None
        if items is None or not all(isinstance(i, str | os.PathLike) for i in items):
            raise TypeError(
                "ResNetEmbedder reads FaceRegions patches (a 5D or 6D float array) or video "
                f"paths; got {type(X).__name__}."
            )
        if not items:
            raise ValueError("X holds no clips (0 samples); at least 1 is required.")
        return "paths", [os.fspath(i) for i in items]

    def _embed_patches(self, patches: np.ndarray) -> np.ndarray:
        n_clips, n_frames = patches.shape[:2]
        n_views = patches.shape[2] if patches.ndim == 6 else 1
        images = patches.reshape(n_clips * n_frames * n_views, *patches.shape[-3:])
        finite = np.asarray(np.isfinite(images).reshape(len(images), -1).all(axis=1))
        features: np.ndarray | None = None
        with self._running() as (module, device, dtype):
            for start in range(0, len(images), self.batch_size):
                stop = min(start + self.batch_size, len(images))
                keep = np.flatnonzero(finite[start:stop]) + start
                if not len(keep):
                    continue
                batch = torch.from_numpy(np.ascontiguousarray(images[keep], dtype=np.float32))
                out = image_features(module, batch.to(device, dtype)).float().cpu().numpy()
                if features is None:
                    features = np.full((len(images), out.shape[1]), np.nan, dtype=np.float32)
                features[keep] = out
            if features is None:  # no finite image at all: the feature size is still needed
                probe = torch.zeros((1, *images.shape[1:]), device=device, dtype=dtype)
                size = image_features(module, probe).shape[1]
                features = np.full((len(images), size), np.nan, dtype=np.float32)
        per_view = features.reshape(n_clips, n_frames, n_views, -1)
        # Eyes: the mean of both eyes' embeddings, as in the paper.
        return per_view.mean(axis=2).astype(np.float32, copy=False)

    def _settings(self) -> dict[str, Any]:
        regions = self._regions()
        params = {
            key: value
            for key, value in regions.get_params(deep=True).items()
            if not key.endswith(_IRRELEVANT_REGION_PARAMS)
            and isinstance(value, str | int | float | bool | type(None))
        }
        return {
            "embedder": "resnet",
            "model": model_fingerprint(self.model, revision=self.revision),
            "regions": [type(regions).__qualname__, sorted(params.items())],
            "dtype": self.dtype,
        }

    def _embed_paths(self, paths: list[str]) -> np.ndarray:
        cache = resolve_cache_dir(self.cache_dir)
        settings = self._settings() if cache is not None else {}
        regions = clone(self._regions())
        results: list[np.ndarray] = []
        clips: Any = paths
        if self.verbose:
            from tqdm.auto import tqdm

            clips = tqdm(paths, unit="clip", desc="resnet")
        for index, path in enumerate(clips):
            entry = None
            if cache is not None:
                entry = clip_entry(cache, path, index, settings=settings)
                cached = read_entry(entry)
                if cached is not None:
                    results.append(cached)
                    continue
            embedding = self._embed_patches(regions.transform([path]))[0]
            if entry is not None and np.isfinite(embedding).all():
                write_entry(entry, embedding)
            results.append(embedding)
        if len({r.shape for r in results}) > 1:
            raise ValueError(f"Clips gave different shapes: {sorted({r.shape for r in results})}")
        return np.stack(results)
