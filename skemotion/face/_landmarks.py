"""One interface over the landmark backends, with a per-clip disk cache and joblib jobs."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .._files import walk_files
from .._parallel import streaming_return_as
from ..utils._io import atomic_savez, file_digest
from ..utils._npz_cache import read_npz_entry
from ._interpolate import interpolate_missing
from ._openface import OPENFACE_CONFIDENCE_THRESHOLD, find_openface_csv, read_openface_csv
from ._track import FaceTrack

__all__ = ["FaceLandmarks", "default_cache_dir", "extract_dlib_track", "landmark_backend_for"]

# Bump when a backend's output changes, so stale cache entries are never read.
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """Where landmark tracks are cached unless told otherwise.

    ``$SKEMOTION_CACHE_DIR/landmarks`` if that variable is set, else
    ``~/.cache/skemotion/landmarks`` (``$XDG_CACHE_HOME`` respected).

    Returns
    -------
    folder : Path
    """
    root = os.environ.get("SKEMOTION_CACHE_DIR")
    if root:
        return Path(root) / "landmarks"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "skemotion" / "landmarks"


def extract_dlib_track(
    path: str | os.PathLike[str],
    *,
    n_frames: int = 88,
    mode: str = "center",
    short: str = "pad",
    detect_width: int = 320,
) -> FaceTrack:
    """Decode the selected frames of a video and track the face with dlib.

    Parameters
    ----------
    path : str or path-like
        A video file (mp4 and anything else FFmpeg decodes).
    n_frames : int, default=88
        Frames selected by :func:`~skemotion.face.select_frames`.
    mode : {"center", "even"}, default="center"
    short : {"pad", "raise"}, default="pad"
    detect_width : int, default=320
        Width of the downscaled copy the face detector runs on.

    Returns
    -------
    track : FaceTrack
        ``backend="dlib"``; frames without a face are interpolated and marked in
        ``success``; head pose from :func:`~skemotion.face.estimate_head_pose`.

    Raises
    ------
    ValueError
        If no face is found in any selected frame; the message names the file.
    """
    from ._dlib import track_face_landmarks
    from ._pose import estimate_head_pose
    from ._video import load_video

    frames, indices, info = load_video(
        path, n_frames=n_frames, mode=mode, short=short, color="gray"
    )
    landmarks, success, confidence, _ = track_face_landmarks(frames, detect_width=detect_width)
    if not np.any(success):
        raise ValueError(f"{path}: no face found in any of its {len(frames)} selected frames")
    filled = interpolate_missing(landmarks, success=success).astype(np.float32)
    pose = estimate_head_pose(filled, frame_size=(info.width, info.height))
    return FaceTrack(
        landmarks_2d=filled,
        head_pose=np.asarray(pose, dtype=np.float32),
        success=np.asarray(success, dtype=bool),
        confidence=np.asarray(confidence, dtype=np.float32),
        frame_indices=np.asarray(indices, dtype=np.int64),
        fps=float(info.fps),
        frame_size=(int(info.width), int(info.height)),
        source=os.fspath(path),
        backend="dlib",
    )


class FaceLandmarks(BaseEstimator):
    """Per-clip face tracks from video (dlib) or from OpenFace CSVs, cached on disk.

    The landmark stage shared by every face feature transformer (their ``landmarks``
    parameter). Not a transformer itself: :meth:`extract` returns one
    :class:`FaceTrack` per clip. Being a scikit-learn estimator, its parameters are
    nested in the features' (``landmarks__backend``, ...), cloned and grid-searched.

    Each clip's track is cached on disk under a key made of the file's content
    (SHA-256) and the parameters that change the track, so a second run, or a
    GridSearchCV over downstream parameters, reads the cache instead of decoding and
    tracking again. ``max_missing`` and ``on_error`` are applied after the cache, so
    changing them never re-extracts.

    Parameters
    ----------
    backend : {"dlib", "openface"}, default="dlib"
        ``"dlib"``: the embedded default, no download: dlib's HOG face detector on a
        downscaled frame, then its 68-point shape predictor (the model file of the
        PyPI package ``face-recognition-models``) tracked from frame to frame, and
        head pose by PnP against :data:`~skemotion.face.FACE_MODEL_3D`.
        ``"openface"``: OpenFace 2.x ``FeatureExtraction`` CSVs, the paper's tool,
        matched to clips by file name (``clip.mp4`` -> ``clip.csv``), with 3D
        landmarks, eye landmarks, gaze and action units. OpenFace 2.2's CSVs and
        RAVDESS's own tracking CSVs (OpenFace 2.1.0, no ``success`` column) alike.
    openface_dir : str, path-like or None, default=None
        Folder searched (recursively, through symbolic links) for the CSVs; None looks
        beside each clip. Clips given as ``.csv`` paths are read directly.
    n_frames : int, default=88
        Frames per clip: 88 match the 140,800-sample audio crop at 30 fps.
    frame_selection : {"center", "even"}, default="center"
        The ``n_frames`` consecutive centre frames, or ``n_frames`` evenly spaced
        over the clip (the paper's image-model fine-tuning uses 20).
    short : {"pad", "raise"}, default="pad"
        A clip with fewer frames: repeat its edge frames, or raise naming the file.
    detect_width : int, default=320
        dlib backend: width of the downscaled copy the detector runs on.
    confidence_threshold : float, default=0.725
        openface backend, for CSVs without a ``success`` column (RAVDESS's tracking
        set): a frame is tracked where its ``confidence`` exceeds this, OpenFace's own
        rule and default (:data:`~skemotion.face.OPENFACE_CONFIDENCE_THRESHOLD`); the
        others are interpolated and count towards ``max_missing``.
    max_missing : float, default=0.5
        Largest fraction of a clip's frames allowed without a face (they are
        interpolated from their neighbours); above it ``on_error`` applies.
    on_error : {"raise", "warn"}, default="raise"
        A clip that cannot be read, has no face in any frame, or misses the face in
        more than ``max_missing`` of its frames: ``"raise"`` an error naming the
        file; ``"warn"`` emits one warning naming every such file and keeps the
        interpolated track, or gives None where there is no face at all (the
        feature transformers then return NaN for that clip, never a made-up value).
    cache_dir : str, path-like, None or False, default=None
        Cache folder; None is :func:`default_cache_dir`; False disables caching.
    n_jobs : int or None, default=None
        Clips processed in parallel by joblib (processes: dlib holds the GIL).
        Inside a :func:`joblib.parallel_config` context its backend is used (Dask,
        Ray, ...).
    verbose : int, default=0
        A tqdm progress bar over clips when positive.

    Examples
    --------
    >>> from skemotion.face import FaceLandmarks
    >>> tracks = FaceLandmarks(n_jobs=2).extract(["clip.mp4"])  # doctest: +SKIP
    >>> tracks[0].landmarks_2d.shape  # doctest: +SKIP
    (88, 68, 2)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "backend": [StrOptions({"dlib", "openface"})],
        "openface_dir": [str, os.PathLike, None],
        "n_frames": [Interval(Integral, 1, None, closed="left")],
        "frame_selection": [StrOptions({"center", "even"})],
        "short": [StrOptions({"pad", "raise"})],
        "detect_width": [Interval(Integral, 32, None, closed="left")],
        "confidence_threshold": [Interval(Real, 0, 1, closed="both")],
        "max_missing": [Interval(Real, 0, 1, closed="both")],
        "on_error": [StrOptions({"raise", "warn"})],
        "cache_dir": [str, os.PathLike, None, "boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backend: str = "dlib",
        *,
        openface_dir: str | os.PathLike[str] | None = None,
        n_frames: int = 88,
        frame_selection: str = "center",
        short: str = "pad",
        detect_width: int = 320,
        confidence_threshold: float = OPENFACE_CONFIDENCE_THRESHOLD,
        max_missing: float = 0.5,
        on_error: str = "raise",
        cache_dir: str | os.PathLike[str] | bool | None = None,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.backend = backend
        self.openface_dir = openface_dir
        self.n_frames = n_frames
        self.frame_selection = frame_selection
        self.short = short
        self.detect_width = detect_width
        self.confidence_threshold = confidence_threshold
        self.max_missing = max_missing
        self.on_error = on_error
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.verbose = verbose

    def extract(self, clips: Sequence[str | os.PathLike[str]]) -> list[FaceTrack | None]:
        """Face tracks of the clips, from the cache where possible.

        Parameters
        ----------
        clips : sequence of str or path-like
            Video files (dlib), or videos / CSVs (openface).

        Returns
        -------
        tracks : list of FaceTrack or None
            In the order of ``clips``; None only under ``on_error="warn"`` for a clip
            without any face or that could not be read.
        """
        self._validate_params()
        if self.cache_dir is True:
            raise ValueError("cache_dir=True is ambiguous: pass a folder, None or False")
        paths = [os.fspath(clip) for clip in clips]
        sources = self._sources(paths)
        settings = self._settings()
        cache = None if self.cache_dir is False else Path(self.cache_dir or default_cache_dir())

        if effective_n_jobs(self.n_jobs) == 1 or len(sources) < 2:
            results: Iterator[FaceTrack | BaseException] = (
                _extract_cached(source, settings=settings, cache=cache) for source in sources
            )
        else:
            parallel = Parallel(n_jobs=self.n_jobs, return_as=streaming_return_as())
            results = parallel(
                delayed(_extract_cached)(source, settings=settings, cache=cache)
                for source in sources
            )
        if self.verbose:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(sources), desc="face landmarks", unit="clip")

        tracks: list[FaceTrack | None] = []
        problems: list[str] = []
        for source, result in zip(sources, results, strict=True):
            if isinstance(result, BaseException):
                if self.on_error == "raise":
                    raise result
                problems.append(str(result))
                tracks.append(None)
                continue
            if result.missing_fraction > self.max_missing:
                message = (
                    f"{source}: no face in {result.missing_fraction:.0%} of its "
                    f"{result.n_frames} selected frames (max_missing={self.max_missing:g})"
                )
                if self.on_error == "raise":
                    raise ValueError(message)
                problems.append(message)
            tracks.append(result)
        if problems:
            shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
            warnings.warn(
                f"FaceLandmarks: {len(problems)} clip(s) with face problems: {shown}",
                UserWarning,
                stacklevel=2,
            )
        return tracks

    def _sources(self, paths: list[str]) -> list[str]:
        if self.backend == "dlib":
            tracked = [path for path in paths if _is_csv(path)]
            if tracked:
                raise ValueError(
                    f"{tracked[0]}: an OpenFace CSV, not a video ({len(tracked)} such clip(s)); "
                    "the dlib backend tracks faces in video frames. Read the CSVs' landmarks "
                    "with FaceLandmarks('openface')."
                )
            return paths
        if self.openface_dir is None or all(_is_csv(path) for path in paths):
            return [os.fspath(find_openface_csv(p, openface_dir=None)) for p in paths]
        # One walk of the folder, not one per clip.
        index: dict[str, list[Path]] = {}
        for csv in walk_files(self.openface_dir):
            if _is_csv(csv):
                index.setdefault(csv.stem, []).append(csv)
        sources = []
        for path in paths:
            if _is_csv(path):
                sources.append(path)
                continue
            matches = index.get(Path(path).stem, [])
            if len(matches) != 1:
                raise FileNotFoundError(
                    f"{path}: {'no' if not matches else len(matches)} OpenFace CSV(s) named "
                    f"{Path(path).stem}.csv under {self.openface_dir}"
                )
            sources.append(os.fspath(matches[0]))
        return sources

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "backend": self.backend,
            "n_frames": int(self.n_frames),
            "mode": self.frame_selection,
            "short": self.short,
        }
        if self.backend == "dlib":
            settings["detect_width"] = int(self.detect_width)
        else:
            settings["confidence_threshold"] = float(self.confidence_threshold)
        return settings


def _is_csv(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith(".csv")


def landmark_backend_for(clips: Iterable[str | os.PathLike[str]]) -> str:
    """The landmark backend that reads these clips: ``"openface"`` or ``"dlib"``.

    A table of RAVDESS clips may have OpenFace tracking CSVs where the videos are
    absent (see :func:`~skemotion.datasets.load_ravdess`); only the OpenFace backend
    reads them, and it matches the videos of the other clips to their CSVs by name.
    Without any CSV the clips are videos, which the embedded dlib backend tracks.

    Parameters
    ----------
    clips : iterable of str or path-like
        Video files and / or OpenFace CSVs.

    Returns
    -------
    backend : {"openface", "dlib"}
        ``"openface"`` when any clip is a ``.csv`` file, else ``"dlib"``.

    Examples
    --------
    >>> landmark_backend_for(["Actor_01/01-01-03-01-01-01-01.csv"])
    'openface'
    >>> landmark_backend_for(["Actor_01/02-01-03-01-01-01-01.mp4"])
    'dlib'
    """
    return "openface" if any(_is_csv(clip) for clip in clips) else "dlib"


def _extract_cached(
    source: str, *, settings: dict[str, Any], cache: Path | None
) -> FaceTrack | BaseException:
    """Worker: read the cached track or extract and cache it; errors are returned."""
    try:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"{source}: no such file")
        entry = None
        if cache is not None:
            key = json.dumps(
                {"version": _CACHE_VERSION, "file": file_digest(source), **settings},
                sort_keys=True,
            )
            name = hashlib.sha256(key.encode()).hexdigest()[:32]
            entry = cache / f"{Path(source).stem}-{name}.npz"
            track = _read_cached_track(entry)
            if track is not None:
                # The cache is keyed by content; the same file may have moved.
                return _with_source(track, source)
        track = _extract(source, settings)
        if entry is not None:
            atomic_savez(entry, track.to_arrays())
        return track
    except Exception as error:  # returned, so the parent applies on_error with the file name
        return error


def _read_cached_track(entry: Path) -> FaceTrack | None:
    """The track cached in ``entry``; None (a miss) when absent or damaged (then rebuilt)."""
    return read_npz_entry(
        entry,
        FaceTrack.from_arrays,
        what="landmark",
        remedy="extracting the clip again and replacing it",
    )


def _extract(source: str, settings: dict[str, Any]) -> FaceTrack:
    options = {k: v for k, v in settings.items() if k != "backend"}
    if settings["backend"] == "dlib":
        return extract_dlib_track(source, **options)
    return read_openface_csv(source, **options)


def _with_source(track: FaceTrack, source: str) -> FaceTrack:
    if track.source == source:
        return track
    arrays = track.to_arrays()
    arrays["source"] = np.asarray(source)
    return FaceTrack.from_arrays(arrays)
