"""Audio decoding and speech features: the paper's log-mel spectrogram ("LMS").

A pure function layer (:func:`load_audio`, :func:`center_crop`,
:func:`log_mel_spectrogram`, :func:`mel_filterbank`) and the scikit-learn transformer
:class:`LogMelSpectrogram` that wraps it, turning file paths or waveforms into
``(n_clips, 88, 24)`` float32 arrays.
"""

from ._crop import PAD_MODES, center_crop
from ._io import VIDEO_EXTENSIONS, load_audio
from ._logmel import LogMelSpectrogram
from ._spectral import log_mel_spectrogram, mel_filterbank

__all__ = [
    "PAD_MODES",
    "VIDEO_EXTENSIONS",
    "LogMelSpectrogram",
    "center_crop",
    "load_audio",
    "log_mel_spectrogram",
    "mel_filterbank",
]
