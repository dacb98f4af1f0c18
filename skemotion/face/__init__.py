"""The face path: video frames, 68-point landmarks, head pose and the paper's face features.

Landmark backends (the embedded dlib default, OpenFace 2.x CSVs) give one
:class:`FaceTrack` per clip through :class:`FaceLandmarks`, which caches them on disk;
the feature transformers (:class:`KeyPointDistances`, :class:`EyeKeyPointDistances`,
:class:`ActionUnits`, :class:`HeadPose`, :class:`FaceRegions`) turn tracks into
``(n_clips, 88, d)`` float32 arrays that feed TIM-Net like the log-mel features do.
"""

from ._au_means import ActionUnitMeans
from ._dlib import TrackedLandmarks, shape_predictor_path, track_face_landmarks
from ._features import ActionUnits, EyeKeyPointDistances, HeadPose, KeyPointDistances
from ._geometry import (
    DLIB_EYE_FEATURE_DIM,
    EYE_BROW_INDICES,
    KPD_LANDMARK_INDICES,
    OPENFACE_EYE_FEATURE_DIM,
    OPENFACE_EYELID_INDICES,
    eye_keypoint_distances,
    inter_ocular_distance,
    keypoint_distances,
    most_neutral_frame,
    pairwise_distances,
)
from ._interpolate import interpolate_missing
from ._landmarks import (
    FaceLandmarks,
    default_cache_dir,
    extract_dlib_track,
    landmark_backend_for,
)
from ._openface import (
    OPENFACE_CONFIDENCE_THRESHOLD,
    OPENFACE_REQUIRED_COLUMNS,
    find_openface_csv,
    read_openface_csv,
)
from ._pose import FACE_MODEL_3D, estimate_head_pose, rotation_to_euler
from ._reference import (
    default_reference_resolver,
    neutral_reference_landmarks,
    set_default_reference_resolver,
)
from ._regions import IMAGENET_MEAN, IMAGENET_STD, REGION_SIZES, FaceRegions, crop_patch
from ._track import (
    ACTION_UNIT_NAMES,
    AU_INTENSITY_NAMES,
    AU_PRESENCE_NAMES,
    HEAD_POSE_NAMES,
    N_EYE_LANDMARKS,
    N_LANDMARKS,
    FaceTrack,
)
from ._video import (
    FRAME_MODES,
    SHORT_POLICIES,
    VideoInfo,
    iter_frames,
    load_video,
    read_frames,
    select_frames,
    video_info,
)

__all__ = [
    "ACTION_UNIT_NAMES",
    "AU_INTENSITY_NAMES",
    "AU_PRESENCE_NAMES",
    "DLIB_EYE_FEATURE_DIM",
    "EYE_BROW_INDICES",
    "FACE_MODEL_3D",
    "FRAME_MODES",
    "HEAD_POSE_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KPD_LANDMARK_INDICES",
    "N_EYE_LANDMARKS",
    "N_LANDMARKS",
    "OPENFACE_CONFIDENCE_THRESHOLD",
    "OPENFACE_EYELID_INDICES",
    "OPENFACE_EYE_FEATURE_DIM",
    "OPENFACE_REQUIRED_COLUMNS",
    "REGION_SIZES",
    "SHORT_POLICIES",
    "ActionUnitMeans",
    "ActionUnits",
    "EyeKeyPointDistances",
    "FaceLandmarks",
    "FaceRegions",
    "FaceTrack",
    "HeadPose",
    "KeyPointDistances",
    "TrackedLandmarks",
    "VideoInfo",
    "crop_patch",
    "default_cache_dir",
    "default_reference_resolver",
    "estimate_head_pose",
    "extract_dlib_track",
    "eye_keypoint_distances",
    "find_openface_csv",
    "inter_ocular_distance",
    "interpolate_missing",
    "iter_frames",
    "keypoint_distances",
    "landmark_backend_for",
    "load_video",
    "most_neutral_frame",
    "neutral_reference_landmarks",
    "pairwise_distances",
    "read_frames",
    "read_openface_csv",
    "rotation_to_euler",
    "select_frames",
    "set_default_reference_resolver",
    "shape_predictor_path",
    "track_face_landmarks",
    "video_info",
]
