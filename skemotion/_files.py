"""Walking a user's data folder the way a user lays it out: with symbolic links."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["walk_files"]


def walk_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every file name under a folder, following symbolic links to folders.

    Picking some actors of a corpus without copying gigabytes is done with links
    (``ln -s /data/RAVDESS/Actor_03 corpus/``), which :meth:`pathlib.Path.rglob` does not
    follow before Python 3.13. Each real folder is walked once, so a link cycle (a link
    to a folder above it) ends, and a second link to an already walked folder adds
    nothing.

    Parameters
    ----------
    root : str or path-like
        The folder to walk.

    Returns
    -------
    files : iterator of Path
        Paths as reached from ``root`` (through the links, not resolved), so a file's
        folder names (``Actor_XX``) are the ones the user sees; folders in name order,
        then the names inside each folder in order. Entries that are not folders are
        yielded whatever they are (files, links to files, broken links): callers check
        what they need.
    """
    seen: set[str] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []  # a cycle or a second link to a walked folder
            continue
        seen.add(real)
        subfolders.sort()
        for name in sorted(names):
            yield Path(folder, name)
