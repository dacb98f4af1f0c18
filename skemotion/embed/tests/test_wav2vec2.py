"""Wav2Vec2Embedder and its input preparation, on a tiny random checkpoint folder."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skemotion import load_model, save_model
from skemotion.embed import (
    Wav2Vec2Embedder,
    Wav2Vec2Preprocessor,
    _hub,
    clear_model_cache,
    load_backbone,
    wav2vec2_input,
)
from skemotion.nets import TIMNetClassifier

transformers = pytest.importorskip("transformers")


def test_input_resamples_48k_to_16k_centre_and_normalizes():
    t = np.arange(150_000) / 48_000
    y = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05
    x = wav2vec2_input(y)
    assert x.dtype == np.float32 and x.shape == (46_933,)  # 140,800 * 16 / 48
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-3
    spectrum = np.abs(np.fft.rfft(x))
    assert np.fft.rfftfreq(len(x), 1 / 16_000)[spectrum.argmax()] == pytest.approx(440, abs=1)
    # A short clip is padded with silence around its centre; silence stays zero.
    assert wav2vec2_input(np.zeros(1000)).shape == (46_933,)
    assert not wav2vec2_input(np.zeros(1000)).any()
    raw = wav2vec2_input(y, normalize=False, crop_length=None, sr=16_000)
    np.testing.assert_allclose(raw, y.astype(np.float32))


def test_preprocessor_paths_match_waveforms(wav_files):
    paths, waves = wav_files
    prep = Wav2Vec2Preprocessor()
    from_paths = prep.fit_transform(paths)
    np.testing.assert_allclose(from_paths, prep.transform(waves), atol=1e-5)
    assert from_paths.shape == (3, 46_933)
    assert len(prep.get_feature_names_out()) == 46_933


def test_shapes_layers_and_equivalence_with_the_model(wav2vec2_dir, wav_files):
    paths, waves = wav_files
    emb = Wav2Vec2Embedder(wav2vec2_dir, cache_dir=False)
    out = emb.fit_transform(paths)
    assert out.dtype == np.float32 and out.shape == (3, 146, 16)
    np.testing.assert_allclose(out, emb.transform(waves), atol=1e-4)

    model = transformers.Wav2Vec2Model.from_pretrained(wav2vec2_dir).eval()
    with torch.no_grad():
        states = model(
            torch.from_numpy(np.stack([wav2vec2_input(w) for w in waves])),
            output_hidden_states=True,
        ).hidden_states
    np.testing.assert_allclose(out, states[-1].numpy(), atol=1e-4)
    first = Wav2Vec2Embedder(wav2vec2_dir, layer=0, cache_dir=False).fit_transform(waves)
    np.testing.assert_allclose(first, states[0].numpy(), atol=1e-4)
    mean = Wav2Vec2Embedder(wav2vec2_dir, layer="mean", cache_dir=False).fit_transform(waves)
    np.testing.assert_allclose(mean, (states[1] + states[2]).numpy() / 2, atol=1e-4)
    with pytest.raises(ValueError, match="out of range"):
        Wav2Vec2Embedder(wav2vec2_dir, layer=5, cache_dir=False).fit_transform(waves)
    names = emb.get_feature_names_out()
    assert len(names) == 16 and names[0] == "wav2vec2_0"


def test_module_input_and_batches_agree(wav2vec2_dir, wav_files):
    _, waves = wav_files
    model = load_backbone(wav2vec2_dir, kind="wav2vec2")
    model.train()  # the embedder evaluates in eval mode and restores the caller's mode
    one = Wav2Vec2Embedder(model, batch_size=1, cache_dir=False).fit_transform(waves)
    assert model.training
    many = Wav2Vec2Embedder(wav2vec2_dir, batch_size=8, cache_dir=False).fit_transform(waves)
    np.testing.assert_allclose(one, many, atol=1e-4)


def test_cache_hit_skips_the_model(wav2vec2_dir, wav_files, tmp_path, monkeypatch):
    paths, waves = wav_files
    emb = Wav2Vec2Embedder(wav2vec2_dir, cache_dir=tmp_path / "emb")
    first = emb.fit_transform(paths)
    assert len(list((tmp_path / "emb").glob("clip_*-*.npz"))) == 3

    def fail(*args, **kwargs):
        raise AssertionError("the model ran although every clip was cached")

    monkeypatch.setattr(transformers.Wav2Vec2Model, "forward", fail)
    np.testing.assert_array_equal(emb.transform(paths), first)
    # Another parameter that changes the output is another cache entry.
    with pytest.raises(AssertionError, match="model ran"):
        clone(emb).set_params(layer=0).transform(paths)
    # Waveform input is cached by content too.
    monkeypatch.undo()
    from_waves = emb.transform(waves)
    monkeypatch.setattr(transformers.Wav2Vec2Model, "forward", fail)
    np.testing.assert_array_equal(emb.transform(waves), from_waves)


def test_default_cache_under_skemotion_cache_dir(wav2vec2_dir, wav_files, tmp_path):
    Wav2Vec2Embedder(wav2vec2_dir).fit_transform(wav_files[1][:1])
    assert list((tmp_path / "cache" / "embeddings").glob("*.npz"))


def test_device_and_dtype_on_cpu(wav2vec2_dir, wav_files):
    _, waves = wav_files
    ref = Wav2Vec2Embedder(wav2vec2_dir, device="cpu", cache_dir=False).fit_transform(waves)
    half = Wav2Vec2Embedder(wav2vec2_dir, dtype="bfloat16", cache_dir=False).fit_transform(waves)
    # Values are not compared: the tiny random convolutions are ill-conditioned in
    # bfloat16 (a base-size configuration agrees to a correlation of 0.9999).
    assert half.dtype == np.float32 and half.shape == ref.shape and np.isfinite(half).all()
    with pytest.raises(ValueError, match="float16"):
        Wav2Vec2Embedder(wav2vec2_dir, dtype="float16", cache_dir=False).transform(waves)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Wav2Vec2Embedder(wav2vec2_dir, device="cuda", cache_dir=False).transform(waves)
    else:  # pragma: no cover - GPU machines only
        gpu = Wav2Vec2Embedder(wav2vec2_dir, device="cuda", dtype="float16", cache_dir=False)
        assert np.corrcoef(gpu.fit_transform(waves).ravel(), ref.ravel())[0, 1] > 0.95


def test_unknown_hub_id_fails_fast_with_a_clear_message(wav_files, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(_hub, "_hub_reachable", lambda: False)
    start = time.perf_counter()
    with pytest.raises(OSError, match="no-such-org/no-such-wav2vec2") as info:
        Wav2Vec2Embedder("no-such-org/no-such-wav2vec2").fit(wav_files[1])
    assert time.perf_counter() - start < 10
    assert "folder" in str(info.value) and "save_pretrained" in str(info.value)


def test_unreachable_hub_is_detected_quickly(monkeypatch):
    # The real probe, against a port nothing listens on: refused at once, no retries.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    assert not _hub._hub_reachable()
    assert time.perf_counter() - start < 5
    with pytest.raises(OSError, match="unreachable"):
        load_backbone("no-such-org/model", kind="wav2vec2")


def test_wrong_architecture_and_non_checkpoint_folder(resnet_dir, tmp_path):
    with pytest.raises(ValueError, match="'resnet' model, not a wav2vec2"):
        load_backbone(resnet_dir, kind="wav2vec2")
    with pytest.raises(OSError, match="not a transformers checkpoint folder"):
        load_backbone(tmp_path, kind="wav2vec2")


def test_model_loaded_once_per_process(wav2vec2_dir, wav_files, monkeypatch):
    clear_model_cache()
    calls = []
    original = _hub._load_uncached

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(_hub, "_load_uncached", counting)
    _, waves = wav_files
    X = np.concatenate([waves] * 4)
    y = np.array(["a", "b"] * 6)
    pipe = Pipeline(
        [
            ("emb", Wav2Vec2Embedder(wav2vec2_dir, cache_dir=False)),
            ("clf", TIMNetClassifier(max_epochs=1, module__filters=4, module__n_scales=2)),
        ]
    )
    search = GridSearchCV(pipe, {"emb__layer": [0, -1]}, cv=2).fit(X, y)
    assert search.best_params_["emb__layer"] in (0, -1)
    assert len(calls) == 1
    clone(pipe).fit(X, y)
    assert len(calls) == 1


def test_save_and_load_pipeline(wav2vec2_dir, wav_files, tmp_path):
    _, waves = wav_files
    y = np.array(["a", "b", "a"])
    pipe = Pipeline(
        [
            ("emb", Wav2Vec2Embedder(str(wav2vec2_dir), layer="mean", cache_dir=False)),
            ("clf", TIMNetClassifier(max_epochs=2, module__filters=4, module__n_scales=2)),
        ]
    ).fit(waves, y)
    loaded = load_model(save_model(pipe, tmp_path / "w2v.skem"))
    assert loaded[0].get_params() == pipe[0].get_params()
    np.testing.assert_allclose(loaded.predict_proba(waves), pipe.predict_proba(waves), atol=1e-5)


def test_input_errors(wav2vec2_dir):
    emb = Wav2Vec2Embedder(wav2vec2_dir, cache_dir=False)
    with pytest.raises(TypeError, match="single path"):
        emb.fit("clip.wav")
    with pytest.raises(TypeError, match="integer samples"):
        emb.fit(np.zeros((2, 100), dtype=np.int16))


def test_pickles_with_a_folder_model(wav2vec2_dir, wav_files):
    import pickle

    emb = Wav2Vec2Embedder(str(wav2vec2_dir), cache_dir=False).fit(wav_files[1])
    copy = pickle.loads(pickle.dumps(emb))
    np.testing.assert_array_equal(copy.transform(wav_files[1]), emb.transform(wav_files[1]))
