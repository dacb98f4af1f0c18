"""What the parallel loops ask of joblib, kept valid under any ``parallel_config`` backend."""

from __future__ import annotations

from typing import Literal

from joblib.parallel import get_active_backend

__all__ = ["streaming_return_as"]


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
