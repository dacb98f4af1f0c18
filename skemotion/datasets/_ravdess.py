"""RAVDESS file names and the speech-corpus loader."""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, overload

import pandas as pd
from sklearn.utils import Bunch

from .._files import walk_files

__all__ = [
    "EMOTIONS",
    "INTENSITIES",
    "MODALITIES",
    "SONG_EMOTIONS",
    "STATEMENTS",
    "VOCAL_CHANNELS",
    "RavdessName",
    "load_ravdess",
    "parse_ravdess_name",
]

MODALITIES: tuple[str, ...] = ("audio-video", "video-only", "audio-only")
"""Modality names, in the order of their codes 01..03."""

VOCAL_CHANNELS: tuple[str, ...] = ("speech", "song")
"""Vocal channel names, in the order of their codes 01..02."""

INTENSITIES: tuple[str, ...] = ("normal", "strong")
"""Emotional intensity names, in the order of their codes 01..02."""

STATEMENTS: tuple[str, ...] = ("Kids are talking by the door", "Dogs are sitting by the door")
"""The two lexically matched statements, in the order of their codes 01..02."""

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
"""The eight RAVDESS emotions, in the order of their codes 01..08."""

SONG_EMOTIONS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful")
"""Emotions recorded in the song channel (RAVDESS has no sung disgust or surprise)."""

N_ACTORS = 24

# Which extensions hold which modality: the audio-only clips are distributed as wav
# (and re-encoded losslessly as flac by some mirrors), both video modalities as mp4.
_MODALITY_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "audio-only": (".wav", ".flac"),
    "audio-video": (".mp4",),
    "video-only": (".mp4",),
}
_MEDIA_EXTENSIONS = frozenset(ext for exts in _MODALITY_EXTENSIONS.values() for ext in exts)
# OpenFace names its CSV after the video it tracked (RAVDESS's own "Facial Landmark
# Tracking" set: 01-01-...csv, flat): such a CSV is that video's face when the video
# itself is absent.
_TRACKING_EXTENSION = ".csv"
_VIDEO_MODALITIES = ("audio-video", "video-only")
_ACTOR_DIR = re.compile(r"^actor_(\d+)$", re.IGNORECASE)
_FIELD = re.compile(r"^\d{2}$")

# What a clip's name says of the recording, as columns: every clip table ends with them.
_RECORDING_COLUMNS: tuple[str, ...] = (
    "vocal_channel",
    "emotion",
    "emotion_code",
    "intensity",
    "statement",
    "statement_text",
    "repetition",
    "actor",
    "gender",
)

FRAME_COLUMNS: tuple[str, ...] = ("path", "clip_id", "modality", *_RECORDING_COLUMNS)
"""Columns of the ``frame`` returned by :func:`load_ravdess`, in order."""


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {list(choices)}, got {value!r}")


def _check_code(field: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass; True as an actor number is always a bug.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field} must be an int in {low}..{high}, got {value!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RavdessName:
    """The seven decoded fields of a RAVDESS file name ``MM-VV-EE-II-SS-RR-AA``.

    Build one with :func:`parse_ravdess_name`, or directly from the seven primary
    fields; the derived fields (``clip_id``, ``emotion_code``, ``statement_text``,
    ``gender``) are computed and every combination RAVDESS does not contain is
    rejected.

    Parameters
    ----------
    modality : {"audio-video", "video-only", "audio-only"}
        Field ``MM`` (01, 02, 03).
    vocal_channel : {"speech", "song"}
        Field ``VV`` (01, 02).
    emotion : str
        Field ``EE``, one of :data:`skemotion.EMOTIONS` (codes 01..08). Song has
        no ``"disgust"`` nor ``"surprised"``.
    intensity : {"normal", "strong"}
        Field ``II`` (01, 02). ``"neutral"`` exists only with ``"normal"``.
    statement : {1, 2}
        Field ``SS``: 1 is "Kids are talking by the door", 2 "Dogs are sitting by
        the door".
    repetition : {1, 2}
        Field ``RR``.
    actor : int
        Field ``AA``, 1..24; odd actors are male, even actors female.

    Attributes
    ----------
    clip_id : str
        The seven-field stem, e.g. ``"03-01-05-02-01-02-12"``.
    emotion_code : int
        RAVDESS code of ``emotion``, 1..8.
    statement_text : str
        The sentence spoken.
    gender : {"male", "female"}
        From the parity of ``actor``.

    Examples
    --------
    >>> name = RavdessName(modality="audio-only", vocal_channel="speech", emotion="angry",
    ...                    intensity="strong", statement=1, repetition=2, actor=12)
    >>> name.to_name(".wav")
    '03-01-05-02-01-02-12.wav'
    >>> name.gender, name.statement_text
    ('female', 'Kids are talking by the door')
    """

    clip_id: str = dataclasses.field(init=False)
    modality: str
    vocal_channel: str
    emotion: str
    emotion_code: int = dataclasses.field(init=False)
    intensity: str
    statement: int
    statement_text: str = dataclasses.field(init=False)
    repetition: int
    actor: int
    gender: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        _check_choice("modality", self.modality, MODALITIES)
        _check_choice("vocal_channel", self.vocal_channel, VOCAL_CHANNELS)
        _check_choice("emotion", self.emotion, EMOTIONS)
        _check_choice("intensity", self.intensity, INTENSITIES)
        _check_code("statement", self.statement, 1, 2)
        _check_code("repetition", self.repetition, 1, 2)
        _check_code("actor", self.actor, 1, N_ACTORS)
        if self.emotion == "neutral" and self.intensity == "strong":
            raise ValueError("neutral has no strong intensity in RAVDESS (field II must be 01)")
        if self.vocal_channel == "song" and self.emotion not in SONG_EMOTIONS:
            raise ValueError(
                f"song has no {self.emotion!r} clips in RAVDESS "
                f"(song emotions: {', '.join(SONG_EMOTIONS)})"
            )
        codes = (
            MODALITIES.index(self.modality) + 1,
            VOCAL_CHANNELS.index(self.vocal_channel) + 1,
            EMOTIONS.index(self.emotion) + 1,
            INTENSITIES.index(self.intensity) + 1,
            self.statement,
            self.repetition,
            self.actor,
        )
        # frozen dataclass: derived fields can only be set through object.__setattr__
        object.__setattr__(self, "clip_id", "-".join(f"{code:02d}" for code in codes))
        object.__setattr__(self, "emotion_code", codes[2])
        object.__setattr__(self, "statement_text", STATEMENTS[self.statement - 1])
        object.__setattr__(self, "gender", "male" if self.actor % 2 else "female")

    def to_name(self, ext: str = "") -> str:
        """Return the file name of this clip, ``clip_id + ext``.

        Parameters
        ----------
        ext : str, default=""
            Extension, with or without the leading dot (``".wav"``, ``"mp4"``).

        Returns
        -------
        name : str
            The inverse of :func:`parse_ravdess_name`.

        Examples
        --------
        >>> parse_ravdess_name("01-01-03-01-02-01-07.mp4").to_name("wav")
        '01-01-03-01-02-01-07.wav'
        """
        if ext and not ext.startswith("."):
            ext = "." + ext
        return self.clip_id + ext


def parse_ravdess_name(path: str | os.PathLike[str]) -> RavdessName:
    """Decode a RAVDESS file name ``MM-VV-EE-II-SS-RR-AA[.ext]``.

    Parameters
    ----------
    path : str or path-like
        A file path or bare name; only the final component is parsed and one
        extension, if any, is dropped.

    Returns
    -------
    name : RavdessName

    Raises
    ------
    ValueError
        Naming ``path`` and the problem: not seven two-digit fields, a code out of
        range, neutral with strong intensity, or a song clip of an emotion RAVDESS
        has no song for.

    Examples
    --------
    >>> name = parse_ravdess_name("Actor_12/03-01-05-02-01-02-12.wav")
    >>> name.modality, name.emotion, name.intensity, name.actor, name.gender
    ('audio-only', 'angry', 'strong', 12, 'female')
    """
    stem = os.path.splitext(Path(path).name)[0]
    fields = stem.split("-")
    where = f"{os.fspath(path)}: not a RAVDESS file name"
    if len(fields) != 7:
        raise ValueError(
            f"{where}: expected 7 fields MM-VV-EE-II-SS-RR-AA separated by '-', "
            f"got {len(fields)} in {stem!r}"
        )
    bad = [f for f in fields if not _FIELD.match(f)]
    if bad:
        raise ValueError(f"{where}: every field must be two digits, got {bad} in {stem!r}")
    mm, vv, ee, ii, ss, rr, aa = (int(f) for f in fields)
    ranges = (
        ("modality (MM)", mm, 3),
        ("vocal channel (VV)", vv, 2),
        ("emotion (EE)", ee, 8),
        ("intensity (II)", ii, 2),
        ("statement (SS)", ss, 2),
        ("repetition (RR)", rr, 2),
        ("actor (AA)", aa, N_ACTORS),
    )
    for field, code, high in ranges:
        if not 1 <= code <= high:
            raise ValueError(f"{where}: {field} code {code:02d} is outside 01..{high:02d}")
    try:
        return RavdessName(
            modality=MODALITIES[mm - 1],
            vocal_channel=VOCAL_CHANNELS[vv - 1],
            emotion=EMOTIONS[ee - 1],
            intensity=INTENSITIES[ii - 1],
            statement=ss,
            repetition=rr,
            actor=aa,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _actor_of_folder(relative: Path) -> int | None:
    # The nearest enclosing Actor_XX folder, if any, must agree with field AA.
    for part in reversed(relative.parts[:-1]):
        match = _ACTOR_DIR.match(part)
        if match:
            return int(match.group(1))
    return None


def _is_ignored(relative: Path) -> bool:
    # Hidden files (our own temporary files, macOS "._" resource forks) and the
    # __MACOSX folder of zips made on a Mac are never clips.
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


@overload
def load_ravdess(
    root: str | os.PathLike[str],
    *,
    modalities: Iterable[str] = ...,
    include_song: bool = ...,
    actors: Iterable[int] | None = ...,
    on_error: Literal["raise", "skip"] = ...,
    return_X_y: Literal[False] = ...,
) -> Bunch: ...


@overload
def load_ravdess(
    root: str | os.PathLike[str],
    *,
    modalities: Iterable[str] = ...,
    include_song: bool = ...,
    actors: Iterable[int] | None = ...,
    on_error: Literal["raise", "skip"] = ...,
    return_X_y: Literal[True],
) -> tuple[pd.DataFrame, pd.Series, pd.Series]: ...


def load_ravdess(
    root: str | os.PathLike[str],
    *,
    modalities: Iterable[str] = ("audio-only", "audio-video"),
    include_song: bool = False,
    actors: Iterable[int] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    return_X_y: bool = False,
) -> Bunch | tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Index the RAVDESS clips found under a folder.

    Finds audio-only clips ``03-VV-*.wav`` / ``.flac`` and video clips
    ``01-VV-*.mp4`` (audio-video) or ``02-VV-*.mp4`` (video-only) anywhere under
    ``root``, in the official ``Actor_XX/`` folders or flat; symbolic links to
    folders and files are followed (each real folder once, so a link cycle ends).
    Nothing is decoded: the result is a table of paths and labels.

    **OpenFace tracking CSVs.** A CSV named like a video (``01-VV-*.csv`` or
    ``02-VV-*.csv``: RAVDESS's own "Facial Landmark Tracking" set, or the output of
    OpenFace's ``FeatureExtraction`` on the videos) stands for that video's face: where
    the video itself is absent, the clip's row has the CSV as its ``path``, with the
    modality its name says. A folder of tracking CSVs alone therefore gives one
    ``audio-video`` (or ``video-only``) row per CSV, and wav files beside them give
    their ``audio-only`` rows as usual. Where the video is present too, the row is the
    video, whose CSV :class:`~skemotion.face.FaceLandmarks` (``backend="openface"``)
    finds by name, beside it or under its ``openface_dir``. The face features read a
    CSV row with ``FaceLandmarks("openface")``; the dlib backend needs video frames.

    Parameters
    ----------
    root : str or path-like
        Folder to search recursively.
    modalities : iterable of {"audio-only", "audio-video", "video-only"}, \
            default=("audio-only", "audio-video")
        Modalities to keep. A clip recorded in two modalities (``03-01-...wav``
        and ``01-01-...mp4``) gives one row per modality, with the same labels.
    include_song : bool, default=False
        Keep the song channel (``VV = 02``) too. The speech set is the paper's.
    actors : iterable of int, default=None
        Keep only these actors (1..24); each must have at least one clip.
        ``None`` keeps every actor found.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a media file (``.wav``, ``.flac``, ``.mp4``) whose name is
        not a valid RAVDESS name: ``"raise"`` a ``ValueError`` naming it, or
        ``"skip"`` it, with one warning giving the count and the first names.
        Other files (README, CSVs not named like a video, ...) and hidden files are
        always ignored.
    return_X_y : bool, default=False
        Return ``(frame, y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``frame``, a DataFrame of one row per clip sorted by actor then clip
        name, columns :data:`FRAME_COLUMNS` (``path`` as str); ``y``, the emotion
        names (Series named ``"emotion"``); ``groups``, the actor of each row
        (Series named ``"actor"``, for actor-grouped cross-validation);
        ``target_names``, :data:`skemotion.EMOTIONS`; and ``root``, a
        :class:`~pathlib.Path`.
    (frame, y, groups) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist, or holds no clip of the requested kind.
    ValueError
        A badly named media file (with ``on_error="raise"``), a file in an
        ``Actor_XX`` folder whose actor field disagrees, the same clip twice
        (e.g. as ``.wav`` and ``.flac``), or a requested actor without clips.

    Examples
    --------
    >>> from skemotion.datasets import load_ravdess
    >>> data = load_ravdess("ravdess/speech")  # doctest: +SKIP
    >>> data.frame.shape, data.groups.nunique()  # doctest: +SKIP
    ((1440, 12), 24)
    """
    root_path = Path(root)
    modality_set = set(modalities) if not isinstance(modalities, str) else {modalities}
    for modality in modality_set:
        _check_choice("modalities entry", modality, MODALITIES)
    if not modality_set:
        raise ValueError("modalities must name at least one modality")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    wanted_actors: set[int] | None = None
    if actors is not None:
        wanted_actors = set()
        for actor in actors:
            _check_code("actors entry", actor, 1, N_ACTORS)
            wanted_actors.add(int(actor))
    if not root_path.exists():
        raise FileNotFoundError(f"RAVDESS root folder {root_path} does not exist")
    if not root_path.is_dir():
        raise NotADirectoryError(f"RAVDESS root {root_path} is not a folder")

    rows: list[dict[str, object]] = []
    tracking_rows: list[dict[str, object]] = []
    bad_names: list[str] = []
    for path in sorted(walk_files(root_path)):
        relative = path.relative_to(root_path)
        suffix = path.suffix.lower()
        tracking = suffix == _TRACKING_EXTENSION
        if (suffix not in _MEDIA_EXTENSIONS and not tracking) or _is_ignored(relative):
            continue
        if not path.is_file():
            continue
        try:
            name = parse_ravdess_name(path)
        except ValueError:
            if tracking:
                continue  # any other table (a README.csv, per-clip AU means) is not a clip
            if on_error == "raise":
                raise
            bad_names.append(str(relative))
            continue
        if tracking and name.modality not in _VIDEO_MODALITIES:
            continue  # OpenFace tracks videos: a 03-... CSV is some other table
        folder_actor = _actor_of_folder(relative)
        if folder_actor is not None and folder_actor != name.actor:
            raise ValueError(
                f"{path}: actor field {name.actor:02d} disagrees with its folder "
                f"Actor_{folder_actor:02d}; the file was probably moved or renamed"
            )
        if not tracking and suffix not in _MODALITY_EXTENSIONS[name.modality]:
            raise ValueError(
                f"{path}: a {name.modality} clip should have extension "
                f"{' or '.join(_MODALITY_EXTENSIONS[name.modality])}, not {path.suffix}"
            )
        if name.modality not in modality_set:
            continue
        if name.vocal_channel == "song" and not include_song:
            continue
        if wanted_actors is not None and name.actor not in wanted_actors:
            continue
        row = {"path": str(path), **dataclasses.asdict(name)}
        (tracking_rows if tracking else rows).append(row)
    # A video with its OpenFace CSV beside it stays one clip, the video (the openface
    # landmark backend finds the CSV by name); a CSV stands for a video that is absent.
    videos = {row["clip_id"] for row in rows}
    rows += [row for row in tracking_rows if row["clip_id"] not in videos]

    if bad_names:
        shown = ", ".join(bad_names[:5]) + (", ..." if len(bad_names) > 5 else "")
        warnings.warn(
            f"load_ravdess skipped {len(bad_names)} media file(s) under {root_path} "
            f"whose names are not RAVDESS names: {shown}",
            UserWarning,
            stacklevel=2,
        )
    kinds = sorted(modality_set) + (["song"] if include_song else [])
    if not rows:
        raise FileNotFoundError(
            f"no RAVDESS clips ({', '.join(kinds)}) found under {root_path}; expected files "
            "like Actor_01/03-01-01-01-01-01-01.wav (audio-only), 01-01-...mp4 (audio-video) "
            "or OpenFace tracking CSVs named like the videos (01-01-...csv)"
        )

    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    duplicated = frame[frame.duplicated("clip_id", keep=False)]
    if len(duplicated):
        pairs = duplicated.groupby("clip_id")["path"].apply(list)
        shown = "; ".join(f"{clip}: {paths}" for clip, paths in list(pairs.items())[:3])
        raise ValueError(
            f"{len(pairs)} clip(s) found more than once under {root_path} (same clip id and "
            f"modality, e.g. both .wav and .flac): {shown}. Keep one copy of each."
        )
    if wanted_actors is not None:
        missing = sorted(wanted_actors - set(frame["actor"]))
        if missing:
            raise ValueError(
                f"no {', '.join(kinds)} clips under {root_path} for requested actor(s) {missing}"
            )
    frame = frame.sort_values(["actor", "clip_id", "path"], kind="stable", ignore_index=True)
    y = frame["emotion"].rename("emotion")
    groups = frame["actor"].rename("actor")
    if return_X_y:
        return frame, y, groups
    return Bunch(frame=frame, y=y, groups=groups, target_names=EMOTIONS, root=root_path)
