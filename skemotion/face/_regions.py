"""Image patches of the face, eyes and mouth, ready for an image model."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._clip_transformer import _ClipTransformer
from ._landmarks import FaceLandmarks
from ._track import FaceTrack

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "REGION_SIZES", "FaceRegions", "crop_patch"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
"""Per-channel (RGB) mean of ImageNet, which pretrained ResNets expect removed."""

IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
"""Per-channel (RGB) standard deviation of ImageNet."""

REGION_SIZES: dict[str, tuple[int, int]] = {
    "face": (224, 224),
    "eyes": (128, 128),
    "mouth": (110, 180),
}
"""Output (height, width) of each region's patches, as in the paper."""

# Windows cut around the landmarks, in pixels of a 720-pixel-high frame (RAVDESS's
# 1280 x 720): the face window is the centre full-height square.
_WINDOWS_AT_720: dict[str, tuple[int, int]] = {
    "face": (720, 720),
    "eyes": (128, 128),
    "mouth": (110, 180),
}
_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)
_MOUTH = slice(48, 68)


def crop_patch(
    image: np.ndarray,
    *,
    center: tuple[float, float],
    window: tuple[int, int],
    size: tuple[int, int],
) -> np.ndarray:
    """Cut a window around a point and resize it; outside the image is black.

    Parameters
    ----------
    image : np.ndarray of uint8, shape (height, width, 3)
    center : (float, float)
        (x, y) of the window's centre in pixels.
    window : (int, int)
        (height, width) of the window in pixels of ``image``.
    size : (int, int)
        (height, width) of the returned patch.

    Returns
    -------
    patch : np.ndarray of uint8, shape (size[0], size[1], 3)
    """
    import cv2

    win_h, win_w = window
    x0 = round(center[0] - win_w / 2)
    y0 = round(center[1] - win_h / 2)
    height, width = image.shape[:2]
    patch = np.zeros((win_h, win_w, image.shape[2]), dtype=image.dtype)
    src_x0, src_y0 = max(x0, 0), max(y0, 0)
    src_x1, src_y1 = min(x0 + win_w, width), min(y0 + win_h, height)
    if src_x1 > src_x0 and src_y1 > src_y0:
        patch[src_y0 - y0 : src_y1 - y0, src_x0 - x0 : src_x1 - x0] = image[
            src_y0:src_y1, src_x0:src_x1
        ]
    if (win_h, win_w) == tuple(size):
        return patch
    shrinking = win_h > size[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(patch, (size[1], size[0]), interpolation=interpolation)


class FaceRegions(_ClipTransformer):
    """Face, eye or mouth image patches per frame, normalised for an ImageNet model.

    The paper's image inputs: ``"face"``, the centre square of the frame (720 x 720
    on RAVDESS's 1280 x 720) resized to 224 x 224; ``"eyes"``, a 128 x 128 patch
    around each eye (centre of its six landmarks); ``"mouth"``, a 110 x 180
    (height x width) patch around the mouth's 20 landmarks. Window sizes are
    defined on a 720-pixel-high frame and scale with the video's height, so a
    smaller video gives the same field of view. Frames are those of the landmark
    stage (``landmarks.n_frames`` and ``frame_selection``: the paper uses 20 evenly
    spaced frames to fine-tune, 88 centre frames otherwise).

    Parameters
    ----------
    region : {"face", "eyes", "mouth"}, default="face"
    landmarks : FaceLandmarks or None, default=None
        The landmark stage (needed to place eye and mouth patches, and to select
        frames); None is ``FaceLandmarks()``. It must read the videos themselves
        (dlib), or OpenFace CSVs found by the videos' names.
    normalize : bool, default=True
        Scale to [0, 1] then subtract :data:`IMAGENET_MEAN` and divide by
        :data:`IMAGENET_STD`; False leaves values in [0, 1].
    reference_height : int, default=720
        Frame height the window sizes refer to.
    path_column : str, default="path"

    Notes
    -----
    ``X`` holds video paths (list, Series, or a DataFrame column). The output is
    float32 ``(n_clips, n_frames, 3, height, width)`` for ``"face"`` and
    ``"mouth"``, and ``(n_clips, n_frames, 2, 3, 128, 128)`` for ``"eyes"`` (right
    eye of the subject first), channels first as torch image models expect. It is
    large: 88 face frames are 53 MB per clip, so extract in batches or use fewer
    frames. :meth:`get_feature_names_out` names the flattened per-frame values.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_ClipTransformer._parameter_constraints,
        "region": [StrOptions(set(REGION_SIZES))],
        "normalize": ["boolean"],
        "reference_height": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        region: str = "face",
        *,
        landmarks: FaceLandmarks | None = None,
        normalize: bool = True,
        reference_height: int = 720,
        path_column: str = "path",
    ) -> None:
        self.region = region
        self.landmarks = landmarks
        self.normalize = normalize
        self.reference_height = reference_height
        self.path_column = path_column

    def transform(self, X: Any) -> np.ndarray:
        """Cut the region out of every selected frame of every clip.

        Parameters
        ----------
        X : paths, DataFrame or Series of videos

        Returns
        -------
        patches : np.ndarray of float32
            ``(n_clips, n_frames, 3, H, W)``, or ``(n_clips, n_frames, 2, 3, 128, 128)``
            for the eyes.
        """
        self._validate_params()
        clips = self._parse(X)
        if isinstance(clips[0], FaceTrack):
            raise TypeError("FaceRegions needs the videos themselves, not FaceTrack objects")
        tracks = self._extractor().extract(clips)
        return np.stack(
            [self._clip_patches(clip, track) for clip, track in zip(clips, tracks, strict=True)]
        )

    def _clip_patches(self, clip: str, track: FaceTrack | None) -> np.ndarray:
        from ._video import read_frames

        size = REGION_SIZES[self.region]
        n_views = 2 if self.region == "eyes" else 1
        if track is None:
            n_frames = self._extractor().n_frames
            shape = (n_frames, 2, 3, *size) if n_views == 2 else (n_frames, 3, *size)
            return np.full(shape, np.nan, dtype=np.float32)
        frames = read_frames(clip, track.frame_indices, color="rgb")
        scale = frames.shape[1] / self.reference_height
        win_h, win_w = _WINDOWS_AT_720[self.region]
        window = (max(1, round(win_h * scale)), max(1, round(win_w * scale)))
        out = np.empty((len(frames), n_views, *size, 3), dtype=np.uint8)
        for index, (frame, points) in enumerate(zip(frames, track.landmarks_2d, strict=True)):
            if self.region == "face":
                height, width = frame.shape[:2]
                side = min(window[0], height, width)
                centers = [(width / 2, height / 2)]
                windows = [(side, side)]
            elif self.region == "eyes":
                centers = [
                    tuple(points[_RIGHT_EYE].mean(axis=0)),
                    tuple(points[_LEFT_EYE].mean(axis=0)),
                ]
                windows = [window, window]
            else:
                centers = [tuple(points[_MOUTH].mean(axis=0))]
                windows = [window]
            for view, (center, win) in enumerate(zip(centers, windows, strict=True)):
                out[index, view] = crop_patch(frame, center=center, window=win, size=size)
        patches = out.astype(np.float32) / 255.0
        if self.normalize:
            patches = (patches - IMAGENET_MEAN) / IMAGENET_STD
        # channels first, as torch image models expect
        patches = np.moveaxis(patches, -1, 2)
        return patches if n_views == 2 else patches[:, 0]

    def _feature_names(self) -> list[str]:
        height, width = REGION_SIZES[self.region]
        views = ("right", "left") if self.region == "eyes" else (None,)
        names: list[str] = []
        for view in views:
            prefix = f"{self.region}_{view}" if view else self.region
            for channel in "rgb":
                names.extend(
                    f"{prefix}_{channel}_{y}_{x}" for y in range(height) for x in range(width)
                )
        return names
