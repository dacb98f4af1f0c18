"""Private helpers shared by skemotion's subpackages; not part of the public API.

Each fact lives once here: atomic file writes and file digests (``_io``), reading a clip
table's path column (``_tables``), routing actors to ``fit`` and checking that splits
keep them apart (``_groups``), importing optional dependencies (``_optional``), and what
every subject calibration shares: its parameters, refusals and description
(``_calibration``), what the clip transformers share: their tags, the audio ones' ``fit``
and the bad-samples error (``_clip_transformers``), the ``(n_clips, n_frames,
n_features)`` input rule of the networks and exports (``_frame_arrays``), and the
damaged-entry rule of the on-disk caches (``_npz_cache``).
The modules are private; their functions have public names so that the subpackages
import them without reaching for another subpackage's private names.
"""
