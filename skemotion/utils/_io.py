"""Writing files so that they are either absent or complete, and digests of files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["atomic_path", "atomic_savez", "atomic_write", "file_digest"]

_HASH_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file name that becomes ``path`` when the block ends without error.

    The temporary file is hidden (``.<name>.<random><suffix>``) and in the same folder
    as ``path``, so the final rename is atomic (on POSIX and Windows) and a reader that
    looks files up by their exact name, or skips hidden ones, never sees a half-written
    file. On an error, including an interrupt, the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder is created if missing.
    suffix : str, default=".tmp"
        End of the temporary name, for writers that pick a format by it (``".tmp.mp4"``).

    Yields
    ------
    temporary : Path
        An empty file to write to, by name.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_path(target) as temporary:
    ...     _ = temporary.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary stream whose bytes replace ``path`` when the block ends without error.

    See :func:`atomic_path` for what a reader and an interrupted write see.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder is created if missing.
    durable : bool, default=False
        Flush the data to disk before the rename. Without it a power cut soon after the
        rename can leave a complete name pointing at empty blocks; worth its cost for
        cache entries that are trusted once written, not for files rebuilt anyway.

    Yields
    ------
    stream : binary file object

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "data.bin"
    >>> with atomic_write(target) as stream:
    ...     _ = stream.write(b"abc")
    >>> target.read_bytes()
    b'abc'
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        yield stream
        if durable:
            stream.flush()
            os.fsync(stream.fileno())


def atomic_savez(path: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as an ``.npz`` file that is either absent or complete and on disk.

    For cache entries: they are trusted once written, so the data reach the disk before
    the rename (``durable=True``), and a process killed mid-write leaves at most a
    hidden ``.<name>.<random>.tmp`` file that is never looked up, as entries are opened
    by their exact name only.

    Parameters
    ----------
    path : str or path-like
    arrays : dict of str to array-like
        The arrays, by the names :func:`numpy.load` gives them back under.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "entry.npz"
    >>> atomic_savez(path, {"x": np.arange(3)})
    >>> np.load(path)["x"]
    array([0, 1, 2])
    """
    with atomic_write(path, durable=True) as stream:
        np.savez(stream, **arrays)


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, read in blocks.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    digest : str
        64 hexadecimal digits.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> file_digest(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()
