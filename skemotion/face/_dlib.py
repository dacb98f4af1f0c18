"""The embedded landmark backend: dlib's HOG face detector and 68-point shape predictor.

Detecting a face costs far more than fitting the landmarks (a HOG pyramid over the
whole frame against ~1 ms for the predictor), and a face moves little between two
frames at 30 fps. :func:`track_face_landmarks` therefore detects on a downscaled copy
of the frame only when it has to, and otherwise fits the predictor in the box where
the previous frame's landmarks were.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..utils._optional import import_optional
from ._track import N_LANDMARKS

__all__ = ["TrackedLandmarks", "shape_predictor_path", "track_face_landmarks"]

_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
_INSTALL_HINT = 'pip install "skemotion[face]"'
_BACKEND = "The dlib landmark backend"

# Box perturbation of the stability check, as a fraction of the box width. The
# predictor recovers a face from a box that far off (it does not from ~15 %).
_PERTURBATION = 0.05
# Largest change of the landmarks' scale between two frames that still counts as the
# same fit; a face does not grow or shrink by a quarter in 1/25 s.
_MAX_SCALE_CHANGE = 1.25
# Fraction of the landmarks that may lie outside the frame before the fit is dropped.
_MAX_OUTSIDE = 0.25
# Detector scores below this are re-checked at twice the detection width: they are
# mostly faces smaller than the HOG window (80 px) at that width, boxed too loosely.
_WEAK_SCORE = 0.5

# dlib's detection box relative to the bounding box of the 68 landmarks fitted in it:
# centre offset (x, y) as fractions of the landmarks' width and height, then the box's
# width and height as multiples of theirs. Medians over full-resolution detections of
# skimage.data.astronaut() and of frames of benchmarks/bench_landmarks.py: the box is
# slightly narrower than the landmarks and sits higher (it stops above the chin and
# starts at the brows).
_BOX_FROM_LANDMARKS = np.array([-0.02, -0.064, 0.957, 0.967])


class TrackedLandmarks(NamedTuple):
    """What :func:`track_face_landmarks` returns, one row per frame.

    Attributes
    ----------
    landmarks : np.ndarray of float32, shape (n_frames, 68, 2)
        (x, y) pixel coordinates in the full-resolution frame; NaN where no face was
        found.
    success : np.ndarray of bool, shape (n_frames,)
        Whether a face was found.
    confidence : np.ndarray of float32, shape (n_frames,)
        In [0, 1]: the mapped detector score on frames where the face was detected, the
        fit stability on tracked frames, 0 where no face was found.
    n_detections : int
        Number of frames on which the detector ran.
    """

    landmarks: np.ndarray
    success: np.ndarray
    confidence: np.ndarray
    n_detections: int


def shape_predictor_path() -> Path:
    """Path of the 68-point model file shipped by the ``face-recognition-models`` package.

    The package is located without importing it: its ``__init__`` imports
    ``pkg_resources``, which current setuptools no longer provides.

    Returns
    -------
    path : pathlib.Path
        ``.../face_recognition_models/models/shape_predictor_68_face_landmarks.dat``.

    Raises
    ------
    ImportError
        If the package or its model file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ImportError(
            "The dlib landmark model comes with the face-recognition-models package: "
            f"{_INSTALL_HINT}."
        )
    path = Path(spec.origin).parent / "models" / _MODEL_FILE
    if not path.is_file():
        raise ImportError(
            f"face-recognition-models is installed but {path} is missing; reinstall it: "
            f"{_INSTALL_HINT}."
        )
    return path


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    return import_optional("dlib", extra="face", needed_for=_BACKEND).get_frontal_face_detector()


@functools.lru_cache(maxsize=4)
def _predictor(path: str) -> Any:
    # Loading the 100 MB model takes ~0.5 s: once per process and file.
    return import_optional("dlib", extra="face", needed_for=_BACKEND).shape_predictor(path)


def _detection_confidence(score: float) -> float:
    """Logistic map of a HOG detector score: 0.5 at the threshold (0), 0.88 at 1."""
    return 1.0 / (1.0 + math.exp(-2.0 * score))


def _as_gray(frame: Any, cv2: Any) -> np.ndarray:
    img = np.asarray(frame)
    if img.dtype != np.uint8:
        raise ValueError(f"Frames must be uint8 images, got dtype {img.dtype}.")
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim != 2:
        raise ValueError(f"Frames must be (H, W) gray or (H, W, 3) RGB, got shape {img.shape}.")
    return np.ascontiguousarray(img)


def _detect(
    gray: np.ndarray, *, detect_width: int | None, upsample: int, cv2: Any
) -> tuple[np.ndarray, float, float] | None:
    """Largest detected face: float box (left, top, right, bottom), score, scale searched.

    Searched at ``detect_width``, then, if that finds nothing or only a weak face, once
    more at twice that width; the stronger of the two wins.
    """
    width = gray.shape[1]
    if detect_width is None or detect_width >= width:
        widths = [width]
    else:
        widths = [detect_width, min(2 * detect_width, width)]
    best_found: tuple[np.ndarray, float, float] | None = None
    for w in widths:
        scale = w / width
        img = gray
        if w < width:
            size = (w, max(1, round(gray.shape[0] * scale)))
            img = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        rects, scores, _ = _detector().run(img, upsample, 0.0)
        if len(rects):
            largest = int(np.argmax([r.width() * r.height() for r in rects]))
            r = rects[largest]
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], dtype=float)
            if best_found is None or scores[largest] > best_found[1]:
                best_found = box / scale, float(scores[largest]), scale
            if best_found[1] >= _WEAK_SCORE:
                break
    return best_found


def _fit(gray: np.ndarray, box: np.ndarray, predictor: Any, dlib: Any) -> np.ndarray:
    left, top, right, bottom = (round(v) for v in box)
    shape = predictor(gray, dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _bbox(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _box_around(points: np.ndarray) -> np.ndarray:
    """The box dlib's detector would give for a face with these landmarks."""
    extent = _bbox(points)
    ew, eh = extent[2] - extent[0], extent[3] - extent[1]
    dx, dy, sw, sh = _BOX_FROM_LANDMARKS
    cx = (extent[0] + extent[2]) / 2 + dx * ew
    cy = (extent[1] + extent[3]) / 2 + dy * eh
    return np.array([cx - sw * ew / 2, cy - sh * eh / 2, cx + sw * ew / 2, cy + sh * eh / 2])


def _stability(
    gray: np.ndarray, box: np.ndarray, points: np.ndarray, predictor: Any, dlib: Any
) -> float:
    """1 minus how far the fit follows a shifted start box, relative to the shift.

    On a face the predictor pulls the shape back onto the features and the two fits
    agree (about 0.95 here); on a face-less region it just carries the mean shape
    along with the box (about 0 or below, clipped).
    """
    shift = _PERTURBATION * (box[2] - box[0])
    moved = _fit(gray, box + shift, predictor, dlib)
    follow = np.linalg.norm(moved - points, axis=1).mean() / (shift * math.sqrt(2.0))
    return float(np.clip(1.0 - follow, 0.0, 1.0))


def track_face_landmarks(
    frames: Iterable[np.ndarray],
    *,
    detect_width: int | None = 320,
    upsample: int = 0,
    redetect_every: int | None = None,
    min_fit_overlap: float = 0.5,
    min_fit_stability: float = 0.5,
    detect_every_frame: bool = False,
) -> TrackedLandmarks:
    """68 dlib landmarks per frame, detecting the face only when tracking fails.

    On the first frame (and whenever the face is lost) dlib's HOG frontal-face
    detector runs on a copy of the frame downscaled to ``detect_width`` pixels wide
    (and once more at twice that width when it finds nothing or only a weak face,
    score < 0.5); the largest face wins and the 68-point shape predictor is fitted on
    the full-resolution frame in its rescaled box, then refitted from the box its
    landmarks imply, since a box found at low resolution is coarse. On the next frame
    the predictor starts from the box where the previous landmarks lie: their
    bounding box mapped to the detector's box convention (a fixed offset and size
    ratio, the median relation between dlib's detection boxes and the landmarks fitted
    in them on full-resolution frames).

    A tracked fit is checked, and the detector runs again on that frame, when

    - the fit is unstable: refitted from a box shifted by 5 % of its width, the
      landmarks follow the shift (a face-less region) instead of staying on the
      features; stability = 1 - mean landmark displacement / shift, clipped to
      [0, 1], must reach ``min_fit_stability``;
    - the landmarks' bounding box overlaps the previous one by less than
      ``min_fit_overlap`` (intersection over union), or its size changed by more
      than a factor 1.25;
    - more than a quarter of the landmarks lie outside the frame;
    - ``redetect_every`` frames have passed since the last detection.

    Parameters
    ----------
    frames : iterable of np.ndarray of uint8, each shape (height, width) or (height, width, 3)
        Gray or RGB frames of one clip, in temporal order (a generator such as
        :func:`~skemotion.face.iter_frames` is consumed lazily).
    detect_width : int or None, default=320
        Width of the copy the detector searches. HOG finds faces of at least ~80 px
        there, so 320 suits faces whose detection box is at least a quarter of the
        frame width (320 px in 720p); smaller ones are found by the retry at twice the
        width. ``None`` searches the full-resolution frame.
    upsample : int, default=0
        Number of times the detector upsamples the image (finds smaller faces, ~4x
        slower each).
    redetect_every : int or None, default=None
        Also re-detect every that many frames even when tracking looks fine.
    min_fit_overlap : float, default=0.5
        Smallest accepted IoU between consecutive landmark bounding boxes.
    min_fit_stability : float, default=0.5
        Smallest accepted stability of a tracked fit (see above).
    detect_every_frame : bool, default=False
        Run the detector on every frame and never track (the slow baseline; with
        ``detect_width=None`` it is plain per-frame dlib).

    Returns
    -------
    result : TrackedLandmarks
        ``(landmarks, success, confidence, n_detections)``; see
        :class:`TrackedLandmarks`. On detected frames the confidence is the detector
        score ``s`` mapped by ``1 / (1 + exp(-2 s))`` (0.5 at dlib's threshold, 0.88
        at ``s = 1``, dlib's scores for clear frontal faces lie around 1 to 2); on
        tracked frames it is the fit stability.

    Raises
    ------
    ValueError
        If an argument is invalid or a frame is not a uint8 gray or RGB image.
    ImportError
        If dlib, OpenCV or the model package is missing.

    Examples
    --------
    >>> from skimage import data
    >>> from skemotion.face import track_face_landmarks
    >>> result = track_face_landmarks([data.astronaut()] * 3)
    >>> result.landmarks.shape, result.success.tolist(), result.n_detections
    ((3, 68, 2), [True, True, True], 1)
    """
    if detect_width is not None and (
        isinstance(detect_width, bool) or not isinstance(detect_width, int) or detect_width < 32
    ):
        raise ValueError(f"detect_width must be an integer >= 32 or None, got {detect_width!r}.")
    if isinstance(upsample, bool) or not isinstance(upsample, int) or upsample < 0:
        raise ValueError(f"upsample must be a non-negative integer, got {upsample!r}.")
    if redetect_every is not None and (
        isinstance(redetect_every, bool)
        or not isinstance(redetect_every, int)
        or redetect_every < 1
    ):
        raise ValueError(
            f"redetect_every must be a positive integer or None, got {redetect_every!r}."
        )
    for name, value in (
        ("min_fit_overlap", min_fit_overlap),
        ("min_fit_stability", min_fit_stability),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}.")

    dlib = import_optional("dlib", extra="face", needed_for=_BACKEND)
    cv2 = import_optional("cv2", extra="face", needed_for=_BACKEND, package="OpenCV")
    predictor = _predictor(str(shape_predictor_path()))

    landmarks: list[np.ndarray] = []
    success: list[bool] = []
    confidence: list[float] = []
    missing = np.full((N_LANDMARKS, 2), np.nan)

    previous: np.ndarray | None = None  # landmarks of the previous frame, if found
    since_detection = 0
    n_detections = 0
    for frame in frames:
        gray = _as_gray(frame, cv2)
        height, width = gray.shape
        points: np.ndarray | None = None
        conf = 0.0
        must_detect = (
            detect_every_frame
            or previous is None
            or (redetect_every is not None and since_detection >= redetect_every)
        )
        if not must_detect:
            assert previous is not None
            extent = _bbox(previous)
            box = _box_around(previous)
            points = _fit(gray, box, predictor, dlib)
            conf = _stability(gray, box, points, predictor, dlib)
            new_extent = _bbox(points)
            scale = math.sqrt(
                max((new_extent[2] - new_extent[0]) * (new_extent[3] - new_extent[1]), 1.0)
                / max((extent[2] - extent[0]) * (extent[3] - extent[1]), 1.0)
            )
            outside = np.mean(
                (points[:, 0] < 0)
                | (points[:, 0] >= width)
                | (points[:, 1] < 0)
                | (points[:, 1] >= height)
            )
            if (
                conf < min_fit_stability
                or _iou(extent, new_extent) < min_fit_overlap
                or not 1 / _MAX_SCALE_CHANGE <= scale <= _MAX_SCALE_CHANGE
                or outside > _MAX_OUTSIDE
            ):
                must_detect, points = True, None

        if must_detect:
            since_detection = 0
            n_detections += 1
            found = _detect(gray, detect_width=detect_width, upsample=upsample, cv2=cv2)
            if found is not None:
                box, score, scale = found
                points = _fit(gray, box, predictor, dlib)
                if scale < 1.0:
                    # A box from the downscaled search is coarse; refitting from the
                    # box the landmarks imply starts the predictor where tracking will.
                    points = _fit(gray, _box_around(points), predictor, dlib)
                conf = _detection_confidence(score)
        since_detection += 1

        success.append(points is not None)
        confidence.append(conf if points is not None else 0.0)
        landmarks.append(points if points is not None else missing)
        previous = points

    n_frames = len(landmarks)
    return TrackedLandmarks(
        landmarks=np.asarray(landmarks, dtype=np.float32).reshape(n_frames, N_LANDMARKS, 2),
        success=np.asarray(success, dtype=bool),
        confidence=np.asarray(confidence, dtype=np.float32),
        n_detections=n_detections,
    )
