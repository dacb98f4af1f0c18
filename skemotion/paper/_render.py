"""How table runs are shown: markdown cells beside the paper's, heatmaps, output files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _fmt(value: Any, paper: float | None, digits: int) -> str:
    ours = (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )
    return ours if paper is None else f"{ours} ({paper:.{digits}f})"


def _heatmap(
    values: np.ndarray,
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    path: Path,
    fmt: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(columns) + 3, 0.5 * len(rows) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels=list(rows))
    for i in range(len(rows)):
        for j in range(len(columns)):
            text = "n/a" if np.isnan(values[i, j]) else format(values[i, j], fmt)
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                # Masked cells are left blank (white): their label must be dark to be seen.
                color="0.45" if np.isnan(values[i, j]) else "k",
                fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.6, "lw": 0},
            )
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_outputs(table: pd.DataFrame, markdown: str, output: Path, name: str) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": output / f"{name}.csv",
        "json": output / f"{name}.json",
        "markdown": output / f"{name}.md",
        "heatmap": output / f"{name}.png",
    }
    table.to_csv(paths["csv"], index=False)
    paths["json"].write_text(table.to_json(orient="records", indent=2))
    paths["markdown"].write_text(markdown)
    return paths


def _late_fusion_markdown(late: pd.DataFrame) -> str:
    lines = [
        "Early vs late fusion on the same folds (8-class accuracy, %): the early-fusion "
        "network of the grid beside the product rule of the two single-modality cells' "
        "out-of-fold posteriors (late fusion, nothing trained).",
        "",
        "| visual | speech | visual alone | speech alone | early fusion | late fusion |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in late.to_dict("records"):
        lines.append(
            f"| {r['row']} | {r['column']} | {r['visual_alone']:.2f} | {r['speech_alone']:.2f} "
            f"| {_fmt(r['early_fusion'], None, 2)} "
            f"| {r['late_fusion']:.2f} ± {r['late_fusion_std']:.2f} |"
        )
    return "\n".join(lines)
