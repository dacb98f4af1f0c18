"""The paper's Table 1 (binary, per emotion) and Table 2 (multimodal) as resumable runs."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline

from .._version import __version__
from ..datasets import EMOTIONS
from ..exceptions import StaleResultsError
from ..model_selection import (
    PAPER_ACTOR_FOLDS,
    ActorCVReport,
    ExcludeFromTest,
    RavdessActorFolds,
    evaluate_actor_cv,
)
from ..utils._io import atomic_write, file_digest
from ._features import FEATURES, TABLE1_FEATURES
from ._tables import PAPER_TABLE1, PAPER_TABLE2, TABLE2_COLUMNS, TABLE2_ROWS, network_settings

__all__ = [
    "ReproduceSettings",
    "reproduce_table1",
    "reproduce_table2",
]

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
    from ..audio import LogMelSpectrogram
    from ..face import (
        ActionUnits,
        EyeKeyPointDistances,
        FaceLandmarks,
        FaceRegions,
        HeadPose,
        KeyPointDistances,
    )

    landmarks = FaceLandmarks(
        _settings_backend(settings) if backend is None else backend,
        openface_dir=settings.openface_dir,
        n_jobs=settings.n_jobs,
        verbose=settings.verbose,
    )
    video = ["video_path", "actor"]
    if feature == "lms":
        return LogMelSpectrogram(n_jobs=settings.n_jobs, verbose=settings.verbose), "audio_path"
    if feature == "wav2vec2":
        from ..embed import Wav2Vec2Embedder

        embedder = Wav2Vec2Embedder(
            settings.wav2vec2, path_column="audio_path", verbose=settings.verbose
        )
        return embedder, ["audio_path"]
    if feature == "kpd":
        return KeyPointDistances(landmarks, path_column="video_path"), video
    if feature == "eyes_kpd":
        return EyeKeyPointDistances(landmarks, path_column="video_path"), video
    if feature == "au":
        return ActionUnits(landmarks, path_column="video_path"), video
    if feature == "head_pose":
        return HeadPose(landmarks, path_column="video_path"), video
    if feature.endswith("_resnet"):
        from ..embed import ResNetEmbedder

        region = feature.removesuffix("_resnet")
        regions = FaceRegions(region, landmarks=landmarks, path_column="video_path")
        embedder = ResNetEmbedder(
            settings.resnet, regions=regions, path_column="video_path", verbose=settings.verbose
        )
        return embedder, video
    raise ValueError(f"unknown feature {feature!r}")


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


def _actor_cv(corpus: pd.DataFrame, settings: ReproduceSettings) -> Any:
    groups = corpus["actor"].to_numpy()
    actors = set(np.unique(groups).tolist())
    cv: Any
    if actors == set().union(*PAPER_ACTOR_FOLDS):
        cv = RavdessActorFolds()
    else:
        cv = GroupKFold(n_splits=min(5, len(actors)))
    if settings.exclude_reference_clips:
        from ..datasets import is_ravdess_neutral_reference

        cv = ExcludeFromTest(cv, is_ravdess_neutral_reference(corpus["audio_path"]))
    return cv


# -- the runs -----------------------------------------------------------------------------


@dataclass
class _Cell:
    row: str
    column: str
    features: tuple[str, ...]
    task: str
    emotion: str | None = None

    @property
    def slug(self) -> str:
        parts = [self.row, self.column] + ([self.emotion] if self.emotion else [])
        return "__".join(p.lower().replace(" + ", "+").replace(" ", "_") for p in parts)


def _run_cells(
    cells: Sequence[_Cell],
    *,
    corpus: pd.DataFrame,
    settings: ReproduceSettings,
    output: Path,
    score: Callable[[ActorCVReport, _Cell], tuple[float, float]],
    log: Callable[[str], None],
    overwrite: bool,
) -> pd.DataFrame:
    inputs = _Inputs.of(corpus, settings)
    log(f"fingerprinting the data ({len(corpus)} recordings) ...")
    provenance = settings.provenance(corpus)
    fingerprint = _hash(provenance)
    stored_records = _stored_records(cells, output, provenance, fingerprint, overwrite)
    store = _FeatureStore(corpus, settings, log, backend=inputs.backend)
    groups = corpus["actor"].to_numpy()
    cv = _actor_cv(corpus, settings)
    rows = []
    for cell in cells:
        cell_dir = output / "cells" / cell.slug
        record_path = cell_dir / "cell.json"
        record: dict[str, Any] | None = stored_records.get(cell.slug)
        if record is not None:
            log(f"{cell.row} x {cell.column}{_emo(cell)}: done earlier, reused")
        else:
            reasons = [_unavailable(f, settings, inputs) for f in cell.features]
            reason = next((r for r in reasons if r), None)
            if not cell.features:
                reason = "no feature"
            if reason is not None:
                record = {"status": "skipped", "reason": reason}
                log(f"{cell.row} x {cell.column}{_emo(cell)}: skipped ({reason})")
            else:
                log(f"{cell.row} x {cell.column}{_emo(cell)}: fitting ...")
                record = _fit_cell(cell, store, corpus, groups, cv, settings, score, cell_dir, log)
                record["fingerprint"] = fingerprint
                record["provenance"] = provenance
                # A killed run never leaves a half-written record.
                with atomic_write(record_path) as stream:
                    stream.write(json.dumps(record, indent=2).encode())
        rows.append(
            {
                "row": cell.row,
                "column": cell.column,
                "emotion": cell.emotion,
                "features": "+".join(cell.features),
                "status": record["status"],
                "mean": record.get("mean"),
                "std": record.get("std"),
                "reason": record.get("reason", ""),
            }
        )
    return pd.DataFrame(rows)


def _stored_records(
    cells: Sequence[_Cell],
    output: Path,
    provenance: dict[str, Any],
    fingerprint: str,
    overwrite: bool,
) -> dict[str, dict[str, Any]]:
    """The finished cells that an earlier, identical run left in ``output``, by slug.

    Checked before anything is computed: a finished cell of another run (other data,
    settings or code) raises :class:`~skemotion.exceptions.StaleResultsError`, or with
    ``overwrite`` is left to be recomputed.
    """
    reusable: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    differences: list[str] = []
    for cell in cells:
        record_path = output / "cells" / cell.slug / "cell.json"
        if not record_path.exists():
            continue
        stored = json.loads(record_path.read_text())
        if stored.get("status") != "done":
            continue
        if stored.get("fingerprint") == fingerprint:
            reusable[cell.slug] = stored
            continue
        stale.append(f"{cell.row} x {cell.column}{_emo(cell)}")
        for difference in _differences(stored.get("provenance", {}), provenance):
            if difference not in differences:
                differences.append(difference)
    if stale and not overwrite:
        raise StaleResultsError(str(output), stale, differences or ["unknown"])
    return reusable


def _emo(cell: _Cell) -> str:
    return f" [{cell.emotion}]" if cell.emotion else ""


def _fit_cell(
    cell: _Cell,
    store: _FeatureStore,
    corpus: pd.DataFrame,
    groups: np.ndarray,
    cv: Any,
    settings: ReproduceSettings,
    score: Callable[[ActorCVReport, _Cell], tuple[float, float]],
    cell_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    if len(cell.features) == 1:
        X: Any = store[cell.features[0]]
    else:
        X = {feature: store[feature] for feature in cell.features}
    y = corpus["emotion"].to_numpy()
    if cell.emotion is not None:
        y = np.where(y == cell.emotion, cell.emotion, "rest")
    model = _model(cell.features, cell.task, settings)
    report = evaluate_actor_cv(
        model, X, y, groups, cv=cv, n_jobs=settings.n_jobs, verbose=settings.verbose
    )
    report.metadata.update({"row": cell.row, "column": cell.column, "emotion": cell.emotion})
    report.save(cell_dir, title=f"{cell.row} x {cell.column}{_emo(cell)}")
    mean, std = score(report, cell)
    log(f"{cell.row} x {cell.column}{_emo(cell)}: {mean:.4g} ± {std:.2g}")
    return {"status": "done", "mean": mean, "std": std, "fit_time": float(sum(report.fit_time))}


def _accuracy_percent(report: ActorCVReport, cell: _Cell) -> tuple[float, float]:
    return 100 * report.mean_accuracy, 100 * float(np.std(report.fold_accuracy))


def _binary_macro_f1(report: ActorCVReport, cell: _Cell) -> tuple[float, float]:
    # Per fold, then averaged: the paper reports the mean over the five evaluation folds.
    scores = [
        f1_score(
            report.y_true[report.test_fold == k],
            report.y_pred[report.test_fold == k],
            average="macro",
        )
        for k in range(report.n_folds)
    ]
    return float(np.mean(scores)), float(np.std(scores))


# -- tables: markdown, CSV, JSON, heatmap -------------------------------------------------


def _fmt(value: Any, paper: float | None, digits: int) -> str:
    ours = (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )
    return ours if paper is None else f"{ours} ({paper:.{digits}f})"


def _heatmap(
    values: np.ndarray,
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    path: Path,
    fmt: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(columns) + 3, 0.5 * len(rows) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels=list(rows))
    for i in range(len(rows)):
        for j in range(len(columns)):
            text = "n/a" if np.isnan(values[i, j]) else format(values[i, j], fmt)
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                # Masked cells are left blank (white): their label must be dark to be seen.
                color="0.45" if np.isnan(values[i, j]) else "k",
                fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.6, "lw": 0},
            )
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_outputs(table: pd.DataFrame, markdown: str, output: Path, name: str) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": output / f"{name}.csv",
        "json": output / f"{name}.json",
        "markdown": output / f"{name}.md",
        "heatmap": output / f"{name}.png",
    }
    table.to_csv(paths["csv"], index=False)
    paths["json"].write_text(table.to_json(orient="records", indent=2))
    paths["markdown"].write_text(markdown)
    return paths


def reproduce_table2(
    corpus: pd.DataFrame,
    output: str | Path,
    *,
    settings: ReproduceSettings | None = None,
    rows: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
) -> tuple[pd.DataFrame, str]:
    """Run the paper's Table 2 grid (8-class accuracy, visual rows x speech columns).

    Every cell is a 5-fold actor cross-validation: one TIM-Net for single-modality cells
    (Table 3's settings for that feature), a :class:`~skemotion.nets.FusionClassifier`
    for the others (the "multimodal" settings). Cells whose inputs are unavailable (no
    video, no OpenFace CSVs for AUs, no audio, no pretrained weights) are skipped with the
    reason.
    A finished cell's record is written atomically under ``output/cells/``; an interrupted
    run started again with the same corpus and settings reuses it.

    A cell is reused only when its fingerprint (:meth:`ReproduceSettings.provenance`)
    matches: the same skemotion version, settings and data, the data identified by the
    content of every file, not by its name. When ``output`` holds finished cells of
    another run (the embedded corpus, which uses RAVDESS's file names, then RAVDESS; an
    upgraded skemotion; other epochs), nothing is computed: a
    :class:`~skemotion.exceptions.StaleResultsError` names the folder and what differs,
    unless ``overwrite`` asks to recompute those cells there.

    By default each actor's neutral reference recordings, which calibrate the key-point
    distances, are tested like every other clip, as in the paper (see
    ``ReproduceSettings.exclude_reference_clips``).

    Parameters
    ----------
    corpus : DataFrame
        One row per recording, columns ``audio_path``, ``video_path`` (a video, or an
        OpenFace tracking CSV, which replaces the dlib landmarks by OpenFace's and enables
        the action units), ``emotion`` and ``actor``, as from
        :func:`skemotion.datasets.load_ravdess_audiovisual`. ``video_path`` may be absent
        (a speech-only corpus: the visual cells are skipped), or ``audio_path`` (faces
        only: the speech cells are skipped).
    output : str or Path
        Folder for the cells and for ``table2.{md,csv,json,png}``.
    settings : ReproduceSettings or None
    rows, columns : iterables of str or None
        Subsets of :data:`TABLE2_ROWS` and :data:`TABLE2_COLUMNS` (default: all).
    log : callable
        Receives one line per cell.
    overwrite : bool, default=False
        Recompute the cells that ``output`` holds from another run instead of raising.

    Returns
    -------
    table : DataFrame
        One row per cell: row, column, features, status, mean and std accuracy (%), reason.
    markdown : str
        The grid with the paper's figure in brackets.
    """
    settings = settings or ReproduceSettings()
    output = Path(output)
    row_names = _check_subset(rows, TABLE2_ROWS, "row")
    column_names = _check_subset(columns, TABLE2_COLUMNS, "column")
    cells = []
    for row in row_names:
        for column in column_names:
            speech = TABLE2_COLUMNS[column]
            features = TABLE2_ROWS[row] + ((speech,) if speech else ())
            if features:
                cells.append(_Cell(row, column, features, "multiclass"))
    table = _run_cells(
        cells,
        corpus=corpus,
        settings=settings,
        output=output,
        score=_accuracy_percent,
        log=log,
        overwrite=overwrite,
    )
    lookup = {(r.row, r.column): r for r in table.itertuples()}
    lines = [
        "| visual \\ speech | " + " | ".join(column_names) + " |",
        "| --- |" + " ---: |" * len(column_names),
    ]
    values = np.full((len(row_names), len(column_names)), np.nan)
    for i, row in enumerate(row_names):
        cells_text = []
        for j, column in enumerate(column_names):
            record = lookup.get((row, column))
            mean = None if record is None or record.status != "done" else record.mean
            if mean is not None:
                values[i, j] = mean
            cells_text.append(_fmt(mean, PAPER_TABLE2.get((row, column)), 2) if record else "")
        lines.append(f"| {row} | " + " | ".join(cells_text) + " |")
    skipped = table[table["status"] == "skipped"]
    notes = [f"- {r.row} x {r.column}: skipped, {r.reason}" for r in skipped.itertuples()]
    late = _late_fusion(table, row_names, column_names, output)
    markdown = (
        "8-class accuracy (%), mean over the actor folds; the paper's figure in brackets.\n\n"
        + "\n".join(lines)
        + ("\n\n" + "\n".join(notes) if notes else "")
        + ("\n\n" + _late_fusion_markdown(late) if len(late) else "")
        + "\n"
    )
    paths = _write_outputs(table, markdown, output, "table2")
    if len(late):
        late.to_csv(output / "table2_late_fusion.csv", index=False)
    _heatmap(
        values,
        rows=row_names,
        columns=column_names,
        path=paths["heatmap"],
        fmt=".1f",
        title="Table 2 analogue: 8-class accuracy (%)",
    )
    return table, markdown


def _late_fusion(
    table: pd.DataFrame,
    row_names: Sequence[str],
    column_names: Sequence[str],
    output: Path,
) -> pd.DataFrame:
    """Late fusion of each grid cell's two single-modality cells, on the same folds.

    For every visual row and speech column whose "visual alone" and "speech alone" cells are
    done, their saved out-of-fold posteriors are fused by the product rule (nothing is
    trained, no test fold is used for anything but scoring) and set beside the cell's
    early-fusion network. Each fused report is saved under ``cells/<row>__<column>__late``.
    """
    from ..model_selection import fuse_reports

    done: dict[tuple[str, str], float] = {
        (str(record["row"]), str(record["column"])): float(record["mean"])
        for record in table.to_dict("records")
        if record["status"] == "done"
    }
    records = []
    for row in row_names:
        for column in column_names:
            visual, speech = done.get((row, "None")), done.get(("None", column))
            if "None" in (row, column) or visual is None or speech is None:
                continue
            reports = {
                name: ActorCVReport.from_json(
                    output / "cells" / _Cell(r, c, (), "multiclass").slug / "report.json"
                )
                for name, (r, c) in (("visual", (row, "None")), ("speech", ("None", column)))
            }
            fused = fuse_reports(reports, rule="product")
            cell_dir = output / "cells" / f"{_Cell(row, column, (), 'multiclass').slug}__late"
            fused.save(cell_dir, title=f"{row} x {column}: late fusion (product rule)")
            records.append(
                {
                    "row": row,
                    "column": column,
                    "visual_alone": visual,
                    "speech_alone": speech,
                    "early_fusion": done.get((row, column)),
                    "late_fusion": 100 * fused.mean_accuracy,
                    "late_fusion_std": 100 * fused.std_accuracy,
                    "late_fusion_folds": [100 * a for a in fused.fold_accuracy],
                }
            )
    return pd.DataFrame(records)


def _late_fusion_markdown(late: pd.DataFrame) -> str:
    lines = [
        "Early vs late fusion on the same folds (8-class accuracy, %): the early-fusion "
        "network of the grid beside the product rule of the two single-modality cells' "
        "out-of-fold posteriors (late fusion, nothing trained).",
        "",
        "| visual | speech | visual alone | speech alone | early fusion | late fusion |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in late.to_dict("records"):
        lines.append(
            f"| {r['row']} | {r['column']} | {r['visual_alone']:.2f} | {r['speech_alone']:.2f} "
            f"| {_fmt(r['early_fusion'], None, 2)} "
            f"| {r['late_fusion']:.2f} ± {r['late_fusion_std']:.2f} |"
        )
    return "\n".join(lines)


def reproduce_table1(
    corpus: pd.DataFrame,
    output: str | Path,
    *,
    settings: ReproduceSettings | None = None,
    features: Iterable[str] | None = None,
    emotions: Iterable[str] | None = None,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
) -> tuple[pd.DataFrame, str]:
    """Run the paper's Table 1: a binary (emotion vs rest) TIM-Net per feature and emotion.

    Each cell trains :class:`~skemotion.nets.TIMNetBinaryClassifier` (weighted binary
    cross-entropy, Table 3's binary settings) with 5-fold actor cross-validation and
    reports the macro-F1 averaged over the folds. Skipping, resuming and refusing another
    run's output folder as in :func:`reproduce_table2`.

    Parameters
    ----------
    corpus : DataFrame
        As for :func:`reproduce_table2`.
    output : str or Path
        Folder for the cells and ``table1.{md,csv,json,png}``.
    settings : ReproduceSettings or None
    features : iterable of str or None
        Subset of :data:`TABLE1_FEATURES` (default: all).
    emotions : iterable of str or None
        Subset of the eight emotions (default: all).
    log : callable
    overwrite : bool, default=False
        As for :func:`reproduce_table2`.

    Returns
    -------
    table : DataFrame
        One row per cell: row (feature), emotion, status, mean and std macro-F1, reason.
    markdown : str
    """
    settings = settings or ReproduceSettings()
    output = Path(output)
    feature_names = _check_subset(features, TABLE1_FEATURES, "feature")
    emotion_names = _check_subset(emotions, dict.fromkeys(EMOTIONS), "emotion")
    cells = [
        _Cell(name, "binary", (TABLE1_FEATURES[name],), "binary", emotion)
        for name in feature_names
        for emotion in emotion_names
    ]
    table = _run_cells(
        cells,
        corpus=corpus,
        settings=settings,
        output=output,
        score=_binary_macro_f1,
        log=log,
        overwrite=overwrite,
    )
    lookup = {(r.row, r.emotion): r for r in table.itertuples()}
    lines = [
        "| feature | " + " | ".join(emotion_names) + " |",
        "| --- |" + " ---: |" * len(emotion_names),
    ]
    values = np.full((len(feature_names), len(emotion_names)), np.nan)
    for i, name in enumerate(feature_names):
        texts = []
        for j, emotion in enumerate(emotion_names):
            record = lookup[(name, emotion)]
            mean = record.mean if record.status == "done" else None
            if mean is not None:
                values[i, j] = mean
            texts.append(_fmt(mean, PAPER_TABLE1[name][emotion], 2))
        lines.append(f"| {name} | " + " | ".join(texts) + " |")
    reasons = sorted({(r.row, r.reason) for r in table.itertuples() if r.status == "skipped"})
    notes = [f"- {row}: skipped, {reason}" for row, reason in reasons]
    markdown = (
        "Binary (emotion vs rest) macro-F1, mean over the actor folds; the paper's figure in "
        "brackets.\n\n" + "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"
    )
    paths = _write_outputs(table, markdown, output, "table1")
    _heatmap(
        values,
        rows=feature_names,
        columns=emotion_names,
        path=paths["heatmap"],
        fmt=".2f",
        title="Table 1 analogue: binary macro-F1",
    )
    return table, markdown


def _check_subset(chosen: Iterable[str] | None, known: Mapping[str, Any], what: str) -> list[str]:
    if chosen is None:
        return list(known)
    names = list(chosen)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown Table {what}(s) {unknown}; choose from {list(known)}")
    return names
