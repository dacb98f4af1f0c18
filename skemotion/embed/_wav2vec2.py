"""Wav2Vec2 speech embeddings: 16 kHz input preparation and a frozen-model transformer."""

from __future__ import annotations

import os
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..audio import PAD_MODES, center_crop, load_audio
from ..utils._clip_transformers import AudioClipTransformer, checked_audio_samples
from ._cache import clip_entry, read_entry, resolve_cache_dir, write_entry
from ._frozen import FROZEN_MODEL_CONSTRAINTS, FrozenModel
from ._hub import model_fingerprint

__all__ = ["WAV2VEC2_SR", "Wav2Vec2Embedder", "Wav2Vec2Preprocessor", "wav2vec2_input"]

WAV2VEC2_SR = 16_000
"""Sampling rate every Wav2Vec2 checkpoint was trained at."""


def wav2vec2_input(
    y: np.ndarray,
    *,
    sr: int = 48_000,
    crop_length: int | None = 140_800,
    pad_mode: str = "constant",
    normalize: bool = True,
) -> np.ndarray:
    """Turn one mono waveform into what a Wav2Vec2 model reads.

    The central ``crop_length`` samples at ``sr`` are kept (the paper's crop: 140,800
    samples at 48 kHz, 2.93 s, the 88 centre video frames), resampled to 16 kHz with
    soxr's high-quality filter (46,933 samples), then shifted and scaled to zero mean
    and unit variance, as Wav2Vec2's feature extractor does.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Float waveform at ``sr``.
    sr : int, default=48_000
    crop_length : int or None, default=140_800
        Samples kept around the centre, at ``sr``; None keeps the whole clip.
    pad_mode : {"constant", "reflect", "edge", "error"}, default="constant"
        How shorter clips are padded (see :func:`~skemotion.audio.center_crop`).
    normalize : bool, default=True
        Zero mean, unit variance (a silent clip stays zero).

    Returns
    -------
    x : np.ndarray of float32, shape (round(n * 16000 / sr),)

    Examples
    --------
    >>> import numpy as np
    >>> x = wav2vec2_input(np.random.default_rng(0).normal(size=150_000))
    >>> x.shape, round(float(x.mean()), 6), round(float(x.std()), 3)
    ((46933,), 0.0, 1.0)
    """
    import soxr

    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"wav2vec2_input takes one mono waveform, got shape {y.shape}.")
    if crop_length is not None:
        y = center_crop(y, length=crop_length, pad_mode=pad_mode)  # type: ignore[arg-type]
    if sr != WAV2VEC2_SR:
        y = soxr.resample(y, sr, WAV2VEC2_SR, quality="HQ")
    if normalize:
        # The same rule as transformers' Wav2Vec2FeatureExtractor(do_normalize=True).
        y = (y - y.mean()) / np.sqrt(y.var() + 1e-7)
    return np.asarray(y, dtype=np.float32)


class _AudioClips(AudioClipTransformer):
    """Clip reading and input preparation shared by the Wav2Vec2 transformers."""

    sr: int
    crop_length: int | None
    pad_mode: str
    normalize: bool

    def _clips(self, X: Any) -> list[Any]:
        kind, clips = self._parse(X, reset=False)
        if kind == "paths":
            return list(clips)
        return [np.asarray(row) for row in clips]

    def _prepare(self, clip: Any) -> np.ndarray:
        if isinstance(clip, str):
            y = checked_audio_samples(load_audio(clip, sr=self.sr, mono=True)[0], clip)
            where = clip
        else:
            y, where = clip, "waveform"
        try:
            return wav2vec2_input(
                y,
                sr=self.sr,
                crop_length=self.crop_length,
                pad_mode=self.pad_mode,
                normalize=self.normalize,
            )
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error


_AUDIO_CONSTRAINTS: dict[str, list[Any]] = {
    "sr": [Interval(Integral, 1, None, closed="left")],
    "crop_length": [Interval(Integral, 1, None, closed="left"), None],
    "pad_mode": [StrOptions(set(PAD_MODES))],
    "normalize": ["boolean"],
    "path_column": [str],
}


# A DataFrame cannot hold 16 kHz clips usefully: opt out of set_output's auto-wrapping.
class Wav2Vec2Preprocessor(_AudioClips, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Clips as Wav2Vec2 reads them: 16 kHz, centre crop, zero mean and unit variance.

    The input stage of fine-tuning (:class:`FineTunedTIMNetClassifier` with a
    Wav2Vec2 backbone): each clip goes through :func:`wav2vec2_input`, giving a
    ``(n_clips, n_samples)`` float32 array (46,933 samples with the defaults).

    Parameters
    ----------
    sr : int, default=48_000
        Rate the files are decoded at and that waveform input is assumed to have.
    crop_length : int or None, default=140_800
        Samples kept around each clip's centre, at ``sr``. None keeps whole clips,
        which must then all have the same length.
    pad_mode : {"constant", "reflect", "edge", "error"}, default="constant"
    normalize : bool, default=True
    path_column : str, default="path"

    Examples
    --------
    >>> import numpy as np
    >>> waves = np.random.default_rng(0).normal(size=(2, 150_000)).astype("float32")
    >>> Wav2Vec2Preprocessor().fit_transform(waves).shape
    (2, 46933)
    """

    _parameter_constraints: dict[str, list[Any]] = dict(_AUDIO_CONSTRAINTS)

    def __init__(
        self,
        *,
        sr: int = 48_000,
        crop_length: int | None = 140_800,
        pad_mode: str = "constant",
        normalize: bool = True,
        path_column: str = "path",
    ) -> None:
        self.sr = sr
        self.crop_length = crop_length
        self.pad_mode = pad_mode
        self.normalize = normalize
        self.path_column = path_column

    def transform(self, X: Any) -> np.ndarray:
        """Resampled, cropped, normalised waveforms.

        Returns
        -------
        X_16k : np.ndarray of float32, shape (n_clips, n_samples)
        """
        self._check_params()
        waves = [self._prepare(clip) for clip in self._clips(X)]
        if len({len(w) for w in waves}) > 1:
            raise ValueError(
                "Clips of different lengths cannot be stacked; set crop_length "
                f"(got lengths {sorted({len(w) for w in waves})})."
            )
        return np.stack(waves)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output samples (only defined when ``crop_length`` is set)."""
        if self.crop_length is None:
            raise ValueError("Output length depends on the clips when crop_length=None.")
        n = len(wav2vec2_input(np.zeros(self.crop_length), sr=self.sr, normalize=False))
        return np.asarray([f"sample_{i}" for i in range(n)], dtype=object)


class Wav2Vec2Embedder(FrozenModel, _AudioClips, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Hidden states of a pretrained Wav2Vec2 model, as ``(n_clips, n_frames, hidden)``.

    The paper's Wav2Vec2-B / -L speech features. Each clip is decoded at ``sr`` (mono
    channel mean), its centre ``crop_length`` samples kept (140,800 at 48 kHz = 2.93 s,
    the audio of the 88 centre video frames), resampled to 16 kHz, normalised to zero
    mean and unit variance (:func:`wav2vec2_input`), and run through the model in
    batches under :func:`torch.inference_mode`. One frame per 20 ms: 146 frames of 768
    (base) or 1024 (large) values with the defaults.

    The model is loaded on first use (in :meth:`fit` or :meth:`transform`, never in
    ``__init__``) and kept by the process, so clones and GridSearchCV folds share one
    copy. Each clip's embedding is cached on disk under a key made of the model (hub id
    and revision, folder and its files' times, or a module's weights), the clip's
    content and the parameters that change the output: a second run reads the cache.

    Parameters
    ----------
    model : str, path-like or torch.nn.Module, default="facebook/wav2vec2-base"
        A hub id (``"facebook/wav2vec2-base"``, ``"facebook/wav2vec2-large"``, ...)
        loaded with ``transformers.Wav2Vec2Model.from_pretrained``; a folder written
        by ``save_pretrained`` (for example by
        :meth:`FineTunedTIMNetClassifier.save_backbone`); or a loaded
        ``Wav2Vec2Model``-like module, called as ``model(input_values,
        output_hidden_states=True)`` (such as a fine-tuned classifier's
        ``module_.backbone``). Without network a hub id must be in the local Hugging
        Face cache; otherwise loading fails at once with a message saying how to
        supply a folder.
    revision : str or None, default=None
        Branch, tag or commit of a hub id.
    layer : int or "mean", default=-1
        Which hidden state: an index into the model's ``num_hidden_layers + 1``
        hidden states (0 is the input of the first transformer layer, -1 the last
        layer's output), or ``"mean"``, the average of the transformer layers' outputs
        (states 1 to ``num_hidden_layers``). A learned weighted sum needs training:
        use ``PretrainedTIMNet(layer="weighted")``.
    sr : int, default=48_000
        Rate the files are decoded at and that waveform input is assumed to have.
    crop_length : int or None, default=140_800
        Samples kept around each clip's centre, at ``sr``; None keeps whole clips,
        which must then give equal frame counts.
    pad_mode : {"constant", "reflect", "edge", "error"}, default="constant"
    normalize : bool, default=True
        Zero mean and unit variance per clip before the model (what every public
        Wav2Vec2 checkpoint except the original base expects; the paper normalises).
    batch_size : int, default=8
        Clips per forward pass.
    device : str, default="cpu"
        ``"cuda"`` (or ``"cuda:1"``...) runs the model on a GPU.
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Precision of the model; ``"float16"`` only on a GPU. The output is float32.
    cache_dir : str, path-like, None or False, default=None
        Embedding cache folder; None is :func:`default_cache_dir`; False disables it.
    path_column : str, default="path"
    verbose : int, default=0
        A tqdm progress bar over clips when positive.

    Attributes
    ----------
    n_features_in_ : int
        Waveform length seen in :meth:`fit`; set only when ``X`` was 2D numeric.

    See Also
    --------
    wav2vec2_input : the input preparation.
    Wav2Vec2Preprocessor : the same preparation as a transformer, for fine-tuning.

    Notes
    -----
    ``X`` is read as by :class:`~skemotion.audio.LogMelSpectrogram`: paths (list,
    Series or a DataFrame's ``path_column``), a 2D float array of waveforms at ``sr``,
    or a list of 1D waveforms.

    Examples
    --------
    >>> from skemotion.embed import Wav2Vec2Embedder
    >>> emb = Wav2Vec2Embedder("facebook/wav2vec2-base", layer=-1)  # doctest: +SKIP
    >>> emb.fit_transform(["03-01-05-01-01-01-01.wav"]).shape  # doctest: +SKIP
    (1, 146, 768)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_AUDIO_CONSTRAINTS,
        **FROZEN_MODEL_CONSTRAINTS,
        "layer": [Integral, StrOptions({"mean"})],
    }
    _backbone_kind = "wav2vec2"

    def __init__(
        self,
        model: Any = "facebook/wav2vec2-base",
        *,
        revision: str | None = None,
        layer: int | str = -1,
        sr: int = 48_000,
        crop_length: int | None = 140_800,
        pad_mode: str = "constant",
        normalize: bool = True,
        batch_size: int = 8,
        device: str = "cpu",
        dtype: str = "float32",
        cache_dir: str | os.PathLike[str] | bool | None = None,
        path_column: str = "path",
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.revision = revision
        self.layer = layer
        self.sr = sr
        self.crop_length = crop_length
        self.pad_mode = pad_mode
        self.normalize = normalize
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.path_column = path_column
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> Wav2Vec2Embedder:
        """Validate the parameters and ``X``, and load the model (fails fast if it cannot).

        Parameters
        ----------
        X : paths, DataFrame, Series, 2D float array or list of 1D waveforms
        y : None
            Ignored.

        Returns
        -------
        self : Wav2Vec2Embedder
        """
        super().fit(X, y)
        self._module()
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed every clip (from the cache where possible).

        Parameters
        ----------
        X : paths, DataFrame, Series, 2D float array or list of 1D waveforms

        Returns
        -------
        X_emb : np.ndarray of float32, shape (n_clips, n_frames, hidden_size)
        """
        self._check_params()
        clips = self._clips(X)
        cache = resolve_cache_dir(self.cache_dir)
        entries: list[Any] = [None] * len(clips)
        results: list[np.ndarray | None] = [None] * len(clips)
        if cache is not None:
            settings = self._settings()
            for i, clip in enumerate(clips):
                entries[i] = clip_entry(cache, clip, i, settings=settings)
                results[i] = read_entry(entries[i])
        todo = [i for i, result in enumerate(results) if result is None]
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(clips), unit="clip", desc="wav2vec2")
            bar.update(len(clips) - len(todo))
        if todo:
            with self._running() as (module, device, dtype):
                for start in range(0, len(todo), self.batch_size):
                    batch = todo[start : start + self.batch_size]
                    waves = [self._prepare(clips[i]) for i in batch]
                    embeddings = self._embed(module, waves, device, dtype)
                    for i, embedding in zip(batch, embeddings, strict=True):
                        results[i] = embedding
                        if entries[i] is not None:
                            write_entry(entries[i], embedding)
                    if bar is not None:
                        bar.update(len(batch))
        if bar is not None:
            bar.close()
        frames = {r.shape[0] for r in results if r is not None}
        if len(frames) > 1:
            raise ValueError(
                "Clips gave different numbers of frames "
                f"({sorted(frames)}); set crop_length to cut them to a common length."
            )
        return np.stack([r for r in results if r is not None]).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the last output axis: ``wav2vec2_0`` ... (loads the model's config)."""
        module = self._module()
        size = int(getattr(getattr(module, "config", None), "hidden_size", 0))
        if not size:
            raise AttributeError("The model has no config.hidden_size to name features by.")
        return np.asarray([f"wav2vec2_{i}" for i in range(size)], dtype=object)

    # -- helpers -----------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "embedder": "wav2vec2",
            "model": model_fingerprint(self._model_for_key(), revision=self.revision),
            "layer": self.layer if isinstance(self.layer, str) else int(self.layer),
            "sr": int(self.sr),
            "crop_length": None if self.crop_length is None else int(self.crop_length),
            "pad_mode": self.pad_mode,
            "normalize": bool(self.normalize),
            "dtype": self.dtype,
        }

    def _model_for_key(self) -> Any:
        return self.model

    def _embed(
        self,
        module: torch.nn.Module,
        waves: list[np.ndarray],
        device: torch.device,
        dtype: torch.dtype,
    ) -> list[np.ndarray]:
        groups: list[list[int]] = []
        # Equal lengths batch together (always, with crop_length set); others go one by
        # one, so no clip is ever padded next to another.
        if len({len(w) for w in waves}) == 1:
            groups = [list(range(len(waves)))]
        else:
            groups = [[i] for i in range(len(waves))]
        out: list[np.ndarray] = [np.empty(0)] * len(waves)
        for group in groups:
            batch = torch.from_numpy(np.stack([waves[i] for i in group])).to(device, dtype)
            states = _hidden_states(module, batch, self.layer)
            for row, i in enumerate(group):
                out[i] = states[row].float().cpu().numpy()
        return out


def _hidden_states(module: torch.nn.Module, batch: torch.Tensor, layer: int | str) -> torch.Tensor:
    """The chosen hidden state ``(batch, frames, hidden)`` of a Wav2Vec2-like model."""
    want_all = layer != -1
    output = module(batch, output_hidden_states=want_all)
    if not want_all:
        last = getattr(output, "last_hidden_state", None)
        return last if last is not None else output[0]
    states = getattr(output, "hidden_states", None)
    if states is None:
        raise TypeError(
            f"{type(module).__name__} returned no hidden_states; layer={layer!r} needs a "
            "transformers model called with output_hidden_states=True."
        )
    if layer == "mean":
        return torch.stack(tuple(states[1:]), dim=0).mean(dim=0)
    try:
        return states[int(layer)]
    except IndexError:
        raise ValueError(
            f"layer={layer} is out of range: the model has {len(states)} hidden states "
            f"(-{len(states)} to {len(states) - 1})."
        ) from None
