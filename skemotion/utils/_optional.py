"""Importing the dependencies that only some features need (the pip extras)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_optional"]


def import_optional(
    module: str, *, extra: str, needed_for: str, package: str | None = None
) -> ModuleType:
    """Import an optional dependency, or say which skemotion extra installs it.

    Parameters
    ----------
    module : str
        The module to import (``"cv2"``, ``"av"``, ``"transformers"``...).
    extra : str
        The pip extra of skemotion that installs it (``"face"``, ``"embed"``...).
    needed_for : str
        What needs it, the start of the error message (``"Head pose"``).
    package : str, optional
        The name users know it by (``"OpenCV"``); the module name by default.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        ``"<needed_for> needs <package>: pip install "skemotion[<extra>]"."``, chained
        to the original error.

    Examples
    --------
    >>> import_optional("json", extra="none", needed_for="Reading JSON").__name__
    'json'
    >>> import_optional("no_such_module", extra="face", needed_for="This")
    Traceback (most recent call last):
    ...
    ImportError: This needs no_such_module: pip install "skemotion[face]".
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{needed_for} needs {package or module}: pip install "skemotion[{extra}]".'
        ) from error
