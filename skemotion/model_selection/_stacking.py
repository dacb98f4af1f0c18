"""Training the folds' networks together, as one stacked network."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn import get_config
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from ..utils._tables import take_rows

# joblib backends whose workers share this machine: training the folds in one stacked
# network here does their work with less overhead. A cluster backend spreads them instead.
_LOCAL_BACKENDS = frozenset(
    {"LokyBackend", "SequentialBackend", "ThreadingBackend", "MultiprocessingBackend"}
)


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


def _fit_folds_stacked(
    estimators: Sequence[BaseEstimator],
    inputs_of: Sequence[Any],
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_jobs: int | None,
    verbose: int = 0,
) -> list[tuple[Any, float]]:
    """Every fold's fitted model of every estimator, the networks trained stacked.

    Each fold's preprocessing steps are fitted on its own training actors, as fold-by-fold
    fitting does; only the final networks' training is shared. With
    ``n_jobs`` workers the networks are split into that many stacks of about equal
    training work, each trained by a worker process with one torch thread: on a machine
    whose cores other processes also use, one-thread stacks keep going where a two-thread
    one would wait for its descheduled thread at every operation. A fold's ``fit_time`` is
    its preprocessing time plus an equal share of its stack's training time. ``inputs_of``
    holds the inputs of each estimator (its clips' features, when their extraction was
    taken out of the folds). Returns each fitted model with its ``fit_time``, estimator by
    estimator, fold by fold.
    """
    models: list[Any] = []
    networks: list[Any] = []
    inputs: list[Any] = []
    targets: list[np.ndarray] = []
    preprocessing: list[float] = []
    for estimator, X in zip(estimators, inputs_of, strict=True):
        for train, _ in splits:
            model: Any = clone(estimator)
            start = time.perf_counter()
            X_train = take_rows(X, train)
            if isinstance(model, Pipeline):
                network = model.steps[-1][1]
                # A one-step pipeline (what is left once its features are extracted) has
                # no preprocessing: an empty Pipeline cannot fit_transform.
                if len(model) > 1:
                    X_train = model[:-1].fit_transform(X_train, y[train])
            else:
                network = model
            preprocessing.append(time.perf_counter() - start)
            models.append(model)
            networks.append(network)
            inputs.append(X_train)
            targets.append(y[train])
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
    return [
        (model, prep + share)
        for model, prep, share in zip(models, preprocessing, shares, strict=True)
    ]


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
