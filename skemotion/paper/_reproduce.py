"""The paper's Table 1 (binary, per emotion) and Table 2 (multimodal) as resumable runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from ..datasets import EMOTIONS
from ..exceptions import StaleResultsError
from ..model_selection import (
    PAPER_ACTOR_FOLDS,
    ActorCVReport,
    ExcludeFromTest,
    RavdessActorFolds,
    evaluate_actor_cv,
)
from ..utils._io import atomic_write
from ._features import TABLE1_FEATURES
from ._render import _fmt, _heatmap, _late_fusion_markdown, _write_outputs
from ._settings import (
    ReproduceSettings,
    _differences,
    _FeatureStore,
    _hash,
    _Inputs,
    _model,
    _unavailable,
)
from ._tables import PAPER_TABLE1, PAPER_TABLE2, TABLE2_COLUMNS, TABLE2_ROWS

__all__ = [
    "ReproduceSettings",
    "reproduce_table1",
    "reproduce_table2",
]


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
    kind: _Table,
    *,
    corpus: pd.DataFrame,
    settings: ReproduceSettings,
    output: Path,
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
                record = _fit_cell(
                    cell, store, corpus, groups, cv, settings, kind.score, cell_dir, log
                )
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


@dataclass(frozen=True)
class _Table:
    """What a table's run does its own way: scoring a cell, laying out and naming the grid."""

    name: str  # stem of the output files
    score: Callable[[ActorCVReport, _Cell], tuple[float, float]]  # a cell's mean and std
    keys: tuple[str, str]  # the cell table's columns that place a cell: grid row, column
    corner: str  # header of the grid's row names
    paper: Callable[[str, str], float | None]  # the paper's figure of a grid cell
    fmt: str  # number format of the heatmap
    title: str  # title of the heatmap


_TABLE1 = _Table(
    name="table1",
    score=_binary_macro_f1,
    keys=("row", "emotion"),
    corner="feature",
    paper=lambda name, emotion: PAPER_TABLE1[name][emotion],
    fmt=".2f",
    title="Table 1 analogue: binary macro-F1",
)
_TABLE2 = _Table(
    name="table2",
    score=_accuracy_percent,
    keys=("row", "column"),
    corner="visual \\ speech",
    paper=lambda row, column: PAPER_TABLE2.get((row, column)),
    fmt=".1f",
    title="Table 2 analogue: 8-class accuracy (%)",
)

# -- tables: markdown, CSV, JSON, heatmap -------------------------------------------------


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
        _TABLE2,
        corpus=corpus,
        settings=settings,
        output=output,
        log=log,
        overwrite=overwrite,
    )
    lines, values = _grid(table, _TABLE2, row_names, column_names)
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
    _write_table(table, _TABLE2, markdown, values, output, row_names, column_names)
    if len(late):
        late.to_csv(output / "table2_late_fusion.csv", index=False)
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
        _TABLE1,
        corpus=corpus,
        settings=settings,
        output=output,
        log=log,
        overwrite=overwrite,
    )
    lines, values = _grid(table, _TABLE1, feature_names, emotion_names)
    reasons = sorted({(r.row, r.reason) for r in table.itertuples() if r.status == "skipped"})
    notes = [f"- {row}: skipped, {reason}" for row, reason in reasons]
    markdown = (
        "Binary (emotion vs rest) macro-F1, mean over the actor folds; the paper's figure in "
        "brackets.\n\n" + "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"
    )
    _write_table(table, _TABLE1, markdown, values, output, feature_names, emotion_names)
    return table, markdown


def _check_subset(chosen: Iterable[str] | None, known: Mapping[str, Any], what: str) -> list[str]:
    if chosen is None:
        return list(known)
    names = list(chosen)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown Table {what}(s) {unknown}; choose from {list(known)}")
    return names


def _grid(
    table: pd.DataFrame, kind: _Table, row_names: Sequence[str], column_names: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The markdown grid of a table's cells beside the paper's figures, and its means.

    A cell that did not run is blank; one that was skipped shows a dash, and its mean is NaN.
    """
    first, second = kind.keys
    lookup = {(getattr(r, first), getattr(r, second)): r for r in table.itertuples()}
    lines = [
        f"| {kind.corner} | " + " | ".join(column_names) + " |",
        "| --- |" + " ---: |" * len(column_names),
    ]
    values = np.full((len(row_names), len(column_names)), np.nan)
    for i, row in enumerate(row_names):
        texts = []
        for j, column in enumerate(column_names):
            record = lookup.get((row, column))
            mean = None if record is None or record.status != "done" else record.mean
            if mean is not None:
                values[i, j] = mean
            texts.append("" if record is None else _fmt(mean, kind.paper(row, column), 2))
        lines.append(f"| {row} | " + " | ".join(texts) + " |")
    return lines, values


def _write_table(
    table: pd.DataFrame,
    kind: _Table,
    markdown: str,
    values: np.ndarray,
    output: Path,
    row_names: Sequence[str],
    column_names: Sequence[str],
) -> None:
    """The table's CSV, JSON and markdown files and the heatmap of its means."""
    paths = _write_outputs(table, markdown, output, kind.name)
    _heatmap(
        values,
        rows=row_names,
        columns=column_names,
        path=paths["heatmap"],
        fmt=kind.fmt,
        title=kind.title,
    )
