"""The Table 1 / Table 2 runners on the session's small audio-visual corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from skemotion import __version__
from skemotion.cli import main
from skemotion.datasets import load_ravdess_audiovisual
from skemotion.exceptions import StaleResultsError
from skemotion.model_selection import ActorCVReport, fuse_reports
from skemotion.paper import (
    PAPER_TABLE2,
    TABLE2_COLUMNS,
    TABLE2_ROWS,
    ReproduceSettings,
    _reproduce,
    _settings,
    reproduce_table1,
    reproduce_table2,
)

QUICK = ReproduceSettings(max_epochs=1, small_net=True)


def test_paper_tables_are_complete():
    assert set(TABLE2_ROWS) >= {"Face KPD", "Eyes KPD", "Face AU", "Eyes + Mouth ResNets"}
    assert set(TABLE2_COLUMNS) == {"None", "LMS", "Wav2Vec2-L"}
    # Every multimodal cell and every visual-only cell of the paper's Table 2.
    assert sum(row != "None" for row, _ in PAPER_TABLE2) == 7 * 3
    assert PAPER_TABLE2[("Face KPD", "LMS")] == 76.82


def test_fingerprint_tells_tracking_csvs_from_videos(tmp_path):
    names = ["01-01-03-01-01-01-01", "01-01-04-01-01-01-01"]

    def files(pattern: str, content: bytes) -> list[str]:
        paths = [tmp_path / pattern.format(name[3:]) for name in names]
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return [str(p) for p in paths]

    audio = files("Actor_01/03-{}.wav", b"RIFF")
    speech = pd.DataFrame({"audio_path": audio, "emotion": ["happy", "sad"], "actor": [1, 1]})
    videos = speech.assign(video_path=files("Actor_01/02-{}.mp4", b"mp4"))
    tracking = speech.assign(video_path=files("FacialTracking/01-{}.csv", b"frame,confidence"))
    faces = tracking.drop(columns="audio_path")
    # The face side is part of the data: videos, tracking CSVs and CSVs alone are three runs.
    fingerprints = {QUICK.fingerprint(c) for c in (speech, videos, tracking, faces)}
    assert len(fingerprints) == 4


@pytest.mark.slow
def test_table2_runs_skips_with_reasons_and_resumes(av_corpus, tmp_path, monkeypatch):
    corpus = load_ravdess_audiovisual(av_corpus).frame
    lines: list[str] = []
    rows, columns = ["None", "Face KPD", "Face AU", "Face ResNet"], ["None", "LMS", "Wav2Vec2-L"]
    table, markdown = reproduce_table2(
        corpus, tmp_path, settings=QUICK, rows=rows, columns=columns, log=lines.append
    )
    done = table[table["status"] == "done"]
    assert set(zip(done["row"], done["column"], strict=True)) == {
        ("None", "LMS"),
        ("Face KPD", "None"),
        ("Face KPD", "LMS"),
    }
    assert done["mean"].between(0, 100).all() and (done["std"] >= 0).all()
    assert done.loc[done["row"] == "Face KPD", "features"].tolist() == ["kpd", "kpd+lms"]
    reasons = dict(zip(table["row"] + " x " + table["column"], table["reason"], strict=True))
    assert "OpenFace" in reasons["Face AU x LMS"]
    assert "ResNet" in reasons["Face ResNet x None"]
    assert "Wav2Vec2" in reasons["Face KPD x Wav2Vec2-L"]
    # The markdown grid puts the paper's figure beside ours, and lists the skipped cells.
    assert "| Face KPD |" in markdown and "(76.82)" in markdown
    assert "Face AU x None: skipped" in markdown
    for suffix in ("md", "csv", "json", "png"):
        assert (tmp_path / f"table2.{suffix}").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "table2.csv")) == len(table)
    record = json.loads((tmp_path / "cells" / "face_kpd__lms" / "cell.json").read_text())
    assert record["status"] == "done" and "fingerprint" in record
    assert (tmp_path / "cells" / "face_kpd__lms" / "report.json").exists()
    # Early vs late fusion on the same folds: the product rule of the two single-modality
    # cells' saved posteriors, beside the early-fusion cell.
    late = pd.read_csv(tmp_path / "table2_late_fusion.csv")
    assert late[["row", "column"]].to_numpy().tolist() == [["Face KPD", "LMS"]]
    cells = tmp_path / "cells"
    expected = fuse_reports(
        {
            "visual": ActorCVReport.from_json(cells / "face_kpd__none" / "report.json"),
            "speech": ActorCVReport.from_json(cells / "none__lms" / "report.json"),
        }
    )
    assert late["late_fusion"].iloc[0] == pytest.approx(100 * expected.mean_accuracy)
    early = done.loc[(done["row"] == "Face KPD") & (done["column"] == "LMS"), "mean"]
    assert late["early_fusion"].iloc[0] == pytest.approx(early.iloc[0])
    assert "Early vs late fusion" in markdown and "| Face KPD | LMS |" in markdown
    assert (cells / "face_kpd__lms__late" / "confusion_matrix.png").stat().st_size > 0
    # The log says what is running before it runs, and extracts each feature once.
    assert [line for line in lines if line.endswith("fitting ...")] == [
        "None x LMS: fitting ...",
        "Face KPD x None: fitting ...",
        "Face KPD x LMS: fitting ...",
    ]
    assert sorted(line.split()[1] for line in lines if line.startswith("extracting")) == [
        "kpd",
        "lms",
    ]

    # A second run recomputes nothing that is done...
    def refit(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(_reproduce, "_fit_cell", refit)
    lines.clear()
    again, _ = reproduce_table2(
        corpus, tmp_path, settings=QUICK, rows=rows, columns=columns, log=lines.append
    )
    pd.testing.assert_frame_equal(again, table)
    assert sum("done earlier, reused" in line for line in lines) == 3
    # ...but other settings (here: epochs) are a different run: refused, or recomputed.
    other = ReproduceSettings(max_epochs=2, small_net=True)
    subset: dict[str, Any] = {"rows": ["None"], "columns": ["LMS"], "log": lines.append}
    with pytest.raises(StaleResultsError, match="max_epochs 1 there, 2 here"):
        reproduce_table2(corpus, tmp_path, settings=other, **subset)
    with pytest.raises(AssertionError, match="trained again"):
        reproduce_table2(corpus, tmp_path, settings=other, overwrite=True, **subset)


@pytest.mark.slow
def test_table1_binary_macro_f1(av_corpus, tmp_path):
    corpus = load_ravdess_audiovisual(av_corpus).frame
    table, markdown = reproduce_table1(
        corpus,
        tmp_path,
        settings=QUICK,
        features=["LMS", "Face AU"],
        emotions=["happy", "angry"],
        log=lambda line: None,
    )
    assert len(table) == 4
    lms = table[table["row"] == "LMS"]
    assert (lms["status"] == "done").all() and lms["mean"].between(0, 1).all()
    assert (table.loc[table["row"] == "Face AU", "status"] == "skipped").all()
    assert "| LMS |" in markdown and "(0.79)" in markdown  # the paper's LMS happy F1
    assert (tmp_path / "table1.png").exists()


def test_unknown_names_are_refused(tmp_path):
    corpus = pd.DataFrame({"audio_path": ["a.wav"], "emotion": ["calm"], "actor": [1]})
    with pytest.raises(ValueError, match="unknown Table row"):
        reproduce_table2(corpus, tmp_path, rows=["Nose KPD"])
    with pytest.raises(ValueError, match="unknown Table emotion"):
        reproduce_table1(corpus, tmp_path, emotions=["bored"])


@pytest.mark.slow
def test_cli_reproduce_quick(av_corpus, tmp_path, capsys):
    output = tmp_path / "t2"
    args = ["reproduce", "table2", "--data", str(av_corpus), "--quick", "--epochs", "1"]
    subset = ["--rows", "None", "Eyes KPD", "--columns", "LMS"]
    assert main([*args, *subset, "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "| Eyes KPD |" in out and "(70.30)" in out
    assert (output / "table2.json").exists()
    assert main(["reproduce", "table2", "--data", str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_cli_reproduce_from_tracking_csvs(tracking_corpus, tmp_path, capsys):
    # wav files + RAVDESS's tracking CSVs: OpenFace landmarks and action units, no video.
    output = tmp_path / "t2"
    args = ["reproduce", "table2", "--data", str(tracking_corpus), "--quick", "--epochs", "1"]
    subset = ["--rows", "None", "Face AU", "Face ResNet", "--columns", "None", "LMS"]
    assert main([*args, *subset, "--output", str(output), "--quiet"]) == 0
    assert "| Face AU |" in capsys.readouterr().out
    table = pd.read_csv(output / "table2.csv", keep_default_na=False)
    done = table[table["status"] == "done"]
    assert set(zip(done["row"], done["column"], strict=True)) == {
        ("None", "LMS"),
        ("Face AU", "None"),
        ("Face AU", "LMS"),
    }
    reasons = dict(zip(table["row"] + " x " + table["column"], table["reason"], strict=True))
    assert "tracking CSVs" in reasons["Face ResNet x None"]

    # The tracking CSVs alone: every face feature runs, the speech cells are skipped.
    output = tmp_path / "t1"
    args = ["reproduce", "table1", "--data", str(tracking_corpus / "FacialTracking"), "--quick"]
    rows = ["--rows", "LMS", "Face KPD", "Eyes KPD", "Face AU", "Head pose"]
    rows += ["--emotions", "happy", "--quiet"]
    assert main([*args, "--epochs", "1", *rows, "--output", str(output)]) == 0
    table = pd.read_csv(output / "table1.csv", keep_default_na=False)
    status = dict(zip(table["row"], table["status"], strict=True))
    assert status == {
        "LMS": "skipped",
        "Face KPD": "done",
        "Eyes KPD": "done",
        "Face AU": "done",
        "Head pose": "done",
    }
    assert table.loc[table["row"] == "LMS", "reason"].item() == "no audio files in the corpus"


# -- reuse of finished cells: only for the same data, settings and code ---------------------

_NAMES = ("03-01-01-01-01-01-01.wav", "03-01-05-02-01-02-01.wav", "03-01-03-01-02-01-02.wav")


def _write_clips(root, content: bytes) -> pd.DataFrame:
    """Three RAVDESS-named files of 64 bytes each, as a speech-only corpus."""
    paths = []
    for name in _NAMES:
        path = root / f"Actor_{name[-6:-4]}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content * 64)
        paths.append(str(path))
    return pd.DataFrame({"audio_path": paths, "emotion": "neutral", "actor": [1, 1, 2]})


@pytest.fixture
def fitted_cells(monkeypatch):
    """Replace training by a record, and list the cells that were "trained"."""
    calls: list[str] = []

    def fit_cell(cell, *args, **kwargs):
        calls.append(cell.slug)
        return {"status": "done", "mean": 50.0, "std": 0.0, "fit_time": 0.0}

    monkeypatch.setattr(_reproduce, "_fit_cell", fit_cell)
    return calls


def _lms_cell(corpus, output, **kwargs):
    return reproduce_table2(
        corpus,
        output,
        settings=QUICK,
        rows=["None"],
        columns=["LMS"],
        log=lambda line: None,
        **kwargs,
    )


def test_same_names_other_contents_are_never_reused(tmp_path, fitted_cells):
    output = tmp_path / "results"
    synthetic = _write_clips(tmp_path / "embedded", b"s")
    _lms_cell(synthetic, output)
    _lms_cell(synthetic, output)
    assert fitted_cells == ["none__lms"]  # the second run reused the finished cell
    # RAVDESS after the embedded corpus: the same file names and sizes, other bytes.
    ravdess = _write_clips(tmp_path / "ravdess", b"r")
    with pytest.raises(StaleResultsError) as error:
        _lms_cell(ravdess, output)
    message = str(error.value)
    assert str(output) in message and "None x LMS" in message
    assert "different clips (3 files, 192 bytes" in message
    assert fitted_cells == ["none__lms"]
    table, _ = _lms_cell(ravdess, output, overwrite=True)
    assert fitted_cells == ["none__lms", "none__lms"] and table["mean"].tolist() == [50.0]
    # One changed byte in one clip is other data too; the moved corpus is the same data.
    Path(ravdess["audio_path"][2]).write_bytes(b"r" * 63 + b"x")
    with pytest.raises(StaleResultsError, match="different clips"):
        _lms_cell(ravdess, output)
    _lms_cell(synthetic, output, overwrite=True)
    moved = tmp_path / "moved"
    (tmp_path / "embedded").rename(moved)
    _lms_cell(_write_clips(moved, b"s"), output)
    assert len(fitted_cells) == 3


def test_other_skemotion_version_is_not_reused(tmp_path, fitted_cells, monkeypatch):
    corpus = _write_clips(tmp_path / "data", b"s")
    _lms_cell(corpus, tmp_path / "results")
    monkeypatch.setattr(_settings, "__version__", "99.0")
    with pytest.raises(StaleResultsError, match=f"skemotion version {__version__} there, 99.0"):
        _lms_cell(corpus, tmp_path / "results")
    monkeypatch.setattr(_settings, "_RESULTS_FORMAT", _settings._RESULTS_FORMAT + 1)
    with pytest.raises(StaleResultsError, match="results format"):
        _lms_cell(corpus, tmp_path / "results")
    assert fitted_cells == ["none__lms"]


def test_cells_of_an_older_skemotion_are_not_reused(tmp_path, fitted_cells):
    corpus = _write_clips(tmp_path / "data", b"s")
    cell = tmp_path / "results" / "cells" / "none__lms"
    cell.mkdir(parents=True)
    # What skemotion wrote before cells recorded the data's content.
    record = {"status": "done", "mean": 99.0, "std": 0.0, "fingerprint": "0123456789abcdef"}
    (cell / "cell.json").write_text(json.dumps(record))
    with pytest.raises(StaleResultsError, match="older skemotion"):
        _lms_cell(corpus, tmp_path / "results")
    table, _ = _lms_cell(corpus, tmp_path / "results", overwrite=True)
    assert table["mean"].tolist() == [50.0] and fitted_cells == ["none__lms"]


def test_fingerprint_covers_openface_and_local_models(tmp_path):
    corpus = _write_clips(tmp_path / "data", b"s")
    openface = tmp_path / "openface"
    openface.mkdir()
    (openface / "02-01-01-01-01-01-01.csv").write_text("frame, success\n1, 1\n")
    model = tmp_path / "wav2vec2"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "weights.bin").write_bytes(b"w")
    settings = ReproduceSettings(openface_dir=str(openface), wav2vec2=str(model))
    before = settings.fingerprint(corpus)
    assert settings.provenance(corpus)["data"]["wav2vec2"]["n_files"] == 1
    (model / "sub" / "weights.bin").write_bytes(b"v")
    assert settings.fingerprint(corpus) != before
    # A hub id is identified by its name: nothing to read.
    assert "wav2vec2" not in ReproduceSettings(wav2vec2="org/model").provenance(corpus)["data"]
    # n_jobs and verbose do not change results.
    assert ReproduceSettings(n_jobs=2, verbose=2).fingerprint(corpus) == (
        ReproduceSettings().fingerprint(corpus)
    )
    Path(corpus["audio_path"][0]).unlink()
    with pytest.raises(FileNotFoundError, match=_NAMES[0]):
        ReproduceSettings().fingerprint(corpus)


# A speech-only folder: the CLI first looks for videos, and says the clips have none.
@pytest.mark.filterwarnings("ignore:.*lack their:UserWarning")
def test_cli_reproduce_refuses_another_runs_folder(tmp_path, fitted_cells, capsys):
    _write_clips(tmp_path / "embedded", b"s")
    _write_clips(tmp_path / "ravdess", b"r")
    output = tmp_path / "skemotion-table2"
    args = ["reproduce", "table2", "--rows", "None", "--columns", "LMS", "--quiet"]
    args += ["--output", str(output)]
    assert main([*args, "--data", str(tmp_path / "embedded")]) == 0
    capsys.readouterr()
    assert main([*args, "--data", str(tmp_path / "ravdess")]) == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if "error:" in line]
    assert len(error) == 1 and "Traceback" not in err
    assert f"{output} holds results of another run" in error[0]
    assert "different clips" in error[0] and "--output DIR" in error[0]
    assert "--overwrite" in error[0]
    assert main([*args, "--data", str(tmp_path / "ravdess"), "--overwrite"]) == 0
    assert fitted_cells == ["none__lms", "none__lms"]
