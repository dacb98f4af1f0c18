"""A synthetic RAVDESS-like corpus written to disk: the design, the clips and their videos."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed
from sklearn.utils import Bunch

from .._parallel import streaming_return_as
from ..utils._io import atomic_path, atomic_write
from ._ravdess import EMOTIONS, N_ACTORS, RavdessName, load_ravdess
from ._synthetic import _check_args, _check_seed, synthesize_speech

__all__ = ["make_ravdess_like", "ravdess_design"]


def ravdess_design(*, actors: Sequence[int] = tuple(range(1, N_ACTORS + 1))) -> list[RavdessName]:
    """List the audio-only speech clips of the RAVDESS design, 60 per actor.

    Per actor: neutral (normal intensity only) x 2 statements x 2 repetitions,
    plus the 7 other emotions x 2 intensities x 2 statements x 2 repetitions.

    Parameters
    ----------
    actors : sequence of int, default=1..24
        Each in 1..24.

    Returns
    -------
    names : list of RavdessName
        Sorted by actor, then clip id.

    Examples
    --------
    >>> names = ravdess_design(actors=[1])
    >>> len(names), names[0].to_name(".wav")
    (60, '03-01-01-01-01-01-01.wav')
    """
    names = []
    for actor in actors:
        for emotion in EMOTIONS:
            for intensity in ("normal",) if emotion == "neutral" else ("normal", "strong"):
                for statement in (1, 2):
                    for repetition in (1, 2):
                        names.append(
                            RavdessName(
                                modality="audio-only",
                                vocal_channel="speech",
                                emotion=emotion,
                                intensity=intensity,
                                statement=statement,
                                repetition=repetition,
                                actor=int(actor),
                            )
                        )
    return names


def _write_clip(
    name: RavdessName,
    *,
    root: Path,
    sr: int,
    duration_range: tuple[float, float],
    noise_level: float,
    seed: int,
    video_size: tuple[int, int] | None = None,
) -> None:
    y = synthesize_speech(
        name, sr=sr, duration_range=duration_range, noise_level=noise_level, random_state=seed
    )
    # Quantize here rather than in libsndfile, so the bytes depend on numpy only.
    pcm = np.round(y * 32767).astype(np.int16)
    folder = root / f"Actor_{name.actor:02d}"
    # A crash or a concurrent reader never sees a half-written clip: the temporary
    # name is hidden, and load_ravdess ignores hidden files.
    with atomic_write(folder / name.to_name(".wav")) as handle:
        sf.write(handle, pcm, sr, subtype="PCM_16", format="WAV")
    if video_size is not None:
        _write_video_clip(
            dataclasses.replace(name, modality="video-only"),
            folder=folder,
            frame_size=video_size,
            duration_range=duration_range,
            seed=seed,
        )


def _write_video_clip(
    name: RavdessName,
    *,
    folder: Path,
    frame_size: tuple[int, int],
    duration_range: tuple[float, float],
    seed: int,
) -> None:
    # imported here: the face module needs OpenCV and PyAV, the speech corpus does not
    from ._face_video import _write_face_video

    # PyAV picks the container by the name's extension.
    with atomic_path(folder / name.to_name(".mp4"), suffix=".tmp.mp4") as temporary:
        _write_face_video(
            name,
            temporary,
            frame_size=frame_size,
            fps=30.0,
            duration_range=duration_range,
            seed=seed,
        )


def make_ravdess_like(
    root: str | os.PathLike[str],
    *,
    n_actors: int = 24,
    duration_range: tuple[float, float] = (2.9, 5.2),
    sr: int = 48000,
    noise_level: float = 0.003,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    verbose: int = 0,
    video: bool = False,
    video_size: tuple[int, int] = (640, 360),
) -> Bunch:
    """Write a synthetic speech corpus with the RAVDESS design and names.

    Writes ``root/Actor_XX/03-01-EE-II-SS-RR-AA.wav`` (mono 16-bit PCM) for
    actors 1..``n_actors``, 60 clips each as in RAVDESS speech: neutral (normal
    intensity only) x 2 statements x 2 repetitions, plus the seven other
    emotions x 2 intensities x 2 statements x 2 repetitions. Existing files of
    the same names are replaced.

    **Generative model.** Each clip is a formant-synthesized reading of its
    statement: seven syllables ("Kids are talk-ing by the door" /
    "Dogs are sit-ting by the door"), each a vowel (five formants, from the
    vowel of the word) with noise consonants (stop bursts, /s/, /z/, /dh/) at
    its onset or coda, so the two statements differ in rhythm and spectrum. The
    voice source is a glottal pulse train with a melody (declination, pitch
    accents on stressed syllables, a final boundary tone), cycle-to-cycle
    jitter and shimmer, and aspiration noise. Clips are placed with 0.15-1.1 s
    of silence on each side and background noise.

    Emotion changes the delivery as in :data:`EMOTION_PROFILES` (strong
    intensity multiplies the departure from neutral by
    :data:`STRONG_INTENSITY_GAIN`):

    ========== ===================================================================
    neutral    reference: modal voice, falling end
    calm       slightly lower, narrower melody, softer, slower, darker, breathier
    happy      higher and livelier melody, a little louder and brighter
    sad        lower, flat melody, soft, slow, dark, breathy, irregular
    angry      high, wide accents, strong fall, loud, fast, bright (pressed voice)
    fearful    highest, trembling, loud-ish, fastest, breathy, very irregular
    disgust    lower, slow, strong final fall, slightly irregular
    surprised  high, widest melody with a final rise, loud-ish
    ========== ===================================================================

    So the voice separates arousal (angry, fearful, surprised, happy vs calm,
    neutral, sad) well, but happy is close to neutral, sad to calm, and disgust
    to neutral/calm: those are left for the face. Actors differ in pitch
    (males ~115 Hz, females ~205 Hz), vocal-tract length (formant scale),
    loudness, brightness, tempo, melodic range, breathiness, jitter, room noise,
    expressiveness, and an idiosyncratic way of playing each emotion; every clip
    gets its own random variation. Hence actor-grouped cross-validation is
    meaningful and no classifier reaches 100%.

    **Video** (``video=True``). Beside each ``03-01-...wav`` the matching
    video-only clip ``02-01-EE-II-SS-RR-AA.mp4`` (same emotion, intensity,
    statement, repetition and actor): H.264 (yuv420p) at 30 fps, ``video_size``
    pixels, lasting as long as the audio clip (within one frame). Every actor is
    the same public-domain portrait (``skimage.data.astronaut()``, a NASA photo)
    with its own face size, position, width, skin tone, brightness, background
    gradient, mirroring and sensor noise. The face is animated by smooth
    displacement fields, one per facial action unit (AU; Gaussian-weighted local
    translations anchored at the portrait's 68 landmarks), combined per frame:

    - the emotion's AUs (:attr:`EmotionProfile.action_units`) ramp in over the
      first 0.3-0.6 s of speech, stronger for strong intensity and for
      expressive actors (the voice's expressiveness), with per-actor and
      per-clip variation and a little of other AUs leaking in;
    - the jaw and lips open on every vowel of the clip's syllables, in time with
      the audio (wider on open, stressed vowels and in aroused speech);
    - random blinks, a small head motion (drift, nods on stressed syllables,
      slight rotation and scale jitter) and a slow lighting drift.

    The face carries what the voice leaves close: happy shows a broad smile
    (cheeks raised, AU06 + AU12), sad oblique, lowered brows and lip corners
    down (AU01 + AU04, AU15), disgust a wrinkled nose and raised upper lip
    (AU09 + AU10), calm only a faint smile over neutral; while fearful and
    surprised (raised brows, wide eyes, open jaw) and angry (lowered brows,
    tightened lids and lips) are partly confusable by face, as they are not by
    voice. See :func:`synthesize_face_video`. Needs OpenCV, scikit-image and
    PyAV: ``pip install "skemotion[face]"``.

    Each clip's randomness is seeded by ``(random_state, actor, clip fields)``:
    the corpus does not depend on ``n_jobs`` nor on ``n_actors`` (actor 3 is the
    same in a 4-actor and a 24-actor corpus).

    Parameters
    ----------
    root : str or path-like
        Output folder, created if needed.
    n_actors : int, default=24
        Actors 1..n_actors (1..24); odd actors are male.
    duration_range : (float, float), default=(2.9, 5.2)
        Clip durations are clipped to this range, seconds (RAVDESS: 2.9-5.2 s).
    sr : int, default=48000
        Sampling rate, Hz (>= 16000).
    noise_level : float, default=0.003
        RMS of the background noise of an average actor (about -50 dBFS; speech
        of a neutral clip is about -26 dBFS RMS). 0 gives silent backgrounds.
    random_state : int or None, default=0
        Seed of the corpus; None draws a fresh one.
    n_jobs : int, default=None
        Parallel jobs (joblib); None is 1.
    verbose : int, default=0
        Show a progress bar (tqdm) if > 0.
    video : bool, default=False
        Also write the video-only clips (``02-01-...mp4``), see above. The
        24-actor corpus then takes a few minutes on two cores.
    video_size : (int, int), default=(640, 360)
        Width and height of the videos, even numbers (RAVDESS: 1280 x 720).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``load_ravdess(root, modalities=["audio-only"] + (["video-only"] if video
        else []), actors=1..n_actors)``: with video, one row per clip and modality.

    See Also
    --------
    synthesize_speech : One clip as an array, without writing.
    synthesize_face_video : One video clip as frames, without writing.
    load_ravdess : Index a corpus on disk.

    Examples
    --------
    >>> data = make_ravdess_like("ravdess_like", n_actors=2)  # doctest: +SKIP
    >>> data.frame.shape, data.y.value_counts()["neutral"]  # doctest: +SKIP
    ((120, 12), 8)
    """
    if isinstance(n_actors, bool) or not isinstance(n_actors, (int, np.integer)):
        raise ValueError(f"n_actors must be an int in 1..{N_ACTORS}, got {n_actors!r}")
    if not 1 <= n_actors <= N_ACTORS:
        raise ValueError(f"n_actors must be an int in 1..{N_ACTORS}, got {n_actors!r}")
    low, high = _check_args(duration_range=duration_range, sr=sr, noise_level=noise_level)
    seed = _check_seed(random_state)
    size: tuple[int, int] | None = None
    if video:
        from ._face_video import _check_video_args

        size = _check_video_args(video_size, 30.0)[0]
    root_path = Path(root)
    if root_path.exists() and not root_path.is_dir():
        raise NotADirectoryError(f"make_ravdess_like: {root_path} exists and is not a folder")
    root_path.mkdir(parents=True, exist_ok=True)
    actors = list(range(1, int(n_actors) + 1))
    names = ravdess_design(actors=actors)
    write = functools.partial(
        _write_clip,
        root=root_path,
        sr=int(sr),
        duration_range=(low, high),
        noise_level=float(noise_level),
        seed=seed,
        video_size=size,
    )
    jobs = Parallel(n_jobs=n_jobs, return_as=streaming_return_as(ordered=False))(
        delayed(write)(name) for name in names
    )
    if verbose > 0:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, total=len(names), desc="make_ravdess_like", unit="clip")
    for _ in jobs:
        pass
    modalities = ["audio-only"] + (["video-only"] if video else [])
    return load_ravdess(root_path, modalities=modalities, actors=actors)
