"""scikit-learn's estimator checks on LogMelSpectrogram.

The checks feed 2D float arrays, which the transformer reads as ``n_clips`` waveforms
of ``n_features`` samples; small STFT parameters keep them fast, and the default
``pad_mode="constant"`` zero-pads their few samples up to ``crop_length``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from skemotion.audio import LogMelSpectrogram

INIT_PARAMS: dict[type[Any], dict[str, Any]] = {
    LogMelSpectrogram: {
        "sr": 1000,
        "n_fft": 64,
        "hop_length": 16,
        "n_mels": 8,
        "fmax": None,
        "crop_length": 256,
    },
}
"""Small, fast constructor arguments per estimator, for the project-wide common tests."""

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "LogMelSpectrogram": {
        "check_estimators_dtypes": (
            "Integer arrays are refused on purpose with a TypeError: integer PCM has a "
            "format-dependent full scale (int16: 32768), so converting it as is would "
            "shift every dB value; users must scale waveforms to [-1, 1] floats."
        ),
    },
}
"""Checks that cannot pass, by estimator class name, with the reason."""


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [cls(**params) for cls, params in INIT_PARAMS.items()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)
