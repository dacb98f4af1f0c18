"""Every script in examples/ runs as a user runs it, on a small copy of the session's corpus.

The examples are rendered in the docs, so a broken one is a broken page. Each runs in-process
(``runpy`` with its ``__main__`` block and a patched ``sys.argv``) on three actors of the
session's audio-visual corpus, linked rather than copied: the landmark cache is keyed by file
content, so the faces tracked by the other end-to-end tests are read, not tracked again.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_ACTORS = (1, 2, 3)  # the speech example cross-validates with GroupKFold(3)

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/ not in this checkout")


@pytest.fixture(scope="module")
def small_corpus(av_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples_corpus")
    for actor in EXAMPLE_ACTORS:
        source = av_corpus / f"Actor_{actor:02d}"
        target = root / source.name
        target.mkdir()
        for clip in source.iterdir():
            (target / clip.name).symlink_to(clip)
    return root


def _run_example(name: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    script = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")


@pytest.mark.slow
def test_speech_example(small_corpus, monkeypatch, capsys):
    _run_example("speech_actor_cv.py", [str(small_corpus), "--epochs", "1"], monkeypatch)
    out = capsys.readouterr().out
    assert "180 clips of 3 actors" in out
    assert "cross_val_score, GroupKFold(3) on actors:" in out
    assert "figures and report written to" in out


@pytest.mark.slow
def test_face_example(small_corpus, tmp_path, monkeypatch, capsys):
    output = tmp_path / "face"
    argv = ["--data", str(small_corpus), "--epochs", "1", "--jobs", "1", "--output", str(output)]
    _run_example("face_actor_cv.py", argv, monkeypatch)
    assert "Face: key-point distances + TIM-Net" in capsys.readouterr().out
    assert (output / "report.json").is_file() and (output / "confusion_matrix.png").is_file()


@pytest.mark.slow
def test_fusion_example(small_corpus, tmp_path, monkeypatch, capsys):
    output = tmp_path / "fusion"
    argv = ["--data", str(small_corpus), "--epochs", "1", "--jobs", "1", "--output", str(output)]
    _run_example("fusion_actor_cv.py", argv, monkeypatch)
    out = capsys.readouterr().out
    table_rows = [line for line in out.splitlines() if line.startswith(("| lms", "| kpd"))]
    assert [row.split("|")[1].strip() for row in table_rows] == ["lms", "kpd", "lms + kpd"]
    assert (output / "fusion_confusion_matrix.png").stat().st_size > 0
    assert (output / "fusion_report" / "report.json").is_file()


@pytest.mark.slow
def test_grid_search_example(small_corpus, monkeypatch, capsys):
    argv = ["--data", str(small_corpus), "--epochs", "1", "--jobs", "1"]
    _run_example("grid_search_fusion.py", argv, monkeypatch)
    out = capsys.readouterr().out
    assert "neutral_reference" in out and "inter_ocular" in out
    assert "best:" in out and "final pipeline steps:" in out
