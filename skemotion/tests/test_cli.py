"""Tests for the ``skemotion`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skemotion import EMOTIONS, __version__
from skemotion._cli._common import embedded_corpus
from skemotion.cli import QUICK_N_ACTORS, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skemotion {__version__}"


def test_module_entry_point():
    # The console script calls main(); running the module checks the same path end to end
    # without needing the script on PATH.
    result = subprocess.run(
        [sys.executable, "-m", "skemotion.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"skemotion {__version__}"


def test_no_command_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "usage: skemotion" in capsys.readouterr().err


def test_bad_epochs_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--epochs", "0"])
    assert exc.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_predict_non_model_file(tmp_path, capsys):
    fake = tmp_path / "model.skem"
    fake.write_text("certainly not a model\n")
    clip = tmp_path / "03-01-01-01-01-01-01.wav"
    clip.write_bytes(b"RIFF")
    assert main(["predict", "--model", str(fake), str(clip)]) == 2
    _one_line_error(capsys, "not a skemotion model", str(fake))


def test_predict_missing_files(tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    assert main(["predict", "--model", str(tmp_path / "none.skem"), str(clip)]) == 2
    _one_line_error(capsys, "not found", str(clip))
    clip.write_bytes(b"RIFF")
    assert main(["predict", "--model", str(tmp_path / "none.skem"), str(clip)]) == 2
    _one_line_error(capsys, "does not exist", "none.skem")


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_missing_data_folder(tmp_path, capsys, command):
    args = [command, "--data", str(tmp_path / "nowhere")]
    args += ["--output", str(tmp_path / "out")] if command == "evaluate" else []
    args += ["--model", str(tmp_path / "m.skem")] if command == "train" else []
    assert main(args) == 2
    _one_line_error(capsys, "nowhere", "does not exist")


def test_empty_data_folder(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "no RAVDESS clips")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("quick") / "results"
    status = main(["evaluate", "--quick", "--output", str(output)])
    return status, output


@pytest.mark.slow
def test_evaluate_quick_end_to_end(quick_run, capsys):
    status, output = quick_run
    assert status == 0
    for name in ("confusion_matrix.png", "per_emotion_f1.png"):
        assert (output / name).read_bytes()[:8] == PNG_MAGIC
    report = json.loads((output / "report.json").read_text())
    assert report["n_folds"] == 5
    assert report["n_samples"] == 60 * QUICK_N_ACTORS
    assert sorted(a for fold in report["fold_actors"] for a in fold) == [1, 2, 3, 4, 5]
    assert report["metadata"]["quick"] is True
    assert "Mean accuracy" in (output / "report.md").read_text()
    # The generated corpus stays beside the results, to be reused.
    assert len(list((output / "corpus").glob("Actor_*/*.wav"))) == 60 * QUICK_N_ACTORS


@pytest.mark.slow
def test_evaluate_quick_on_data_folder(quick_run, tmp_path, capsys):
    # The corpus of the first run passed as --data: reads it, and prints the paper's number.
    _, first = quick_run
    output = tmp_path / "again"
    args = ["evaluate", "--quick", "--data", str(first / "corpus"), "--output", str(output)]
    assert main([*args, "--folds", "paper"]) == 2
    _one_line_error(capsys, "--folds paper", "GroupKFold")
    assert main([*args, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "| Fold | Test actors |" in out
    assert "65.6 %" in out
    assert json.loads((output / "report.json").read_text())["metadata"]["epochs"] == 1


def _corpus_mtimes(corpus: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in corpus.glob("Actor_*/*.wav")}


@pytest.mark.slow
def test_evaluate_reuses_complete_corpus(quick_run, capsys):
    _, output = quick_run
    before = _corpus_mtimes(output / "corpus")
    data = embedded_corpus(output / "corpus", n_actors=QUICK_N_ACTORS, n_jobs=None)
    assert len(data.frame) == 60 * QUICK_N_ACTORS
    assert "Generating" not in capsys.readouterr().err
    assert _corpus_mtimes(output / "corpus") == before


@pytest.mark.slow
def test_train_then_predict(quick_run, tmp_path, capsys):
    _, output = quick_run
    corpus = output / "corpus"
    model = tmp_path / "speech.skem"
    assert main(["train", "--data", str(corpus), "--model", str(model), "--epochs", "1"]) == 0
    assert model.is_file()
    capsys.readouterr()
    clips = sorted(str(p) for p in corpus.glob("Actor_01/*.wav"))[:2]
    assert main(["predict", "--model", str(model), "--json", *clips]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["clip"] for r in results] == clips
    for result in results:
        probabilities = result["probabilities"]
        assert list(probabilities) == list(EMOTIONS)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result["emotion"] == max(probabilities, key=probabilities.get)
    assert main(["predict", "--model", str(model), clips[0]]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{clips[0]}: ")
    # A saved model predicts quietly: no progress bars from training time.
    assert captured.err == ""


@pytest.mark.slow
def test_evaluate_kpd_from_tracking_csvs(tracking_corpus, tmp_path, capsys):
    # RAVDESS's facial tracking CSVs alone, then beside the wav files: no video at all.
    for data in (tracking_corpus / "FacialTracking", tracking_corpus):
        output = tmp_path / data.name
        args = ["evaluate", "--features", "kpd", "--data", str(data), "--quick"]
        args += ["--epochs", "1", "--folds", "groupkfold", "--output", str(output)]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "Face: key-point distances + TIM-Net, RAVDESS" in out and "67.1 %" in out
        report = json.loads((output / "report.json").read_text())
        assert report["n_samples"] == 16 * QUICK_N_ACTORS and report["n_folds"] == 5
        assert report["metadata"]["landmarks"] == "openface"
        assert report["metadata"]["face_found_fraction"] == 1.0


def test_subject_norm_values_are_checked(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--subject-norm", "some"])
    assert exc.value.code == 2
    assert "none, all, neutral or a number of clips" in capsys.readouterr().err


@pytest.mark.slow
def test_subject_calibrated_evaluate_train_and_enrolled_predict(quick_run, tmp_path, capsys):
    _, first = quick_run
    corpus = first / "corpus"
    output = tmp_path / "calibrated"
    args = ["evaluate", "--quick", "--data", str(corpus), "--output", str(output)]
    assert main([*args, "--subject-norm", "8", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Protocol: transductive" in out and "8 of each subject's clips" in out
    assert "compare it with a run without --subject-norm" in out
    report = json.loads((output / "report.json").read_text())
    assert report["protocol"]["calibrations"]["lms"]["n_clips"] == 8

    model = tmp_path / "calibrated.skem"
    train = ["train", "--data", str(corpus), "--model", str(model), "--epochs", "1"]
    assert main([*train, "--subject-norm", "all"]) == 0
    assert "--enroll" in capsys.readouterr().out
    # A new person's clip (the file renamed, so not a RAVDESS actor's): one clip cannot
    # calibrate; a few unlabeled clips of the same person can.
    clips = sorted(corpus.glob("Actor_02/*.wav"))
    renamed = []
    for i, clip in enumerate(clips[:6]):
        target = tmp_path / f"visitor_{i}.wav"
        target.write_bytes(clip.read_bytes())
        renamed.append(str(target))
    assert main(["predict", "--model", str(model), renamed[0]]) == 2
    _one_line_error(capsys, "fewer than min_clips", "--enroll")
    assert (
        main(["predict", "--model", str(model), "--json", renamed[0], "--enroll", *renamed[1:]])
        == 0
    )
    assert json.loads(capsys.readouterr().out)[0]["clip"] == renamed[0]
    plain = tmp_path / "plain.skem"
    assert main(["train", "--data", str(corpus), "--model", str(plain), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(plain), renamed[0], "--enroll", *renamed[1:]]) == 2
    _one_line_error(capsys, "trained without subject calibration")


def test_evaluate_exclude_reference_clips_builds_the_splitter(tmp_path, monkeypatch, capsys):
    # Short silent clips: the flag's effect is the splitter handed to evaluate_actor_cv.
    import numpy as np
    import soundfile as sf

    import skemotion.model_selection
    from skemotion.model_selection import ExcludeFromTest

    for actor in (1, 2):
        for emotion, repetition in ((1, 1), (1, 2), (5, 1)):
            for statement in (1, 2):
                name = f"03-01-{emotion:02d}-01-{statement:02d}-{repetition:02d}-{actor:02d}.wav"
                path = tmp_path / "data" / f"Actor_{actor:02d}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, np.zeros(4800, dtype=np.float32), 48_000)
    seen = {}

    def evaluate(estimator, X, y, groups, *, cv, **kwargs):
        seen["cv"] = cv
        raise KeyboardInterrupt  # stop before training

    monkeypatch.setattr(skemotion.model_selection, "evaluate_actor_cv", evaluate)
    args = ["evaluate", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "out")]
    assert main([*args, "--exclude-reference-clips"]) == 130
    cv = seen["cv"]
    assert isinstance(cv, ExcludeFromTest) and type(cv.cv).__name__ == "GroupKFold"
    # Per actor: the neutral clips of repetition 1 of both statements.
    assert np.asarray(cv.exclude).tolist() == [True, False, True, False, False, False] * 2
    assert main(args) == 130
    assert seen["cv"] is None  # the default: every clip tested, as in the paper
