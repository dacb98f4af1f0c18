"""LogMelSpectrogram: every input form gives the same features; errors name the file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skemotion.audio import LogMelSpectrogram, center_crop, log_mel_spectrogram
from skemotion.preprocessing import TemporalStandardScaler

from ._helpers import RAVDESS_SPEECH, tone, write_mp4

Clips = tuple[list[Path], list[np.ndarray]]


def expected_features(waves: list[np.ndarray]) -> np.ndarray:
    return np.stack([log_mel_spectrogram(center_crop(y)) for y in waves])


def test_paths_match_the_function_layer(clip_dir: Clips) -> None:
    paths, waves = clip_dir
    X = LogMelSpectrogram().fit_transform(paths)
    assert X.shape == (5, 88, 24) and X.dtype == np.float32
    np.testing.assert_array_equal(X, expected_features(waves))


def test_all_input_forms_agree(clip_dir: Clips) -> None:
    paths, waves = clip_dir
    lms = LogMelSpectrogram()
    ref = lms.fit_transform(paths)
    as_str = [str(p) for p in paths]
    forms = {
        "str list": as_str,
        "tuple": tuple(paths),
        "array": np.array(as_str),
        "Series": pd.Series(as_str),
        "DataFrame": pd.DataFrame({"path": as_str, "actor": range(5)}),
        "waveform list": waves,
    }
    for name, X in forms.items():
        np.testing.assert_array_equal(lms.transform(X), ref, err_msg=name)
    other_col = LogMelSpectrogram(path_column="file")
    np.testing.assert_array_equal(other_col.fit_transform(pd.DataFrame({"file": as_str})), ref)
    # A 2D array needs equal lengths: crop first, then it is the same again.
    batch = np.stack([center_crop(y) for y in waves])
    np.testing.assert_array_equal(lms.fit_transform(batch), ref)
    # a numeric DataFrame is a 2D array too (short clips: wide frames are slow to validate)
    short = LogMelSpectrogram(crop_length=3200)
    np.testing.assert_array_equal(
        short.fit_transform(pd.DataFrame(batch[:, :4000])), short.fit_transform(batch[:, :4000])
    )


def test_n_jobs_2_equals_n_jobs_1(clip_dir: Clips) -> None:
    paths, _ = clip_dir
    many = paths * 4  # 20 clips: two tasks of 16 and 4
    one = LogMelSpectrogram(n_jobs=1).fit_transform(many)
    two = LogMelSpectrogram(n_jobs=2).fit_transform(many)
    # Workers run BLAS single-threaded: summation order, hence float32 rounding, may differ.
    np.testing.assert_allclose(one, two, rtol=0, atol=1e-4)


def test_verbose_shows_progress(clip_dir: Clips, capsys: pytest.CaptureFixture[str]) -> None:
    paths, _ = clip_dir
    LogMelSpectrogram(verbose=1).fit_transform(paths)
    assert "5/5" in capsys.readouterr().err


def test_mp4_and_resampled_inputs(tmp_path: Path) -> None:
    x = tone(150_000)
    mp4 = write_mp4(tmp_path / "clip.mp4", x, 48_000)
    assert LogMelSpectrogram().fit_transform([mp4]).shape == (1, 88, 24)
    wav16 = tmp_path / "clip16k.wav"
    sf.write(wav16, tone(50_000, sr=16_000), 16_000, subtype="FLOAT")
    # decoded at the transformer's sr: a 16 kHz file is resampled to 48 kHz first
    S = LogMelSpectrogram().fit_transform([wav16])
    assert S.shape == (1, 88, 24)
    peak_band = S[0, 40].argmax()
    ref = LogMelSpectrogram().fit_transform([x])[0, 40].argmax()
    assert peak_band == ref


def test_crop_length_none(clip_dir: Clips) -> None:
    _, waves = clip_dir
    lms = LogMelSpectrogram(crop_length=None)
    assert lms.fit_transform([waves[1], waves[1]]).shape == (2, 88, 24)
    # 141000 samples also give 88 frames: accepted
    assert lms.fit_transform([waves[1], waves[4]]).shape == (2, 88, 24)
    with pytest.raises(ValueError, match="same number of frames"):
        lms.fit_transform([waves[0], waves[2]])


def test_errors_name_the_file(clip_dir: Clips, tmp_path: Path) -> None:
    paths, _ = clip_dir
    missing = tmp_path / "missing_clip.wav"
    with pytest.raises(FileNotFoundError, match=r"missing_clip\.wav"):
        LogMelSpectrogram().fit_transform([*paths, missing])
    corrupt = tmp_path / "broken_clip.flac"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=r"broken_clip\.flac"):
        LogMelSpectrogram(n_jobs=2).fit_transform([*paths, corrupt])
    with pytest.raises(ValueError, match=r"clip_2\.wav.*120000 samples.*140800"):
        LogMelSpectrogram(pad_mode="error").fit_transform(paths)


def test_input_errors() -> None:
    lms = LogMelSpectrogram()
    with pytest.raises(TypeError, match="single path"):
        lms.fit_transform("clip.wav")
    with pytest.raises(ValueError, match="no column 'path'"):
        lms.fit_transform(pd.DataFrame({"file": ["a.wav"]}))
    with pytest.raises(TypeError, match="integer"):
        lms.fit_transform(np.zeros((2, 3200), dtype=np.int16))
    with pytest.raises(TypeError, match="integer"):
        lms.fit_transform([np.zeros(3200, dtype=np.int16)])
    with pytest.raises(TypeError, match="mixes"):
        lms.fit_transform(["a.wav", np.zeros(3200)])
    with pytest.raises(ValueError, match="no clips"):
        lms.fit_transform([])
    with pytest.raises(ValueError, match="NaN"):
        lms.fit_transform(np.full((1, 3200), np.nan))


@pytest.mark.parametrize(
    "params",
    [{"fmax": 30_000.0}, {"fmin": 17_000.0}, {"crop_length": 100}, {"on_error": "skip"}],
)
def test_bad_parameters_raise_in_fit(params: dict) -> None:
    with pytest.raises(ValueError):
        LogMelSpectrogram(**params).fit(np.zeros((1, 3200)))


def test_n_features_in_tracks_numeric_fit(clip_dir: Clips) -> None:
    paths, _ = clip_dir
    lms = LogMelSpectrogram().fit(np.zeros((2, 1000)))
    assert lms.n_features_in_ == 1000
    with pytest.raises(ValueError, match="1000 features"):
        lms.transform(np.zeros((2, 2000)))
    lms.fit(paths)
    assert not hasattr(lms, "n_features_in_")
    assert lms.transform(np.zeros((2, 2000))).shape == (2, 88, 24)


def test_feature_names_and_shape_parameters() -> None:
    lms = LogMelSpectrogram(n_mels=40, crop_length=48_000)
    names = lms.get_feature_names_out()
    assert list(names[:2]) == ["mel_0", "mel_1"] and len(names) == 40
    assert lms.fit_transform(np.zeros((1, 60_000), np.float32)).shape == (1, 30, 40)


def test_pipeline_clone_params_pickle(clip_dir: Clips) -> None:
    paths, _ = clip_dir
    pipe = make_pipeline(LogMelSpectrogram(n_mels=16), TemporalStandardScaler())
    assert pipe.get_params()["logmelspectrogram__n_mels"] == 16
    pipe.set_params(logmelspectrogram__n_mels=24)
    Xt = clone(pipe).fit_transform(paths)
    assert Xt.shape == (5, 88, 24)
    np.testing.assert_allclose(Xt.mean(axis=(0, 1)), 0.0, atol=1e-4)
    restored = pickle.loads(pickle.dumps(pipe.fit(paths)))
    np.testing.assert_allclose(restored.transform(paths), Xt, atol=1e-6)


REAL_CLIP = RAVDESS_SPEECH / "Actor_01" / "03-01-02-01-01-02-01.flac"  # stereo per the README


@pytest.mark.ravdess
@pytest.mark.skipif(not REAL_CLIP.exists(), reason="RAVDESS clips not available")
def test_real_stereo_clip_gives_88_by_24() -> None:
    assert sf.info(REAL_CLIP).channels == 2
    X = LogMelSpectrogram().fit_transform([REAL_CLIP])
    assert X.shape == (1, 88, 24) and X.dtype == np.float32
    assert np.isfinite(X).all()
    # speech, not silence: well above the -100 dB floor
    assert X.max() > -40.0
