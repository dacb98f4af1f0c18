"""Per-clip OpenFace action-unit means (a CSV of one row per RAVDESS recording)."""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._ravdess import EMOTIONS, FRAME_COLUMNS, parse_ravdess_name

__all__ = ["RECORDING_COLUMNS", "load_openface_au_means"]

RECORDING_COLUMNS: tuple[str, ...] = (
    "vocal_channel",
    "emotion_code",
    "intensity",
    "statement",
    "repetition",
    "actor",
)
"""Name fields that identify one RAVDESS performance whatever its modality: the
audio-only ``03-01-...`` clip and the ``01-01-...`` video of it share them."""

_AU_COLUMN = re.compile(r"^AU\d{2}_[rc]$")


def load_openface_au_means(
    path: str | os.PathLike[str],
    clips: pd.DataFrame | None = None,
    *,
    on_missing: Literal["raise", "skip"] = "raise",
) -> Bunch:
    """Read per-clip OpenFace action-unit means, alone or joined to other clips.

    The file has one row per recording: ``id`` (the clip name without extension, e.g.
    ``01-01-03-02-01-01-12``) and the 35 action-unit columns of
    :data:`skemotion.face.ACTION_UNIT_NAMES` (17 mean intensities ``AUxx_r``, 0-5; 18
    presence fractions ``AUxx_c``, 0-1), as computed by OpenFace over each video's frames;
    other columns (``actor``, ``emotion``) are ignored, the name is the authority.

    Parameters
    ----------
    path : str or path-like
        The CSV (``openface_au_clip_means.csv`` beside the RAVDESS data).
    clips : DataFrame or None, default=None
        A clip table (``load_ravdess(...).frame``, e.g. the audio-only speech clips). Each
        of its rows gets the action units of the same recording (same
        :data:`RECORDING_COLUMNS`: the face of the performance its audio comes from), so
        a speech model and an action-unit model see the same rows, folds and labels and
        their reports fuse with :func:`~skemotion.model_selection.fuse_reports`. None
        builds a table of the CSV's own recordings (audio-video clips).
    on_missing : {"raise", "skip"}, default="raise"
        A row of ``clips`` with no recording in the CSV: raise a ``ValueError`` naming the
        clips, or drop it with a warning.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame``: the clip table (``clips``' columns, or :data:`FRAME_COLUMNS` with
        ``path`` the CSV) plus the 35 action-unit columns; ``feature_names``, those
        columns; ``y``, the emotions; ``groups``, the actors.

    Raises
    ------
    ValueError
        A malformed file (no ``id``, a missing action unit, an id that is not a RAVDESS
        name, a recording twice), or unmatched clips with ``on_missing="raise"``.

    Examples
    --------
    >>> from skemotion.datasets import load_ravdess, load_openface_au_means
    >>> speech = load_ravdess("ravdess/speech")  # doctest: +SKIP
    >>> data = load_openface_au_means("ravdess/openface_au_clip_means.csv",
    ...                               clips=speech.frame)  # doctest: +SKIP
    >>> data.frame[["clip_id", "AU12_r"]].head(1)  # doctest: +SKIP
    """
    from ..face import ACTION_UNIT_NAMES

    source = Path(path)
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"on_missing must be 'raise' or 'skip', got {on_missing!r}.")
    try:
        table = pd.read_csv(source, dtype={"id": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: cannot read the action-unit means: {exc}") from exc
    table.columns = [str(column).strip() for column in table.columns]
    missing = [c for c in ("id", *ACTION_UNIT_NAMES) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{source}: not a per-clip action-unit table, missing column(s) {missing[:6]}"
        )
    names = []
    for clip_id in table["id"]:
        try:
            names.append(parse_ravdess_name(f"{clip_id}.csv"))
        except ValueError as exc:
            raise ValueError(f"{source}: row id {clip_id!r} is not a RAVDESS name") from exc
    recordings = pd.DataFrame([dataclasses.asdict(name) for name in names])
    units = table[list(ACTION_UNIT_NAMES)].astype(float).reset_index(drop=True)
    means = pd.concat([recordings[list(RECORDING_COLUMNS)], units], axis=1)
    twice = means.duplicated(list(RECORDING_COLUMNS), keep=False)
    if twice.any():
        raise ValueError(
            f"{source}: {int(twice.sum())} rows describe the same recording, e.g. "
            f"{table['id'][twice].iloc[0]}."
        )
    if clips is None:
        frame = recordings.assign(path=str(source))[list(FRAME_COLUMNS)]
        frame = pd.concat([frame, units], axis=1)
        frame = frame.sort_values(["actor", "clip_id"], ignore_index=True)
    else:
        frame = _join(clips, means, source, on_missing)
    return Bunch(
        frame=frame,
        feature_names=list(ACTION_UNIT_NAMES),
        y=frame["emotion"].rename("emotion"),
        groups=frame["actor"].rename("actor"),
        target_names=EMOTIONS,
    )


def _join(clips: pd.DataFrame, means: pd.DataFrame, source: Path, on_missing: str) -> pd.DataFrame:
    absent = [c for c in RECORDING_COLUMNS if c not in clips.columns]
    if absent:
        raise ValueError(
            f"clips has no {absent} column(s): pass a clip table from load_ravdess, whose "
            "name fields identify each recording."
        )
    clashing = [c for c in means.columns if c in clips.columns and c not in RECORDING_COLUMNS]
    if clashing:
        raise ValueError(f"clips already has action-unit column(s) {clashing[:5]}.")
    joined = clips.reset_index(drop=True).merge(
        means, on=list(RECORDING_COLUMNS), how="left", validate="many_to_one", indicator=True
    )
    unmatched = (joined.pop("_merge") == "left_only").to_numpy()
    if unmatched.any():
        shown = ", ".join(str(c) for c in joined.loc[unmatched, "clip_id"].head(3))
        message = f"{int(unmatched.sum())} clip(s) have no recording in {source}, e.g. {shown}"
        if on_missing == "raise":
            raise ValueError(message + " (on_missing='skip' drops them).")
        warnings.warn(message + "; they are left out.", UserWarning, stacklevel=3)
        joined = joined.loc[~unmatched].reset_index(drop=True)
    return joined.astype({c: np.float64 for c in means.columns if _AU_COLUMN.match(c)})
