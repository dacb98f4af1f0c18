"""``skemotion reproduce``: the paper's Table 1 or Table 2 grid, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import (
    EMBEDDED_N_ACTORS,
    QUICK_EPOCHS,
    QUICK_N_ACTORS,
    CLIError,
    embedded_corpus,
    load_clips,
    load_face_clips,
)

__all__ = ["reproduce"]


def _reproduction_corpus(args: argparse.Namespace, output: Path, n_actors: int | None) -> Any:
    """One row per recording: audio_path and / or video_path (a video or tracking CSV), labels."""
    from ..datasets import load_ravdess_audiovisual

    if args.data is None:
        video = embedded_corpus(
            output / "corpus",
            n_actors=n_actors or EMBEDDED_N_ACTORS,
            n_jobs=args.n_jobs,
            modality="video-only",
        )
        root = Path(video.root)
    else:
        root = args.data
        if not root.is_dir():
            raise CLIError(f"data folder {root} does not exist or is not a folder")
    actors = None if n_actors is None else range(1, n_actors + 1)
    for video_modality in ("video-only", "audio-video"):
        try:
            return load_ravdess_audiovisual(
                root, video=video_modality, actors=actors, on_unpaired="skip"
            ).frame
        except (ValueError, FileNotFoundError):
            continue
    # One side only: speech (every visual cell is then skipped with that reason) or faces,
    # videos or tracking CSVs (every speech cell skipped).
    try:
        speech = load_clips(root, n_actors=n_actors).frame
    except FileNotFoundError:
        try:
            face = load_face_clips(root, n_actors=n_actors).frame
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no RAVDESS clips under {root}: expected audio (Actor_XX/03-01-*.wav), "
                "videos (02-01-*.mp4, 01-01-*.mp4) or OpenFace tracking CSVs (01-01-*.csv)"
            ) from None
        return face.rename(columns={"path": "video_path"})
    return speech.rename(columns={"path": "audio_path"})


def reproduce(args: argparse.Namespace) -> int:
    """Run the table ``args.table`` asks for, print its markdown."""
    from ..exceptions import StaleResultsError
    from ..paper import ReproduceSettings, reproduce_table1, reproduce_table2

    output = args.output or Path(f"skemotion-{args.table}")
    if output.exists() and not output.is_dir():
        raise CLIError(f"--output {output} exists and is not a folder")
    n_actors = QUICK_N_ACTORS if args.quick and args.n_actors is None else args.n_actors
    corpus = _reproduction_corpus(args, output, n_actors)
    settings = ReproduceSettings(
        max_epochs=QUICK_EPOCHS if args.quick and args.epochs is None else args.epochs,
        small_net=args.quick,
        openface_dir=None if args.openface is None else str(args.openface),
        wav2vec2=args.wav2vec2,
        resnet=args.resnet,
        random_state=args.seed,
        exclude_reference_clips=args.exclude_reference_clips,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 2,
    )
    print(f"{len(corpus)} recordings of {corpus['actor'].nunique()} actors", file=sys.stderr)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    # The options both tables take; the grid's subset is the table's own.
    run: dict[str, Any] = {"settings": settings, "log": log, "overwrite": args.overwrite}
    try:
        if args.table == "table2":
            _, markdown = reproduce_table2(
                corpus, output, rows=args.rows, columns=args.columns, **run
            )
        else:
            _, markdown = reproduce_table1(
                corpus, output, features=args.rows, emotions=args.emotions, **run
            )
    except StaleResultsError as exc:
        raise CLIError(
            f"{exc.summary()}. Pass --output DIR to write elsewhere, or --overwrite to "
            f"recompute those cells in {exc.folder}"
        ) from exc
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    print(markdown)
    print(f"results written to {output}/", file=sys.stderr)
    return 0
