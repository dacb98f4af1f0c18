"""Pairing each RAVDESS recording's audio file with its video file, one row per clip."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
from sklearn.utils import Bunch

from ._ravdess import _RECORDING_COLUMNS, EMOTIONS, load_ravdess

__all__ = ["AUDIOVISUAL_COLUMNS", "load_ravdess_audiovisual"]

# What identifies a recording across its files: every name field but the modality.
_OTHER_VIDEO = {"video-only": "audio-video", "audio-video": "video-only"}
_RECORDING_KEY = ("vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")

AUDIOVISUAL_COLUMNS: tuple[str, ...] = ("audio_path", "video_path", *_RECORDING_COLUMNS)
"""Columns of the ``frame`` returned by :func:`load_ravdess_audiovisual`, in order."""


def load_ravdess_audiovisual(
    root: str | os.PathLike[str],
    *,
    audio: Literal["audio-only", "audio-video"] = "audio-only",
    video: Literal["video-only", "audio-video"] = "video-only",
    include_song: bool = False,
    actors: Iterable[int] | None = None,
    on_unpaired: Literal["raise", "skip"] = "raise",
) -> Bunch:
    """Index RAVDESS recordings that have both an audio and a video file, one row each.

    RAVDESS distributes each performance up to three times: audio-only ``03-*.wav``,
    video-only ``02-*.mp4`` and audio-video ``01-*.mp4``. A multimodal model needs the
    audio and the video of the same performance side by side; this pairs them on every
    name field but the modality (channel, emotion, intensity, statement, repetition,
    actor). The table feeds :class:`~skemotion.compose.ModalityUnion`, whose speech
    transformer reads ``audio_path`` and face transformer ``video_path``.

    The video side may be an OpenFace tracking CSV (RAVDESS's "Facial Landmark Tracking"
    set, named like the videos: ``01-01-*.csv``) where the video is absent, as
    :func:`load_ravdess` indexes them: wav files and a folder of tracking CSVs pair into
    rows whose ``video_path`` is the CSV. A tracking CSV of the other video modality
    (``01-*`` for ``video="video-only"``, ``02-*`` for ``"audio-video"``) stands in for a
    missing video file, since both are the same filmed performance; video files of the
    other modality do not (``video`` says which file to decode). A CSV is never the
    audio side.

    Parameters
    ----------
    root : str or path-like
        Folder searched recursively, as for :func:`load_ravdess`.
    audio : {"audio-only", "audio-video"}, default="audio-only"
        Where the sound comes from: the wav files, or the audio track of the ``01-*.mp4``
        files (the audio transformers decode both).
    video : {"video-only", "audio-video"}, default="video-only"
        Where the frames come from.
    include_song : bool, default=False
        Keep the song channel too.
    actors : iterable of int, default=None
        Keep only these actors.
    on_unpaired : {"raise", "skip"}, default="raise"
        A recording found with only one of the two files: ``"raise"`` a ``ValueError``
        naming the first such files, or ``"skip"`` them with one warning giving the count.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame``, one row per recording sorted by actor then name, columns
        :data:`AUDIOVISUAL_COLUMNS`; ``y``, the emotions (Series ``"emotion"``);
        ``groups``, the actors (Series ``"actor"``); ``target_names``; ``root``.

    Raises
    ------
    ValueError
        An unpaired recording with ``on_unpaired="raise"``, or no recording with both
        files. (``audio`` and ``video`` may both be ``"audio-video"``: one file gives both.)

    Examples
    --------
    >>> from skemotion.datasets import load_ravdess_audiovisual
    >>> data = load_ravdess_audiovisual("ravdess")  # doctest: +SKIP
    >>> data.frame[["audio_path", "video_path", "actor"]].head(1)  # doctest: +SKIP
    """
    if on_unpaired not in ("raise", "skip"):
        raise ValueError(f"on_unpaired must be 'raise' or 'skip', got {on_unpaired!r}")
    other_video = _OTHER_VIDEO[video]
    clips = load_ravdess(
        root, modalities={audio, video, other_video}, include_song=include_song, actors=actors
    ).frame
    tracking = clips["path"].str.lower().str.endswith(".csv")
    audio_rows = clips[(clips["modality"] == audio) & ~tracking]  # a face track has no sound
    video_rows = clips[clips["modality"] == video]
    key = list(_RECORDING_KEY)
    # 01-* and 02-* are the same performance filmed once (02 is 01 without its sound), so
    # a face tracked on either is this recording's face: RAVDESS's tracking set is named
    # after the 01-* videos, and stands in for the 02-* ones that are absent.
    stand_ins = clips[(clips["modality"] == other_video) & tracking].merge(
        video_rows[key], on=key, how="left", indicator=True
    )
    stand_ins = stand_ins[stand_ins["_merge"] == "left_only"].drop(columns="_merge")
    video_rows = pd.concat([video_rows, stand_ins], ignore_index=True)
    if audio_rows.empty and tracking.any():
        tracked = sorted(set(clips.loc[tracking, "modality"]))
        raise ValueError(
            f"No {audio} audio file under {root}: the {int(tracking.sum())} OpenFace tracking "
            "CSV(s) found there hold faces but no sound; for the faces alone use "
            f"load_ravdess(root, modalities={tracked[:1]})"
        )
    merged = audio_rows.merge(
        video_rows[[*key, "path"]],
        on=key,
        how="outer",
        suffixes=("_audio", "_video"),
        indicator=True,
        validate="one_to_one",
    )
    unpaired = merged[merged["_merge"] != "both"]
    if len(unpaired):
        # The side that exists names the recording.
        names = [
            Path(row.path_audio if isinstance(row.path_audio, str) else row.path_video).name
            for row in unpaired.itertuples()
        ]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        message = (
            f"{len(names)} recording(s) under {root} lack their {audio} audio or their "
            f"{video} video: {shown}"
        )
        if on_unpaired == "raise":
            raise ValueError(message + " (pass on_unpaired='skip' to leave them out)")
        warnings.warn(message + "; left out", UserWarning, stacklevel=2)
    paired = merged[merged["_merge"] == "both"]
    if paired.empty:
        raise ValueError(
            f"No recording under {root} has both a {audio} and a {video} file "
            f"({len(audio_rows)} {audio}, {len(video_rows)} {video} files found)."
        )
    frame = paired.rename(columns={"path_audio": "audio_path", "path_video": "video_path"})
    frame = frame.sort_values(["actor", "audio_path"]).reset_index(drop=True)
    frame = frame[list(AUDIOVISUAL_COLUMNS)]
    # The outer merge gave unpaired video rows NaN label fields (emotion_code became float);
    # the paired rows get the audio table's dtypes back.
    frame = frame.astype({c: audio_rows[c].dtype for c in frame.columns if c in audio_rows})
    y = frame["emotion"].rename("emotion")
    groups = frame["actor"].rename("actor")
    return Bunch(frame=frame, y=y, groups=groups, target_names=EMOTIONS, root=Path(root))
