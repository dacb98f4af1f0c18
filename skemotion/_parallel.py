"""What the parallel loops ask of joblib, kept valid under any ``parallel_config`` backend."""

from __future__ import annotations

from typing import Literal

from joblib.parallel import LokyBackend, get_active_backend

__all__ = ["fresh_loky_workers", "streaming_return_as"]


def streaming_return_as(
    ordered: bool = True, *, prefer: str | None = None
) -> Literal["generator", "generator_unordered", "list"]:
    """The ``return_as`` of a :class:`joblib.Parallel` that streams results when it can.

    Streaming (a generator) lets a progress bar move and lets the caller consume results
    as they arrive, but joblib refuses it on backends that lack result callbacks:
    ``multiprocessing`` and Ray's ``ray`` backend raise ``ValueError`` on
    ``return_as="generator"``. Those get ``"list"``, the same results in the same order
    once all are done, so a loop runs unchanged under
    ``joblib.parallel_config(backend=...)`` whatever the backend.

    Parameters
    ----------
    ordered : bool, default=True
        False asks for ``"generator_unordered"`` (results in completion order) where
        streaming is supported.
    prefer : {"threads", "processes"} or None, default=None
        The ``prefer`` hint the :class:`~joblib.Parallel` will be given, so that the
        backend checked is the one it will use.

    Returns
    -------
    return_as : {"generator", "generator_unordered", "list"}
    """
    backend, _ = get_active_backend(prefer=prefer)
    if not backend.supports_return_generator:
        return "list"
    return "generator" if ordered else "generator_unordered"


def fresh_loky_workers(n_jobs: int | None) -> None:
    """Start the next loky-parallel loop on new worker processes.

    loky reuses its worker processes from one ``Parallel`` call to the next and guards
    them against memory leaks: a worker whose memory grows more than 300 MB beyond what it
    held after its *first* task is replaced, with a "A worker stopped while some jobs were
    given to the executor ... memory leak" warning. A worker that first ran a light task
    (writing a synthetic clip, say) and then trains a network, which legitimately holds
    several hundred MB, trips it although nothing leaks. Called before a loop of heavy
    tasks, this shuts the idle workers down, so that each new worker is measured against
    a task of the loop itself. Nothing happens under another backend or for one job.

    Parameters
    ----------
    n_jobs : int or None
        The ``n_jobs`` the loop will be given.
    """
    backend, _ = get_active_backend()
    if not isinstance(backend, LokyBackend) or n_jobs in (None, 1):
        return
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)
