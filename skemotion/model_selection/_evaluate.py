"""Speaker-independent cross-validation with a report fit for a paper table."""

from __future__ import annotations

import json
import numbers
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn import get_config
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_consistent_length
from tqdm.auto import tqdm

from .. import EMOTIONS
from .._parallel import fresh_loky_workers, streaming_return_as
from ..preprocessing import INDUCTIVE_PROTOCOL, calibration_protocol
from ..utils._groups import check_group_splits, groups_fit_params
from ..utils._tables import take_rows
from ._split import PAPER_ACTOR_FOLDS, ExcludeFromTest, RavdessActorFolds

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "ActorCVReport",
    "describe_protocol",
    "evaluate_actor_cv",
    "evaluate_actor_cv_many",
]

# joblib backends whose workers share this machine: training the folds in one stacked
# network here does their work with less overhead. A cluster backend spreads them instead.
_LOCAL_BACKENDS = frozenset(
    {"LokyBackend", "SequentialBackend", "ThreadingBackend", "MultiprocessingBackend"}
)

_REPORT_FILES = {
    "json": "report.json",
    "confusion_matrix": "confusion_matrix.png",
    "per_emotion_f1": "per_emotion_f1.png",
    "markdown": "report.md",
}


def _to_builtin(values: Any) -> list[Any]:
    # numpy scalars (np.str_, np.int64) are not JSON serialisable; .tolist() turns them into
    # the matching Python objects.
    return np.asarray(values).tolist()


def _ordered_labels(*label_arrays: np.ndarray) -> list[Any]:
    present: set[Any] = set()
    for values in label_arrays:
        present.update(_to_builtin(np.unique(values)))
    ordered = [emotion for emotion in EMOTIONS if emotion in present]
    # Labels that are not RAVDESS emotion names (integer codes, a binary task, ...) follow in a
    # stable order; key=str keeps mixed types sortable.
    rest = sorted(present.difference(ordered), key=str)
    return ordered + rest


@dataclass
class ActorCVReport:
    """Outcome of a speaker-independent (actor-grouped) cross-validation.

    Built by :func:`evaluate_actor_cv`. The per-fold accuracies are the paper's protocol (the
    mean over the test folds); the per-emotion F1 scores and the confusion matrix pool the
    out-of-fold predictions of all folds, so every clip is counted exactly once.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        True labels, in the original row order.
    y_pred : ndarray of shape (n_samples,)
        Out-of-fold predictions: row ``i`` was predicted by the model of the fold whose test
        set holds ``i``, a model that never saw that row's actor.
    test_fold : ndarray of shape (n_samples,)
        Index of the fold whose test set holds each row.
    fold_actors : list of list
        Test actors of each fold, sorted.
    fit_time : list of float
        Seconds spent fitting each fold's model.
    score_time : list of float
        Seconds spent predicting each fold's test set.
    labels : list, default=None
        Label order of :attr:`confusion_matrix` and :attr:`per_emotion_f1`. ``None`` means the
        RAVDESS emotions of :data:`skemotion.EMOTIONS` that occur in ``y_true`` or ``y_pred``,
        in code order, followed by any other label.
    metadata : dict, default={}
        Free-form, JSON-serialisable description of the run (data, settings, versions).
    protocol : dict, default={"protocol": "inductive", ...}
        Whether the model read statistics of the test subjects:
        ``{"protocol": "inductive", ...}`` (nothing but each test clip), or
        ``{"protocol": "transductive", "calibrations": {...}}`` with the source and number
        of each test subject's own clips its calibration used, as
        :func:`skemotion.preprocessing.calibration_protocol` describes the estimator.
        Shown first by :meth:`to_markdown`, so a transductive figure is never mistaken for a
        standard one.
    y_proba : ndarray of shape (n_samples, n_classes) or None, default=None
        Out-of-fold posteriors, like ``y_pred`` (each row from the model of the fold that
        tested it), when the estimator has ``predict_proba``: the input of late fusion.
    proba_classes : list or None, default=None
        The class of each column of ``y_proba``.

    Attributes
    ----------
    fold_accuracy : list of float
        Accuracy on each test fold.
    mean_accuracy : float
        Mean of :attr:`fold_accuracy` (unweighted, as in the paper).
    std_accuracy : float
        Population standard deviation (``ddof=0``) of :attr:`fold_accuracy`, as in
        scikit-learn's ``std_test_score``.
    per_emotion_f1 : dict
        One-vs-rest F1 score of each label, from the pooled out-of-fold predictions.
    macro_f1 : float
        Unweighted mean of :attr:`per_emotion_f1`.
    confusion_matrix : ndarray of shape (n_labels, n_labels)
        Pooled counts; rows are true labels, columns predictions, both in :attr:`labels`
        order.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.model_selection import ActorCVReport
    >>> report = ActorCVReport(
    ...     y_true=np.array(["sad", "sad", "happy", "happy"]),
    ...     y_pred=np.array(["sad", "happy", "happy", "happy"]),
    ...     test_fold=np.array([0, 0, 1, 1]),
    ...     fold_actors=[[1], [2]],
    ...     fit_time=[0.1, 0.1],
    ...     score_time=[0.0, 0.0],
    ... )
    >>> report.fold_accuracy, report.mean_accuracy
    ([0.5, 1.0], 0.75)
    >>> report.labels
    ['happy', 'sad']
    >>> report.confusion_matrix
    array([[2, 0],
           [1, 1]])
    """

    # The per-clip arrays are left out of repr: a summary should fit on a screen.
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    test_fold: np.ndarray = field(repr=False)
    fold_actors: list[list[Any]]
    fit_time: list[float]
    score_time: list[float]
    labels: list[Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=lambda: dict(INDUCTIVE_PROTOCOL))
    y_proba: np.ndarray | None = field(default=None, repr=False)
    proba_classes: list[Any] | None = None
    fold_accuracy: list[float] = field(init=False)
    mean_accuracy: float = field(init=False)
    std_accuracy: float = field(init=False)
    per_emotion_f1: dict[Any, float] = field(init=False)
    macro_f1: float = field(init=False)
    confusion_matrix: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true)
        self.y_pred = np.asarray(self.y_pred)
        self.test_fold = np.asarray(self.test_fold, dtype=int)
        check_consistent_length(self.y_true, self.y_pred, self.test_fold)
        if self.y_proba is not None:
            self.y_proba = np.asarray(self.y_proba, dtype=float)
            if self.proba_classes is None:
                raise ValueError("y_proba needs proba_classes, the class of each column.")
            self.proba_classes = list(self.proba_classes)
            expected = (len(self.y_true), len(self.proba_classes))
            if self.y_proba.shape != expected:
                raise ValueError(
                    f"y_proba has shape {self.y_proba.shape}, expected {expected} (one row per "
                    "clip, one column per entry of proba_classes)."
                )
        n_folds = len(self.fold_actors)
        if not (len(self.fit_time) == len(self.score_time) == n_folds):
            raise ValueError(
                f"fold_actors, fit_time and score_time must have one entry per fold; got "
                f"{n_folds}, {len(self.fit_time)} and {len(self.score_time)}."
            )
        if self.labels is None:
            self.labels = _ordered_labels(self.y_true, self.y_pred)
        else:
            self.labels = list(self.labels)
        self.fold_accuracy = [
            float(accuracy_score(self.y_true[mask], self.y_pred[mask]))
            for mask in (self.test_fold == fold for fold in range(n_folds))
        ]
        self.mean_accuracy = float(np.mean(self.fold_accuracy))
        self.std_accuracy = float(np.std(self.fold_accuracy))
        f1 = f1_score(self.y_true, self.y_pred, labels=self.labels, average=None, zero_division=0.0)
        self.per_emotion_f1 = {
            label: float(score) for label, score in zip(self.labels, f1, strict=True)
        }
        self.macro_f1 = float(np.mean(f1))
        self.confusion_matrix = confusion_matrix(self.y_true, self.y_pred, labels=self.labels)

    @property
    def n_folds(self) -> int:
        """Number of cross-validation folds."""
        return len(self.fold_actors)

    def to_dict(self) -> dict[str, Any]:
        """Summarise the report as JSON-serialisable Python objects.

        Returns
        -------
        report : dict
            Summary scores first, then the per-fold and per-label values, the confusion
            matrix, the out-of-fold predictions and ``metadata``. Per-emotion F1 is given as
            a list of ``{"label", "f1"}`` records so that non-string labels survive JSON.

        Examples
        --------
        >>> import numpy as np
        >>> from skemotion.model_selection import ActorCVReport
        >>> report = ActorCVReport(
        ...     y_true=np.array(["sad", "happy"]), y_pred=np.array(["sad", "sad"]),
        ...     test_fold=np.array([0, 1]), fold_actors=[[1], [2]],
        ...     fit_time=[0.1, 0.1], score_time=[0.0, 0.0],
        ... )
        >>> report.to_dict()["fold_accuracy"]
        [1.0, 0.0]
        """
        return {
            "n_samples": len(self.y_true),
            "n_folds": self.n_folds,
            "mean_accuracy": self.mean_accuracy,
            "std_accuracy": self.std_accuracy,
            "macro_f1": self.macro_f1,
            "fold_accuracy": list(self.fold_accuracy),
            "fold_actors": [_to_builtin(actors) for actors in self.fold_actors],
            "fit_time": [float(t) for t in self.fit_time],
            "score_time": [float(t) for t in self.score_time],
            "labels": _to_builtin(self.labels),
            "per_emotion_f1": [
                {"label": _to_builtin(label), "f1": score}
                for label, score in self.per_emotion_f1.items()
            ],
            "confusion_matrix": self.confusion_matrix.tolist(),
            "y_true": _to_builtin(self.y_true),
            "y_pred": _to_builtin(self.y_pred),
            "test_fold": self.test_fold.tolist(),
            "metadata": self.metadata,
            "protocol": self.protocol,
            **(
                {}
                if self.y_proba is None
                else {
                    "proba_classes": _to_builtin(self.proba_classes),
                    "y_proba": self.y_proba.tolist(),
                }
            ),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as indented JSON.

        Parameters
        ----------
        path : str or Path
            Destination file; its folder must exist.

        Returns
        -------
        path : Path
            The file written.
        """
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActorCVReport:
        """Rebuild a report from :meth:`to_dict` output.

        The derived scores are recomputed from the stored predictions, not trusted from
        ``data``.

        Parameters
        ----------
        data : mapping
            As returned by :meth:`to_dict` (or read back from :meth:`to_json`).

        Returns
        -------
        report : ActorCVReport
        """
        return cls(
            y_true=np.asarray(data["y_true"]),
            y_pred=np.asarray(data["y_pred"]),
            test_fold=np.asarray(data["test_fold"]),
            fold_actors=[list(actors) for actors in data["fold_actors"]],
            fit_time=list(data["fit_time"]),
            score_time=list(data["score_time"]),
            labels=list(data["labels"]),
            metadata=dict(data.get("metadata", {})),
            # Reports written before subject calibration existed were all inductive.
            protocol=dict(data.get("protocol", INDUCTIVE_PROTOCOL)),
            y_proba=None if "y_proba" not in data else np.asarray(data["y_proba"], dtype=float),
            proba_classes=None if "proba_classes" not in data else list(data["proba_classes"]),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> ActorCVReport:
        """Read a report written by :meth:`to_json`.

        Parameters
        ----------
        path : str or Path
            A ``report.json`` file.

        Returns
        -------
        report : ActorCVReport
        """
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_markdown(
        self,
        *,
        title: str | None = None,
        reference_accuracy: float | None = None,
        reference: Mapping[Any, float] | None = None,
        reference_label: str = "reference",
    ) -> str:
        """Render the per-fold table, the mean and the per-emotion F1 table as Markdown.

        Parameters
        ----------
        title : str, default=None
            Level-2 heading put first; none when ``None``.
        reference_accuracy : float, default=None
            An accuracy in [0, 1] to print beside the mean (e.g. the paper's 0.656 for
            log-mel spectrograms).
        reference : mapping, default=None
            Scores per label printed as an extra column of the F1 table.
        reference_label : str, default="reference"
            Name of that column and of the reference accuracy.

        Returns
        -------
        markdown : str

        Examples
        --------
        >>> import numpy as np
        >>> from skemotion.model_selection import ActorCVReport
        >>> report = ActorCVReport(
        ...     y_true=np.array(["sad", "happy"]), y_pred=np.array(["sad", "sad"]),
        ...     test_fold=np.array([0, 1]), fold_actors=[[1], [2]],
        ...     fit_time=[0.1, 0.1], score_time=[0.0, 0.0],
        ... )
        >>> print(report.to_markdown().splitlines()[2])
        | Fold | Test actors | Test clips | Accuracy (%) | Fit time (s) |
        """
        lines: list[str] = []
        if title is not None:
            lines += [f"## {title}", ""]
        lines += [f"Protocol: {describe_protocol(self.protocol)}.", ""]
        lines += [
            "| Fold | Test actors | Test clips | Accuracy (%) | Fit time (s) |",
            "| ---: | --- | ---: | ---: | ---: |",
        ]
        n_test = np.bincount(self.test_fold, minlength=self.n_folds)
        for fold in range(self.n_folds):
            actors = ", ".join(str(actor) for actor in _to_builtin(self.fold_actors[fold]))
            lines.append(
                f"| {fold} | {actors} | {n_test[fold]} | {100 * self.fold_accuracy[fold]:.2f} "
                f"| {self.fit_time[fold]:.1f} |"
            )
        mean = (
            f"**Mean accuracy: {100 * self.mean_accuracy:.2f} % "
            f"± {100 * self.std_accuracy:.2f}** over {self.n_folds} actor folds"
        )
        untested = len(self.metadata.get("untested_clips", ()))
        if untested:
            mean += f", {untested} clips kept out of the test sets"
        if reference_accuracy is not None:
            mean += f" ({reference_label}: {100 * reference_accuracy:.2f} %)"
        lines += ["", mean + f"; macro-F1 {self.macro_f1:.3f}.", ""]
        header = "| Emotion | F1 |"
        rule = "| --- | ---: |"
        if reference is not None:
            header += f" {reference_label} |"
            rule += " ---: |"
        lines += [header, rule]
        for label, score in self.per_emotion_f1.items():
            row = f"| {label} | {score:.3f} |"
            if reference is not None:
                value = reference.get(label)
                row += " - |" if value is None else f" {value:.3f} |"
            lines.append(row)
        return "\n".join(lines) + "\n"

    def plot_confusion_matrix(
        self, path: str | Path | None = None, *, ax: Axes | None = None
    ) -> Axes:
        """Draw the pooled confusion matrix, each row normalised to sum to one.

        Parameters
        ----------
        path : str or Path, default=None
            Save the figure there (format from the suffix, e.g. ``.png``).
        ax : matplotlib Axes, default=None
            Draw into this Axes; a new figure is created when ``None``.

        Returns
        -------
        ax : matplotlib Axes
        """
        ax = _new_axes(ax, figsize=(7.0, 6.0))
        counts = self.confusion_matrix.astype(float)
        support = counts.sum(axis=1, keepdims=True)
        # A label that was only ever predicted has an empty row: show zeros, not NaN.
        rates = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
        image = ax.imshow(rates, vmin=0.0, vmax=1.0, cmap="Blues")
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        names = [str(label) for label in _to_builtin(self.labels)]
        ticks = np.arange(len(names))
        ax.set_xticks(ticks, names, rotation=45, ha="right")
        ax.set_yticks(ticks, names)
        for row, col in np.ndindex(rates.shape):
            ax.text(
                col,
                row,
                f"{rates[row, col]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rates[row, col] > 0.5 else "black",
            )
        ax.set_xlabel("Predicted")
        ax.set_ylabel("True")
        ax.set_title(
            f"Actor-grouped CV, {self.n_folds} folds: accuracy "
            f"{100 * self.mean_accuracy:.1f} % ± {100 * self.std_accuracy:.1f}"
        )
        _save(ax, path)
        return ax

    def plot_per_emotion_f1(
        self,
        path: str | Path | None = None,
        *,
        ax: Axes | None = None,
        reference: Mapping[Any, float] | None = None,
        reference_label: str = "reference",
    ) -> Axes:
        """Bar chart of the pooled one-vs-rest F1 score of each emotion.

        Parameters
        ----------
        path : str or Path, default=None
            Save the figure there (format from the suffix, e.g. ``.png``).
        ax : matplotlib Axes, default=None
            Draw into this Axes; a new figure is created when ``None``.
        reference : mapping, default=None
            Scores per label drawn as a second bar beside each of ours (labels missing from
            it get no bar).
        reference_label : str, default="reference"
            Legend entry of the reference bars.

        Returns
        -------
        ax : matplotlib Axes
        """
        ax = _new_axes(ax, figsize=(8.0, 4.5))
        labels = list(self.per_emotion_f1)
        positions = np.arange(len(labels))
        width = 0.8 if reference is None else 0.4
        offset = 0.0 if reference is None else width / 2
        ax.bar(positions - offset, list(self.per_emotion_f1.values()), width, label="this run")
        if reference is not None:
            values = [reference.get(label, np.nan) for label in labels]
            ax.bar(positions + offset, values, width, label=reference_label)
            ax.legend(loc="lower right")
        ax.set_xticks(positions, [str(label) for label in labels], rotation=45, ha="right")
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("F1 (one-vs-rest)")
        ax.set_title(f"Per-emotion F1, pooled out-of-fold predictions (macro {self.macro_f1:.3f})")
        _save(ax, path)
        return ax

    def save(
        self,
        output_dir: str | Path,
        *,
        title: str | None = None,
        reference_accuracy: float | None = None,
        reference: Mapping[Any, float] | None = None,
        reference_label: str = "reference",
    ) -> dict[str, Path]:
        """Write the JSON, the two PNG figures and the Markdown of the report to a folder.

        Parameters
        ----------
        output_dir : str or Path
            Folder to write into; created when missing.
        title, reference_accuracy, reference, reference_label
            Passed on to :meth:`to_markdown` and :meth:`plot_per_emotion_f1`.

        Returns
        -------
        paths : dict of str to Path
            ``report.json``, ``confusion_matrix.png``, ``per_emotion_f1.png`` and
            ``report.md`` inside ``output_dir``, under the keys ``"json"``,
            ``"confusion_matrix"``, ``"per_emotion_f1"`` and ``"markdown"``.
        """
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        paths = {key: output_dir / name for key, name in _REPORT_FILES.items()}
        self.to_json(paths["json"])
        self.plot_confusion_matrix(paths["confusion_matrix"])
        self.plot_per_emotion_f1(
            paths["per_emotion_f1"], reference=reference, reference_label=reference_label
        )
        paths["markdown"].write_text(
            self.to_markdown(
                title=title,
                reference_accuracy=reference_accuracy,
                reference=reference,
                reference_label=reference_label,
            ),
            encoding="utf-8",
        )
        return paths


def _new_axes(ax: Axes | None, *, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    # A bare Figure renders with Agg whatever backend pyplot is set to, and is not registered
    # with pyplot, so nothing leaks into an interactive session or accumulates in a loop.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").add_subplot()


def _save(ax: Axes, path: str | Path | None) -> None:
    figure = ax.get_figure(root=True)
    if path is not None and figure is not None:
        figure.savefig(Path(path), dpi=120)


def default_actor_cv(actors: set[Any]) -> Any:
    """The splitter :func:`evaluate_actor_cv` uses when given ``cv=None``.

    Parameters
    ----------
    actors : set
        The actors (groups) of the clips.

    Returns
    -------
    cv : RavdessActorFolds or GroupKFold
        The paper's five folds when every fold has test actors among ``actors`` and
        none of them is outside the folds; else ``GroupKFold`` with up to five folds.
    """
    folds = [set(fold) for fold in PAPER_ACTOR_FOLDS]
    # The paper's folds only make sense when each one has test actors and no actor is left out.
    if actors <= set().union(*folds) and all(actors & fold for fold in folds):
        return RavdessActorFolds()
    return GroupKFold(n_splits=min(5, len(actors)))


def _check_actor_splits(
    cv: Any, X: Any, y: np.ndarray, groups: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    # Splitters count rows with _num_samples, which takes a dict for its number of keys.
    rows = np.empty((len(y), 0)) if isinstance(X, Mapping) else X
    expected = np.arange(len(y))
    if isinstance(cv, ExcludeFromTest):
        # Only clips the caller asked to leave out may go untested.
        expected = expected[~cv._mask(len(y))]
    return check_group_splits(cv, rows, y, groups, expected=expected)


def _fit_and_predict(
    estimator: BaseEstimator,
    X: Any,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]:
    model: Any = clone(estimator)
    fit_params = groups_fit_params(model, None if groups is None else groups[train])
    start = time.perf_counter()
    model.fit(take_rows(X, train), y[train], **fit_params)
    fit_time = time.perf_counter() - start
    return (*_predict_fold(model, X, test, fit_time),)


def _predict_fold(
    model: Any, X: Any, test: np.ndarray, fit_time: float
) -> tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]:
    """Predictions, fit and score times, and posteriors of a fitted fold model."""
    start = time.perf_counter()
    X_test = take_rows(X, test)
    y_pred = np.asarray(model.predict(X_test))
    score_time = time.perf_counter() - start
    proba = None
    if hasattr(model, "predict_proba"):
        # Out-of-fold posteriors, kept for late fusion; not part of the timed scoring.
        proba = (np.asarray(model.classes_), np.asarray(model.predict_proba(X_test)))
    return y_pred, fit_time, score_time, proba


def _stacking_unsupported_reason(estimator: Any) -> str | None:
    """Why the folds of ``estimator`` cannot be trained as one stacked network, or None."""
    from ..nets import stacking_unsupported_reason

    final = estimator
    if isinstance(estimator, Pipeline):
        if not estimator.steps:
            return "the pipeline is empty"
        final = estimator.steps[-1][1]
    reason = stacking_unsupported_reason(final)
    if reason is not None:
        return reason
    if get_config()["enable_metadata_routing"]:
        return "scikit-learn's metadata routing is enabled (fit parameters may be routed)"
    backend = type(get_active_backend()[0]).__name__
    if backend not in _LOCAL_BACKENDS:
        return f"the active joblib backend ({backend}) runs folds elsewhere"
    return None


def _fit_and_predict_stacked(
    estimators: Sequence[BaseEstimator],
    X: Any,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_jobs: int | None,
    verbose: int = 0,
) -> list[list[tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]]]:
    """Every fold's model of every estimator, the networks trained stacked.

    Each fold's preprocessing steps are fitted on its own training actors, as in
    :func:`_fit_and_predict`; only the final networks' training is shared. With
    ``n_jobs`` workers the networks are split into that many stacks of about equal
    training work, each trained by a worker process with one torch thread: on a machine
    whose cores other processes also use, one-thread stacks keep going where a two-thread
    one would wait for its descheduled thread at every operation. A fold's ``fit_time`` is
    its preprocessing time plus an equal share of its stack's training time. Returns one
    list of fold results per estimator.
    """
    models: list[Any] = []
    networks: list[Any] = []
    inputs: list[Any] = []
    targets: list[np.ndarray] = []
    preprocessing: list[float] = []
    tests: list[np.ndarray] = []
    for estimator in estimators:
        for train, test in splits:
            model: Any = clone(estimator)
            start = time.perf_counter()
            if isinstance(model, Pipeline):
                network = model.steps[-1][1]
                X_train = model[:-1].fit_transform(take_rows(X, train), y[train])
            else:
                network, X_train = model, take_rows(X, train)
            preprocessing.append(time.perf_counter() - start)
            models.append(model)
            networks.append(network)
            inputs.append(X_train)
            targets.append(y[train])
            tests.append(test)
    groups = _balanced_groups([len(t) for t in targets], effective_n_jobs(n_jobs))
    parallel = Parallel(n_jobs=len(groups))
    fitted = parallel(
        delayed(_fit_stack)(
            [networks[i] for i in group],
            [inputs[i] for i in group],
            [targets[i] for i in group],
            # In this process: torch's thread setting as the caller left it.
            n_threads=None if len(groups) == 1 else 1,
            verbose=verbose if len(groups) == 1 else 0,
        )
        for group in groups
    )
    shares = np.zeros(len(networks))
    for group, (group_networks, seconds) in zip(groups, fitted, strict=True):
        for index, network in zip(group, group_networks, strict=True):
            # A worker process sends back a fitted copy: it replaces the unfitted step.
            if isinstance(models[index], Pipeline):
                name = models[index].steps[-1][0]
                models[index].steps[-1] = (name, network)
            else:
                models[index] = network
            shares[index] = seconds / len(group)
    results = [
        _predict_fold(model, X, test, prep + share)
        for model, test, prep, share in zip(models, tests, preprocessing, shares, strict=True)
    ]
    n_folds = len(splits)
    return [results[i : i + n_folds] for i in range(0, len(results), n_folds)]


def _fit_stack(
    networks: list[Any],
    inputs: list[Any],
    targets: list[np.ndarray],
    *,
    n_threads: int | None,
    verbose: int,
) -> tuple[list[Any], float]:
    """Fit ``networks`` as one stack; the fitted networks and the seconds it took."""
    from ..nets import fit_stacked

    start = time.perf_counter()
    fit_stacked(networks, inputs, targets, n_threads=n_threads, verbose=verbose)
    return networks, time.perf_counter() - start


def _balanced_groups(sizes: list[int], n_groups: int) -> list[list[int]]:
    """Indices split into at most ``n_groups`` groups of about equal total size (greedy)."""
    n_groups = max(1, min(n_groups, len(sizes)))
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    loads = [0] * n_groups
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(index)
        loads[lightest] += sizes[index]
    return [sorted(group) for group in groups]


def _fit_and_predict_parts(
    estimator: BaseEstimator,
    kind: type,
    keys: list[Any],
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None,
    *values: Any,
) -> tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`_fit_and_predict` of the mapping ``kind(zip(keys, values))``."""
    X = kind(**dict(zip(keys, values, strict=True)))
    return _fit_and_predict(estimator, X, y, train, test, groups)


def evaluate_actor_cv(
    estimator: BaseEstimator,
    X: Any,
    y: Any,
    groups: Any,
    *,
    cv: int | Any | Iterable[tuple[Any, Any]] | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    labels: Sequence[Any] | None = None,
    stack_folds: bool | str = False,
) -> ActorCVReport:
    """Cross-validate ``estimator`` with no actor in both the train and the test set.

    Each fold clones ``estimator``, fits it on the training actors and predicts the test
    actors; the test fold is used for scoring only, never for early stopping or choosing a
    checkpoint. Every split is checked for speaker leakage before anything is fitted.

    The training actors reach the estimator too, so that whatever it splits internally (an
    inner cross-validation, a validation set) can be split by actor as well: when
    ``estimator.fit`` has a ``groups`` parameter (:class:`~skemotion.nets.TIMNetClassifier`,
    :class:`~skemotion.compose.LateFusionClassifier`), each fold calls
    ``fit(X_train, y_train, groups=groups_train)``; for a
    :class:`~sklearn.pipeline.Pipeline` whose final step's ``fit`` has one, it passes
    ``<final step name>__groups=groups_train`` (with metadata routing enabled:
    ``groups=groups_train``, when a step asked for it with ``set_fit_request(groups=True)``).
    Other estimators are fitted on ``(X_train, y_train)`` alone. A
    :class:`~skemotion.nets.TIMNetClassifier` only uses ``groups`` for a
    :class:`~skemotion.nets.GroupedValidSplit`, so its results do not change.

    Parameters
    ----------
    estimator : estimator object
        Classifier or pipeline implementing ``fit`` and ``predict``; it is cloned for each
        fold, so it is left unfitted.
    X : array-like, DataFrame or dict of array-likes
        Inputs, one row per clip (for the speech pipeline: the frame of
        :func:`skemotion.datasets.load_ravdess`).
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,)
        Actor of each clip.
    cv : int, cross-validator or iterable of (train, test) splits, default=None
        ``None`` uses :class:`RavdessActorFolds` (the paper's five fixed folds) when every
        fold has some of the actors and no actor lies outside them, else
        ``GroupKFold(n_splits=min(5, n_actors))``. An int ``k`` means ``GroupKFold(k)``.
        Any splitter is accepted as long as its test sets partition the clips and no split
        shares an actor between train and test; a splitter that ignores ``groups`` (such as
        ``KFold``) is refused with a ``ValueError`` as soon as one of its splits leaks. An
        :class:`ExcludeFromTest` splitter may leave the clips it excludes untested: the
        report then holds the tested clips only (in their original order), and
        ``metadata["untested_clips"]`` lists the row numbers of the others.
    n_jobs : int, default=None
        Folds fitted in parallel with joblib; ``None`` means 1, ``-1`` all cores.
    verbose : int, default=0
        ``0`` is silent, ``1`` shows a progress bar over the folds, ``2`` also prints each
        fold's accuracy. Both go to stderr.
    labels : sequence, default=None
        Label order of the confusion matrix and per-emotion F1; see :class:`ActorCVReport`.
    stack_folds : {False, "auto", True}, default=False
        Train the folds' networks together, as one network with a member axis
        (:func:`skemotion.nets.fit_stacked`), when ``estimator`` is a
        :class:`~skemotion.nets.TIMNetClassifier`, or a pipeline ending in one, that
        stacking supports (:func:`skemotion.nets.stacking_unsupported_reason`). Each fold
        still gets its own preprocessing fitted on its training actors, its own seed stream,
        checkpoint and batch-norm statistics: the same model as fold-by-fold training up to
        floating-point rounding (after 100 epochs, rounding differences grow to a few clips'
        worth of predictions, as between two machines), in a fraction of the time. The
        networks are split into ``n_jobs`` stacks of about equal work, each trained by a
        worker process with one torch thread (one stack in this process, with torch's
        current thread setting, when ``n_jobs`` is 1 or None).
        ``"auto"`` stacks when supported, with metadata routing off and a local joblib
        backend; ``True`` insists (``ValueError`` when unsupported); ``False`` (the
        default) fits fold by fold: on the development machine stacking trained float32
        networks only 1.07-1.18x faster (docs/benchmarks.md), too little to trade the
        bit-for-bit fold-by-fold numbers for by default. The report's
        ``metadata["stacked_folds"]`` says which ran.

    Returns
    -------
    report : ActorCVReport
        Per-fold accuracies, pooled out-of-fold predictions, per-emotion F1 and confusion
        matrix.

    Raises
    ------
    ValueError
        If a split shares an actor between its train and test sets, or the test sets do not
        partition the clips.

    See Also
    --------
    RavdessActorFolds : The paper's five fixed actor folds.
    sklearn.model_selection.cross_val_score : Scores only; pass ``groups`` and a group-aware
        ``cv`` yourself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.model_selection import evaluate_actor_cv
    >>> rng = np.random.default_rng(0)
    >>> actors = np.repeat(np.arange(1, 25), 10)
    >>> y = np.tile(["happy", "sad"], 120)
    >>> X = rng.normal(size=(240, 4)) + (y == "happy")[:, None]
    >>> report = evaluate_actor_cv(LogisticRegression(), X, y, actors)
    >>> report.fold_actors[0]
    [2, 5, 14, 15, 16]
    >>> len(report.y_pred), int(report.confusion_matrix.sum())
    (240, 240)
    """
    y, groups, cv, splits = _actor_splits(X, y, groups, cv)
    stacked = _use_stacking([estimator], stack_folds)
    # Each fold trains a model: new workers, measured by loky against a fold.
    fresh_loky_workers(n_jobs)
    results: Iterable[Any]
    if stacked:
        if verbose >= 1:
            print(f"training the {len(splits)} folds as one stacked network", file=sys.stderr)
        results = _fit_and_predict_stacked(
            [estimator], X, y, splits, n_jobs=n_jobs, verbose=verbose
        )[0]
    elif isinstance(X, Mapping):
        parallel = Parallel(n_jobs=n_jobs, return_as=streaming_return_as())
        # Each modality's array as an argument of its own: joblib's dask backend then
        # scatters it to the cluster once for all folds, whereas a plain dict (not
        # weak-referenceable) would travel whole inside every fold's task.
        kind, keys = type(X), list(X.keys())
        results = parallel(
            delayed(_fit_and_predict_parts)(
                estimator, kind, keys, y, train, test, groups, *X.values()
            )
            for train, test in splits
        )
    else:
        parallel = Parallel(n_jobs=n_jobs, return_as=streaming_return_as())
        results = parallel(
            delayed(_fit_and_predict)(estimator, X, y, train, test, groups)
            for train, test in splits
        )
    return _build_report(
        results,
        y=y,
        groups=groups,
        splits=splits,
        labels=labels,
        verbose=verbose,
        metadata={"cv": repr(cv), "estimator": repr(estimator), "stacked_folds": stacked},
        protocol=calibration_protocol(estimator),
    )


def evaluate_actor_cv_many(
    estimators: Sequence[BaseEstimator],
    X: Any,
    y: Any,
    groups: Any,
    *,
    cv: int | Any | Iterable[tuple[Any, Any]] | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    labels: Sequence[Any] | None = None,
    stack_folds: bool | str = "auto",
) -> list[ActorCVReport]:
    """:func:`evaluate_actor_cv` of several estimators on the same actor folds.

    Meant for seeds (how much of a difference is noise) and grids over parameters that
    leave the network's shape alone (learning rate, epochs, batch size): when stacking
    supports every estimator, all ``len(estimators) x n_folds`` networks train together
    as one stacked network (:func:`skemotion.nets.fit_stacked`), each as it would alone.
    Otherwise each estimator is evaluated in turn, with :func:`evaluate_actor_cv`.

    Parameters
    ----------
    estimators : sequence of estimator objects
        Each is cloned for each fold.
    X, y, groups, cv, n_jobs, verbose, labels, stack_folds
        As for :func:`evaluate_actor_cv`; ``stack_folds="auto"`` stacks only when every
        estimator can be stacked.

    Returns
    -------
    reports : list of ActorCVReport
        One per estimator, in order, on the same splits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.model_selection import evaluate_actor_cv_many
    >>> rng = np.random.default_rng(0)
    >>> actors = np.repeat(np.arange(1, 25), 10)
    >>> y = np.tile(["happy", "sad"], 120)
    >>> X = rng.normal(size=(240, 4)) + (y == "happy")[:, None]
    >>> models = [LogisticRegression(C=c) for c in (0.1, 1.0)]
    >>> reports = evaluate_actor_cv_many(models, X, y, actors)
    >>> [len(report.fold_accuracy) for report in reports]
    [5, 5]
    """
    estimators = list(estimators)
    if not estimators:
        raise ValueError("evaluate_actor_cv_many needs at least one estimator.")
    if not _use_stacking(estimators, stack_folds):
        return [
            evaluate_actor_cv(
                estimator,
                X,
                y,
                groups,
                cv=cv,
                n_jobs=n_jobs,
                verbose=verbose,
                labels=labels,
                stack_folds=False,
            )
            for estimator in estimators
        ]
    y, groups, cv, splits = _actor_splits(X, y, groups, cv)
    fresh_loky_workers(n_jobs)
    if verbose >= 1:
        print(
            f"training {len(estimators)} x {len(splits)} folds as one stacked network",
            file=sys.stderr,
        )
    results = _fit_and_predict_stacked(estimators, X, y, splits, n_jobs=n_jobs, verbose=verbose)
    return [
        _build_report(
            fold_results,
            y=y,
            groups=groups,
            splits=splits,
            labels=labels,
            verbose=verbose,
            metadata={"cv": repr(cv), "estimator": repr(estimator), "stacked_folds": True},
            protocol=calibration_protocol(estimator),
        )
        for estimator, fold_results in zip(estimators, results, strict=True)
    ]


def _actor_splits(
    X: Any, y: Any, groups: Any, cv: Any
) -> tuple[np.ndarray, np.ndarray, Any, list[tuple[np.ndarray, np.ndarray]]]:
    """Checked labels and actors, the cross-validator and its leak-free splits."""
    y = np.asarray(y)
    groups = np.asarray(groups)
    check_consistent_length(y, groups)
    for values in X.values() if isinstance(X, Mapping) else [X]:
        check_consistent_length(values, y)
    if cv is None:
        cv = default_actor_cv(set(_to_builtin(np.unique(groups))))
    elif isinstance(cv, numbers.Integral):
        # check_cv would turn an int into StratifiedKFold, which ignores actors.
        cv = GroupKFold(n_splits=int(cv))
    else:
        cv = check_cv(cv, y, classifier=True)
    return y, groups, cv, _check_actor_splits(cv, X, y, groups)


def _use_stacking(estimators: Sequence[Any], stack_folds: bool | str) -> bool:
    if stack_folds not in ("auto", True, False):
        raise ValueError(f"stack_folds must be 'auto', True or False, got {stack_folds!r}.")
    if not stack_folds:
        return False
    for estimator in estimators:
        reason = _stacking_unsupported_reason(estimator)
        if reason is not None:
            if stack_folds is True:
                raise ValueError(f"stack_folds=True, but the folds cannot be stacked: {reason}.")
            return False
    return True


def _build_report(
    results: Iterable[tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]],
    *,
    y: np.ndarray,
    groups: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[Any] | None,
    verbose: int,
    metadata: dict[str, Any],
    protocol: dict[str, Any],
) -> ActorCVReport:
    """Pool the folds' predictions (consumed as they arrive) into a report."""
    fold_preds: list[np.ndarray] = []
    fold_probas: list[tuple[np.ndarray, np.ndarray] | None] = []
    fit_time: list[float] = []
    score_time: list[float] = []
    progress = tqdm(results, total=len(splits), desc="actor folds", disable=verbose < 1)
    for fold, (fold_pred, fold_fit, fold_score, fold_proba) in enumerate(progress):
        fold_preds.append(fold_pred)
        fold_probas.append(fold_proba)
        fit_time.append(fold_fit)
        score_time.append(fold_score)
        if verbose >= 2:
            accuracy = accuracy_score(y[splits[fold][1]], fold_pred)
            # Beside the progress bar on stderr: stdout is left to the caller's results.
            message = f"fold {fold}: accuracy {100 * accuracy:.2f} % ({fold_fit:.1f} s fit)"
            progress.write(message, file=sys.stderr)
    # Back to the original row order. The test sets partition the rows (checked above),
    # or, with ExcludeFromTest, the rows it did not exclude: the report holds those.
    order = np.concatenate([test for _, test in splits])
    tested = np.sort(order)
    position = np.empty(len(y), dtype=np.intp)
    position[tested] = np.arange(len(tested))
    local_splits = [(train, position[test]) for train, test in splits]
    pooled = np.concatenate(fold_preds)
    y_pred = np.empty_like(pooled)
    y_pred[position[order]] = pooled
    test_fold = np.empty(len(tested), dtype=int)
    test_fold[position[order]] = np.repeat(
        np.arange(len(splits)), [len(test) for _, test in splits]
    )
    y_proba, proba_classes = _pool_probabilities(fold_probas, local_splits, n_samples=len(tested))
    metadata = dict(metadata)
    if len(tested) < len(y):
        metadata["untested_clips"] = np.setdiff1d(np.arange(len(y)), tested).tolist()
    return ActorCVReport(
        y_true=y[tested],
        y_pred=y_pred,
        test_fold=test_fold,
        fold_actors=[sorted(_to_builtin(np.unique(groups[test]))) for _, test in splits],
        fit_time=fit_time,
        score_time=score_time,
        labels=None if labels is None else list(labels),
        metadata=metadata,
        protocol=protocol,
        y_proba=y_proba,
        proba_classes=proba_classes,
    )


def describe_protocol(protocol: Mapping[str, Any]) -> str:
    """One line saying what a result read of its test subjects.

    Parameters
    ----------
    protocol : mapping
        :attr:`ActorCVReport.protocol`.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_protocol({"protocol": "inductive"})
    'inductive (standard: nothing of a test subject but the clip predicted)'
    """
    if protocol.get("protocol") != "transductive":
        return "inductive (standard: nothing of a test subject but the clip predicted)"
    parts = []
    for path, calibration in protocol.get("calibrations", {}).items():
        source = "clips" if calibration.get("source") == "all" else "neutral clips"
        n_clips = calibration.get("n_clips")
        clips = (
            f"all of each subject's {source}"
            if n_clips is None
            else f"{n_clips} of each subject's {source} ({calibration.get('selection')})"
        )
        if "batch-norm" in str(calibration.get("subject_normalization", "")):
            statistics = "batch-norm statistics"
        else:
            statistics = "mean + std" if calibration.get("with_std") else "mean"
        parts.append(f"{path + ': ' if path else ''}{statistics} over {clips}")
    return (
        "transductive (subject calibration from each test subject's own unlabeled clips; "
        + "; ".join(parts)
        + ")"
    )


def _pool_probabilities(
    fold_probas: list[tuple[np.ndarray, np.ndarray] | None],
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_samples: int,
) -> tuple[np.ndarray | None, list[Any] | None]:
    """Out-of-fold posteriors in row order, one column per class seen by any fold."""
    if any(item is None for item in fold_probas):
        return None, None
    classes = sorted(
        {c for item in fold_probas if item is not None for c in _to_builtin(item[0])}, key=str
    )
    # EMOTIONS order when the classes are RAVDESS emotions, as everywhere else.
    if set(classes) <= set(EMOTIONS):
        classes = [e for e in EMOTIONS if e in classes]
    column = {c: i for i, c in enumerate(classes)}
    pooled = np.zeros((n_samples, len(classes)))
    for item, (_, test) in zip(fold_probas, splits, strict=True):
        assert item is not None
        fold_classes, proba = item
        columns = np.array([column[c] for c in _to_builtin(fold_classes)], dtype=np.intp)
        # A class missing from a fold's training actors gets probability 0 there.
        pooled[np.ix_(test, columns)] = proba
    return pooled, classes
