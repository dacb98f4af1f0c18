"""The Table 1 / Table 2 runners on the session's small audio-visual corpus."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from skemotion.cli import main
from skemotion.datasets import load_ravdess_audiovisual
from skemotion.model_selection import (
    PAPER_TABLE2,
    TABLE2_COLUMNS,
    TABLE2_ROWS,
    ActorCVReport,
    ReproduceSettings,
    _reproduce,
    fuse_reports,
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


def test_fingerprint_tells_tracking_csvs_from_videos():
    names = ["01-01-03-01-01-01-01", "01-01-04-01-01-01-01"]
    audio = [f"Actor_01/03{name[2:]}.wav" for name in names]
    speech = pd.DataFrame({"audio_path": audio, "emotion": ["happy", "sad"], "actor": [1, 1]})
    videos = speech.assign(video_path=[f"Actor_01/02{name[2:]}.mp4" for name in names])
    tracking = speech.assign(video_path=[f"FacialTracking/{name}.csv" for name in names])
    faces = tracking.drop(columns="audio_path")
    # Corpora of videos keep the fingerprint of their audio; CSVs make another run.
    assert QUICK.fingerprint(videos) == QUICK.fingerprint(speech)
    assert QUICK.fingerprint(tracking) != QUICK.fingerprint(videos)
    assert QUICK.fingerprint(faces) not in {QUICK.fingerprint(tracking), QUICK.fingerprint(videos)}


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
    # ...but other settings (here: epochs) are a different run.
    with pytest.raises(AssertionError, match="trained again"):
        reproduce_table2(
            corpus,
            tmp_path,
            settings=ReproduceSettings(max_epochs=2, small_net=True),
            rows=["None"],
            columns=["LMS"],
            log=lines.append,
        )


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
