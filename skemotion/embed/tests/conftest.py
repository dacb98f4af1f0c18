"""Embedder fixtures: tiny random transformers checkpoints saved to temporary folders.

No weights are ever downloaded: each fixture builds a small configuration with
transformers' config classes, ``save_pretrained`` it, and the tests load it by path,
exactly as a user loads a real checkpoint folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

transformers = pytest.importorskip("transformers")


def tiny_wav2vec2_config() -> object:
    # Total stride 320 and receptive field 400 samples, like the real models: one frame
    # per 20 ms of 16 kHz audio.
    return transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8, 8),
        conv_stride=(5, 8, 8),
        conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        layerdrop=0.0,
    )


def tiny_resnet_config() -> object:
    return transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
    )


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes its embedding cache under its own temporary folder."""
    monkeypatch.setenv("SKEMOTION_CACHE_DIR", str(tmp_path / "cache"))


def _saved_random_model(
    tmp_path_factory: pytest.TempPathFactory, model_class: Any, config: object, name: str
) -> Path:
    """A ``model_class`` of random weights (seed 0) from ``config``, saved to a new folder."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(name)
    model_class(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def wav2vec2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved_random_model(
        tmp_path_factory, transformers.Wav2Vec2Model, tiny_wav2vec2_config(), "tiny-wav2vec2"
    )


@pytest.fixture(scope="session")
def resnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved_random_model(
        tmp_path_factory, transformers.ResNetModel, tiny_resnet_config(), "tiny-resnet"
    )


@pytest.fixture(scope="session")
def speech_clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    """Twelve generated RAVDESS-like clips of 4 emotions (paths, labels)."""
    from skemotion.datasets import load_ravdess, make_ravdess_like

    root = tmp_path_factory.mktemp("corpus")
    make_ravdess_like(root, n_actors=1, random_state=0)
    data = load_ravdess(root, modalities=["audio-only"])
    keep = np.flatnonzero(np.isin(data.y, ["neutral", "happy", "sad", "angry"]))[::2][:12]
    return [str(p) for p in data.frame["path"].iloc[keep]], np.asarray(data.y)[keep]


@pytest.fixture
def wav_files(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    """Three 48 kHz float wavs (3 s noise + tone) and their samples."""
    rng = np.random.default_rng(0)
    t = np.arange(150_000) / 48_000
    waves = np.stack(
        [
            np.sin(2 * np.pi * f * t) * 0.3 + 0.01 * rng.standard_normal(len(t))
            for f in (220, 440, 880)
        ]
    ).astype(np.float32)
    paths = []
    for i, y in enumerate(waves):
        path = tmp_path / f"clip_{i}.wav"
        sf.write(path, y, 48_000, subtype="FLOAT")
        paths.append(path)
    return paths, waves
