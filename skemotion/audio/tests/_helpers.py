"""Test helpers: synthetic clips (sines, noise) and an AAC-in-mp4 writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

RAVDESS_SPEECH = Path(__file__).resolve().parents[4] / "shared" / "data" / "ravdess" / "speech"


def tone(n: int, *, sr: int = 48_000, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    """A float32 sine of ``n`` samples."""
    t = np.arange(n) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_mp4(path: Path, y: np.ndarray, sr: int) -> Path:
    """Write ``y`` ((n,) or (2, n)) as the AAC audio track of an mp4 with PyAV."""
    av = pytest.importorskip("av")
    data = np.atleast_2d(y).astype(np.float32)
    layout = "mono" if data.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout=layout)
        for lo in range(0, data.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, lo : lo + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
