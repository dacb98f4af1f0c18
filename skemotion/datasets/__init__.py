"""RAVDESS file names, the corpus loader and a synthetic RAVDESS-like corpus."""

from ._ravdess import (
    FRAME_COLUMNS,
    INTENSITIES,
    MODALITIES,
    SONG_EMOTIONS,
    STATEMENTS,
    VOCAL_CHANNELS,
    RavdessName,
    load_ravdess,
    parse_ravdess_name,
)

__all__ = [
    "FRAME_COLUMNS",
    "INTENSITIES",
    "MODALITIES",
    "SONG_EMOTIONS",
    "STATEMENTS",
    "VOCAL_CHANNELS",
    "RavdessName",
    "load_ravdess",
    "parse_ravdess_name",
]
