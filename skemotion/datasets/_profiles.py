"""Emotion profiles shared by the synthetic speech (and, later, face) generators."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType

from ._ravdess import EMOTIONS

__all__ = ["EMOTION_PROFILES", "STRONG_INTENSITY_GAIN", "EmotionProfile", "emotion_profile"]

STRONG_INTENSITY_GAIN = 1.6
"""How much a ``"strong"`` clip exaggerates the profile's departure from neutral."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmotionProfile:
    """How one emotion shows, as departures from a neutral delivery.

    The speech fields drive :func:`skemotion.datasets.make_ravdess_like`.
    ``arousal``, ``valence`` and ``action_units`` are for a face generator: the
    speech profile deliberately leaves some emotions close (happy ~ neutral,
    sad ~ calm, disgust ~ neutral), and the face must carry what tells them apart.

    Parameters
    ----------
    arousal, valence : float
        Position on the circumplex, each in [-1, 1].
    f0_shift : float
        Mean pitch change, in semitones.
    f0_range : float
        Multiplier of the pitch accents (the melody's excursions).
    f0_final : float
        Pitch movement on the last syllable, in semitones (< 0 falls, > 0 rises).
    tremor : float
        Depth of a ~6.5 Hz pitch tremor, in semitones.
    loudness : float
        Level change, in dB.
    tempo : float
        Multiplier of the syllable rate (> 1 is faster, so shorter speech).
    tilt : float
        Spectral brightness, in octaves of the glottal low-pass corner
        (> 0 is brighter, "pressed" voice; < 0 darker, "lax" voice).
    jitter : float
        Multiplier of the cycle-to-cycle pitch (and amplitude) irregularity.
    breathiness : float
        Aspiration noise added to the voice source, as a fraction of its level.
    action_units : tuple of str
        Prototypical OpenFace action units of the facial expression (EMFACS).
    """

    arousal: float
    valence: float
    f0_shift: float
    f0_range: float
    f0_final: float
    tremor: float
    loudness: float
    tempo: float
    tilt: float
    jitter: float
    breathiness: float
    action_units: tuple[str, ...]


# Values follow the acoustic correlates reviewed by Juslin & Laukka (2003) and
# Banse & Scherer (1996), then pulled together where RAVDESS speech models are
# known to confuse classes, so that the voice alone separates arousal well but
# not every emotion.
EMOTION_PROFILES: Mapping[str, EmotionProfile] = MappingProxyType(
    {
        "neutral": EmotionProfile(
            arousal=0.0, valence=0.0, f0_shift=0.0, f0_range=1.0, f0_final=-2.0, tremor=0.0,
            loudness=0.0, tempo=1.0, tilt=0.0, jitter=1.0, breathiness=0.05,
            action_units=(),
        ),
        "calm": EmotionProfile(
            arousal=-0.6, valence=0.4, f0_shift=-0.6, f0_range=0.75, f0_final=-2.0, tremor=0.0,
            loudness=-2.5, tempo=0.92, tilt=-0.3, jitter=1.0, breathiness=0.12,
            action_units=("AU12",),
        ),
        "happy": EmotionProfile(
            arousal=0.5, valence=0.8, f0_shift=1.8, f0_range=1.3, f0_final=-1.0, tremor=0.0,
            loudness=2.0, tempo=1.05, tilt=0.3, jitter=1.0, breathiness=0.06,
            action_units=("AU06", "AU12", "AU25"),
        ),
        "sad": EmotionProfile(
            arousal=-0.5, valence=-0.7, f0_shift=-0.8, f0_range=0.6, f0_final=-2.5, tremor=0.1,
            loudness=-3.5, tempo=0.86, tilt=-0.45, jitter=1.3, breathiness=0.2,
            action_units=("AU01", "AU04", "AU15", "AU17"),
        ),
        "angry": EmotionProfile(
            arousal=0.8, valence=-0.6, f0_shift=3.5, f0_range=1.5, f0_final=-4.0, tremor=0.0,
            loudness=8.0, tempo=1.1, tilt=1.1, jitter=1.2, breathiness=0.03,
            action_units=("AU04", "AU05", "AU07", "AU23"),
        ),
        "fearful": EmotionProfile(
            arousal=0.7, valence=-0.6, f0_shift=5.0, f0_range=1.1, f0_final=0.0, tremor=0.6,
            loudness=3.5, tempo=1.15, tilt=0.5, jitter=1.8, breathiness=0.2,
            action_units=("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
        ),
        "disgust": EmotionProfile(
            arousal=0.2, valence=-0.7, f0_shift=-1.0, f0_range=1.0, f0_final=-3.0, tremor=0.0,
            loudness=0.5, tempo=0.88, tilt=0.0, jitter=1.3, breathiness=0.08,
            action_units=("AU09", "AU10", "AU15", "AU17"),
        ),
        "surprised": EmotionProfile(
            arousal=0.7, valence=0.2, f0_shift=4.0, f0_range=1.8, f0_final=4.0, tremor=0.0,
            loudness=3.5, tempo=1.0, tilt=0.5, jitter=1.0, breathiness=0.08,
            action_units=("AU01", "AU02", "AU05", "AU25", "AU26"),
        ),
    }
)  # fmt: skip
"""The profile of every emotion in :data:`skemotion.EMOTIONS`, for normal intensity."""

_ADDITIVE = ("f0_shift", "f0_final", "tremor", "loudness", "tilt", "breathiness")
_MULTIPLICATIVE = ("f0_range", "tempo", "jitter")


def emotion_profile(
    emotion: str, *, intensity: str = "normal", expressiveness: float = 1.0
) -> EmotionProfile:
    """Return an emotion's profile at a given intensity and actor expressiveness.

    The departure from ``"neutral"`` is scaled by ``expressiveness`` and, for
    ``"strong"`` intensity, by :data:`STRONG_INTENSITY_GAIN`: additively for
    pitch, loudness, tilt and noise fields, in log scale for the multipliers
    (range, tempo, jitter). Arousal and valence scale the same way, clipped to
    [-1, 1].

    Parameters
    ----------
    emotion : str
        One of :data:`skemotion.EMOTIONS`.
    intensity : {"normal", "strong"}, default="normal"
    expressiveness : float, default=1.0
        How strongly the actor portrays emotions (> 0).

    Returns
    -------
    profile : EmotionProfile

    Examples
    --------
    >>> emotion_profile("angry", intensity="strong").loudness
    12.8
    >>> emotion_profile("neutral", expressiveness=2.0) == EMOTION_PROFILES["neutral"]
    True
    """
    if emotion not in EMOTION_PROFILES:
        raise ValueError(f"emotion must be one of {list(EMOTIONS)}, got {emotion!r}")
    if intensity not in ("normal", "strong"):
        raise ValueError(f"intensity must be 'normal' or 'strong', got {intensity!r}")
    if not expressiveness > 0:
        raise ValueError(f"expressiveness must be > 0, got {expressiveness!r}")
    gain = expressiveness * (STRONG_INTENSITY_GAIN if intensity == "strong" else 1.0)
    base = EMOTION_PROFILES["neutral"]
    profile = EMOTION_PROFILES[emotion]
    changes: dict[str, float] = {}
    for field in _ADDITIVE:
        ref = getattr(base, field)
        changes[field] = round(ref + gain * (getattr(profile, field) - ref), 10)
    for field in _MULTIPLICATIVE:
        ref = getattr(base, field)
        changes[field] = ref * math.exp(gain * math.log(getattr(profile, field) / ref))
    for field in ("arousal", "valence"):
        changes[field] = max(-1.0, min(1.0, gain * getattr(profile, field)))
    changes["breathiness"] = max(0.0, changes["breathiness"])
    changes["tremor"] = max(0.0, changes["tremor"])
    return dataclasses.replace(profile, **changes)  # type: ignore[arg-type]
