"""load_ravdess_audiovisual: pairing each recording's audio file with its video file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skemotion import EMOTIONS
from skemotion.datasets import AUDIOVISUAL_COLUMNS, RavdessName, load_ravdess_audiovisual

_EXTENSION = {"audio-only": ".wav", "video-only": ".mp4", "audio-video": ".mp4"}


def _recordings(actors: Iterable[int] = (1, 2)) -> list[dict[str, object]]:
    """A few speech recordings per actor (and one song), as RavdessName fields."""
    fields: list[dict[str, object]] = []
    for actor in actors:
        for emotion, intensity, statement, repetition in [
            ("neutral", "normal", 1, 1),
            ("angry", "strong", 2, 1),
            ("sad", "normal", 1, 2),
        ]:
            fields.append(
                {
                    "vocal_channel": "speech",
                    "emotion": emotion,
                    "intensity": intensity,
                    "statement": statement,
                    "repetition": repetition,
                    "actor": actor,
                }
            )
    return fields


def _touch(root: Path, modality: str, **fields: object) -> Path:
    # The loader only reads names, so empty files stand for the clips.
    name = RavdessName(modality=modality, **fields)  # type: ignore[arg-type]
    path = root / f"Actor_{name.actor:02d}" / name.to_name(_EXTENSION[modality])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _corpus(root: Path, modalities: Iterable[str] = ("audio-only", "video-only")) -> Path:
    for fields in _recordings():
        for modality in modalities:
            _touch(root, modality, **fields)
    return root


def test_one_row_per_recording_with_both_paths(tmp_path: Path) -> None:
    data = load_ravdess_audiovisual(_corpus(tmp_path))
    frame = data.frame
    assert list(frame.columns) == list(AUDIOVISUAL_COLUMNS)
    assert len(frame) == 6
    assert frame["audio_path"].str.endswith(".wav").all()
    assert frame["video_path"].str.endswith(".mp4").all()
    for row in frame.itertuples():
        audio, video = Path(row.audio_path), Path(row.video_path)
        assert audio.name.startswith("03-") and video.name.startswith("02-")
        # Same recording: every name field but the modality agrees.
        assert audio.stem[3:] == video.stem[3:]
        assert audio.parent == video.parent == tmp_path / f"Actor_{row.actor:02d}"
    assert list(frame["actor"]) == [1, 1, 1, 2, 2, 2]
    assert frame["emotion"].tolist()[:3] == ["neutral", "sad", "angry"]  # sorted by name
    assert frame["emotion_code"].tolist()[:3] == [1, 4, 5]
    assert frame["gender"].tolist() == ["male"] * 3 + ["female"] * 3
    pd.testing.assert_series_equal(data.y, frame["emotion"])
    pd.testing.assert_series_equal(data.groups, frame["actor"])
    assert list(data.target_names) == list(EMOTIONS)
    assert data.root == tmp_path


def test_audio_from_the_audio_video_files(tmp_path: Path) -> None:
    _corpus(tmp_path, ("audio-only", "video-only", "audio-video"))
    data = load_ravdess_audiovisual(tmp_path, audio="audio-video")
    assert len(data.frame) == 6
    assert all(Path(p).name.startswith("01-") for p in data.frame["audio_path"])
    assert all(Path(p).name.startswith("02-") for p in data.frame["video_path"])
    # The wav files are not used, nor needed.
    default = load_ravdess_audiovisual(tmp_path)
    assert all(Path(p).name.startswith("03-") for p in default.frame["audio_path"])


def test_audio_video_file_pairs_with_itself(tmp_path: Path) -> None:
    _corpus(tmp_path, ("audio-video",))
    data = load_ravdess_audiovisual(tmp_path, audio="audio-video", video="audio-video")
    assert len(data.frame) == 6
    assert (data.frame["audio_path"] == data.frame["video_path"]).all()
    assert all(Path(p).name.startswith("01-") for p in data.frame["audio_path"])


# A recording with only its audio, and one with only its video.
@pytest.mark.parametrize(
    ("modality", "fields"),
    [
        (
            "audio-only",
            dict(emotion="happy", intensity="normal", statement=1, repetition=1, actor=2),
        ),
        (
            "video-only",
            dict(emotion="fearful", intensity="strong", statement=2, repetition=2, actor=1),
        ),
    ],
    ids=["audio", "video"],
)
def test_unpaired_file_raises_naming_it(
    modality: str, fields: dict[str, object], tmp_path: Path
) -> None:
    _corpus(tmp_path)
    lonely = _touch(tmp_path, modality, vocal_channel="speech", **fields)
    with pytest.raises(ValueError, match=rf"1 recording\(s\).*{lonely.name}.*on_unpaired='skip'"):
        load_ravdess_audiovisual(tmp_path)


def test_skip_unpaired_warns_and_leaves_them_out(tmp_path: Path) -> None:
    _corpus(tmp_path)
    fields: dict[str, object] = {
        "vocal_channel": "speech",
        "intensity": "normal",
        "statement": 1,
        "repetition": 1,
        "actor": 2,
    }
    lonely_audio = _touch(tmp_path, "audio-only", emotion="happy", **fields)
    lonely_video = _touch(tmp_path, "video-only", emotion="calm", **fields)
    with pytest.warns(UserWarning, match=r"2 recording\(s\).*left out"):
        data = load_ravdess_audiovisual(tmp_path, on_unpaired="skip")
    assert len(data.frame) == 6
    used = set(data.frame["audio_path"]) | set(data.frame["video_path"])
    assert str(lonely_audio) not in used and str(lonely_video) not in used
    # The table is the same as without the lonely files, dtypes included.
    for path in (lonely_audio, lonely_video):
        path.unlink()
    pd.testing.assert_frame_equal(data.frame, load_ravdess_audiovisual(tmp_path).frame)


def test_no_pairs_at_all_raises(tmp_path: Path) -> None:
    _corpus(tmp_path, ("audio-only",))
    with pytest.raises(ValueError, match="6 recording"):
        load_ravdess_audiovisual(tmp_path)
    with (
        pytest.warns(UserWarning, match="left out"),
        pytest.raises(ValueError, match=r"No recording .* \(6 audio-only, 0 video-only files"),
    ):
        load_ravdess_audiovisual(tmp_path, on_unpaired="skip")


def test_actors_and_song_filters(tmp_path: Path) -> None:
    _corpus(tmp_path)
    song: dict[str, object] = {
        "vocal_channel": "song",
        "emotion": "happy",
        "intensity": "normal",
        "statement": 1,
        "repetition": 1,
        "actor": 1,
    }
    for modality in ("audio-only", "video-only"):
        _touch(tmp_path, modality, **song)
    assert len(load_ravdess_audiovisual(tmp_path).frame) == 6
    with_song = load_ravdess_audiovisual(tmp_path, include_song=True).frame
    assert sorted(with_song["vocal_channel"].unique()) == ["song", "speech"]
    assert len(with_song) == 7
    only_two = load_ravdess_audiovisual(tmp_path, actors=[2]).frame
    assert set(only_two["actor"]) == {2} and len(only_two) == 3


def test_bad_on_unpaired_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_unpaired"):
        load_ravdess_audiovisual(_corpus(tmp_path), on_unpaired="warn")  # type: ignore[arg-type]


def test_groups_drive_actor_cv(tmp_path: Path) -> None:
    from sklearn.model_selection import GroupKFold

    data = load_ravdess_audiovisual(_corpus(tmp_path))
    for train, test in GroupKFold(n_splits=2).split(data.frame, data.y, data.groups):
        assert not set(data.groups.iloc[train]) & set(data.groups.iloc[test])
    assert np.unique(data.groups).tolist() == [1, 2]


def _tracking_csvs(root: Path, modality: str = "audio-video") -> list[Path]:
    """OpenFace tracking CSVs named like the videos, flat (RAVDESS's tracking set)."""
    paths = []
    for fields in _recordings():
        name = RavdessName(modality=modality, **fields)  # type: ignore[arg-type]
        paths.append(root / name.to_name(".csv"))
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_text("frame,timestamp,confidence\n")
    return paths


def test_wav_files_pair_with_tracking_csvs(tmp_path: Path) -> None:
    _corpus(tmp_path, ("audio-only",))
    csvs = _tracking_csvs(tmp_path / "FacialTracking")
    # The tracking set is named after the 01-* videos; it stands in for the absent 02-*.
    frame = load_ravdess_audiovisual(tmp_path).frame
    assert len(frame) == 6 and sorted(frame["video_path"]) == sorted(map(str, csvs))
    for row in frame.itertuples():
        assert Path(row.audio_path).stem[3:] == Path(row.video_path).stem[3:]
    same = load_ravdess_audiovisual(tmp_path, video="audio-video").frame
    pd.testing.assert_frame_equal(same, frame)
    # A video of the requested modality is preferred to a stand-in CSV.
    video = _touch(tmp_path, "video-only", **_recordings()[0])
    frame = load_ravdess_audiovisual(tmp_path).frame
    assert frame["video_path"].tolist()[0] == str(video)
    assert frame["video_path"].str.endswith(".csv").sum() == 5


def test_tracking_csvs_are_never_the_audio(tmp_path: Path) -> None:
    _tracking_csvs(tmp_path)
    for audio in ("audio-only", "audio-video"):
        with pytest.raises(ValueError, match=r"no sound.*modalities=\['audio-video'\]"):
            load_ravdess_audiovisual(tmp_path, audio=audio, video="audio-video")
