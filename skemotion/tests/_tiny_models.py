"""A tiny random Wav2Vec2 for the test modules that check every public estimator.

Built from a configuration, never downloaded.
"""

from __future__ import annotations

from typing import Any

import torch


def tiny_wav2vec2() -> Any:
    """A random Wav2Vec2 of 8 channels and one layer, in eval mode, the same on every call.

    Its feature encoder strides 16 samples with a receptive field of 20, so a clip of a few
    hundred samples already gives it frames. The global torch generator is left as it was.

    Raises
    ------
    ImportError
        When transformers (the embed extra) is not installed.
    """
    import transformers

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return transformers.Wav2Vec2Model(
            transformers.Wav2Vec2Config(
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=16,
                conv_dim=(4, 4),
                conv_stride=(4, 4),
                conv_kernel=(8, 4),
                num_conv_pos_embeddings=4,
                num_conv_pos_embedding_groups=2,
            )
        ).eval()
