from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skemotion.datasets import RavdessName, RavdessNeutralReference, ravdess_neutral_reference
from skemotion.face import (
    ActionUnits,
    EyeKeyPointDistances,
    FaceLandmarks,
    FaceTrack,
    HeadPose,
    KeyPointDistances,
    _landmarks,
    inter_ocular_distance,
    keypoint_distances,
    most_neutral_frame,
)

from ._openface_fixture import base_face, write_openface_csv

N = 88


def _name(emotion: str, actor: int = 7, repetition: int = 1, statement: int = 1) -> str:
    return RavdessName(
        modality="audio-video",
        vocal_channel="speech",
        emotion=emotion,
        intensity="normal",
        statement=statement,
        repetition=repetition,
        actor=actor,
    ).to_name(".csv")


@pytest.fixture
def corpus(tmp_path):
    """OpenFace CSVs of two actors: neutral (repetition 1) and happy clips."""
    paths = {}
    for actor in (7, 8):
        for emotion in ("neutral", "happy", "sad"):
            rng = np.random.default_rng(actor * 10 + len(emotion))
            intensity = rng.uniform(0.5, 5, size=(N, 17))
            intensity[30] = 0.0  # the most neutral frame of every clip
            path = tmp_path / f"Actor_{actor:02d}" / _name(emotion, actor)
            write_openface_csv(path, n_frames=N, au_intensity=intensity, seed=actor + len(emotion))
            paths[(actor, emotion)] = path
    return paths


def _openface(**kwargs):
    return FaceLandmarks("openface", cache_dir=False, **kwargs)


def test_reference_lookup_reads_names_not_labels(tmp_path):
    clip = tmp_path / "Actor_03" / "02-01-05-02-02-02-03.mp4"
    assert ravdess_neutral_reference(clip) == clip.with_name("02-01-01-01-02-01-03.mp4")


def test_kpd_shape_and_neutral_reference_frame_maps_to_ones(corpus):
    neutral = corpus[(7, "neutral")]
    kpd = KeyPointDistances(_openface(), use_3d=False)
    out = kpd.fit_transform([neutral, corpus[(7, "happy")]])
    assert out.shape == (2, N, 780) and out.dtype == np.float32
    # the neutral clip is its own reference: its lowest-AU frame (30) becomes all ones
    np.testing.assert_allclose(out[0, 30], 1.0, rtol=1e-6)
    assert not np.allclose(out[1, 30], 1.0)
    assert kpd.get_feature_names_out().shape == (780,)
    assert kpd.get_feature_names_out()[0] == "kpd_0_2"


def test_kpd_uses_3d_landmarks_from_openface_when_present(corpus):
    clips = [corpus[(7, "happy")]]
    auto = KeyPointDistances(_openface(), normalization="none").fit_transform(clips)
    flat = KeyPointDistances(_openface(), normalization="none", use_3d=False).fit_transform(clips)
    (track,) = _openface().extract(clips)
    assert track is not None and track.landmarks_3d is not None
    np.testing.assert_allclose(auto[0], keypoint_distances(track.landmarks_3d), rtol=1e-5)
    np.testing.assert_allclose(flat[0], keypoint_distances(track.landmarks_2d), rtol=1e-5)


def test_calibration_free_normalisation(corpus):
    clips = [corpus[(8, "sad")]]
    out = KeyPointDistances(_openface(), normalization="inter_ocular", use_3d=False).fit_transform(
        clips
    )
    (track,) = _openface().extract(clips)
    assert track is not None
    expected = (
        keypoint_distances(track.landmarks_2d) / inter_ocular_distance(track.landmarks_2d)[:, None]
    )
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)


def test_user_calibration_replaces_the_lookup(corpus, tmp_path):
    happy = corpus[(7, "happy")]
    (track,) = _openface().extract([happy])
    assert track is not None
    frame = pd.DataFrame({"path": [str(happy)], "actor": ["alice"]})
    reference = track.landmarks_2d[12]
    kpd = KeyPointDistances(_openface(), use_3d=False, references={"alice": reference})
    out = kpd.fit_transform(frame)
    np.testing.assert_allclose(out[0, 12], 1.0, rtol=1e-5)

    # a calibration recording given by path: its most neutral frame is used
    kpd.set_params(references={"alice": str(corpus[(8, "neutral")])})
    out = kpd.fit_transform(frame)
    (calibration,) = _openface().extract([corpus[(8, "neutral")]])
    assert calibration is not None
    expected = (
        keypoint_distances(track.landmarks_2d)
        / keypoint_distances(calibration.landmarks_2d)[most_neutral_frame(calibration)]
    )
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)


def test_reference_among_the_clips_is_extracted_once(corpus, extracted_sources):
    # Without a cache every extraction decodes and tracks the video again.
    calls = extracted_sources
    neutral, happy, sad = (corpus[(7, e)] for e in ("neutral", "happy", "sad"))
    out = KeyPointDistances(_openface(), use_3d=False).fit_transform([happy, neutral, sad])
    assert sorted(calls) == sorted(map(str, (happy, neutral, sad)))
    np.testing.assert_allclose(out[1, 30], 1.0, rtol=1e-6)  # still its own reference

    # the same for a calibration clip supplied by path that is also in X
    calls.clear()
    frame = pd.DataFrame({"path": [str(happy), str(neutral)], "actor": ["alice", "alice"]})
    kpd = KeyPointDistances(_openface(), use_3d=False, references={"alice": str(neutral)})
    np.testing.assert_allclose(kpd.fit_transform(frame)[1, 30], 1.0, rtol=1e-6)
    assert sorted(calls) == sorted(map(str, (happy, neutral)))

    # a reference outside X is still extracted, once for all the clips that use it
    calls.clear()
    KeyPointDistances(_openface(), use_3d=False).fit_transform([happy, sad])
    assert sorted(calls) == sorted(map(str, (happy, sad, neutral)))


def test_another_corpus_brings_its_own_reference_resolver(corpus, tmp_path):
    """A resolver replaces the RAVDESS lookup; names it does not know are never parsed."""
    happy = tmp_path / "speaker_a" / "take_happy.csv"
    calm = tmp_path / "speaker_a" / "take_calm.csv"
    happy.parent.mkdir()
    happy.write_bytes(corpus[(7, "happy")].read_bytes())
    calm.write_bytes(corpus[(8, "neutral")].read_bytes())

    seen: list[str] = []

    def calibration_take(path):
        seen.append(path)
        return Path(path).with_name("take_calm.csv")

    kpd = KeyPointDistances(_openface(), use_3d=False, reference_resolver=calibration_take)
    out = kpd.fit_transform([str(happy)])
    assert seen == [str(happy)]
    (track, calibration) = _openface().extract([happy, calm])
    expected = (
        keypoint_distances(track.landmarks_2d)
        / keypoint_distances(calibration.landmarks_2d)[most_neutral_frame(calibration)]
    )
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    # Without a subject(path) method, references= needs the subject column.
    kpd.set_params(references={"a": str(calm)})
    with pytest.raises(ValueError, match="cannot tell whose face"):
        kpd.fit_transform([str(happy)])


def test_default_resolver_is_the_ravdess_lookup(corpus):
    neutral, happy = corpus[(7, "neutral")], corpus[(7, "happy")]
    default = KeyPointDistances(_openface(), use_3d=False).fit_transform([happy])
    explicit = KeyPointDistances(
        _openface(), use_3d=False, reference_resolver=RavdessNeutralReference()
    ).fit_transform([happy])
    np.testing.assert_array_equal(default, explicit)
    assert RavdessNeutralReference()(happy) == neutral
    assert RavdessNeutralReference().subject(happy) == 7


def test_missing_reference_names_the_clip(tmp_path):
    lonely = tmp_path / _name("angry", actor=9)
    write_openface_csv(lonely)
    with pytest.raises(FileNotFoundError, match=r"01-01-05-01-01-01-09.*neutral reference"):
        KeyPointDistances(_openface()).fit_transform([lonely])
    # calibration-free normalisation needs no reference
    assert KeyPointDistances(_openface(), normalization="inter_ocular").fit_transform(
        [lonely]
    ).shape == (1, N, 780)


def test_eye_features_have_the_papers_dimension_from_openface(corpus):
    eyes = EyeKeyPointDistances(_openface())
    out = eyes.fit_transform([corpus[(7, "neutral")], corpus[(7, "sad")]])
    assert out.shape == (2, N, 179)
    assert eyes.get_feature_names_out().shape == (179,)
    # the reference frame maps to ones on the distances; gaze angles stay as they are
    np.testing.assert_allclose(out[0, 30, :177], 1.0, rtol=1e-5)
    (track,) = _openface().extract([corpus[(7, "sad")]])
    assert track is not None and track.gaze_angle is not None
    np.testing.assert_allclose(out[1, :, 177:], track.gaze_angle, atol=1e-6)


def test_eye_features_of_68_points_only(corpus):
    (track,) = _openface().extract([corpus[(7, "sad")]])
    assert track is not None
    dlib_like = dataclasses.replace(
        track,
        backend="dlib",
        eye_landmarks_2d=None,
        gaze_angle=None,
        action_units=None,
        landmarks_3d=None,
    )
    eyes = EyeKeyPointDistances(FaceLandmarks(), normalization="none")
    assert eyes.fit_transform([dlib_like]).shape == (1, N, 75)
    assert eyes.get_feature_names_out().shape == (75,)


def test_action_units_rescaled_and_refused_without_openface(corpus):
    clips = [corpus[(7, "happy")]]
    out = ActionUnits(_openface()).fit_transform(clips)
    (track,) = _openface().extract(clips)
    assert track is not None and track.action_units is not None
    assert out.shape == (1, N, 35)
    np.testing.assert_allclose(out[0, :, :17], track.action_units[:, :17] / 5, rtol=1e-6)
    assert out.min() >= 0 and out.max() <= 1
    dlib_like = dataclasses.replace(track, backend="dlib", action_units=None)
    with pytest.raises(ValueError, match="only OpenFace"):
        ActionUnits().fit_transform([dlib_like])


def test_head_pose(corpus):
    clips = [corpus[(7, "happy")], corpus[(8, "sad")]]
    pose = HeadPose(_openface())
    out = pose.fit_transform(clips)
    assert out.shape == (2, N, 6)
    assert list(pose.get_feature_names_out()) == ["pitch", "yaw", "roll", "Tx", "Ty", "Tz"]


def test_numeric_input_is_refused_with_a_reason():
    with pytest.raises(TypeError, match="needs clips"):
        KeyPointDistances().fit(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="single clip"):
        HeadPose().fit("clip.mp4")


def test_cache_is_hit_on_the_second_run(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    clips = [corpus[(7, "happy")], corpus[(8, "sad")]]
    extractor = FaceLandmarks("openface", cache_dir=cache)
    first = extractor.extract(clips)
    assert len(list(cache.glob("*.npz"))) == 2

    def no_extraction(source, settings):
        raise AssertionError(f"re-extracted {source}")

    monkeypatch.setattr(_landmarks, "_extract", no_extraction)
    second = extractor.extract(clips)
    for a, b in zip(first, second, strict=True):
        assert a is not None and b is not None
        np.testing.assert_array_equal(a.landmarks_2d, b.landmarks_2d)
        np.testing.assert_array_equal(a.action_units, b.action_units)
        assert a.source == b.source
    # a different frame selection is a different entry
    monkeypatch.undo()
    FaceLandmarks("openface", cache_dir=cache, n_frames=20, frame_selection="even").extract(clips)
    assert len(list(cache.glob("*.npz"))) == 4


def test_faceless_clip_policy(corpus, tmp_path):
    faceless = tmp_path / "Actor_07" / _name("angry")
    write_openface_csv(faceless, n_frames=N, success=np.zeros(N, dtype=bool))
    with pytest.raises(ValueError, match=r"01-01-05-01-01-01-07\.csv.*no face"):
        HeadPose(_openface()).fit_transform([faceless])
    with pytest.warns(UserWarning, match=r"01-01-05-01-01-01-07\.csv"):
        out = KeyPointDistances(_openface(on_error="warn")).fit_transform(
            [corpus[(7, "happy")], faceless]
        )
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


def test_too_many_missing_frames(tmp_path):
    path = tmp_path / "mostly_gone.csv"
    success = np.zeros(N, dtype=bool)
    success[:10] = True
    write_openface_csv(path, n_frames=N, success=success)
    with pytest.raises(ValueError, match=r"mostly_gone\.csv: no face in 89%"):
        _openface().extract([path])
    (track,) = _openface(max_missing=0.95).extract([path])
    assert track is not None and track.missing_fraction == pytest.approx(78 / 88)


def test_grid_search_over_downstream_parameters_reuses_the_cache(corpus, tmp_path, monkeypatch):
    clips = [str(p) for p in corpus.values()] * 2
    y = ["neutral", "happy", "sad"] * 4
    groups = [7, 7, 7, 8, 8, 8] * 2
    cache = tmp_path / "cache"
    FaceLandmarks("openface", cache_dir=cache).extract(clips)  # warm the cache once
    calls = []
    monkeypatch.setattr(_landmarks, "_extract", lambda s, settings: calls.append(s))
    model = make_pipeline(
        KeyPointDistances(FaceLandmarks("openface", cache_dir=cache), use_3d=False),
        FunctionTransformer(lambda x: x.mean(axis=1)),
        LogisticRegression(max_iter=200),
    )
    search = GridSearchCV(
        model,
        {"keypointdistances__normalization": ["neutral_reference", "inter_ocular"]},
        cv=GroupKFold(n_splits=2),
    )
    search.fit(np.array(clips, dtype=object), y, groups=groups)
    assert calls == []
    assert clone(search.best_estimator_).get_params()["keypointdistances__landmarks__backend"] == (
        "openface"
    )


def test_face_track_validates_shapes():
    with pytest.raises(ValueError, match="head_pose has shape"):
        FaceTrack(
            landmarks_2d=np.zeros((3, 68, 2)),
            head_pose=np.zeros((2, 6)),
            success=np.ones(3, bool),
            confidence=np.ones(3),
            frame_indices=np.arange(3),
            fps=30.0,
            frame_size=(640, 360),
            source="x",
            backend="dlib",
        )
    assert base_face().shape == (68, 2)


@pytest.mark.parametrize(
    "transformer",
    [
        KeyPointDistances(_openface(), use_3d=False),
        EyeKeyPointDistances(_openface()),
        ActionUnits(_openface()),
        HeadPose(_openface()),
    ],
    ids=lambda t: type(t).__name__,
)
def test_sklearn_contract_on_real_clips(transformer, corpus):
    """What sklearn's common checks test, on clips (they can only feed float matrices)."""
    import pickle

    clips = [corpus[(7, "happy")], corpus[(8, "sad")], corpus[(7, "neutral")]]
    params = transformer.get_params()
    assert transformer.fit(clips) is transformer
    assert transformer.get_params() == params  # fit does not change parameters
    first = transformer.transform(clips)
    np.testing.assert_array_equal(transformer.fit(clips).transform(clips), first)  # idempotent
    np.testing.assert_array_equal(transformer.transform(clips[::-1]), first[::-1])
    np.testing.assert_array_equal(transformer.transform(clips[:1]), first[:1])
    restored = pickle.loads(pickle.dumps(transformer))
    np.testing.assert_array_equal(restored.transform(clips), first)
    np.testing.assert_array_equal(clone(transformer).fit_transform(clips), first)
    assert first.dtype == np.float32 and first.shape[:2] == (3, N)
    assert len(transformer.get_feature_names_out()) == first.shape[-1]
