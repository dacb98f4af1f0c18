"""Walking a user's data folder the way a user lays it out: with symbolic links."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

__all__ = ["walk_files"]


def walk_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every file name under a folder, following symbolic links to folders.

    Picking some actors of a corpus without copying gigabytes is done with links
    (``ln -s /data/RAVDESS/Actor_03 corpus/``), which :meth:`pathlib.Path.rglob` does not
    follow before Python 3.13. Each real folder is walked once, under the shortest path
    that reaches it (breadth first), so a link cycle ends, a second link to an already
    walked folder adds nothing, and a folder is never seen through a link that leads back
    into the corpus from deeper down (where the ``Actor_XX`` folders above it would be
    the link's, not its own).

    Parameters
    ----------
    root : str or path-like
        The folder to walk.

    Returns
    -------
    files : iterator of Path
        Paths as reached from ``root`` (through the links, not resolved), so a file's
        folder names are the ones the user sees; shallower folders first, names in order
        within each. Entries that are not folders are yielded whatever they are (files,
        links to files, broken links): callers check what they need. Unreadable folders
        are skipped, as :func:`os.walk` does.
    """
    seen: set[str] = set()
    queue = deque([Path(root)])
    while queue:
        folder = queue.popleft()
        real = os.path.realpath(folder)
        if real in seen:
            continue  # a cycle, or another link to a folder already walked
        seen.add(real)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            path = folder / entry.name
            try:
                is_folder = entry.is_dir()  # follows links
            except OSError:
                is_folder = False
            if is_folder:
                queue.append(path)
            else:
                yield path
