"""The face path: video frames, 68-point landmarks, head pose and the paper's face features.

Landmark backends (the embedded dlib default, OpenFace 2.x CSVs) return one
:class:`FaceTrack` per clip; the feature transformers turn tracks into
``(n_clips, 88, d)`` float32 arrays that feed TIM-Net like the log-mel features do.
"""

from ._track import (
    ACTION_UNIT_NAMES,
    AU_INTENSITY_NAMES,
    AU_PRESENCE_NAMES,
    HEAD_POSE_NAMES,
    N_EYE_LANDMARKS,
    N_LANDMARKS,
    FaceTrack,
)

__all__ = [
    "ACTION_UNIT_NAMES",
    "AU_INTENSITY_NAMES",
    "AU_PRESENCE_NAMES",
    "HEAD_POSE_NAMES",
    "N_EYE_LANDMARKS",
    "N_LANDMARKS",
    "FaceTrack",
]
