"""Synthetic talking-face videos that go with the synthetic speech corpus.

One public-domain portrait is animated by smooth displacement fields: each facial
action unit (AU) is a few Gaussian-weighted local translations anchored at the
portrait's 68 landmarks, and every frame is a linear combination of those fields
(expression, speech articulation, blinks) composed with a small head motion and
applied with a single ``cv2.remap``. The face itself (portrait, AU fields, an actor's
look and place in the frame) is :mod:`._face_rig`; this module animates and encodes it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from ..utils._optional import import_optional
from ._face_rig import _BASES, _COARSE_STEP, _FaceTraits, _stage
from ._profiles import STRONG_INTENSITY_GAIN, emotion_profile
from ._ravdess import RavdessName, parse_ravdess_name
from ._synthetic import _check_args, _check_seed, _clip_seed, _ClipPlan, _plan_clip

__all__ = ["synthesize_face_video"]


# Intensity (at normal intensity, before the actor's expressiveness) of every AU
# listed in the emotion's profile; AUs not listed here default to 0.6.
# Happy, sad and disgust get their distinctive AUs large, since the voice
# separates them poorly; fearful and surprised share raised brows, wide eyes and
# an open jaw, so the face confuses them (and angry/fearful via AU04, AU05, AU07).
_EXPRESSION_GAINS: dict[str, dict[str, float]] = {
    "calm": {"AU12": 0.18},
    "happy": {"AU06": 1.0, "AU12": 1.2, "AU25": 0.6},
    "sad": {"AU01": 0.8, "AU04": 0.9, "AU15": 1.4, "AU17": 0.5},
    "angry": {"AU04": 0.4, "AU05": 0.3, "AU07": 0.3, "AU23": 0.3},
    "fearful": {
        "AU01": 0.5,
        "AU02": 0.45,
        "AU04": 0.2,
        "AU05": 0.5,
        "AU07": 0.15,
        "AU20": 0.25,
        "AU26": 0.35,
    },
    "disgust": {"AU09": 1.0, "AU10": 1.0, "AU15": 0.3, "AU17": 0.35},
    "surprised": {"AU01": 0.5, "AU02": 0.5, "AU05": 0.5, "AU25": 0.3, "AU26": 0.4},
}

_VARIABLE_EMOTIONS = frozenset({"angry", "fearful", "surprised"})

# How far each vowel opens the jaw (AU26) while it is spoken.
_VOWEL_OPENING = {"ih": 0.45, "ar": 1.0, "aw": 0.9, "ai": 1.0, "ax": 0.5, "or": 0.65}


def _smooth_noise(
    rng: np.random.Generator, n: int, fps: float, cutoff: float
) -> NDArray[np.float64]:
    """Unit-variance Gaussian noise low-passed at ``cutoff`` Hz."""
    warm = int(2 * fps / cutoff)  # let the filter forget its zero start
    sos = signal.butter(2, min(cutoff / (fps / 2), 0.99), output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n + warm))[warm:]
    return x / (x.std() + 1e-12)


def _smoothstep(x: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _action_units(
    name: RavdessName,
    traits: _FaceTraits,
    plan: _ClipPlan,
    *,
    times: NDArray[np.float64],
    fps: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Per-frame intensity of every basis field, shape (n_frames, K)."""
    n = times.size
    index = {au: k for k, au in enumerate(_BASES)}
    coeffs = np.zeros((n, len(_BASES)))
    coeffs[:, index["_rest"]] = 1.0
    for au, value in traits.rest.items():
        coeffs[:, index[au]] += value

    # Expression: the profile's AUs, stronger for strong intensity and expressive
    # actors, each clip a little different; a little of other AUs leaks in.
    profile = emotion_profile(name.emotion)
    gains = _EXPRESSION_GAINS.get(name.emotion, {})
    # expressiveness compressed: an inexpressive actor's face still shows the emotion
    level = traits.expressiveness**0.7 * math.exp(rng.normal(0, 0.15))
    if name.intensity == "strong":
        level *= STRONG_INTENSITY_GAIN
    # high-arousal negative portrayals vary more from clip to clip
    spread = 0.35 if name.emotion in _VARIABLE_EMOTIONS else 0.2
    target = np.zeros(len(_BASES))
    for au in profile.action_units:
        style = traits.style[name.emotion][au]
        target[index[au]] = gains.get(au, 0.6) * level * style * math.exp(rng.normal(0, spread))
    leak = rng.random(len(_BASES)) < 0.25
    target[1:] += leak[1:] * rng.uniform(0.0, 0.3, len(_BASES) - 1)
    target[index["AU45"]] = 0.0  # blinks are events, below

    onset = plan.syllables[0].start + rng.uniform(-0.15, 0.15)
    ramp = _smoothstep((times - onset) / rng.uniform(0.3, 0.6))
    wobble = 1 + 0.08 * _smooth_noise(rng, n, fps, 0.7)
    coeffs += (ramp * wobble)[:, None] * target

    # Speech: the jaw and lips open on every vowel, more on stressed, open vowels
    # and in aroused speech.
    opening = np.zeros(n)
    arousal = 1 + 0.3 * emotion_profile(name.emotion, intensity=name.intensity).arousal
    for syllable in plan.syllables:
        a, b = syllable.vowel_start - 0.04, syllable.vowel_end + 0.03
        phase = np.clip((times - a) / (b - a), 0.0, 1.0)
        amp = _VOWEL_OPENING[syllable.vowel] * (0.65 + 0.35 * syllable.stress)
        opening = np.maximum(opening, amp * np.sin(np.pi * phase) ** 1.5)
    opening *= arousal * math.exp(rng.normal(0, 0.1))
    coeffs[:, index["AU26"]] += 0.75 * opening
    coeffs[:, index["AU25"]] += 0.9 * np.minimum(opening * 2, 1.0)

    # Blinks: a Poisson process, more frequent when aroused; ~0.2 s each.
    rate = traits.blink_rate * (1 + 0.5 * max(profile.arousal, 0.0))
    t = rng.exponential(1 / rate) * rng.random()
    while t < times[-1]:
        length = rng.uniform(0.15, 0.25)
        phase = np.clip((times - t) / length, 0.0, 1.0)
        coeffs[:, index["AU45"]] = np.maximum(
            coeffs[:, index["AU45"]], np.sin(np.pi * phase) ** 0.7
        )
        t += length + rng.exponential(1 / rate)
    return coeffs


def _render_frames(
    name: RavdessName,
    *,
    frame_size: tuple[int, int],
    fps: float,
    duration_range: tuple[float, float],
    seed: int,
) -> Iterator[NDArray[np.uint8]]:
    cv2 = import_optional("cv2", extra="face", needed_for="Synthetic face videos")
    # The audio's plan (its noise level does not change the timing).
    plan = _plan_clip(name, seed=seed, duration_range=duration_range, noise_level=0.0)
    traits, stage = _stage(name.actor, seed, frame_size)
    # a third child of the clip's seed: the voice uses the first two
    rng = np.random.default_rng(_clip_seed(name, seed).spawn(3)[2])
    n = max(round(plan.duration * fps), 1)
    times = np.arange(n) / fps
    coeffs = _action_units(name, traits, plan, times=times, fps=fps, rng=rng).astype(np.float32)

    # Head: slow drift plus small nods on stressed syllables; lighting drifts.
    amp = traits.motion * stage.face_height / 91.0
    shift_x = 2.5 * amp * _smooth_noise(rng, n, fps, 0.6)
    shift_y = 1.5 * amp * _smooth_noise(rng, n, fps, 0.8)
    for syllable in plan.syllables:
        nod = np.clip((times - syllable.vowel_start) / 0.25, 0, 1)
        shift_y += 1.2 * amp * syllable.stress * np.sin(np.pi * nod) ** 2
    angle = 1.2 * traits.motion * _smooth_noise(rng, n, fps, 0.5)  # degrees
    zoom = 1 + 0.008 * traits.motion * _smooth_noise(rng, n, fps, 0.3)
    light = 1 + 0.025 * _smooth_noise(rng, n, fps, 0.2)

    height, width = stage.still.shape[:2]
    bx0, by0, bx1, by1 = stage.box
    gh, gw = stage.weight.shape
    step = _COARSE_STEP
    flat_bases = stage.bases.reshape(len(_BASES), -1)
    # coarse sample index <-> frame pixel, as cv2.resize places the samples
    from_coarse = np.array(
        [[step, 0, bx0 + 0.5 * step - 0.5], [0, step, by0 + 0.5 * step - 0.5], [0, 0, 1]]
    )
    to_coarse = np.linalg.inv(from_coarse)
    # Sensor noise: fixed per clip, read at a random offset per frame, much cheaper
    # than fresh Gaussian noise every frame and just as grainy.
    pad = 16
    noise = rng.normal(0, traits.noise, (height + pad, width + pad, 3))
    grain_up = np.clip(noise, 0, 255).astype(np.uint8)
    grain_down = np.clip(-noise, 0, 255).astype(np.uint8)
    offsets = rng.integers(0, pad, (n, 2))

    for f in range(n):
        # content displacement at the coarse samples, in rest-pose coordinates
        field = (coeffs[f] @ flat_bases).reshape(gh, gw, 2)
        # the head moves as a similarity about the pivot: the displacement field
        # travels with it, and the rest of the region follows with a fading weight
        rot = cv2.getRotationMatrix2D(stage.pivot, float(angle[f]), float(zoom[f]))
        rot[:, 2] += (shift_x[f], shift_y[f])
        inverse = cv2.invertAffineTransform(rot)
        coarse_rot = (to_coarse @ np.vstack((rot, (0, 0, 1))) @ from_coarse)[:2]
        moved = cv2.warpAffine(field, coarse_rot, (gw, gh), flags=cv2.INTER_LINEAR)
        source = stage.coarse @ inverse[:, :2].T + inverse[:, 2]
        offset = (source - stage.coarse) * stage.weight[..., None] - moved
        offset_full = cv2.resize(offset.astype(np.float32), (bx1 - bx0, by1 - by0))
        # fixed-point maps: converting them and remapping beats a float remap
        map_xy, map_frac = cv2.convertMaps(stage.grid + offset_full, None, cv2.CV_16SC2)
        frame = stage.still.copy()
        frame[by0:by1, bx0:bx1] = cv2.remap(
            stage.still, map_xy, map_frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        frame = cv2.convertScaleAbs(frame, alpha=float(light[f]))
        dy, dx = offsets[f]
        cv2.add(frame, grain_up[dy : dy + height, dx : dx + width], dst=frame)
        cv2.subtract(frame, grain_down[dy : dy + height, dx : dx + width], dst=frame)
        yield frame


def _check_video_args(frame_size: tuple[int, int], fps: float) -> tuple[tuple[int, int], float]:
    try:
        width, height = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (width, height), got {frame_size!r}") from None
    if (width, height) != tuple(frame_size) or width < 64 or height < 64:
        raise ValueError(f"frame_size must be two ints >= 64, got {frame_size!r}")
    if width % 2 or height % 2:
        raise ValueError(f"frame_size must be even (H.264 4:2:0), got {frame_size!r}")
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and 1 <= fps <= 120):
        raise ValueError(f"fps must be a number in [1, 120], got {fps!r}")
    return (width, height), float(fps)


def synthesize_face_video(
    name: RavdessName | str,
    *,
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    duration_range: tuple[float, float] = (2.9, 5.2),
    random_state: int = 0,
) -> tuple[NDArray[np.uint8], float]:
    """Synthesize the video of a speaking face for a given RAVDESS name.

    The frames that :func:`make_ravdess_like` encodes as
    ``02-01-EE-II-SS-RR-AA.mp4`` (video-only) for the same ``random_state``,
    before H.264 compression. The face speaks the syllables of the matching
    :func:`synthesize_speech` clip, in time with it, and lasts as long. See
    :func:`make_ravdess_like` for the generative model.

    Parameters
    ----------
    name : RavdessName or str
        The clip, or its file name / clip id, of any modality. Must be speech.
    frame_size : (int, int), default=(640, 360)
        Width and height in pixels, even numbers (RAVDESS: 1280 x 720). The face
        scales with the frame.
    fps : float, default=30.0
        Frame rate (RAVDESS: 30).
    duration_range : (float, float), default=(2.9, 5.2)
        Bounds of the clip duration, seconds, as for :func:`synthesize_speech`.
    random_state : int, default=0
        Seed of the corpus (actor appearance and every clip's variation).

    Returns
    -------
    frames : ndarray of shape (n_frames, height, width, 3), uint8
        RGB frames; ``n_frames = round(duration * fps)``.
    fps : float
        The frame rate.

    Examples
    --------
    >>> frames, fps = synthesize_face_video("02-01-03-02-01-01-01.mp4",  # doctest: +SKIP
    ...                                     frame_size=(320, 180))
    >>> frames.shape[1:], frames.dtype, fps  # doctest: +SKIP
    ((180, 320, 3), dtype('uint8'), 30.0)
    """
    if not isinstance(name, RavdessName):
        name = parse_ravdess_name(name)
    if name.vocal_channel != "speech":
        raise ValueError(f"{name.clip_id}: only speech clips can be synthesized, not song")
    size, rate = _check_video_args(frame_size, fps)
    low, high = _check_args(duration_range=duration_range, sr=48000, noise_level=0.0)
    seed = _check_seed(random_state)
    frames = list(
        _render_frames(name, frame_size=size, fps=rate, duration_range=(low, high), seed=seed)
    )
    return np.stack(frames), rate


def _write_mp4(
    path: str | os.PathLike[str] | BinaryIO,
    frames: Iterable[NDArray[np.uint8]],
    *,
    fps: float,
    crf: int = 23,
    preset: str = "ultrafast",
) -> int:
    """Encode RGB frames as H.264 (yuv420p) in an mp4 container; return the count.

    ``path`` may be a file name or a binary file object. One encoder thread, so
    the bytes do not depend on the machine's core count.
    """
    av = import_optional("av", extra="face", needed_for="Writing mp4 videos", package="PyAV")
    cv2 = import_optional("cv2", extra="face", needed_for="Synthetic face videos")

    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    with av.open(path, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": preset, "crf": str(crf)}
        stream.codec_context.thread_count = 1
        # no encoder version string in the stream: same bytes with any libx264 build
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for frame in frames:
            if count == 0:
                stream.height, stream.width = frame.shape[:2]
            # OpenCV's conversion is swscale's (BT.601, limited range), 5x faster
            yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            container.mux(stream.encode(video_frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def _write_face_video(
    name: RavdessName,
    path: Path,
    *,
    frame_size: tuple[int, int],
    fps: float,
    duration_range: tuple[float, float],
    seed: int,
) -> None:
    cv2 = import_optional("cv2", extra="face", needed_for="Synthetic face videos")
    # One clip is one job of a parallel corpus: OpenCV's own thread pool would
    # only fight the other jobs for the cores.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        frames = _render_frames(
            name, frame_size=frame_size, fps=fps, duration_range=duration_range, seed=seed
        )
        _write_mp4(path, frames, fps=fps)
    finally:
        cv2.setNumThreads(threads)
