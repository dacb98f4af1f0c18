"""RAVDESS file names, the corpus loader and a synthetic RAVDESS-like corpus."""

from ._au_means import RECORDING_COLUMNS, load_openface_au_means
from ._audiovisual import AUDIOVISUAL_COLUMNS, load_ravdess_audiovisual
from ._corpus import make_ravdess_like, ravdess_design
from ._face_video import synthesize_face_video
from ._profiles import EMOTION_PROFILES, STRONG_INTENSITY_GAIN, EmotionProfile, emotion_profile
from ._ravdess import (
    EMOTIONS,
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
from ._reference import (
    RavdessNeutralReference,
    is_ravdess_neutral_reference,
    ravdess_neutral_reference,
)
from ._synthetic import synthesize_speech

__all__ = [
    "AUDIOVISUAL_COLUMNS",
    "EMOTIONS",
    "EMOTION_PROFILES",
    "FRAME_COLUMNS",
    "INTENSITIES",
    "MODALITIES",
    "RECORDING_COLUMNS",
    "SONG_EMOTIONS",
    "STATEMENTS",
    "STRONG_INTENSITY_GAIN",
    "VOCAL_CHANNELS",
    "EmotionProfile",
    "RavdessName",
    "RavdessNeutralReference",
    "emotion_profile",
    "is_ravdess_neutral_reference",
    "load_openface_au_means",
    "load_ravdess",
    "load_ravdess_audiovisual",
    "make_ravdess_like",
    "parse_ravdess_name",
    "ravdess_design",
    "ravdess_neutral_reference",
    "synthesize_face_video",
    "synthesize_speech",
]
