"""Audio fixtures: clips generated on the fly (sines and noise), never real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ._helpers import tone


@pytest.fixture
def clip_dir(tmp_path: Path) -> tuple[list[Path], list[np.ndarray]]:
    """Five 48 kHz float wav clips of 2.5 to 3.5 s: paths and the exact samples."""
    rng = np.random.default_rng(0)
    paths, waves = [], []
    for i, n in enumerate([150_000, 140_800, 120_000, 168_001, 141_000]):
        y = tone(n, freq=200.0 + 150 * i) + 0.01 * rng.standard_normal(n).astype(np.float32)
        path = tmp_path / f"clip_{i}.wav"
        sf.write(path, y, 48_000, subtype="FLOAT")
        paths.append(path)
        waves.append(y)
    return paths, waves
