"""Property-based tests of the RAVDESS name parser: round trip and rejection."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from skemotion import EMOTIONS
from skemotion.datasets import RavdessName, parse_ravdess_name
from skemotion.datasets._ravdess import (
    INTENSITIES,
    MODALITIES,
    SONG_EMOTIONS,
    VOCAL_CHANNELS,
)

FAST = settings(max_examples=60, deadline=None)


@st.composite
def ravdess_names(draw: st.DrawFn) -> RavdessName:
    channel = draw(st.sampled_from(VOCAL_CHANNELS))
    emotion = draw(st.sampled_from(SONG_EMOTIONS if channel == "song" else EMOTIONS))
    intensity = "normal" if emotion == "neutral" else draw(st.sampled_from(INTENSITIES))
    return RavdessName(
        modality=draw(st.sampled_from(MODALITIES)),
        vocal_channel=channel,
        emotion=emotion,
        intensity=intensity,
        statement=draw(st.integers(1, 2)),
        repetition=draw(st.integers(1, 2)),
        actor=draw(st.integers(1, 24)),
    )


extensions = st.sampled_from(["", ".wav", ".mp4", ".flac", "wav", ".WAV"])
folders = st.sampled_from(["", "Actor_07/", "/data/ravdess/Actor_24/", "some dir/"])


@FAST
@given(name=ravdess_names(), ext=extensions, folder=folders)
def test_round_trip(name: RavdessName, ext: str, folder: str) -> None:
    file_name = name.to_name(ext)
    assert re.fullmatch(r"\d\d(-\d\d){6}(\.\w+)?", file_name)
    assert parse_ravdess_name(folder + file_name) == name
    assert parse_ravdess_name(name.clip_id).to_name() == name.clip_id


@FAST
@given(name=ravdess_names(), field=st.integers(0, 6), code=st.integers(0, 99))
def test_out_of_range_codes_are_rejected(name: RavdessName, field: int, code: int) -> None:
    high = (3, 2, 8, 2, 2, 2, 24)[field]
    assume(not 1 <= code <= high)
    fields = name.clip_id.split("-")
    fields[field] = f"{code:02d}"
    bad = "-".join(fields) + ".wav"
    with pytest.raises(ValueError, match=re.escape(bad) + ": not a RAVDESS file name"):
        parse_ravdess_name(bad)


@FAST
@given(name=ravdess_names(), field=st.integers(0, 6), junk=st.text(min_size=0, max_size=4))
def test_fields_that_are_not_two_digits_are_rejected(
    name: RavdessName, field: int, junk: str
) -> None:
    assume("/" not in junk and "\x00" not in junk and "." not in junk)
    assume(not re.fullmatch(r"\d\d", junk))
    fields = name.clip_id.split("-")
    fields[field] = junk
    bad = "-".join(fields)
    with pytest.raises(ValueError, match="not a RAVDESS file name"):
        parse_ravdess_name(bad)


@FAST
@given(text=st.text(alphabet="0123456789-_abc", max_size=30))
def test_arbitrary_stems_parse_only_when_valid(text: str) -> None:
    try:
        name = parse_ravdess_name(text + ".wav")
    except ValueError as error:
        assert "not a RAVDESS file name" in str(error)
        assert text in str(error)
    else:
        assert name.clip_id == text


@FAST
@given(
    channel=st.sampled_from(VOCAL_CHANNELS),
    emotion_code=st.integers(1, 8),
    intensity_code=st.integers(1, 2),
)
def test_combinations_ravdess_lacks_are_rejected(
    channel: str, emotion_code: int, intensity_code: int
) -> None:
    emotion = EMOTIONS[emotion_code - 1]
    exists = not (emotion == "neutral" and intensity_code == 2) and not (
        channel == "song" and emotion not in SONG_EMOTIONS
    )
    channel_code = VOCAL_CHANNELS.index(channel) + 1
    stem = f"03-{channel_code:02d}-{emotion_code:02d}-{intensity_code:02d}-01-01-01"
    if exists:
        assert parse_ravdess_name(stem).emotion == emotion
    else:
        with pytest.raises(ValueError, match=stem):
            parse_ravdess_name(stem)
