"""TemporalStandardScaler: statistics over clips and time, dtypes, 2D parity, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from skemotion.preprocessing import TemporalStandardScaler


@pytest.fixture
def X() -> np.ndarray:
    rng = np.random.default_rng(0)
    loc = np.array([-40.0, 0.0, 10.0, 300.0])
    scale = np.array([5.0, 1.0, 0.1, 30.0])
    return rng.normal(loc, scale, size=(12, 30, 4))


def test_per_feature_mean_zero_std_one(X: np.ndarray) -> None:
    scaler = TemporalStandardScaler().fit(X)
    assert scaler.n_features_in_ == 4 and scaler.n_samples_seen_ == 12 * 30
    assert scaler.mean_ is not None and scaler.scale_ is not None
    assert scaler.mean_.shape == scaler.scale_.shape == (4,)
    np.testing.assert_allclose(scaler.mean_, X.reshape(-1, 4).mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, X.reshape(-1, 4).std(axis=0))
    Xt = scaler.transform(X)
    assert Xt.shape == X.shape
    np.testing.assert_allclose(Xt.mean(axis=(0, 1)), 0.0, atol=1e-12)
    np.testing.assert_allclose(Xt.std(axis=(0, 1)), 1.0)
    np.testing.assert_allclose(scaler.inverse_transform(Xt), X)


def test_2d_input_is_standard_scaler(X: np.ndarray) -> None:
    X2 = X[:, 0, :]
    ours = TemporalStandardScaler().fit(X2)
    ref = StandardScaler().fit(X2)
    assert ours.scale_ is not None
    np.testing.assert_allclose(ours.transform(X2), ref.transform(X2))
    np.testing.assert_allclose(ours.scale_, ref.scale_)
    # a 2D fit applies frame by frame to 3D data, and vice versa
    np.testing.assert_allclose(ours.transform(X)[:, 0, :], ref.transform(X2))


def test_float32_stays_float32(X: np.ndarray) -> None:
    X32 = X.astype(np.float32)
    scaler = TemporalStandardScaler().fit(X32)
    Xt = scaler.transform(X32)
    assert Xt.dtype == np.float32
    assert scaler.inverse_transform(Xt).dtype == np.float32
    assert scaler.transform(X.astype(int)).dtype == np.float64
    np.testing.assert_allclose(Xt.mean(axis=(0, 1)), 0.0, atol=1e-5)


def test_constant_feature_gets_scale_one() -> None:
    X = np.ones((3, 5, 2))
    X[..., 1] = np.arange(15.0).reshape(3, 5)
    X[..., 0] = 0.1  # not exactly representable: its computed variance is round-off
    scaler = TemporalStandardScaler().fit(X)
    assert scaler.scale_[0] == 1.0  # type: ignore[index]
    np.testing.assert_allclose(scaler.transform(X)[..., 0], 0.0, atol=1e-15)


@pytest.mark.parametrize(("with_mean", "with_std"), [(False, True), (True, False), (False, False)])
def test_flags(X: np.ndarray, with_mean: bool, with_std: bool) -> None:
    scaler = TemporalStandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    assert (scaler.mean_ is None) != with_mean
    assert (scaler.scale_ is None) != with_std
    Xt = scaler.transform(X)
    expected = X.copy()
    if with_mean:
        expected -= X.mean(axis=(0, 1))
    if with_std:
        expected /= X.std(axis=(0, 1))
    np.testing.assert_allclose(Xt, expected)
    np.testing.assert_allclose(scaler.inverse_transform(Xt), X)


def test_rejects_nan_inf_and_bad_shapes(X: np.ndarray) -> None:
    bad = X.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TemporalStandardScaler().fit(bad)
    bad[0, 3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        TemporalStandardScaler().fit(bad)
    scaler = TemporalStandardScaler().fit(X)
    with pytest.raises(ValueError, match="4 features"):
        scaler.transform(X[..., :3])
    with pytest.raises(ValueError, match="4 dimensions"):
        scaler.fit(X[None])
    with pytest.raises(ValueError, match="0 sample"):
        scaler.fit(np.zeros((2, 0, 4)))


def test_clone_and_params(X: np.ndarray) -> None:
    scaler = TemporalStandardScaler(with_std=False)
    assert clone(scaler).get_params() == {"with_mean": True, "with_std": False}
    names = TemporalStandardScaler().fit(X).get_feature_names_out()
    assert list(names) == ["x0", "x1", "x2", "x3"]
