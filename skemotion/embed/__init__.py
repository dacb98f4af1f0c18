"""Pretrained embedders: Wav2Vec2 for speech, ResNet for face, eyes and mouth.

Frozen feature extractors (:class:`Wav2Vec2Embedder`, :class:`ResNetEmbedder`) that
turn clips into ``(n_clips, n_frames, d)`` float32 arrays for TIM-Net, and end-to-end
fine-tuning (:class:`PretrainedTIMNet`, :class:`FineTunedTIMNetClassifier`) of a
pretrained backbone followed by TIM-Net. Models load through ``transformers`` (the
``embed`` extra) by hub id or from a local folder written by ``save_pretrained``.
"""

from ._finetune import FineTunedTIMNetClassifier, PretrainedTIMNet, UnfreezeBackbone
from ._hub import BACKBONE_KINDS, clear_model_cache, default_cache_dir, load_backbone
from ._resnet import ResNetEmbedder, image_features
from ._wav2vec2 import WAV2VEC2_SR, Wav2Vec2Embedder, Wav2Vec2Preprocessor, wav2vec2_input

__all__ = [
    "BACKBONE_KINDS",
    "WAV2VEC2_SR",
    "FineTunedTIMNetClassifier",
    "PretrainedTIMNet",
    "ResNetEmbedder",
    "UnfreezeBackbone",
    "Wav2Vec2Embedder",
    "Wav2Vec2Preprocessor",
    "clear_model_cache",
    "default_cache_dir",
    "image_features",
    "load_backbone",
    "wav2vec2_input",
]
