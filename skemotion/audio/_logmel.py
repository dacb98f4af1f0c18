"""The log-mel feature extractor as a scikit-learn transformer."""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils._param_validation import Interval, StrOptions

from .._parallel import streaming_return_as
from ..utils._clip_transformers import AudioClipTransformer, checked_audio_samples
from ._crop import PAD_MODES, center_crop
from ._io import _read_centre_window, load_audio
from ._spectral import log_mel_spectrogram

__all__ = ["LogMelSpectrogram"]

# Clips decoded and transformed together by one job: large enough to batch the FFT,
# small enough to balance the jobs and bound memory (~1 MB of audio per clip).
_CLIPS_PER_TASK = 16


# A DataFrame cannot hold the 3D output: opt out of set_output's auto-wrapping.
class LogMelSpectrogram(AudioClipTransformer, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Log-mel spectrogram of audio clips, as ``(n_clips, n_frames, n_mels)`` float32.

    The speech feature of the paper ("LMS"): each clip is decoded at ``sr`` and mixed
    to mono (channel mean), its central ``crop_length`` samples are kept (shorter
    clips are padded per ``pad_mode``), then :func:`log_mel_spectrogram` gives one
    row of ``n_mels`` dB values per ``hop_length`` samples. With the defaults a
    RAVDESS clip becomes the paper's 88 x 24 matrix.

    The transformer is stateless: :meth:`fit` only validates the parameters and
    records ``n_features_in_`` when given a 2D numeric array.

    Parameters
    ----------
    sr : int, default=48_000
        Sampling rate the clips are decoded (resampled) to, and that waveform input
        is assumed to have.
    n_mels : int, default=24
        Number of mel bands.
    n_fft : int, default=4800
        Window and FFT length in samples.
    hop_length : int, default=1600
        Step between frames in samples.
    fmin : float, default=0.0
        Lowest filterbank frequency in Hz.
    fmax : float or None, default=17_000.0
        Highest filterbank frequency in Hz, at most ``sr / 2``; ``None`` means
        ``sr / 2``.
    crop_length : int or None, default=140_800
        Samples kept around each clip's centre (see :func:`center_crop`), giving
        ``crop_length // hop_length`` frames. ``None`` keeps whole clips, which must
        then all give the same number of frames, ``n_samples // hop_length``.
    pad_mode : {"constant", "reflect", "edge", "error"}, default="constant"
        How clips shorter than ``crop_length`` are padded (``"constant"``: silence).
    path_column : str, default="path"
        Column holding the file paths when ``X`` is a :class:`pandas.DataFrame`.
    n_jobs : int or None, default=None
        Number of joblib workers decoding and transforming clips in parallel, in
        chunks of 16 clips (``None`` is 1 unless inside a
        :func:`joblib.parallel_config` context, ``-1`` all cores). Workers are
        threads unless a :func:`joblib.parallel_config` backend says otherwise: the
        decoding and the FFT release the GIL.
    verbose : int, default=0
        Show a tqdm progress bar over clips when positive.
    on_error : {"raise"}, default="raise"
        What to do with a file that cannot be read or is too short for
        ``pad_mode="error"``: raise an error naming the file. It is the only policy
        because a transformer must return one row per input row: dropping the clip
        would misalign ``X`` and ``y``, and a NaN row would only fail later, far from
        its cause. Filter bad files out before calling the transformer.

    Attributes
    ----------
    n_features_in_ : int
        Waveform length seen in :meth:`fit`; set only when ``X`` was 2D numeric.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a numeric :class:`pandas.DataFrame` given to :meth:`fit`.

    See Also
    --------
    log_mel_spectrogram : the function this transformer wraps.
    load_audio : how files are decoded.

    Notes
    -----
    Accepted inputs ``X``:

    - a list, tuple, 1D array or :class:`pandas.Series` of paths (str or
      :class:`os.PathLike`) to wav / flac / ogg files, or to mp4 / m4a / mov files
      read with PyAV;
    - a :class:`pandas.DataFrame` with a ``path_column`` column of such paths;
    - a 2D float array (or numeric DataFrame) of waveforms at ``sr``, one clip per
      row, e.g. ``(n_clips, n_samples)``;
    - a list of 1D float waveforms, possibly of different lengths.

    The output is 3D, so ``set_output`` is not available (a DataFrame cannot hold
    it) and :meth:`get_feature_names_out` names the last axis, the mel bands.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.audio import LogMelSpectrogram
    >>> rng = np.random.default_rng(0)
    >>> waves = 0.1 * rng.standard_normal((3, 150_000)).astype(np.float32)
    >>> LogMelSpectrogram().fit_transform(waves).shape
    (3, 88, 24)
    >>> LogMelSpectrogram(n_mels=40, crop_length=48_000).fit_transform(waves).shape
    (3, 30, 40)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 2, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "crop_length": [Interval(Integral, 1, None, closed="left"), None],
        "pad_mode": [StrOptions(set(PAD_MODES))],
        "path_column": [str],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "on_error": [StrOptions({"raise"})],
    }

    def __init__(
        self,
        *,
        sr: int = 48_000,
        n_mels: int = 24,
        n_fft: int = 4800,
        hop_length: int = 1600,
        fmin: float = 0.0,
        fmax: float | None = 17_000.0,
        crop_length: int | None = 140_800,
        pad_mode: str = "constant",
        path_column: str = "path",
        n_jobs: int | None = None,
        verbose: int = 0,
        on_error: str = "raise",
    ) -> None:
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.crop_length = crop_length
        self.pad_mode = pad_mode
        self.path_column = path_column
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.on_error = on_error

    def transform(self, X: Any) -> np.ndarray:
        """Compute the log-mel spectrogram of every clip.

        Parameters
        ----------
        X : paths, DataFrame, Series, 2D float array or list of 1D waveforms
            See the class Notes.

        Returns
        -------
        X_lms : np.ndarray, shape (n_clips, n_frames, n_mels), float32
            ``n_frames = crop_length // hop_length`` (88 by default).
        """
        self._check_params()
        kind, clips = self._parse(X, reset=False)
        tasks = [clips[lo : lo + _CLIPS_PER_TASK] for lo in range(0, len(clips), _CLIPS_PER_TASK)]
        worker = _paths_task if kind == "paths" else _waves_task
        kwargs = self._feature_kwargs()

        if effective_n_jobs(self.n_jobs) == 1:
            results: Iterator[np.ndarray] = (worker(task, **kwargs) for task in tasks)
        else:
            # Threads by default: decoding (libsndfile, FFmpeg) and the FFT release the
            # GIL, and threads skip the seconds worker processes take to start and import
            # sklearn. parallel_config(backend="loky") still overrides this soft hint.
            return_as = streaming_return_as(prefer="threads")
            parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as=return_as)
            results = parallel(delayed(worker)(task, **kwargs) for task in tasks)
        if self.verbose:
            results = _progress(results, total=len(clips))
        blocks = list(results)
        if len({block.shape[1] for block in blocks}) > 1:
            # Only reachable with crop_length=None; each task checked its own clips.
            raise ValueError(
                "With crop_length=None all clips must give the same number of frames "
                f"(n_samples // hop_length); got {sorted({b.shape[1] for b in blocks})}. "
                "Set crop_length to cut them to a common length."
            )
        return np.concatenate(blocks, axis=0)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the last output axis: ``mel_0`` ... ``mel_{n_mels - 1}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored except for a length check against ``n_features_in_``: the
            output does not map onto input columns (waveform samples).

        Returns
        -------
        feature_names_out : ndarray of str objects, shape (n_mels,)
        """
        n_in = getattr(self, "n_features_in_", None)
        if input_features is not None and n_in is not None and len(input_features) != n_in:
            raise ValueError(
                "input_features should have length equal to number of features "
                f"({n_in}), got {len(input_features)}"
            )
        return np.asarray([f"mel_{i}" for i in range(self.n_mels)], dtype=object)

    # -- helpers -------------------------------------------------------------------

    def _check_params(self) -> None:
        super()._check_params()
        nyquist = self.sr / 2
        if self.fmax is not None and self.fmax > nyquist:
            raise ValueError(
                f"fmax={self.fmax} exceeds the Nyquist frequency sr / 2 = {nyquist:g}."
            )
        fmax = nyquist if self.fmax is None else self.fmax
        if self.fmin >= fmax:
            raise ValueError(f"fmin={self.fmin} must be below fmax={fmax}.")
        if self.crop_length is not None and self.crop_length < self.hop_length:
            raise ValueError(
                f"crop_length={self.crop_length} is shorter than hop_length="
                f"{self.hop_length}: no frame would be left."
            )

    def _feature_kwargs(self) -> dict[str, Any]:
        return {
            "sr": self.sr,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "crop_length": self.crop_length,
            "pad_mode": self.pad_mode,
        }


def _fix_length(y: np.ndarray, *, crop_length: int | None, pad_mode: Any, name: str) -> np.ndarray:
    if crop_length is None:
        return y
    try:
        return center_crop(y, length=crop_length, pad_mode=pad_mode)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _batch_logmel(clips: list[np.ndarray], names: list[str], **kw: Any) -> np.ndarray:
    if len({clip.shape[-1] for clip in clips}) == 1:
        return log_mel_spectrogram(np.stack(clips), **kw)
    # Unequal lengths only happen with crop_length=None: fine if the frame counts agree.
    feats = [log_mel_spectrogram(clip, **kw) for clip in clips]
    if len({f.shape[0] for f in feats}) > 1:
        detail = ", ".join(f"{n}: {f.shape[0]}" for n, f in zip(names, feats, strict=True))
        raise ValueError(
            "With crop_length=None all clips must give the same number of frames "
            f"(n_samples // hop_length); got {detail}. Set crop_length to cut them "
            "to a common length."
        )
    return np.stack(feats)


def _waves_task(clips: Any, **kw: Any) -> np.ndarray:
    crop_length, pad_mode = kw.pop("crop_length"), kw.pop("pad_mode")
    if isinstance(clips, np.ndarray):  # a 2D block of equal-length rows: crop at once
        batch = _fix_length(clips, crop_length=crop_length, pad_mode=pad_mode, name="X")
        return log_mel_spectrogram(batch, **kw)
    names = [f"waveform {i}" for i in range(len(clips))]
    fixed = [
        _fix_length(c, crop_length=crop_length, pad_mode=pad_mode, name=n)
        for c, n in zip(clips, names, strict=True)
    ]
    return _batch_logmel(fixed, names, **kw)


def _paths_task(paths: list[str], **kw: Any) -> np.ndarray:
    crop_length, pad_mode = kw.pop("crop_length"), kw.pop("pad_mode")
    clips = []
    for path in paths:
        # Only the centre is used: read just it where the file allows (same samples; only
        # integer PCM qualifies, which holds no NaN).
        window = (
            None
            if crop_length is None
            else _read_centre_window(path, sr=kw["sr"], length=crop_length)
        )
        if window is None:
            y = checked_audio_samples(load_audio(path, sr=kw["sr"], mono=True)[0], path)
            window = _fix_length(y, crop_length=crop_length, pad_mode=pad_mode, name=path)
        clips.append(window)
    return _batch_logmel(clips, paths, **kw)


def _progress(results: Any, *, total: int) -> Iterator[np.ndarray]:
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="clip", desc="log-mel") as bar:
        for block in results:
            bar.update(len(block))
            yield block
