"""Exceptions raised by skemotion."""

from __future__ import annotations

__all__ = ["NotASkemotionModelError", "StaleResultsError"]


class NotASkemotionModelError(ValueError):
    """A file given to :func:`skemotion.load_model` is not a model saved by skemotion."""


class StaleResultsError(ValueError):
    """An output folder holds results of another run: other data, settings or code.

    Raised by :func:`skemotion.paper.reproduce_table2` (and ``table1``) before
    anything is computed, rather than mixing, reusing or silently replacing those results.

    Parameters
    ----------
    folder : str
        The output folder.
    cells : list of str
        The cells whose stored results differ.
    differences : list of str
        What differs, one phrase each ("the data (...)", "skemotion version ...").
    """

    def __init__(self, folder: str, cells: list[str], differences: list[str]) -> None:
        self.folder = folder
        self.cells = cells
        self.differences = differences
        super().__init__(
            f"{self.summary()}. Write to another folder, or pass overwrite=True to "
            "recompute those cells there."
        )

    def summary(self) -> str:
        """The folder, the cells and what differs, without the remedy.

        Returns
        -------
        summary : str
        """
        cells = self.cells
        shown = ", ".join(cells[:3]) + (f" and {len(cells) - 3} more" if len(cells) > 3 else "")
        return (
            f"{self.folder} holds results of another run for {len(cells)} cell(s) ({shown}): "
            f"{'; '.join(self.differences)}"
        )
