"""Formant synthesis of RAVDESS-like speech: actor traits, clip plans and rendering.

The corpus writer, :func:`make_ravdess_like`, lives in ``_corpus.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from ._profiles import EmotionProfile, emotion_profile
from ._ravdess import EMOTIONS, RavdessName

__all__ = ["synthesize_speech"]

_F0_MALE_HZ = 115.0
_F0_FEMALE_HZ = 205.0
_REFERENCE_DBFS = -26.0  # RMS of a neutral clip of an average actor
_GLOTTAL_CORNER_HZ = 250.0
_TEMPO_SCALE = 1.15  # syllable durations below are for a fast reader; RAVDESS is slower
_MIN_SILENCE_S = 0.15

# Vowel formants (F1..F5, Hz) of an adult male voice, after Hillenbrand et al. (1995);
# "ar" and "or" have the lowered F3 of the following /r/.
_VOWELS: dict[str, tuple[float, ...]] = {
    "ih": (400.0, 1990.0, 2550.0, 3500.0, 4500.0),
    "ar": (710.0, 1150.0, 1900.0, 3300.0, 4400.0),
    "aw": (600.0, 900.0, 2450.0, 3400.0, 4500.0),
    "ai": (780.0, 1300.0, 2500.0, 3500.0, 4500.0),
    "ax": (500.0, 1500.0, 2500.0, 3500.0, 4500.0),
    "or": (550.0, 850.0, 2000.0, 3300.0, 4400.0),
}
_BANDWIDTHS = (90.0, 110.0, 170.0, 250.0, 300.0)


@dataclasses.dataclass(frozen=True)
class _Consonant:
    duration: float  # seconds at tempo 1, taken out of the syllable
    band: tuple[float, float]  # noise band, Hz
    level_db: float  # relative to the vowels' RMS
    burst: bool  # a stop: silent closure, then a short burst


_CONSONANTS: dict[str, _Consonant] = {
    "k": _Consonant(0.075, (1200.0, 3500.0), -10.0, True),
    "t": _Consonant(0.07, (2500.0, 7000.0), -10.0, True),
    "d": _Consonant(0.035, (2000.0, 5000.0), -16.0, True),
    "b": _Consonant(0.035, (500.0, 2500.0), -18.0, True),
    "s": _Consonant(0.095, (4000.0, 10000.0), -9.0, False),
    "z": _Consonant(0.07, (3500.0, 9000.0), -15.0, False),
    "dh": _Consonant(0.035, (1000.0, 6000.0), -22.0, False),
}

# (onset, vowel, coda, duration s, stress 0..1) per syllable of each statement.
_Syllable = tuple[str | None, str, str | None, float, float]
_STATEMENT_SYLLABLES: dict[int, tuple[_Syllable, ...]] = {
    1: (  # Kids are talking by the door
        ("k", "ih", "z", 0.26, 1.0),
        (None, "ar", None, 0.13, 0.0),
        ("t", "aw", "k", 0.26, 1.0),
        (None, "ih", None, 0.13, 0.0),
        ("b", "ai", None, 0.17, 0.4),
        ("dh", "ax", None, 0.1, 0.0),
        ("d", "or", None, 0.36, 0.8),
    ),
    2: (  # Dogs are sitting by the door
        ("d", "aw", "z", 0.28, 1.0),
        (None, "ar", None, 0.13, 0.0),
        ("s", "ih", None, 0.22, 1.0),
        ("t", "ih", None, 0.13, 0.0),
        ("b", "ai", None, 0.17, 0.4),
        ("dh", "ax", None, 0.1, 0.0),
        ("d", "or", None, 0.36, 0.8),
    ),
}


@dataclasses.dataclass(frozen=True)
class _ActorTraits:
    f0: float  # Hz, the actor's neutral speaking pitch
    formant_scale: float  # shorter vocal tract -> higher formants
    loudness: float  # dB: voice strength and microphone distance
    tilt: float  # octaves
    tempo: float
    f0_range: float
    expressiveness: float
    breathiness: float
    jitter: float  # fraction of a period
    noise: float  # multiplier of the background noise level
    # The actor's own way of playing each emotion: (f0 st, dB, log tempo, tilt oct).
    style: dict[str, tuple[float, float, float, float]]


def _actor_traits(actor: int, seed: int) -> _ActorTraits:
    # Seeded by actor alone, so an actor sounds the same whatever n_actors is.
    rng = np.random.default_rng([seed, 0xAC7, actor])
    male = actor % 2 == 1
    f0 = (_F0_MALE_HZ if male else _F0_FEMALE_HZ) * math.exp(rng.normal(0, 0.11))
    formant_scale = (1.0 if male else 1.16) * math.exp(rng.normal(0, 0.04))
    style = {
        emotion: (
            float(rng.normal(0, 1.0)),
            float(rng.normal(0, 1.5)),
            float(rng.normal(0, 0.05)),
            float(rng.normal(0, 0.15)),
        )
        for emotion in EMOTIONS
    }
    return _ActorTraits(
        f0=f0,
        formant_scale=formant_scale,
        loudness=float(rng.normal(0, 2.5)),
        tilt=float(rng.normal(0, 0.25)),
        tempo=math.exp(rng.normal(0, 0.07)),
        f0_range=math.exp(rng.normal(0, 0.2)),
        expressiveness=float(np.clip(math.exp(rng.normal(0, 0.25)), 0.5, 1.6)),
        breathiness=float(rng.uniform(0.02, 0.1)) + (0.0 if male else 0.04),
        jitter=float(rng.uniform(0.004, 0.012)),
        noise=10 ** (rng.normal(0, 3.0) / 20),
        style=style,
    )


def _clip_seed(name: RavdessName, seed: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(
        [
            seed,
            0xC11,
            name.actor,
            name.emotion_code,
            1 if name.intensity == "normal" else 2,
            name.statement,
            name.repetition,
        ]
    )


@dataclasses.dataclass(frozen=True)
class _SyllablePlan:
    onset: str | None
    vowel: str
    coda: str | None
    start: float  # s, syllable start (onset consonant start)
    vowel_start: float
    vowel_end: float
    end: float
    stress: float


@dataclasses.dataclass(frozen=True)
class _ClipPlan:
    """Timing and prosody of one clip; a face generator can follow the same plan."""

    duration: float
    syllables: tuple[_SyllablePlan, ...]
    f0_times: NDArray[np.float64]  # s
    f0_semitones: NDArray[np.float64]  # re. f0_base
    f0_base: float
    tremor: float
    level_dbfs: float
    tilt: float
    jitter: float
    breathiness: float
    formant_scale: float
    noise_rms: float
    profile: EmotionProfile


def _plan_clip(
    name: RavdessName,
    *,
    seed: int,
    duration_range: tuple[float, float],
    noise_level: float,
) -> _ClipPlan:
    actor = _actor_traits(name.actor, seed)
    rng = np.random.default_rng(_clip_seed(name, seed).spawn(2)[0])
    profile = emotion_profile(
        name.emotion, intensity=name.intensity, expressiveness=actor.expressiveness
    )
    gain = 0.0 if name.emotion == "neutral" else actor.expressiveness
    style_f0, style_db, style_tempo, style_tilt = (gain * v for v in actor.style[name.emotion])

    tempo = profile.tempo * actor.tempo * math.exp(style_tempo + rng.normal(0, 0.05))
    scale = _TEMPO_SCALE / tempo
    syllables = []
    t = 0.0
    for onset, vowel, coda, base, stress in _STATEMENT_SYLLABLES[name.statement]:
        length = base * scale * math.exp(rng.normal(0, 0.08))
        onset_len = _CONSONANTS[onset].duration * scale if onset else 0.0
        coda_len = _CONSONANTS[coda].duration * scale if coda else 0.0
        # the vowel keeps at least 40% of the syllable whatever the consonants
        squeeze = min(1.0, 0.6 * length / max(onset_len + coda_len, 1e-9))
        vowel_start = t + onset_len * squeeze
        vowel_end = t + length - coda_len * squeeze
        syllables.append(
            _SyllablePlan(onset, vowel, coda, t, vowel_start, vowel_end, t + length, stress)
        )
        t += length
    speech = t

    low, high = duration_range
    lead = rng.uniform(0.55, 1.1)
    tail = rng.uniform(0.45, 1.1)
    total = min(max(lead + speech + tail, low), high)
    spare = total - speech
    if spare < 2 * _MIN_SILENCE_S:
        raise ValueError(
            f"duration_range {duration_range} is too short for clip {name.clip_id}: its "
            f"speech alone lasts {speech:.2f} s"
        )
    lead = _MIN_SILENCE_S + (spare - 2 * _MIN_SILENCE_S) * lead / (lead + tail)
    syllables = [
        dataclasses.replace(
            s,
            start=s.start + lead,
            vowel_start=s.vowel_start + lead,
            vowel_end=s.vowel_end + lead,
            end=s.end + lead,
        )
        for s in syllables
    ]

    # Melody: declination, accents on stressed syllables, a boundary tone at the end.
    accent = 3.0 * profile.f0_range * actor.f0_range * math.exp(rng.normal(0, 0.12))
    shift = profile.f0_shift + style_f0 + rng.normal(0, 0.7)
    centres = np.array([(s.vowel_start + s.vowel_end) / 2 for s in syllables])
    progress = (centres - centres[0]) / max(centres[-1] - centres[0], 1e-9)
    stresses = np.array([s.stress for s in syllables])
    semitones = shift + 0.5 - 2.0 * progress + accent * stresses + rng.normal(0, 0.4, len(centres))
    times = np.concatenate(([syllables[0].vowel_start], centres, [syllables[-1].vowel_end]))
    semitones = np.concatenate(([semitones[0] + 0.5], semitones, [semitones[-1]]))
    semitones[-1] += profile.f0_final * math.exp(rng.normal(0, 0.15))

    level = _REFERENCE_DBFS + profile.loudness + actor.loudness + style_db + rng.normal(0, 1.5)
    return _ClipPlan(
        duration=total,
        syllables=tuple(syllables),
        f0_times=times,
        f0_semitones=semitones,
        f0_base=actor.f0,
        tremor=profile.tremor,
        level_dbfs=level,
        tilt=profile.tilt + actor.tilt + style_tilt + rng.normal(0, 0.12),
        jitter=actor.jitter * profile.jitter,
        breathiness=actor.breathiness + profile.breathiness,
        formant_scale=actor.formant_scale * math.exp(rng.normal(0, 0.015)),
        noise_rms=noise_level * actor.noise,
        profile=profile,
    )


def _raised_cosine(n: int) -> NDArray[np.float64]:
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / max(n, 1))


def _segment_envelope(n: int, attack: int, release: int) -> NDArray[np.float64]:
    env = np.ones(n)
    attack, release = min(attack, n // 2), min(release, n // 2)
    env[:attack] = _raised_cosine(attack)
    if release:
        env[n - release :] = _raised_cosine(release)[::-1]
    return env


def _formant_sos(formants: NDArray[np.float64], sr: int) -> NDArray[np.float64]:
    # Cascade of two-pole resonators, each with unit gain at DC (Klatt 1980).
    bandwidths = np.asarray(_BANDWIDTHS[: len(formants)])
    keep = formants < 0.45 * sr
    formants, bandwidths = formants[keep], bandwidths[keep]
    r = np.exp(-np.pi * bandwidths / sr)
    a1 = -2 * r * np.cos(2 * np.pi * formants / sr)
    a2 = r**2
    sos = np.zeros((len(formants), 6))
    sos[:, 0] = 1 + a1 + a2
    sos[:, 3] = 1
    sos[:, 4] = a1
    sos[:, 5] = a2
    return sos


@functools.lru_cache(maxsize=64)
def _band_sos(low: float, high: float, sr: int) -> NDArray[np.float64]:
    high = min(high, 0.45 * sr)
    return signal.butter(2, (low, high), btype="bandpass", fs=sr, output="sos")


def _render(plan: _ClipPlan, *, sr: int, rng: np.random.Generator) -> NDArray[np.float32]:
    n = round(plan.duration * sr)
    first = int(plan.syllables[0].vowel_start * sr)
    last = min(int(plan.syllables[-1].vowel_end * sr) + 1, n)

    # Voice source: a jittered pulse train following the melody, low-passed like
    # glottal flow (its corner sets the brightness) and differentiated (lip radiation).
    # The melody is computed at a 1 kHz control rate and the pulse times found by
    # inverting its phase, which is much cheaper than a per-sample phase.
    control = np.arange(first / sr, last / sr + 1e-3, 1e-3)
    semitones = np.interp(control, plan.f0_times, plan.f0_semitones)
    if plan.tremor:
        semitones += plan.tremor * np.sin(2 * np.pi * 6.5 * control + rng.uniform(0, 2 * np.pi))
    f0 = np.clip(plan.f0_base * 2 ** (semitones / 12), 50.0, 600.0)
    phase = np.concatenate(([0.0], np.cumsum(f0[:-1]) * 1e-3))
    cycles = np.arange(rng.uniform(0, 1), phase[-1])
    pulse_times = np.interp(cycles, phase, control)
    period = sr / np.interp(pulse_times, control, f0)
    pulses = pulse_times * sr - first + rng.normal(0, plan.jitter, cycles.size) * period
    n_voice = last - first
    pulses = np.clip(np.round(pulses), 0, n_voice - 1).astype(np.intp)
    source = np.zeros(n_voice)
    np.add.at(source, pulses, 1 + rng.normal(0, 3 * plan.jitter, pulses.size))
    corner = _GLOTTAL_CORNER_HZ * 2**plan.tilt
    pole = math.exp(-2 * math.pi * corner / sr)
    source = signal.lfilter([1.0], [1.0, -2 * pole, pole**2], source)
    source = np.diff(source, prepend=0.0)
    source /= np.sqrt(np.mean(source**2)) + 1e-12
    source += plan.breathiness * rng.standard_normal(n_voice, dtype=np.float32)

    # Vocal tract: each syllable's vowel through its own formant cascade; the
    # envelopes overlap a little so the formants cross-fade between syllables.
    voiced = np.zeros(n)
    attack, release = int(0.025 * sr), int(0.04 * sr)
    overlap, ring = int(0.015 * sr), int(0.02 * sr)
    for syllable in plan.syllables:
        a = max(int(syllable.vowel_start * sr) - overlap, first)
        b = min(int(syllable.vowel_end * sr) + overlap, last)
        if b - a < 8:
            continue
        gain = 10 ** ((3.0 * syllable.stress - 2.0) / 20)
        excitation = source[a - first : b - first] * _segment_envelope(b - a, attack, release)
        excitation = np.concatenate((excitation * gain, np.zeros(min(ring, n - b))))
        formants = np.asarray(_VOWELS[syllable.vowel]) * plan.formant_scale
        voiced[a : a + excitation.size] += signal.sosfilt(_formant_sos(formants, sr), excitation)
    active = np.abs(voiced) > 0
    voiced /= np.sqrt(np.mean(voiced[active] ** 2)) + 1e-12

    # Consonants: band-limited noise, a closure then a burst for stops.
    for syllable in plan.syllables:
        for kind, start, stop in (
            (syllable.onset, syllable.start, syllable.vowel_start),
            (syllable.coda, syllable.vowel_end, syllable.end),
        ):
            if kind is None:
                continue
            consonant = _CONSONANTS[kind]
            a, b = int(start * sr), int(stop * sr)
            if consonant.burst:
                a = max(a, b - int(0.045 * sr))  # what precedes is the silent closure
            if b - a < 8:
                continue
            noise = signal.sosfilt(_band_sos(*consonant.band, sr), rng.standard_normal(b - a))
            noise /= np.sqrt(np.mean(noise**2)) + 1e-12
            if consonant.burst:
                shape = np.exp(-np.arange(b - a) / (0.012 * sr))
            else:
                shape = _segment_envelope(b - a, int(0.02 * sr), int(0.02 * sr))
            voiced[a:b] += 10 ** (consonant.level_db / 20) * noise * shape

    # Room: pinkish background noise at the actor's level; a soft limiter keeps the
    # loudest (strong angry) clips from wrapping around in 16 bits.
    background = signal.lfilter([1.0], [1.0, -0.85], rng.standard_normal(n, dtype=np.float32))
    background *= plan.noise_rms / (np.sqrt(np.mean(background**2)) + 1e-12)
    y = voiced * 10 ** (plan.level_dbfs / 20) + background
    return (0.98 * np.tanh(y / 0.98)).astype(np.float32)


def _check_args(
    *, duration_range: tuple[float, float], sr: int, noise_level: float
) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in duration_range)
    except (TypeError, ValueError):
        raise ValueError(f"duration_range must be (min_s, max_s), got {duration_range!r}") from None
    if not 0 < low <= high:
        raise ValueError(f"duration_range must satisfy 0 < min <= max, got {duration_range!r}")
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr < 16000:
        raise ValueError(f"sr must be an int >= 16000 Hz, got {sr!r}")
    if not (isinstance(noise_level, (int, float)) and 0 <= noise_level < 1):
        raise ValueError(f"noise_level must be a float in [0, 1), got {noise_level!r}")
    return low, high


def _check_seed(random_state: int | None) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ValueError(f"random_state must be a non-negative int or None, got {random_state!r}")
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative int or None, got {random_state!r}")
    return int(random_state)


def synthesize_speech(
    name: RavdessName | str,
    *,
    sr: int = 48000,
    duration_range: tuple[float, float] = (2.9, 5.2),
    noise_level: float = 0.003,
    random_state: int = 0,
) -> NDArray[np.float32]:
    """Synthesize the speech clip with a given RAVDESS name.

    The clip that :func:`make_ravdess_like` writes under that name for the same
    ``random_state``, before 16-bit quantization. See :func:`make_ravdess_like`
    for the generative model.

    Parameters
    ----------
    name : RavdessName or str
        The clip, or its file name / clip id. Must be speech.
    sr : int, default=48000
        Sampling rate, Hz (>= 16000).
    duration_range : (float, float), default=(2.9, 5.2)
        Bounds of the clip duration, seconds.
    noise_level : float, default=0.003
        RMS of the background noise of an average actor, full scale = 1.
    random_state : int, default=0
        Seed of the corpus (actor traits and every clip's variation).

    Returns
    -------
    y : ndarray of shape (n_samples,), float32
        Mono audio in (-1, 1).

    Examples
    --------
    >>> y = synthesize_speech("03-01-05-02-01-01-01.wav")
    >>> y.dtype, 2.9 * 48000 <= y.shape[0] <= 5.2 * 48000
    (dtype('float32'), True)
    """
    from ._ravdess import parse_ravdess_name

    if not isinstance(name, RavdessName):
        name = parse_ravdess_name(name)
    if name.vocal_channel != "speech":
        raise ValueError(f"{name.clip_id}: only speech clips can be synthesized, not song")
    low, high = _check_args(duration_range=duration_range, sr=sr, noise_level=noise_level)
    seed = _check_seed(random_state)
    plan = _plan_clip(name, seed=seed, duration_range=(low, high), noise_level=noise_level)
    rng = np.random.default_rng(_clip_seed(name, seed).spawn(2)[1])
    return _render(plan, sr=int(sr), rng=rng)
