"""ResNetEmbedder on FaceRegions-shaped patches and on clips through a regions stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone

from skemotion import load_model, save_model
from skemotion.embed import ResNetEmbedder, load_backbone
from skemotion.face import FaceLandmarks, FaceRegions

transformers = pytest.importorskip("transformers")


def _patches(n_clips=2, n_frames=3, eyes=False, size=(32, 32), seed=0):
    rng = np.random.default_rng(seed)
    shape = (n_clips, n_frames, *((2,) if eyes else ()), 3, *size)
    return rng.standard_normal(shape).astype(np.float32)


_CALLS: list[list[str]] = []


class _FakeRegions(BaseEstimator):
    """A FaceRegions stand-in that makes patches from a file's bytes (no video needed)."""

    def __init__(self, region: str = "face") -> None:
        self.region = region

    def transform(self, X):
        _CALLS.append(list(X))
        seeds = [sum(Path(p).read_bytes()) for p in X]
        return np.concatenate([_patches(1, 4, self.region == "eyes", seed=s) for s in seeds])


def test_patch_shapes_and_pooled_output(resnet_dir):
    emb = ResNetEmbedder(resnet_dir, cache_dir=False)
    patches = _patches()
    out = emb.fit_transform(patches)
    assert out.dtype == np.float32 and out.shape == (2, 3, 16)
    model = transformers.ResNetModel.from_pretrained(resnet_dir).eval()
    with torch.no_grad():
        pooled = model(torch.from_numpy(patches.reshape(6, 3, 32, 32))).pooler_output
    np.testing.assert_allclose(out.reshape(6, 16), pooled.reshape(6, 16).numpy(), atol=1e-5)
    # Mouth-shaped (non-square) patches pool to the same size.
    assert emb.transform(_patches(size=(110, 180))).shape == (2, 3, 16)


def test_eyes_are_the_mean_of_both_eyes(resnet_dir):
    eyes = _patches(eyes=True)
    emb = ResNetEmbedder(resnet_dir, batch_size=5, cache_dir=False)
    both = emb.fit_transform(eyes)
    right, left = emb.transform(eyes[:, :, 0]), emb.transform(eyes[:, :, 1])
    np.testing.assert_allclose(both, (right + left) / 2, atol=1e-5)


def test_missing_face_gives_nan_and_user_module(resnet_dir):
    patches = _patches()
    patches[1] = np.nan
    out = ResNetEmbedder(resnet_dir, cache_dir=False).fit_transform(patches)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.ReLU())  # (n, 5, h, w)
    assert ResNetEmbedder(module, cache_dir=False).fit_transform(_patches()).shape == (2, 3, 5)


def test_clips_through_regions_and_cache(resnet_dir, tmp_path, monkeypatch):
    paths = []
    for i in range(2):
        path = tmp_path / f"02-01-0{i + 1}-01-01-01-01.mp4"
        path.write_bytes(bytes([i + 1]) * 50)
        paths.append(str(path))
    _CALLS.clear()
    emb = ResNetEmbedder(resnet_dir, regions=_FakeRegions("eyes"), cache_dir=tmp_path / "c")
    out = emb.fit_transform(paths)
    assert out.shape == (2, 4, 16) and len(_CALLS) == 2
    np.testing.assert_allclose(
        out[1],
        ResNetEmbedder(resnet_dir, cache_dir=False).transform(_patches(1, 4, True, seed=100))[0],
    )

    def fail(*args, **kwargs):
        raise AssertionError("the model ran although every clip was cached")

    monkeypatch.setattr(transformers.ResNetModel, "forward", fail)
    np.testing.assert_array_equal(emb.transform(paths), out)
    assert len(_CALLS) == 2  # nor were the patches cut again
    with pytest.raises(AssertionError, match="model ran"):
        emb.set_params(regions=_FakeRegions("face")).transform(paths)


def test_default_regions_follow_landmark_frame_settings():
    emb = ResNetEmbedder(regions=FaceRegions("mouth", landmarks=FaceLandmarks(n_frames=20)))
    settings = emb._settings()
    assert ["landmarks__n_frames", 20] in [list(p) for p in settings["regions"][1]]
    assert ResNetEmbedder()._regions().get_params()["region"] == "face"


def test_refuses_numeric_matrices(resnet_dir):
    emb = ResNetEmbedder(resnet_dir, cache_dir=False)
    with pytest.raises(TypeError, match="holds no images"):
        emb.fit(np.zeros((4, 10)))
    with pytest.raises(TypeError, match="single path"):
        emb.fit("clip.mp4")


def test_clone_and_save(resnet_dir, tmp_path):
    emb = ResNetEmbedder(str(resnet_dir), regions=FaceRegions("eyes"), cache_dir=False)
    copy = clone(emb)
    assert copy.get_params()["regions__region"] == "eyes"
    loaded = load_model(save_model(emb, tmp_path / "r.skem"))
    np.testing.assert_allclose(loaded.transform(_patches()), emb.transform(_patches()))
    assert load_backbone(resnet_dir, kind="resnet") is load_backbone(resnet_dir, kind="resnet")
