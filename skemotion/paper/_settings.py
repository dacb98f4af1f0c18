"""Settings of a table run: models, extractors, data fingerprints, what is available."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .._version import __version__
from ..utils._io import file_digest
from ._features import FEATURES, make_extractor
from ._tables import network_settings

__all__ = ["ReproduceSettings"]

_SPEECH = frozenset({"lms", "wav2vec2"})
_VISUAL = frozenset(FEATURES) - _SPEECH


# -- settings and feature availability ----------------------------------------------------

# Part of every cell's fingerprint beside skemotion.__version__: bump it when a change to
# the code changes a cell's result, since development versions share one __version__.
# 2: cells record the data's content.
_RESULTS_FORMAT = 2


@dataclass
class ReproduceSettings:
    """What a reproduction run uses besides the corpus.

    Parameters
    ----------
    max_epochs : int or None
        Epochs of every model; None keeps the paper's Table 3 epochs per feature.
    small_net : bool
        16 filters and 3 scales instead of the paper's shapes (smoke runs).
    openface_dir : path or None
        Folder of OpenFace 2.x CSVs; enables the AU features and replaces dlib landmarks.
        Not needed when the corpus's ``video_path`` column holds the CSVs themselves
        (RAVDESS's tracking set, see :func:`~skemotion.datasets.load_ravdess_audiovisual`),
        which are read with OpenFace's landmarks whatever this is.
    wav2vec2 : str or None
        Hub id or folder of a Wav2Vec2 model; None skips the Wav2Vec2 cells.
    resnet : str or None
        Hub id or folder of an image ResNet; None skips the ResNet cells.
    random_state : int
        Seed of every network.
    exclude_reference_clips : bool
        Leave each actor's neutral reference recordings (repetition 1 of the neutral clip
        of each statement, which calibrate the key-point distances) out of the test folds
        of every cell, with :class:`ExcludeFromTest`; they are still trained on. False
        (the default) tests them like the paper does.
    n_jobs : int or None
        Parallel feature extraction and folds.
    verbose : int
        ``0`` is silent; ``1`` shows progress bars of the extraction and of each cell's
        folds; ``2`` also prints each fold's accuracy.
    """

    max_epochs: int | None = None
    small_net: bool = False
    openface_dir: str | None = None
    wav2vec2: str | None = None
    resnet: str | None = None
    random_state: int = 0
    exclude_reference_clips: bool = False
    n_jobs: int | None = None
    verbose: int = 0

    def provenance(self, corpus: pd.DataFrame) -> dict[str, Any]:
        """Everything a cell's result depends on: code, settings and the data's content.

        The data are identified by the size and SHA-256 of every clip of ``corpus`` (each
        column whose name ends in ``path``), of the OpenFace CSVs under ``openface_dir``
        and of local pretrained model folders: the same file names with other contents
        (RAVDESS after the embedded corpus, which uses its names) are other data. Folders
        do not count, only file names, sizes and contents, so a moved corpus is the same.

        Parameters
        ----------
        corpus : DataFrame
            As for :func:`reproduce_table2`.

        Returns
        -------
        provenance : dict
            JSON-serialisable: ``skemotion_version``, ``results_format``, ``settings``
            (all fields but ``n_jobs`` and ``verbose``) and ``data`` (one digest per
            input: ``{"n_files", "bytes", "sha256"}``).

        Raises
        ------
        FileNotFoundError
            A clip of ``corpus`` does not exist (the message names it).
        """
        settings = {k: v for k, v in self.__dict__.items() if k not in ("n_jobs", "verbose")}
        # A removed field, never set: kept in the hash so that stored cells stay reusable.
        settings["extra"] = {}
        columns = sorted(c for c in corpus.columns if str(c).endswith("path"))
        clips = [p for c in columns for p in corpus[c] if isinstance(p, str | os.PathLike)]
        data = {"clips": _files_digest(clips)}
        if self.openface_dir is not None:
            data["openface"] = _folder_digest(Path(self.openface_dir), "*.csv")
        for kind in ("wav2vec2", "resnet"):
            model = getattr(self, kind)
            # A hub id is identified by its name; a local folder by its files.
            if model is not None and Path(model).is_dir():
                data[kind] = _folder_digest(Path(model), "*")
        return json.loads(
            json.dumps(
                {
                    "skemotion_version": __version__,
                    "results_format": _RESULTS_FORMAT,
                    "settings": settings,
                    "data": data,
                },
                default=str,
            )
        )

    def fingerprint(self, corpus: pd.DataFrame) -> str:
        """Short hash of :meth:`provenance`: a stored cell is reused only when it matches.

        Parameters
        ----------
        corpus : DataFrame
            As for :func:`reproduce_table2`.

        Returns
        -------
        fingerprint : str
            16 hexadecimal digits.
        """
        return _hash(self.provenance(corpus))

    def extractor(self, feature: str) -> tuple[Any, Any]:
        """The transformer a table run extracts ``feature`` with, and the column(s) it reads.

        Parameters
        ----------
        feature : str
            A feature of the tables: ``"lms"``, ``"wav2vec2"``, ``"kpd"``, ``"eyes_kpd"``,
            ``"au"``, ``"head_pose"``, ``"face_resnet"``, ``"eyes_resnet"`` or
            ``"mouth_resnet"``.

        Returns
        -------
        transformer : transformer
            Stateless: ``transform`` needs no ``fit``.
        column : str or list of str
            The column(s) of the corpus (:func:`reproduce_table2`) it reads.
        """
        return _extractor(feature, self)

    def model(self, features: Sequence[str], task: str = "multiclass") -> Pipeline:
        """The unfitted model a table cell of ``features`` trains on their features.

        Parameters
        ----------
        features : sequence of str
            One feature (a TIM-Net classifier) or several (a ``FusionClassifier`` over a
            ``ModalityUnion`` keyed by feature name), as for :meth:`extractor`.
        task : {"multiclass", "binary"}, default="multiclass"
            Table 2's eight emotions, or Table 1's one emotion against the rest.

        Returns
        -------
        model : Pipeline
            With the paper's hyperparameters for these features and this task, and these
            settings' epochs, network size and seed.
        """
        return _model(features, task, self)


def _hash(provenance: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(provenance, sort_keys=True).encode()).hexdigest()[:16]


def _files_digest(paths: Iterable[str | os.PathLike[str]], root: Path | None = None) -> dict:
    """Size and SHA-256 of each file, folded into one digest over names, sizes and digests.

    Names are the base names, or the paths relative to ``root`` when given.
    """
    entries = []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file, cannot fingerprint the data")
        name = Path(path).relative_to(root).as_posix() if root else Path(path).name
        entries.append((name, os.path.getsize(path), file_digest(path)))
    entries.sort()
    return {
        "n_files": len(entries),
        "bytes": sum(size for _, size, _ in entries),
        "sha256": hashlib.sha256(json.dumps(entries).encode()).hexdigest(),
    }


def _folder_digest(folder: Path, pattern: str) -> dict:
    files = sorted(p for p in folder.rglob(pattern) if p.is_file())
    return _files_digest(files, root=folder)


def _differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between the provenance of a stored cell and of this run, in words."""
    if "data" not in stored:
        return ["written by an older skemotion, whose cells do not record the data's content"]
    found = []
    if stored.get("skemotion_version") != current["skemotion_version"]:
        found.append(
            f"skemotion version {stored.get('skemotion_version')} there, "
            f"{current['skemotion_version']} here"
        )
    if stored.get("results_format") != current["results_format"]:
        found.append(
            f"results format {stored.get('results_format')} there, {current['results_format']} here"
        )
    settings, ours = stored.get("settings", {}), current["settings"]
    changed = [
        f"{key} {settings.get(key)!r} there, {ours.get(key)!r} here"
        for key in sorted(set(settings) | set(ours))
        if settings.get(key) != ours.get(key)
    ]
    if changed:
        found.append("settings: " + ", ".join(changed))
    data, ours = stored.get("data", {}), current["data"]
    for key in sorted(set(data) | set(ours)):
        there, here = data.get(key), ours.get(key)
        if there != here:
            label = _DATA_LABELS.get(key, key)
            found.append(f"different {label} ({_describe(there)} there, {_describe(here)} here)")
    return found


_DATA_LABELS = {
    "clips": "clips",
    "openface": "OpenFace CSVs",
    "wav2vec2": "Wav2Vec2 model files",
    "resnet": "ResNet model files",
}


def _describe(digest: Mapping[str, Any] | None) -> str:
    if not digest:
        return "none"
    return f"{digest['n_files']} files, {digest['bytes']} bytes, content {digest['sha256'][:12]}"


@dataclass(frozen=True)
class _Inputs:
    """What a corpus table offers the features, and the landmark backend that reads it."""

    audio: bool
    video: bool
    tracking: bool  # the face side is OpenFace tracking CSVs, not video frames
    backend: str

    @classmethod
    def of(cls, corpus: pd.DataFrame, settings: ReproduceSettings) -> _Inputs:
        from ..face import landmark_backend_for

        def complete(column: str) -> bool:
            return bool(column in corpus and corpus[column].notna().all())

        video = complete("video_path")
        tracking = video and landmark_backend_for(corpus["video_path"]) == "openface"
        return cls(
            audio=complete("audio_path"),
            video=video,
            tracking=tracking,
            backend="openface" if tracking else _settings_backend(settings),
        )


def _settings_backend(settings: ReproduceSettings) -> str:
    """The landmark backend of video clips: OpenFace's CSVs when given a folder of them."""
    return "dlib" if settings.openface_dir is None else "openface"


def _unavailable(feature: str, settings: ReproduceSettings, inputs: _Inputs) -> str | None:
    """Why ``feature`` cannot be computed here, or None when it can."""
    if feature in _SPEECH and not inputs.audio:
        return "no audio files in the corpus"
    if feature in _VISUAL and not inputs.video:
        return "no video files nor OpenFace tracking CSVs in the corpus"
    if feature == "au" and inputs.backend != "openface":
        return (
            "action units need OpenFace CSVs (--openface DIR, or tracking CSVs in the corpus); "
            "dlib gives no AUs"
        )
    if feature.endswith("resnet"):
        if inputs.tracking:
            return "image features need video frames; the corpus has OpenFace tracking CSVs"
        if settings.resnet is None:
            return "no pretrained ResNet (--resnet MODEL, a hub id or local folder)"
        return _load_error(settings.resnet, "resnet")
    if feature == "wav2vec2":
        if settings.wav2vec2 is None:
            return "no pretrained Wav2Vec2 (--wav2vec2 MODEL, a hub id or local folder)"
        return _load_error(settings.wav2vec2, "wav2vec2")
    return None


def _load_error(model: str, kind: str) -> str | None:
    from ..embed import load_backbone

    try:
        load_backbone(model, kind=kind)
    except Exception as exc:  # offline hub, bad folder: the reason is the message
        return f"{kind} model {model!r} could not be loaded: {str(exc).splitlines()[0]}"
    return None


def _extractor(
    feature: str, settings: ReproduceSettings, backend: str | None = None
) -> tuple[Any, Any]:
    """The stateless transformer of ``feature`` and the table column(s) it reads.

    ``backend`` is the landmark backend the corpus needs (:class:`_Inputs`); None takes
    it from ``settings`` alone (dlib unless there is an OpenFace folder).
    """
    from ..face import FaceLandmarks

    landmarks = FaceLandmarks(
        _settings_backend(settings) if backend is None else backend,
        openface_dir=settings.openface_dir,
        n_jobs=settings.n_jobs,
        verbose=settings.verbose,
    )
    return make_extractor(
        feature,
        landmarks=landmarks,
        n_jobs=settings.n_jobs,
        verbose=settings.verbose,
        wav2vec2=settings.wav2vec2,
        resnet=settings.resnet,
    )


class _FeatureStore:
    """Each feature extracted once per run, for every cell that needs it."""

    def __init__(
        self,
        corpus: pd.DataFrame,
        settings: ReproduceSettings,
        log: Callable[[str], None],
        *,
        backend: str,
    ) -> None:
        self.corpus = corpus
        self.settings = settings
        self.log = log
        self.backend = backend
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, feature: str) -> np.ndarray:
        if feature not in self._arrays:
            self.log(f"extracting {feature} for {len(self.corpus)} clips ...")
            transformer, column = _extractor(feature, self.settings, self.backend)
            selected = self.corpus[column]
            self._arrays[feature] = np.asarray(transformer.transform(selected), dtype=np.float32)
        return self._arrays[feature]


# -- models -------------------------------------------------------------------------------


def _classifier_params(features: Sequence[str], task: str, settings: ReproduceSettings) -> dict:
    params = network_settings(features, task=task)
    n_scales, filters = params.pop("n_scales"), params.pop("filters")
    if settings.small_net:
        filters, n_scales = 16, 3
    if settings.max_epochs is not None:
        params["max_epochs"] = settings.max_epochs
    params.update(
        module__n_scales=n_scales,
        module__filters=filters,
        random_state=settings.random_state,
    )
    return params


def _model(features: Sequence[str], task: str, settings: ReproduceSettings) -> Pipeline:
    from ..compose import ModalityUnion
    from ..nets import FusionClassifier, TIMNetBinaryClassifier, TIMNetClassifier
    from ..preprocessing import TemporalStandardScaler

    params = _classifier_params(features, task, settings)
    if len(features) == 1:
        cls = TIMNetClassifier if task == "multiclass" else TIMNetBinaryClassifier
        return Pipeline([("scaler", TemporalStandardScaler()), ("timnet", cls(**params))])
    scalers = ModalityUnion([(name, TemporalStandardScaler(), name) for name in features])
    return Pipeline([("scaler", scalers), ("fusion", FusionClassifier(**params))])
