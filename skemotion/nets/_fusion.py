"""Early fusion: one TIM-Net backbone per modality, an MLP over their concatenated vectors."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.utils.validation import check_is_fitted
from skorch.helper import SliceDict
from torch import Tensor, nn

from ..paper import classifier_parameters
from ..utils._frame_arrays import check_clip_frames
from ._classifier import TIMNetClassifier
from ._timnet import TIMNet

__all__ = ["SINGLE_MODALITY", "FusionClassifier", "FusionTIMNet"]

SINGLE_MODALITY = "x"
"""Name given to a plain array passed to :class:`FusionClassifier` (one modality)."""


def _per_modality(
    value: int | Mapping[str, int], names: Sequence[str], what: str
) -> dict[str, int]:
    if isinstance(value, Mapping):
        missing = [name for name in names if name not in value]
        if missing:
            raise ValueError(
                f"{what} has no value for modalities {missing} (it names {sorted(value)}); give "
                "one int for all modalities or one per modality."
            )
        return {name: int(value[name]) for name in names}
    return dict.fromkeys(names, int(value))


class FusionTIMNet(nn.Module):
    """Multimodal TIM-Net: a backbone per modality, fused vectors concatenated, MLP head.

    The paper's multimodal model (its Methods): each modality's sequence goes through its
    own TIM-Net (bi-directional temporal-aware blocks, dynamic fusion over scales) down to
    one ``filters``-long vector; the vectors are concatenated and a three-layer perceptron
    gives the class logits. Everything is trained end to end. Modalities may differ in
    length (e.g. 88 log-mel frames and 149 Wav2Vec2 frames) as well as in width.

    Parameters
    ----------
    n_features : mapping of str to int
        Features per frame of each modality, in the order the vectors are concatenated,
        e.g. ``{"speech": 24, "face": 780}``. Names are the keyword arguments of
        :meth:`forward`.
    n_classes : int, default=8
    filters : int or mapping of str to int, default=64
        Channels of each backbone (the paper uses 32 for eyes ResNet and LMS + eyes KPD).
    n_scales : int or mapping of str to int, default=7
        Temporal-aware blocks per direction of each backbone (7 for 88 frames, 8 for
        Wav2Vec2's longer sequences).
    n_layers : int, default=3
        Convolution layers per block (the paper's 3).
    hidden_units : sequence of int, default=(128, 64)
        Widths of the head's two hidden layers (the third layer gives the logits). The
        paper does not give them; these keep the head smaller than two 64-filter backbones.
    dropout : float, default=0.1
        Spatial dropout inside the backbones and dropout between the head's layers.
    modality_dropout : float, default=0.0
        During training, the probability of zeroing a modality's whole vector for a clip
        (never all modalities of a clip; kept vectors scaled by ``1 / (1 - p)``). It stops
        the head from leaning on the modality that is easiest to fit; 0 is the paper's
        plain concatenation.
    auxiliary_heads : bool, default=False
        Give every backbone its own linear classifier too; :meth:`forward` then returns
        ``(logits, auxiliary_logits)``, the latter ``(batch, n_modalities, n_classes)``,
        for :class:`FusionClassifier`'s ``auxiliary_weight`` loss.
    bn_momentum : float, default=0.01
    fused : bool, default=True
        Fused CPU kernel for the causal layers (see :class:`TIMNet`).
    matmul_dtype : torch.dtype, str or None, default=None

    Examples
    --------
    >>> import torch
    >>> net = FusionTIMNet({"speech": 24, "face": 780}, filters=8, n_scales=3)
    >>> net(speech=torch.randn(2, 88, 24), face=torch.randn(2, 88, 780)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        n_features: Mapping[str, int],
        n_classes: int = 8,
        *,
        filters: int | Mapping[str, int] = 64,
        n_scales: int | Mapping[str, int] = 7,
        n_layers: int = 3,
        hidden_units: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        modality_dropout: float = 0.0,
        auxiliary_heads: bool = False,
        bn_momentum: float = 0.01,
        fused: bool = True,
        matmul_dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}.")
        self.modality_dropout = float(modality_dropout)
        if not isinstance(n_features, Mapping) or not n_features:
            raise ValueError(
                "n_features must map each modality name to its features per frame, got "
                f"{n_features!r}."
            )
        names = [str(name) for name in n_features]
        bad = [name for name in names if not name.isidentifier()]
        if bad:
            raise ValueError(
                f"Modality names must be Python identifiers (they are forward's keyword "
                f"arguments), got {bad}."
            )
        if len(hidden_units) != 2:
            raise ValueError(
                f"hidden_units gives the two hidden layers of the 3-layer head, got {hidden_units}."
            )
        self.modalities = tuple(names)
        filters_by_name = _per_modality(filters, names, "filters")
        scales_by_name = _per_modality(n_scales, names, "n_scales")
        self.backbones = nn.ModuleDict(
            {
                name: TIMNet(
                    int(n_features[name]),
                    None,
                    filters=filters_by_name[name],
                    n_scales=scales_by_name[name],
                    n_layers=n_layers,
                    dropout=dropout,
                    bn_momentum=bn_momentum,
                    fused=fused,
                    matmul_dtype=matmul_dtype,
                )
                for name in names
            }
        )
        self.widths = [filters_by_name[name] for name in names]
        widths = [sum(self.widths), *(int(units) for units in hidden_units)]
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(widths[-1], n_classes))
        self.head = nn.Sequential(*layers)
        self.auxiliary_heads = (
            nn.ModuleDict({name: nn.Linear(filters_by_name[name], n_classes) for name in names})
            if auxiliary_heads
            else None
        )

    def embed(self, **modalities: Tensor) -> Tensor:
        """Concatenated fused vectors ``(batch, sum of filters)``, in ``modalities`` order."""
        return torch.cat(self._vectors(modalities), dim=1)

    def _vectors(self, modalities: dict[str, Tensor]) -> list[Tensor]:
        unexpected = sorted(set(modalities) - set(self.modalities))
        missing = [name for name in self.modalities if name not in modalities]
        if missing or unexpected:
            raise ValueError(
                f"FusionTIMNet was built for modalities {list(self.modalities)}; missing "
                f"{missing}, unexpected {unexpected}."
            )
        vectors = [self.backbones[name](modalities[name]) for name in self.modalities]
        if self.training and self.modality_dropout > 0 and len(vectors) > 1:
            vectors = self._drop_modalities(vectors)
        return vectors

    def _drop_modalities(self, vectors: list[Tensor]) -> list[Tensor]:
        keep_probability = 1.0 - self.modality_dropout
        batch = vectors[0].shape[0]
        keep = torch.rand(batch, len(vectors), device=vectors[0].device) < keep_probability
        # A clip that lost every modality keeps one at random instead.
        none_kept = ~keep.any(dim=1)
        rescue = torch.randint(len(vectors), (batch,), device=keep.device)
        keep[none_kept, rescue[none_kept]] = True
        scale = keep.to(vectors[0].dtype) / keep_probability
        return [vector * scale[:, i : i + 1] for i, vector in enumerate(vectors)]

    def forward(self, **modalities: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Class logits ``(batch, n_classes)``; one ``(batch, time, features)`` per modality.

        With ``auxiliary_heads``: ``(logits, auxiliary_logits)``.
        """
        vectors = self._vectors(modalities)
        logits = self.head(torch.cat(vectors, dim=1))
        if self.auxiliary_heads is None:
            return logits
        auxiliary = [
            self.auxiliary_heads[name](vector)
            for name, vector in zip(self.modalities, vectors, strict=True)
        ]
        return logits, torch.stack(auxiliary, dim=1)


class FusionClassifier(TIMNetClassifier):
    """Early-fusion emotion classifier: TIM-Net per modality, trained end to end (skorch).

    Takes a mapping of per-modality feature arrays, ``{"speech": (n, 88, 24), "face":
    (n, 88, 780)}`` — the output of :class:`~skemotion.compose.ModalityUnion`, a dict, or
    skorch's :class:`~skorch.helper.SliceDict` (which scikit-learn's cross-validation can
    slice by rows) — and passes each array to the module's ``forward`` as the keyword
    argument of that name. Any subset of modalities works: log-mel, Wav2Vec2, face or eyes
    key-point distances, action units, head pose, ResNet embeddings. A plain array is read
    as a single modality named ``"x"``.

    Defaults are the paper's "LMS + ..." multimodal settings (Table 3: Adam, learning rate
    2e-3, batch 64, 100 epochs, 7 scales, 64 filters); :meth:`from_paper` gives the
    Wav2Vec2 ones. The protocol safety of :class:`TIMNetClassifier` holds unchanged: no
    internal validation unless a :class:`GroupedValidSplit` fed by ``groups``, and the
    weights kept are those of the epoch with the lowest *training* loss.

    Parameters
    ----------
    module : type of torch.nn.Module, default=FusionTIMNet
        Built through ``get_params_for("module")``; ``n_features`` (one entry per modality)
        and ``n_classes`` come from the data. ``module__filters`` and ``module__n_scales``
        take an int or a ``{modality: value}`` dict; ``module__hidden_units`` sets the head.
    lr : float, default=2e-3
    max_epochs : int, default=100
    batch_size : int, default=64
    auxiliary_weight : float, default=0.0
        Weight of per-modality auxiliary losses: each backbone also gets a linear classifier
        and the training loss becomes ``loss(fused) + auxiliary_weight * mean_m
        loss(modality m)``. When one modality is much easier to fit, plain end-to-end
        training lets it dominate and leaves the others' backbones barely trained; the
        auxiliary losses train every backbone on its own. 0 is the paper's model.
    **kwargs
        Every other :class:`TIMNetClassifier` parameter (``label_smoothing``,
        ``train_split``, ``checkpoint_monitor``, ``random_state``, ``device``, ``verbose``)
        and skorch parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    modalities_ : tuple of str
        Modality names, in the order the module concatenates them.
    n_features_per_modality_ : dict of str to int
    n_features_in_ : int
        Total features per frame over all modalities.
    module_ : FusionTIMNet
    history_ : skorch.History

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = {"speech": rng.normal(size=(40, 16, 6)).astype("float32"),
    ...      "face": rng.normal(size=(40, 12, 10)).astype("float32")}
    >>> y = np.where(X["speech"][:, :, 0].mean(axis=1) > 0, "angry", "calm")
    >>> clf = FusionClassifier(max_epochs=3, module__filters=8, module__n_scales=2,
    ...                        random_state=0).fit(X, y)
    >>> clf.modalities_, clf.predict_proba(X).shape
    (('speech', 'face'), (40, 2))
    """

    def __init__(
        self,
        module: type[nn.Module] = FusionTIMNet,
        *,
        lr: float = 2e-3,
        max_epochs: int = 100,
        batch_size: int = 64,
        auxiliary_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(module, lr=lr, max_epochs=max_epochs, batch_size=batch_size, **kwargs)
        self.auxiliary_weight = auxiliary_weight

    @classmethod
    def from_paper(  # type: ignore[override]
        cls, speech: str = "lms", task: str = "multiclass", **overrides: Any
    ) -> FusionClassifier:
        """The paper's Table 3 multimodal settings for the model's speech feature.

        Parameters
        ----------
        speech : {"lms", "wav2vec2"}, default="lms"
            The speech branch: "Multimodal with LMS + ..." (lr 2e-3) or "with Wav2Vec-L +
            ..." (lr 1e-4).
        task : {"multiclass"}, default="multiclass"
            The paper ran multimodal models for the 8-class task only.

        Examples
        --------
        >>> FusionClassifier.from_paper("wav2vec2").lr
        0.0001
        """
        try:
            params = classifier_parameters(f"fusion_{speech}", task)
        except KeyError:
            raise ValueError(
                f"No paper settings for a multimodal model with speech={speech!r}, "
                f"task={task!r}; speech: 'lms', 'wav2vec2', task: 'multiclass'."
            ) from None
        params.update(overrides)
        return cls(**params)

    def initialize_module(self) -> FusionClassifier:
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_features", dict(self.n_features_per_modality_))
        kwargs.setdefault("n_classes", self._module_output_size())
        if self.auxiliary_weight < 0:
            raise ValueError(f"auxiliary_weight must be >= 0, got {self.auxiliary_weight}.")
        if self.auxiliary_weight > 0:
            kwargs.setdefault("auxiliary_heads", True)
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def get_loss(self, y_pred: Any, y_true: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(y_pred, tuple):
            return super().get_loss(y_pred, y_true, *args, **kwargs)
        logits, auxiliary = y_pred
        loss = super().get_loss(logits, y_true, *args, **kwargs)
        if self.auxiliary_weight > 0:
            per_modality = [
                super(FusionClassifier, self).get_loss(auxiliary[:, i], y_true, *args, **kwargs)
                for i in range(auxiliary.shape[1])
            ]
            loss = loss + self.auxiliary_weight * torch.stack(per_modality).mean()
        return loss

    def _validate_X(self, X: Any, *, reset: bool) -> SliceDict:
        if sparse.issparse(X):
            raise TypeError(f"{type(self).__name__} does not take sparse input.")
        named = dict(X) if isinstance(X, Mapping) else {SINGLE_MODALITY: X}
        if not named:
            raise ValueError(f"{type(self).__name__} got an empty mapping of modalities.")
        arrays: dict[str, np.ndarray] = {}
        for name, values in named.items():
            arrays[str(name)] = check_clip_frames(
                values,
                input_name=f"X[{name!r}]" if isinstance(X, Mapping) else "X",
                what=f"Modality {name!r}",
            )
        lengths = {name: len(array) for name, array in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Modalities hold different numbers of clips: {lengths}.")
        widths = {name: int(array.shape[-1]) for name, array in arrays.items()}
        if reset:
            self.modalities_ = tuple(arrays)
            self.n_features_per_modality_ = widths
            self.n_features_in_ = sum(widths.values())
        else:
            check_is_fitted(self, "modalities_")
            if set(arrays) != set(self.modalities_):
                raise ValueError(
                    f"{type(self).__name__} was fitted on modalities {list(self.modalities_)}, "
                    f"got {list(arrays)}."
                )
            for name, width in widths.items():
                expected = self.n_features_per_modality_[name]
                if width != expected:
                    where = f" in modality {name!r}" if isinstance(X, Mapping) else ""
                    raise ValueError(
                        f"X has {width} features{where}, but {type(self).__name__} is "
                        f"expecting {expected} features as input."
                    )
            arrays = {name: arrays[name] for name in self.modalities_}
        return SliceDict(**arrays)
