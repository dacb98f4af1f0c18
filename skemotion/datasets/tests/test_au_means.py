"""Per-clip action-unit means: the RAVDESS CSV's format, the join, the AU model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold

from skemotion import EMOTIONS, load_model, save_model
from skemotion.compose import make_au_means_pipeline
from skemotion.datasets import load_openface_au_means, load_ravdess, ravdess_design
from skemotion.face import ACTION_UNIT_NAMES, ActionUnitMeans
from skemotion.model_selection import RavdessActorFolds, evaluate_actor_cv, fuse_reports

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "ravdess"


def _write_au_means(path: Path, n_actors: int = 6, seed: int = 0) -> pd.DataFrame:
    """A CSV in the RAVDESS file's exact layout: id, actor, emotion, then the 35 AUs.

    Each actor has a resting face of its own (an offset on every AU) and the emotions
    move a few AUs the same way for everyone: a model must see past the actor.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for actor in range(1, n_actors + 1):
        rest = rng.normal(0, 1.0, size=len(ACTION_UNIT_NAMES))
        for clip in ravdess_design(actors=[actor]):
            effect = np.zeros(len(ACTION_UNIT_NAMES))
            effect[clip.emotion_code % 8] = 0.8  # one AU per emotion
            values = np.abs(rest + effect + rng.normal(0, 0.3, size=effect.size))
            video_id = "01" + clip.clip_id[2:]  # the audio-video recording of the same take
            rows.append([video_id, actor, clip.emotion_code, *values])
    table = pd.DataFrame(rows, columns=["id", "actor", "emotion", *ACTION_UNIT_NAMES])
    table.to_csv(path, index=False)
    return table


def test_alone_the_csv_gives_a_clip_table_of_its_recordings(tmp_path: Path) -> None:
    written = _write_au_means(tmp_path / "au.csv", n_actors=2)
    data = load_openface_au_means(tmp_path / "au.csv")
    assert len(data.frame) == 120 and data.feature_names == list(ACTION_UNIT_NAMES)
    assert set(data.frame.modality) == {"audio-video"}
    row = data.frame[data.frame.clip_id == written.id[5]].iloc[0]
    assert row.AU04_r == pytest.approx(written.AU04_r[5])
    assert data.groups.tolist() == data.frame.actor.tolist()
    assert set(data.y) <= set(EMOTIONS)


def test_joined_to_the_audio_clips_of_the_same_recordings(tmp_path: Path) -> None:
    written = _write_au_means(tmp_path / "au.csv", n_actors=2)
    audio = pd.DataFrame(
        [
            {"path": f"/speech/{name.to_name('.wav')}", **dataclasses.asdict(name)}
            for name in ravdess_design(actors=[1, 2])
        ]
    )
    joined = load_openface_au_means(tmp_path / "au.csv", clips=audio.iloc[::-1]).frame
    assert len(joined) == 120
    # Row order is the clip table's; each audio clip carries the face of its performance.
    assert joined.clip_id.tolist() == audio.clip_id.iloc[::-1].tolist()
    first = joined.iloc[0]
    video_id = "01-01-" + first.clip_id[6:]
    assert first.AU45_c == pytest.approx(written.set_index("id").loc[video_id, "AU45_c"])

    partial = tmp_path / "partial.csv"
    written.iloc[3:].to_csv(partial, index=False)
    with pytest.raises(ValueError, match="3 clip\\(s\\) have no recording"):
        load_openface_au_means(partial, clips=audio)
    with pytest.warns(UserWarning, match="left out"):
        assert len(load_openface_au_means(partial, clips=audio, on_missing="skip").frame) == 117


def test_malformed_files_are_named(tmp_path: Path) -> None:
    written = _write_au_means(tmp_path / "au.csv", n_actors=1)
    written.drop(columns="AU12_r").to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match=r"short.csv: not a per-clip.*AU12_r"):
        load_openface_au_means(tmp_path / "short.csv")
    written.assign(id="clip-7").to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(ValueError, match=r"ids.csv: row id 'clip-7' is not a RAVDESS name"):
        load_openface_au_means(tmp_path / "ids.csv")
    pd.concat([written, written.iloc[:1]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(ValueError, match="same recording"):
        load_openface_au_means(tmp_path / "twice.csv")


def test_action_unit_means_read_the_columns_and_refuse_gaps(tmp_path: Path) -> None:
    _write_au_means(tmp_path / "au.csv", n_actors=1)
    frame = load_openface_au_means(tmp_path / "au.csv").frame
    values = ActionUnitMeans().fit_transform(frame)
    assert values.shape == (60, 35) and values.dtype == np.float32
    with pytest.raises(ValueError, match="no action-unit column"):
        ActionUnitMeans().fit(frame.drop(columns="AU01_c"))
    with pytest.raises(ValueError, match=frame.clip_id[2]):
        ActionUnitMeans().fit_transform(frame.assign(AU01_c=lambda t: t.AU01_c.where(t.index != 2)))
    with pytest.raises(TypeError, match="clip table"):
        ActionUnitMeans().fit(values)


def test_the_au_model_standard_and_calibrated_fuse_and_save(tmp_path: Path) -> None:
    _write_au_means(tmp_path / "au.csv", n_actors=6)
    data = load_openface_au_means(tmp_path / "au.csv")
    cv = GroupKFold(3)
    standard = evaluate_actor_cv(make_au_means_pipeline(), data.frame, data.y, data.groups, cv=cv)
    calibrated = evaluate_actor_cv(
        make_au_means_pipeline(subject_normalization="all"), data.frame, data.y, data.groups, cv=cv
    )
    assert standard.protocol["protocol"] == "inductive"
    assert calibrated.protocol["protocol"] == "transductive"
    # The actors' resting faces dominate the raw means; their own statistics remove them.
    assert calibrated.mean_accuracy > standard.mean_accuracy + 0.15
    fused = fuse_reports({"standard": standard, "calibrated": calibrated})
    assert fused.protocol["protocol"] == "transductive"
    model = make_au_means_pipeline(subject_normalization="neutral").fit(data.frame, data.y)
    loaded = load_model(save_model(model, tmp_path / "au.skem"))
    np.testing.assert_allclose(
        loaded.predict_proba(data.frame.iloc[:7]), model.predict_proba(data.frame.iloc[:7])
    )


@pytest.mark.ravdess
@pytest.mark.skipif(not SHARED.is_dir(), reason="real RAVDESS data not beside the repository")
def test_real_au_means_join_every_speech_clip_and_calibration_pays() -> None:
    speech = load_ravdess(SHARED / "speech")
    data = load_openface_au_means(SHARED / "openface_au_clip_means.csv", clips=speech.frame)
    assert len(data.frame) == 1440 and data.frame.clip_id.tolist() == speech.frame.clip_id.tolist()
    # The data set's README: AU12 (the smile) averages 2.0 for happy, 0.1-0.8 otherwise.
    smile = data.frame.groupby("emotion").AU12_r.mean()
    assert smile["happy"] == pytest.approx(2.0, abs=0.1) and smile.drop("happy").max() < 0.9
    cv = RavdessActorFolds()
    standard = evaluate_actor_cv(make_au_means_pipeline(), data.frame, data.y, data.groups, cv=cv)
    calibrated = evaluate_actor_cv(
        make_au_means_pipeline(subject_normalization="all"), data.frame, data.y, data.groups, cv=cv
    )
    # docs/results.md: 56.90 standard, 75.69 calibrated (all 60 clips, mean + std).
    assert standard.mean_accuracy == pytest.approx(0.569, abs=0.005)
    assert calibrated.mean_accuracy >= 0.75
