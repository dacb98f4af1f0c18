"""Synthetic talking-face videos of the embedded corpus."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from skemotion.datasets import (
    make_ravdess_like,
    parse_ravdess_name,
    ravdess_design,
    synthesize_face_video,
)
from skemotion.datasets._corpus import _write_clip
from skemotion.datasets._synthetic import _plan_clip

av = pytest.importorskip("av")
pytest.importorskip("cv2")
pytest.importorskip("skimage")
dlib = pytest.importorskip("dlib")

FPS = 30.0
SIZE = (640, 360)


@functools.lru_cache(maxsize=1)  # the shape model takes seconds to load
def _dlib_models() -> tuple[object, object]:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        pytest.skip("face-recognition-models is not installed")
    model = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def _landmarks(frames: NDArray[np.uint8], step: int) -> tuple[NDArray[np.float64], float]:
    """68 landmarks of every ``step``-th frame where a face is found, and the rate found."""
    detector, predictor = _dlib_models()
    found = []
    sampled = frames[::step]
    for frame in sampled:
        faces = detector(frame, 0)  # type: ignore[operator]
        if faces:
            shape = predictor(frame, faces[0])  # type: ignore[operator]
            found.append([(p.x, p.y) for p in shape.parts()])
    return np.asarray(found, dtype=np.float64), len(found) / len(sampled)


def _eye_frame(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Landmarks in units of the inter-ocular distance, origin between the eyes, y down."""
    left, right = points[:, 36:42].mean(axis=1), points[:, 42:48].mean(axis=1)
    axis = right - left
    distance = np.linalg.norm(axis, axis=1)
    cos, sin = axis[:, 0] / distance, axis[:, 1] / distance
    centred = points - ((left + right) / 2)[:, None]
    x = centred[..., 0] * cos[:, None] + centred[..., 1] * sin[:, None]
    y = -centred[..., 0] * sin[:, None] + centred[..., 1] * cos[:, None]
    return np.stack((x, y), axis=-1) / distance[:, None, None]


def _name(emotion: int, actor: int, intensity: int = 2) -> str:
    return f"02-01-{emotion:02d}-{intensity:02d}-01-01-{actor:02d}.mp4"


@pytest.fixture(scope="module")
def expressions() -> dict[tuple[int, int], tuple[NDArray[np.float64], float]]:
    """Landmarks (eye frame) of the expressive part of a few clips, by (emotion, actor)."""
    result = {}
    for actor in (2, 5):
        for emotion in (1, 2, 3, 4, 7):  # neutral, calm, happy, sad, disgust
            name = _name(emotion, actor, intensity=1 if emotion == 1 else 2)
            frames, _ = synthesize_face_video(name)
            # past the expression's ramp; every 8th frame keeps the test fast
            points, rate = _landmarks(frames[45:], step=8)
            result[emotion, actor] = (_eye_frame(points), rate)
    return result


def test_deterministic_and_shaped() -> None:
    name = "02-01-06-02-02-01-07.mp4"
    frames, fps = synthesize_face_video(name, frame_size=(320, 180), random_state=3)
    again, _ = synthesize_face_video(
        parse_ravdess_name(name), frame_size=(320, 180), random_state=3
    )
    other, _ = synthesize_face_video(name, frame_size=(320, 180), random_state=4)
    assert fps == FPS
    assert frames.dtype == np.uint8 and frames.shape[1:] == (180, 320, 3)
    np.testing.assert_array_equal(frames, again)
    assert frames.shape != other.shape or not np.array_equal(frames, other)
    # the audio clip's duration, to the frame
    plan = _plan_clip(parse_ravdess_name(name), seed=3, duration_range=(2.9, 5.2), noise_level=0)
    assert frames.shape[0] == round(plan.duration * FPS)
    # something moves: the face speaks, blinks and the head drifts
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean() > 0.5


def test_mp4_matches_the_audio_clip(tmp_path: Path) -> None:
    names = [ravdess_design(actors=[actor])[i] for actor, i in ((3, 0), (8, 41))]
    for name in names:
        _write_clip(
            name,
            root=tmp_path,
            sr=48000,
            duration_range=(2.9, 5.2),
            noise_level=0.003,
            seed=0,
            video_size=SIZE,
        )
        folder = tmp_path / f"Actor_{name.actor:02d}"
        video = folder / dataclasses.replace(name, modality="video-only").to_name(".mp4")
        audio = sf.info(folder / name.to_name(".wav"))
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == FPS
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
            assert (stream.width, stream.height) == SIZE
            n_frames = sum(1 for _ in container.decode(video=0))
        assert abs(n_frames / FPS - audio.duration) <= 1 / FPS
    # only the two clips of each pair: no temporary file left over
    assert (
        sorted(p.suffix for p in tmp_path.rglob("*") if p.is_file()) == [".mp4"] * 2 + [".wav"] * 2
    )


def test_make_ravdess_like_checks_video_size_first(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        make_ravdess_like(tmp_path / "odd", n_actors=1, video=True, video_size=(641, 360))
    assert not (tmp_path / "odd").exists()


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="frame_size"):
        synthesize_face_video(_name(1, 1, 1), frame_size=(640,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps"):
        synthesize_face_video(_name(1, 1, 1), fps=0)
    with pytest.raises(ValueError, match="song"):
        synthesize_face_video("02-02-01-01-01-01-01.mp4")


def test_face_found_by_dlib(
    expressions: dict[tuple[int, int], tuple[NDArray[np.float64], float]],
) -> None:
    rates = [rate for _, rate in expressions.values()]
    assert min(rates) >= 0.95, rates


@pytest.mark.parametrize("name", ["02-01-01-01-01-01-09.mp4", "02-01-04-01-02-02-06.mp4"])
def test_mouth_opens_on_syllables(name: str) -> None:
    clip = parse_ravdess_name(name)
    frames, _ = synthesize_face_video(clip)
    plan = _plan_clip(clip, seed=0, duration_range=(2.9, 5.2), noise_level=0)
    # the middle of the open vowels ("are", "talk"/"dogs", "by") vs the silence before
    vowels = [
        round((s.vowel_start + s.vowel_end) / 2 * FPS)
        for s in plan.syllables
        if s.vowel in ("ar", "aw", "ai")
    ]
    silent = list(range(0, round((plan.syllables[0].start - 0.1) * FPS), 3))
    spoken, _ = _landmarks(frames[vowels], step=1)
    quiet, _ = _landmarks(frames[silent], step=1)

    def height(points: NDArray[np.float64]) -> float:  # outer lips, top to bottom
        aligned = _eye_frame(points)
        return float((aligned[:, 57, 1] - aligned[:, 51, 1]).mean())

    assert height(spoken) > height(quiet) + 0.04


def _mean(
    expressions: dict[tuple[int, int], tuple[NDArray[np.float64], float]],
    emotion: int,
    actor: int,
) -> NDArray[np.float64]:
    return expressions[emotion, actor][0].mean(axis=0)


@pytest.mark.parametrize("actor", [2, 5])
def test_expressions_differ_as_designed(
    expressions: dict[tuple[int, int], tuple[NDArray[np.float64], float]], actor: int
) -> None:
    neutral, calm, happy, sad, disgust = (
        _mean(expressions, emotion, actor) for emotion in (1, 2, 3, 4, 7)
    )

    def corners(points: NDArray[np.float64]) -> float:  # below the eye line
        return float(points[[48, 54], 1].mean())

    def brow_gap(points: NDArray[np.float64]) -> float:
        return float(points[22, 0] - points[21, 0])

    def nostrils(points: NDArray[np.float64]) -> float:  # below the eye line
        return float(points[[31, 35], 1].mean())

    # happy: corners pulled up, well above neutral's
    assert corners(happy) < corners(neutral) - 0.04
    # sad vs calm: corners down, brows drawn together
    assert corners(sad) > corners(calm)
    assert brow_gap(sad) < brow_gap(calm)
    # disgust: the nose wrinkles up, the upper lip rises
    assert nostrils(disgust) < nostrils(neutral) - 0.03
    assert disgust[51, 1] < neutral[51, 1]
