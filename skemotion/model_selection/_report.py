"""The outcome of an actor-grouped cross-validation: scores, JSON, Markdown and figures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.utils.validation import check_consistent_length

from ..datasets import EMOTIONS
from ..preprocessing import INDUCTIVE_PROTOCOL

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ActorCVReport", "describe_protocol"]

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
