"""RAVDESS names and the corpus loader."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from skemotion import EMOTIONS
from skemotion.datasets import (
    FRAME_COLUMNS,
    RavdessName,
    load_ravdess,
    parse_ravdess_name,
    ravdess_design,
)

RAVDESS_SPEECH = Path(__file__).resolve().parents[4] / "shared" / "data" / "ravdess" / "speech"


def _touch_wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(480, dtype=np.float32), 48_000)
    return path


def _touch(path: Path) -> Path:
    # The loader only reads names, so an empty file stands for a video.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_parse_all_seven_fields() -> None:
    name = parse_ravdess_name("Actor_12/03-01-05-02-01-02-12.wav")
    assert name.modality == "audio-only"
    assert name.vocal_channel == "speech"
    assert name.emotion == "angry" and name.emotion_code == 5
    assert name.intensity == "strong"
    assert name.statement == 1 and name.statement_text == "Kids are talking by the door"
    assert name.repetition == 2
    assert name.actor == 12 and name.gender == "female"
    assert name.clip_id == "03-01-05-02-01-02-12"
    video = parse_ravdess_name(Path("01-02-03-01-02-01-07.mp4"))
    assert (video.modality, video.vocal_channel, video.gender) == ("audio-video", "song", "male")
    assert video.statement_text == "Dogs are sitting by the door"
    assert parse_ravdess_name("02-01-08-02-02-02-24").modality == "video-only"


def test_round_trip_over_the_full_design() -> None:
    design = ravdess_design()
    assert len(design) == 1440
    assert len({name.clip_id for name in design}) == 1440
    for name in design:
        assert parse_ravdess_name(name.to_name(".wav")) == name
        assert parse_ravdess_name(name.to_name("flac")) == name
    for name in design[:60]:
        for modality in ("audio-video", "video-only"):
            video = dataclasses.replace(name, modality=modality)
            assert parse_ravdess_name(f"Actor_01/{video.to_name('.mp4')}") == video
            assert video.clip_id[3:] == name.clip_id[3:]


def test_design_counts_per_actor() -> None:
    design = ravdess_design(actors=[3])
    assert len(design) == 60
    emotions = [name.emotion for name in design]
    assert emotions.count("neutral") == 4
    assert all(emotions.count(e) == 8 for e in EMOTIONS[1:])
    assert not any(n.emotion == "neutral" and n.intensity == "strong" for n in design)
    assert {n.modality for n in design} == {"audio-only"}


@pytest.mark.parametrize(
    ("file_name", "problem"),
    [
        ("03-01-05-02-01-12.wav", "expected 7 fields"),
        ("03-01-05-02-01-02-12-01.wav", "expected 7 fields"),
        ("holiday.wav", "expected 7 fields"),
        ("03-01-5-02-01-02-12.wav", "two digits"),
        ("03-01-xx-02-01-02-12.wav", "two digits"),
        ("04-01-05-02-01-02-12.wav", "modality"),
        ("03-03-05-02-01-02-12.wav", "vocal channel"),
        ("03-01-09-01-01-01-01.wav", "emotion"),
        ("03-01-00-01-01-01-01.wav", "emotion"),
        ("03-01-05-03-01-01-01.wav", "intensity"),
        ("03-01-05-01-03-01-01.wav", "statement"),
        ("03-01-05-01-01-03-01.wav", "repetition"),
        ("03-01-05-01-01-01-25.wav", "actor"),
        ("03-01-05-01-01-01-00.wav", "actor"),
        ("03-01-01-02-01-01-01.wav", "neutral has no strong"),
        ("03-02-07-01-01-01-01.wav", "song has no 'disgust'"),
        ("01-02-08-01-01-01-01.mp4", "song has no 'surprised'"),
    ],
)
def test_bad_names_are_refused_naming_the_file(file_name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        parse_ravdess_name(f"some/folder/{file_name}")
    assert f"some/folder/{file_name}" in str(info.value)


def test_song_allows_its_six_emotions() -> None:
    for code in range(1, 7):
        assert parse_ravdess_name(f"03-02-{code:02d}-01-01-01-01.wav").vocal_channel == "song"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"modality": "audio"}, "modality"),
        ({"emotion": "bored"}, "emotion"),
        ({"actor": 0}, "actor"),
        ({"actor": True}, "actor"),
        ({"statement": 3}, "statement"),
        ({"emotion": "neutral", "intensity": "strong"}, "neutral"),
    ],
)
def test_direct_construction_is_validated(fields: dict[str, object], problem: str) -> None:
    base: dict[str, object] = {
        "modality": "audio-only",
        "vocal_channel": "speech",
        "emotion": "sad",
        "intensity": "strong",
        "statement": 1,
        "repetition": 1,
        "actor": 1,
    }
    with pytest.raises(ValueError, match=problem):
        RavdessName(**{**base, **fields})  # type: ignore[arg-type]


def test_load_flat_and_actor_folders_wav_and_flac(tmp_path: Path) -> None:
    _touch_wav(tmp_path / "Actor_02" / "03-01-01-01-01-01-02.wav")
    _touch_wav(tmp_path / "Actor_01" / "03-01-05-02-01-02-01.wav")
    sf.write(tmp_path / "Actor_01" / "03-01-02-01-01-01-01.flac", np.zeros(480), 48_000)
    _touch_wav(tmp_path / "03-01-03-01-02-02-03.wav")
    _touch_wav(tmp_path / "Actor_01" / "03-02-05-02-01-02-01.wav")  # song: excluded
    _touch(tmp_path / "Actor_01" / "01-01-05-02-01-02-01.mp4")  # audio-video
    _touch(tmp_path / "Actor_01" / "02-01-05-02-01-02-01.mp4")  # video-only: not by default
    (tmp_path / "README.txt").write_text("not a clip")
    (tmp_path / "Actor_01" / "notes.csv").write_text("a,b\n")
    _touch(tmp_path / "Actor_01" / ".03-01-05-02-01-02-01.abc.tmp")
    _touch(tmp_path / "__MACOSX" / "Actor_01" / "._03-01-05-02-01-02-01.wav")

    data = load_ravdess(tmp_path)
    frame = data.frame
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert list(frame["clip_id"]) == [
        "01-01-05-02-01-02-01",
        "03-01-02-01-01-01-01",
        "03-01-05-02-01-02-01",
        "03-01-01-01-01-01-02",
        "03-01-03-01-02-02-03",
    ]
    assert list(frame["actor"]) == [1, 1, 1, 2, 3]
    assert list(data.y) == ["angry", "calm", "angry", "neutral", "happy"]
    assert data.y.name == "emotion" and data.groups.name == "actor"
    assert list(data.groups) == [1, 1, 1, 2, 3]
    assert frame["path"].map(type).eq(str).all()
    assert frame["path"].iloc[1].endswith("03-01-02-01-01-01-01.flac")
    assert frame.loc[4, "gender"] == "male" and frame.loc[3, "gender"] == "female"
    assert frame["emotion_code"].tolist() == [5, 2, 5, 1, 3]
    assert data.root == tmp_path
    assert tuple(data.target_names) == EMOTIONS

    assert len(load_ravdess(tmp_path, include_song=True).frame) == 6
    audio = load_ravdess(tmp_path, modalities=["audio-only"])
    assert set(audio.frame["modality"]) == {"audio-only"}
    every = load_ravdess(tmp_path, modalities=["audio-only", "audio-video", "video-only"])
    assert len(every.frame) == 6
    assert list(load_ravdess(tmp_path, actors=[2, 3]).groups) == [2, 3]
    frame_only, y, groups = load_ravdess(tmp_path, return_X_y=True)
    assert len(frame_only) == len(y) == len(groups) == 5


def test_missing_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'missing'} does not")):
        load_ravdess(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        load_ravdess(_touch(tmp_path / "file.txt"))
    (tmp_path / "Actor_01").mkdir()
    with pytest.raises(FileNotFoundError, match="no RAVDESS clips") as info:
        load_ravdess(tmp_path)
    assert str(tmp_path) in str(info.value)
    # song only: nothing of the requested kind
    _touch_wav(tmp_path / "Actor_01" / "03-02-05-02-01-02-01.wav")
    with pytest.raises(FileNotFoundError, match="no RAVDESS clips"):
        load_ravdess(tmp_path)


def test_duplicate_clips_are_refused(tmp_path: Path) -> None:
    wav = _touch_wav(tmp_path / "Actor_01" / "03-01-05-02-01-02-01.wav")
    flac = _touch(tmp_path / "flac" / "03-01-05-02-01-02-01.flac")
    with pytest.raises(ValueError, match="more than once") as info:
        load_ravdess(tmp_path)
    assert str(wav) in str(info.value) and str(flac) in str(info.value)


def test_actor_folder_must_agree_with_the_name(tmp_path: Path) -> None:
    moved = _touch_wav(tmp_path / "Actor_02" / "03-01-05-02-01-02-01.wav")
    with pytest.raises(ValueError, match="disagrees with its folder Actor_02") as info:
        load_ravdess(tmp_path)
    assert str(moved) in str(info.value)


def test_extension_must_match_modality(tmp_path: Path) -> None:
    _touch(tmp_path / "01-01-05-02-01-02-01.wav")
    with pytest.raises(ValueError, match=r"01-01-05-02-01-02-01\.wav.*\.mp4"):
        load_ravdess(tmp_path)


def test_bad_media_name_raise_or_skip(tmp_path: Path) -> None:
    _touch_wav(tmp_path / "03-01-05-02-01-02-01.wav")
    _touch_wav(tmp_path / "take3.wav")
    _touch_wav(tmp_path / "03-01-01-02-01-01-01.wav")  # neutral + strong
    # the first bad name in sorted order is reported
    with pytest.raises(ValueError, match=r"03-01-01-02-01-01-01\.wav: not a RAVDESS file name"):
        load_ravdess(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 2 media file\(s\).*take3\.wav"):
        data = load_ravdess(tmp_path, on_error="skip")
    assert list(data.frame["clip_id"]) == ["03-01-05-02-01-02-01"]
    with pytest.raises(ValueError, match="on_error"):
        load_ravdess(tmp_path, on_error="ignore")  # type: ignore[call-overload]


def test_requested_actors(tmp_path: Path) -> None:
    _touch_wav(tmp_path / "Actor_01" / "03-01-05-02-01-02-01.wav")
    with pytest.raises(ValueError, match=r"requested actor\(s\) \[7\]"):
        load_ravdess(tmp_path, actors=[1, 7])
    with pytest.raises(ValueError, match="actors entry"):
        load_ravdess(tmp_path, actors=[25])
    with pytest.raises(ValueError, match="modalities entry"):
        load_ravdess(tmp_path, modalities=["audio"])


def test_tracking_csvs_stand_for_absent_videos(tmp_path: Path) -> None:
    # RAVDESS's facial tracking set: one OpenFace CSV per video, named like it, flat.
    tracking = tmp_path / "FacialTracking"
    for clip in ("01-01-01-01-01-01-03", "01-01-03-02-01-01-03", "02-01-03-02-01-01-03"):
        _touch(tracking / f"{clip}.csv")
    _touch(tracking / "01-02-03-02-01-01-03.csv")  # song
    _touch(tracking / "03-01-03-02-01-01-03.csv")  # named like audio: some other table
    (tracking / "openface_au_clip_means.csv").write_text("id,AU12_r\n")

    data = load_ravdess(tracking)
    frame = data.frame
    assert list(frame["clip_id"]) == ["01-01-01-01-01-01-03", "01-01-03-02-01-01-03"]
    assert (frame["modality"] == "audio-video").all() and frame["path"].str.endswith(".csv").all()
    assert list(data.y) == ["neutral", "happy"] and list(data.groups) == [3, 3]
    video_only = load_ravdess(tracking, modalities=["video-only"]).frame
    assert list(video_only["clip_id"]) == ["02-01-03-02-01-01-03"]
    assert len(load_ravdess(tracking, include_song=True).frame) == 3

    # Wav files beside the CSVs give their own rows; a video beside its CSV is one clip,
    # the video.
    _touch_wav(tmp_path / "Actor_03" / "03-01-03-02-01-01-03.wav")
    video = _touch(tmp_path / "Actor_03" / "01-01-03-02-01-01-03.mp4")
    frame = load_ravdess(tmp_path).frame
    assert list(frame["clip_id"]) == [
        "01-01-01-01-01-01-03",
        "01-01-03-02-01-01-03",
        "03-01-03-02-01-01-03",
    ]
    assert frame["path"].tolist()[1] == str(video)
    assert frame["path"].tolist()[0].endswith(".csv")

    # A CSV in an Actor_XX folder is checked like a video; two copies of one are refused.
    _touch(tmp_path / "Actor_04" / "01-01-05-01-01-01-03.csv")
    with pytest.raises(ValueError, match="disagrees with its folder Actor_04"):
        load_ravdess(tmp_path)
    (tmp_path / "Actor_04" / "01-01-05-01-01-01-03.csv").unlink()
    _touch(tmp_path / "copy" / "01-01-01-01-01-01-03.csv")
    with pytest.raises(ValueError, match="more than once"):
        load_ravdess(tmp_path)


def test_linked_actor_folders_are_followed_once(tmp_path: Path) -> None:
    store = tmp_path / "RAVDESS"
    for actor in (3, 4, 5):
        _touch_wav(store / f"Actor_{actor:02d}" / f"03-01-05-02-01-02-{actor:02d}.wav")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # ln -s /data/RAVDESS/Actor_03 corpus/ : some actors without copying gigabytes
    (corpus / "Actor_03").symlink_to(store / "Actor_03", target_is_directory=True)
    (corpus / "Actor_04").symlink_to(store / "Actor_04", target_is_directory=True)
    # a link cycle, and a second link to a folder already linked, add nothing
    (corpus / "Actor_03" / "back").symlink_to(corpus, target_is_directory=True)
    (corpus / "again").symlink_to(store / "Actor_04", target_is_directory=True)
    # a linked file
    _touch_wav(tmp_path / "elsewhere" / "03-01-02-01-01-01-06.wav")
    (corpus / "03-01-02-01-01-01-06.wav").symlink_to(
        tmp_path / "elsewhere" / "03-01-02-01-01-01-06.wav"
    )
    (corpus / "03-01-02-01-01-01-07.wav").symlink_to(tmp_path / "gone.wav")  # broken: skipped

    # A folder reachable both from the top and through a link deeper down is read at the
    # top, where no Actor_XX folder above it disagrees with its files.
    _touch(corpus / "FacialTracking" / "01-01-05-02-01-02-04.csv")
    (store / "Actor_03" / "tracks").symlink_to(corpus / "FacialTracking", target_is_directory=True)

    frame = load_ravdess(corpus).frame
    assert list(frame["actor"]) == [3, 4, 4, 6]
    assert frame["path"].tolist()[:3] == [
        str(corpus / "Actor_03" / "03-01-05-02-01-02-03.wav"),
        str(corpus / "FacialTracking" / "01-01-05-02-01-02-04.csv"),
        str(corpus / "Actor_04" / "03-01-05-02-01-02-04.wav"),
    ]


@pytest.mark.ravdess
@pytest.mark.skipif(not RAVDESS_SPEECH.is_dir(), reason="real RAVDESS clips not present")
def test_real_ravdess_speech() -> None:
    data = load_ravdess(RAVDESS_SPEECH)
    assert len(data.frame) == 1440
    assert data.groups.nunique() == 24
    assert set(data.groups.value_counts()) == {60}
    assert data.y.value_counts()["neutral"] == 96
    assert set(data.y.value_counts().drop("neutral")) == {192}
    assert set(data.frame["modality"]) == {"audio-only"}
    assert data.frame["path"].str.endswith(".flac").all()
