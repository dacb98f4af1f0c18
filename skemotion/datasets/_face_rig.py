"""The synthetic face: one portrait, its action units as displacement fields, an actor's look.

Everything about a synthetic actor's face that does not change from frame to frame: the
public-domain portrait and its 68 landmarks, each facial action unit (AU) as a few
Gaussian-weighted local translations anchored at those landmarks, the actor's appearance
(size, skin, background, expressiveness) and the actor placed in a frame with the AU
fields sampled on a coarse grid. :mod:`._face_video` animates it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from ..utils._optional import import_optional
from ._ravdess import EMOTIONS
from ._synthetic import _actor_traits

# The 68 iBUG landmarks of the face in ``skimage.data.astronaut()`` (512 x 512,
# x then y, pixels), measured once with dlib 20.0 (frontal HOG detector, one
# upsampling, then shape_predictor_68_face_landmarks.dat of face-recognition-models)
# and stored here so that generating a corpus never runs dlib.
_TEMPLATE_LANDMARKS: tuple[tuple[int, int], ...] = (
    (179, 104), (180, 116), (181, 127), (182, 139), (185, 150), (191, 160), (200, 168),
    (209, 176), (220, 178), (232, 177), (243, 171), (253, 163), (260, 154), (265, 143),
    (268, 131), (270, 120), (272, 108), (186, 94), (192, 88), (200, 87), (208, 89),
    (216, 92), (236, 93), (244, 91), (252, 91), (260, 92), (265, 99), (226, 102),
    (225, 111), (225, 119), (225, 127), (214, 131), (219, 133), (224, 134), (229, 133),
    (234, 132), (195, 101), (200, 98), (207, 98), (212, 104), (206, 104), (199, 104),
    (237, 106), (243, 100), (250, 100), (255, 105), (250, 107), (244, 107), (201, 139),
    (209, 139), (218, 139), (224, 141), (230, 140), (238, 140), (246, 141), (238, 151),
    (229, 155), (222, 156), (216, 155), (208, 150), (204, 141), (218, 143), (223, 144),
    (230, 143), (243, 142), (229, 150), (223, 151), (217, 150),
)  # fmt: skip

# Head, hair and collar of the portrait; the face box is about x 179-266, y 83-170.
_CROP = (100, 0, 350, 270)  # x0, y0, x1, y1 in the 512 x 512 image

# Left-right partner of each landmark (iBUG 68-point scheme), to mirror the blobs.
_MIRROR = (
    *range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Blob:
    """A Gaussian-weighted local translation of the face's content."""

    anchor: tuple[int, ...]  # landmarks whose mean is the centre
    move: tuple[float, float]  # (outward, upward), portrait pixels at intensity 1
    sigma: tuple[float, float]  # (x, y), portrait pixels
    shift: tuple[float, float] = (0.0, 0.0)  # centre offset (outward, downward)
    paired: bool = True  # also on the other side of the face


def _blobs(*blobs: _Blob) -> tuple[_Blob, ...]:
    return blobs


# Each AU as local translations of the subject's right half (image left) of the
# portrait, mirrored to the other half. Magnitudes are for a strong but natural
# expression of a face 91 px high (the eye opening is ~6 px, the mouth ~45 px wide).
# "_rest" turns the portrait's broad smile into a closed-mouth neutral face; the
# smile comes back with AU12 and AU25.
_ACTION_UNITS: dict[str, tuple[_Blob, ...]] = {
    "_rest": _blobs(
        _Blob((48, 60), (-3.0, -6.5), (6.0, 6.0)),
        _Blob((49, 59), (0.0, -2.5), (5.0, 5.0)),
        _Blob((57, 66), (0.0, 5.5), (9.0, 5.5), paired=False),
        _Blob((62,), (0.0, -2.5), (8.0, 3.5), paired=False),
    ),
    "AU01": _blobs(_Blob((20, 21), (0.5, 4.0), (6.0, 5.0))),
    "AU02": _blobs(_Blob((17, 18), (0.5, 4.0), (6.0, 5.0))),
    "AU04": _blobs(
        _Blob((20, 21), (-2.5, -3.5), (6.0, 5.0)),
        _Blob((18, 19), (-1.0, -2.0), (6.0, 5.0)),
    ),
    "AU05": _blobs(_Blob((37, 38), (0.0, 2.0), (5.0, 3.0))),
    "AU06": _blobs(
        _Blob((40, 41), (0.0, 2.0), (6.0, 3.0), shift=(0.0, 1.0)),
        _Blob((40, 41), (0.5, 3.0), (9.0, 6.0), shift=(2.0, 12.0)),
    ),
    "AU07": _blobs(
        _Blob((40, 41), (0.0, 2.0), (5.0, 2.5)),
        _Blob((37, 38), (0.0, -1.0), (5.0, 2.5)),
    ),
    "AU09": _blobs(
        _Blob((31,), (0.5, 3.0), (4.5, 5.0)),
        _Blob((21,), (-0.5, -2.0), (5.0, 4.0)),
        _Blob((28, 29), (0.0, 1.5), (4.0, 5.0), paired=False),
    ),
    "AU10": _blobs(
        _Blob((50, 61), (0.0, 3.5), (6.0, 4.0)),
        _Blob((31,), (0.3, 1.2), (4.0, 4.0)),
    ),
    "AU12": _blobs(
        _Blob((48, 60), (3.0, 6.5), (6.0, 6.0)),
        _Blob((49, 59), (0.0, 2.5), (5.0, 5.0)),
    ),
    "AU15": _blobs(_Blob((48, 60), (0.5, -3.5), (5.0, 4.5))),
    "AU17": _blobs(
        _Blob((8,), (0.0, 3.0), (10.0, 6.0), shift=(0.0, -5.0), paired=False),
        _Blob((57,), (0.0, 1.5), (8.0, 3.5), paired=False),
    ),
    "AU20": _blobs(_Blob((48, 60), (4.0, -1.0), (5.0, 4.5))),
    "AU23": _blobs(
        _Blob((48, 60), (-2.0, 0.0), (5.0, 4.0)),
        _Blob((51,), (0.0, -1.0), (8.0, 3.0), paired=False),
        _Blob((57,), (0.0, 1.0), (8.0, 3.0), paired=False),
    ),
    "AU25": _blobs(
        _Blob((57, 66), (0.0, -5.5), (9.0, 5.5), paired=False),
        _Blob((62,), (0.0, 2.5), (8.0, 3.5), paired=False),
    ),
    "AU26": _blobs(
        _Blob((57,), (0.0, -4.5), (9.0, 5.0), paired=False),
        _Blob((8,), (0.0, -5.5), (16.0, 9.0), paired=False),
        _Blob((6,), (0.0, -3.0), (9.0, 9.0)),
    ),
    "AU45": _blobs(_Blob((37, 38), (0.0, -5.0), (5.5, 3.6))),
}
_BASES = tuple(_ACTION_UNITS)


@functools.lru_cache(maxsize=1)
def _template() -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.float64]]:
    """The portrait's head crop, its foreground alpha and its landmarks in the crop."""
    import_optional("skimage", extra="face", needed_for="Synthetic face videos")
    cv2 = import_optional("cv2", extra="face", needed_for="Synthetic face videos")
    from skimage import data

    x0, y0, x1, y1 = _CROP
    crop = np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1])
    # The studio backdrop is pale and unsaturated: keep such pixels connected to the
    # top or the upper sides as background, so highlights on the skin stay face.
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    pale = ((hsv[..., 1] < 60) & (hsv[..., 2] > 150)).astype(np.uint8)
    _, labels = cv2.connectedComponents(pale, connectivity=4)
    h = pale.shape[0]
    upper = int(0.7 * h)
    border = set(labels[0]) | set(labels[:upper, 0]) | set(labels[:upper, -1])
    border.discard(0)
    background = np.isin(labels, sorted(border)).astype(np.uint8)
    kernel = np.ones((5, 5), np.uint8)
    background = cv2.morphologyEx(background, cv2.MORPH_OPEN, kernel)
    foreground = cv2.morphologyEx(1 - background, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    alpha = cv2.GaussianBlur(foreground.astype(np.float32), (0, 0), 2.0)
    # the suit is cut by the crop: fade it out instead of showing a straight edge
    alpha *= np.clip((h - 5 - np.arange(h, dtype=np.float32)[:, None]) / 45, 0, 1)
    landmarks = np.asarray(_TEMPLATE_LANDMARKS, dtype=np.float64) - (x0, y0)
    return crop, alpha.astype(np.float32), landmarks


@dataclasses.dataclass(frozen=True)
class _FaceTraits:
    scale: float  # face height / portrait face height, at 640 x 360
    stretch: float  # > 1 is a wider, shorter face
    centre: tuple[float, float]  # face centre, fraction of the frame
    mirror: bool
    skin: tuple[float, float, float]  # RGB gains of the person
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    vertical_gradient: bool
    noise: float  # sensor noise, 8-bit levels
    motion: float  # head motion amplitude multiplier
    blink_rate: float  # per second
    expressiveness: float
    rest: dict[str, float]  # the actor's own resting face
    style: dict[str, dict[str, float]]  # per emotion, per AU multiplier


def _face_traits(actor: int, seed: int) -> _FaceTraits:
    # Seeded by actor alone (like the voice), so an actor looks the same whatever
    # the number of actors; expressiveness is the voice's, so both agree.
    rng = np.random.default_rng([seed, 0xFACE, actor])
    brightness = math.exp(rng.normal(0, 0.1))
    warmth = rng.normal(0, 0.06)

    def colour() -> tuple[float, float, float]:
        hue = rng.uniform(0, 2 * math.pi)
        value = rng.uniform(0.45, 0.92)
        chroma = rng.uniform(0.03, 0.25) * value
        rgb = [value + chroma * math.cos(hue + k * 2 * math.pi / 3) for k in range(3)]
        return tuple(255 * min(max(c, 0.0), 1.0) for c in rgb)  # type: ignore[return-value]

    return _FaceTraits(
        scale=float(np.clip(1.3 * math.exp(rng.normal(0, 0.09)), 1.1, 1.55)),
        stretch=math.exp(rng.normal(0, 0.05)),
        centre=(0.5 + rng.normal(0, 0.04), 0.45 + rng.normal(0, 0.03)),
        mirror=bool(rng.random() < 0.5),
        skin=(brightness * (1 + warmth), brightness, brightness * (1 - warmth)),
        background=(colour(), colour()),
        vertical_gradient=bool(rng.random() < 0.5),
        noise=float(rng.uniform(0.8, 2.5)),
        motion=math.exp(rng.normal(0, 0.3)),
        blink_rate=float(rng.uniform(0.15, 0.45)),
        expressiveness=_actor_traits(actor, seed).expressiveness,
        rest={au: float(rng.normal(0, 0.08)) for au in ("AU01", "AU04", "AU12", "AU15")},
        style={
            emotion: {au: math.exp(rng.normal(0, 0.2)) for au in _BASES[1:]} for emotion in EMOTIONS
        },
    )


@dataclasses.dataclass(frozen=True)
class _Stage:
    """An actor placed in the frame: everything that does not change per frame."""

    still: NDArray[np.uint8]  # (H, W, 3) the actor at rest on the background
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the animated region
    grid: NDArray[np.float32]  # (h, w, 2) pixel coordinates of the region
    coarse: NDArray[np.float64]  # (gh, gw, 2) frame coordinates of a coarse grid
    weight: NDArray[np.float64]  # (gh, gw) how much of the head motion applies there
    bases: NDArray[np.float32]  # (K, gh, gw, 2) content displacement per unit AU
    pivot: tuple[float, float]  # centre of head rotations, frame coordinates
    face_height: float  # pixels


_COARSE_STEP = 4  # pixels between the displacement-field samples


def _place_actor(traits: _FaceTraits, frame_size: tuple[int, int]) -> _Stage:
    cv2 = import_optional("cv2", extra="face", needed_for="Synthetic face videos")
    crop, alpha, landmarks = _template()
    width, height = frame_size
    unit = min(width / 640, height / 360)
    sx = traits.scale * unit * traits.stretch
    sy = traits.scale * unit / traits.stretch
    if traits.mirror:
        crop, alpha = crop[:, ::-1], alpha[:, ::-1]
        landmarks = np.column_stack((crop.shape[1] - 1 - landmarks[:, 0], landmarks[:, 1]))
        landmarks = landmarks[list(_MIRROR)]  # keep the subject's right side first
    cw, ch = round(crop.shape[1] * sx), round(crop.shape[0] * sy)
    face = cv2.resize(np.ascontiguousarray(crop), (cw, ch), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(np.ascontiguousarray(alpha), (cw, ch), interpolation=cv2.INTER_AREA)
    points = landmarks * (cw / crop.shape[1], ch / crop.shape[0])
    centre = points[17:].mean(axis=0)
    ox = round(traits.centre[0] * width - centre[0])
    oy = round(traits.centre[1] * height - centre[1])
    points = points + np.array([ox, oy])

    # Background gradient, then the tinted person over it.
    t = np.linspace(0.0, 1.0, height if traits.vertical_gradient else width)
    first, second = (np.asarray(c, dtype=np.float32) for c in traits.background)
    ramp = first + (second - first) * t[:, None].astype(np.float32)
    still = np.empty((height, width, 3), np.float32)
    still[:] = ramp[:, None, :] if traits.vertical_gradient else ramp[None, :, :]
    fx0, fy0 = max(ox, 0), max(oy, 0)
    fx1, fy1 = min(ox + cw, width), min(oy + ch, height)
    if fx1 <= fx0 or fy1 <= fy0:
        raise ValueError(f"frame_size {frame_size} leaves no room for the face")
    part = face[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox].astype(np.float32)
    part *= np.asarray(traits.skin, dtype=np.float32)
    a = mask[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox, None]
    still[fy0:fy1, fx0:fx1] = a * part + (1 - a) * still[fy0:fy1, fx0:fx1]
    still_u8 = np.clip(still + 0.5, 0, 255).astype(np.uint8)

    # The animated region: the head with hair and some background around it, where
    # the head motion fades to nothing so that its border never moves.
    face_height = float(points[8, 1] - points[17:27, 1].min())
    cx, cy = float(centre[0] + ox), float(centre[1] + oy)
    half_w, half_h = 1.05 * face_height * traits.stretch, 1.25 * face_height
    step = _COARSE_STEP
    # sizes in whole coarse steps, so that upsampling the field is an exact x4 resize
    bx0, by0 = max(int(cx - half_w), 0), max(int(cy - 1.2 * half_h), 0)
    bw = (min(int(cx + half_w) + 1, width) - bx0) // step * step
    bh = (min(int(cy + half_h) + 1, height) - by0) // step * step
    bx1, by1 = bx0 + bw, by0 + bh
    gw, gh = bw // step, bh // step
    if gw < 2 or gh < 2:
        raise ValueError(f"frame_size {frame_size} leaves no room for the face")
    # where cv2.resize (linear) puts the coarse samples when it upsamples to (bh, bw)
    xs = bx0 + (np.arange(gw) + 0.5) * step - 0.5
    ys = by0 + (np.arange(gh) + 0.5) * step - 0.5
    coarse = np.stack(np.meshgrid(xs, ys), axis=-1)
    r = np.hypot((coarse[..., 0] - cx) / half_w, (coarse[..., 1] - cy - 0.1 * half_h) / half_h)
    weight = np.clip((1.0 - r) / 0.3, 0.0, 1.0) ** 2
    grid = np.stack(np.meshgrid(np.arange(bx0, bx1), np.arange(by0, by1)), axis=-1)

    bases = np.stack([_basis(_ACTION_UNITS[au], points, coarse, (sx, sy)) for au in _BASES]).astype(
        np.float32
    )
    return _Stage(
        still=still_u8,
        box=(bx0, by0, bx1, by1),
        grid=grid.astype(np.float32),
        coarse=coarse,
        weight=weight,
        bases=bases,
        pivot=(cx, cy + 0.4 * face_height),
        face_height=face_height,
    )


def _basis(
    blobs: Iterable[_Blob],
    points: NDArray[np.float64],
    coarse: NDArray[np.float64],
    scale: tuple[float, float],
) -> NDArray[np.float64]:
    midline = points[27:31, 0].mean()
    field = np.zeros(coarse.shape)
    for blob in blobs:
        sides = [blob.anchor]
        if blob.paired:
            sides.append(tuple(_MIRROR[i] for i in blob.anchor))
        for anchor in sides:
            centre = points[list(anchor)].mean(axis=0)
            side = float(np.sign(round(centre[0] - midline)))
            ax = centre[0] + side * blob.shift[0] * scale[0]
            ay = centre[1] + blob.shift[1] * scale[1]
            sigma_x, sigma_y = blob.sigma[0] * scale[0], blob.sigma[1] * scale[1]
            g = np.exp(
                -0.5 * ((coarse[..., 0] - ax) / sigma_x) ** 2
                - 0.5 * ((coarse[..., 1] - ay) / sigma_y) ** 2
            )
            field[..., 0] += g * side * blob.move[0] * scale[0]
            field[..., 1] -= g * blob.move[1] * scale[1]
    return field


@functools.lru_cache(maxsize=4)
def _stage(actor: int, seed: int, frame_size: tuple[int, int]) -> tuple[_FaceTraits, _Stage]:
    traits = _face_traits(actor, seed)
    return traits, _place_actor(traits, frame_size)
