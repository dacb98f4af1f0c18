"""Landmark extraction killed mid-run resumes from its cache: nothing redone, nothing corrupt.

A real subprocess extracts landmarks for generated RAVDESS-like clips into a cache folder
and is killed with SIGKILL while it writes an entry; the extraction is then run again in
this process.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("dlib")
pytest.importorskip("cv2")
pytest.importorskip("skimage")

from skemotion.face import FaceLandmarks

from ...tests._killed_child import kill_when_marker_appears

N_CLIPS = 6
N_FRAMES = 30
N_BEFORE_KILL = 2  # entries complete when the child is killed writing the next one

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

# Run by the child: the real FaceLandmarks, serial, with np.savez slowed on the entry
# after N_BEFORE_KILL so that the parent's SIGKILL lands while half of it is written.
CHILD = textwrap.dedent(
    """
    import io, json, os, sys, time
    import numpy as np
    from skemotion.face import FaceLandmarks

    paths, cache, marker, n_before, n_frames = json.loads(sys.argv[1])
    real_savez = np.savez
    calls = []

    def slow_savez(stream, **arrays):
        calls.append(1)
        if len(calls) <= n_before:
            return real_savez(stream, **arrays)
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        data = buffer.getvalue()
        stream.write(data[: len(data) // 2])
        stream.flush()
        open(marker, "w").close()
        time.sleep(600)

    np.savez = slow_savez
    FaceLandmarks(n_frames=n_frames, cache_dir=cache, n_jobs=1).extract(paths)
    """
)


@pytest.fixture(scope="module")
def video_clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from skemotion.datasets import make_ravdess_like

    data = make_ravdess_like(
        tmp_path_factory.mktemp("corpus"), n_actors=1, video=True, duration_range=(2.5, 2.9)
    )
    frame = data.frame
    return frame.loc[frame["modality"] == "video-only", "path"].tolist()[:N_CLIPS]


def _kill_mid_write(paths: list[str], cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "writing"
    argument = json.dumps([paths, str(cache), str(marker), N_BEFORE_KILL, N_FRAMES])
    kill_when_marker_appears(
        [sys.executable, "-c", CHILD, argument],
        marker,
        tmp_path / "child.log",
        waiting_for="reached the third cache write",
    )


def _entries(cache: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}


def test_killed_extraction_resumes_without_recomputing(video_clips, tmp_path, extracted_sources):
    cache = tmp_path / "cache"
    _kill_mid_write(video_clips, cache, tmp_path)

    before = _entries(cache)
    assert len(before) == N_BEFORE_KILL
    leftovers = [p for p in cache.iterdir() if p.name not in before]
    # The half-written entry exists only under its hidden temporary name.
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".")
    assert not leftovers[0].name.endswith(".npz")
    with pytest.raises(zipfile.BadZipFile):
        np.load(leftovers[0])

    resumed = FaceLandmarks(n_frames=N_FRAMES, cache_dir=cache).extract(video_clips)

    # The clips cached before the kill were read, not extracted again; their files untouched.
    cached_stems = {name.rsplit("-", 1)[0] for name in before}
    assert len(extracted_sources) == N_CLIPS - N_BEFORE_KILL
    assert not cached_stems & {Path(source).stem for source in extracted_sources}
    after = _entries(cache)
    assert len(after) == N_CLIPS
    assert all(after[name] == mtime for name, mtime in before.items())

    clean = FaceLandmarks(n_frames=N_FRAMES, cache_dir=False).extract(video_clips)
    for got, want in zip(resumed, clean, strict=True):
        assert got is not None and want is not None
        assert got.source == want.source
        np.testing.assert_array_equal(got.landmarks_2d, want.landmarks_2d)
        np.testing.assert_array_equal(got.head_pose, want.head_pose)
        np.testing.assert_array_equal(got.success, want.success)
        np.testing.assert_array_equal(got.frame_indices, want.frame_indices)

    # Every file under an entry name is complete; the only other file is the dead child's
    # hidden temporary one, which no lookup opens.
    for entry in cache.glob("*.npz"):
        with np.load(entry, allow_pickle=False) as arrays:
            assert "landmarks_2d" in arrays.files
    assert sorted(p.name for p in cache.iterdir() if p.name not in after) == [leftovers[0].name]


def test_damaged_entry_is_a_miss_with_a_warning(video_clips, tmp_path, extracted_sources):
    cache = tmp_path / "cache"
    clips = video_clips[:2]
    first = FaceLandmarks(n_frames=N_FRAMES, cache_dir=cache).extract(clips)
    entries = sorted(cache.glob("*.npz"))
    assert len(entries) == 2
    # As if copied half-way (or written by a tool without atomic writes).
    damaged = next(e for e in entries if e.name.startswith(Path(clips[0]).stem))
    damaged.write_bytes(damaged.read_bytes()[:1000])

    extracted_sources.clear()  # the first extraction above
    with pytest.warns(UserWarning, match=f"{damaged.name}: damaged landmark cache entry"):
        second = FaceLandmarks(n_frames=N_FRAMES, cache_dir=cache).extract(clips)
    assert extracted_sources == [clips[0]]
    for got, want in zip(second, first, strict=True):
        assert got is not None and want is not None
        np.testing.assert_array_equal(got.landmarks_2d, want.landmarks_2d)
    with np.load(damaged, allow_pickle=False) as arrays:  # rebuilt in place
        assert "landmarks_2d" in arrays.files


def test_damaged_embedding_cache_entry_is_a_miss(tmp_path):
    pytest.importorskip("torch")
    from skemotion.embed._cache import read_entry, write_entry

    entry = tmp_path / "clip-0123.npz"
    write_entry(entry, np.ones((4, 8)))
    np.testing.assert_array_equal(read_entry(entry), np.ones((4, 8), dtype=np.float32))
    entry.write_bytes(entry.read_bytes()[:40])
    with pytest.warns(UserWarning, match=f"{entry.name}: damaged embedding cache entry"):
        assert read_entry(entry) is None
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no temporary left behind
