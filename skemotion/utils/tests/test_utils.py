"""The shared private helpers: what every subpackage relies on them for."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.helper import SliceDict

from skemotion.audio import LogMelSpectrogram
from skemotion.embed import ResNetEmbedder
from skemotion.face import KeyPointDistances
from skemotion.utils._groups import check_group_splits, groups_fit_params
from skemotion.utils._io import atomic_path, atomic_savez, atomic_write, file_digest
from skemotion.utils._optional import import_optional
from skemotion.utils._tables import clip_table_column, take_rows


def test_atomic_write_replaces_the_file_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with atomic_write(target, durable=True) as stream:
        stream.write(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(RuntimeError), atomic_write(target) as stream:
        stream.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_atomic_path_keeps_the_suffix_and_cleans_up(tmp_path):
    target = tmp_path / "clip.mp4"
    with atomic_path(target, suffix=".tmp.mp4") as temporary:
        assert temporary.name.startswith(".clip.mp4.") and temporary.suffix == ".mp4"
        temporary.write_bytes(b"video")
    assert target.read_bytes() == b"video"
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "other") as temporary:
        raise KeyboardInterrupt
    assert not temporary.exists() and not (tmp_path / "other").exists()


def test_atomic_savez_and_file_digest(tmp_path):
    path = tmp_path / "entry.npz"
    atomic_savez(path, {"x": np.arange(4.0)})
    with np.load(path) as arrays:
        np.testing.assert_array_equal(arrays["x"], np.arange(4.0))
    big = tmp_path / "big"
    content = bytes(range(256)) * 9000  # more than one read block
    big.write_bytes(content)
    assert file_digest(big) == hashlib.sha256(content).hexdigest()
    assert file_digest(str(big)) == file_digest(big)


def test_import_optional_names_the_extra():
    assert import_optional("json", extra="x", needed_for="y").dumps(1) == "1"
    expected = r'Head pose needs OpenCV: pip install "skemotion\[face\]"'
    with pytest.raises(ImportError, match=expected):
        import_optional("no_such_module", extra="face", needed_for="Head pose", package="OpenCV")


def test_one_error_for_a_missing_path_column():
    table = pd.DataFrame({"file": ["a.wav"], "actor": [1]})
    with pytest.raises(ValueError, match=r"no column 'path' with clip paths.*'file', 'actor'"):
        clip_table_column(table, "path")
    # Every transformer reading a clip table says it the same way.
    for transformer in (LogMelSpectrogram(), KeyPointDistances(), ResNetEmbedder()):
        with pytest.raises(ValueError, match=r"no column 'path' with .*; set path_column"):
            transformer.fit(table)
    assert clip_table_column(pd.DataFrame({"path": ["a", "b"]}), "path") == ["a", "b"]


def test_take_rows_slices_every_modality_alike():
    rows = np.array([2, 0])
    X = SliceDict(speech=np.arange(12).reshape(4, 3), face=np.arange(4) * 10)
    taken = take_rows(X, rows)
    assert type(taken) is SliceDict
    np.testing.assert_array_equal(taken["speech"], X["speech"][rows])
    np.testing.assert_array_equal(taken["face"], [20, 0])
    frame = pd.DataFrame({"a": [1, 2, 3, 4]})
    assert take_rows(frame, rows)["a"].tolist() == [3, 1]
    assert take_rows([1, 2, 3, 4], rows) == [3, 1]


def test_groups_fit_params_routes_to_the_final_step():
    groups = np.array([1, 2])
    assert groups_fit_params(LogisticRegression(), groups) == {}
    assert groups_fit_params(LogisticRegression(), None) == {}

    class TakesGroups(LogisticRegression):
        def fit(self, X, y, groups=None):
            return super().fit(X, y)

    assert groups_fit_params(TakesGroups(), groups)["groups"] is groups
    routed = groups_fit_params(make_pipeline(StandardScaler(), TakesGroups()), groups)
    assert list(routed) == ["takesgroups__groups"]


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored by KFold")
def test_check_group_splits_refuses_leaks_and_gaps():
    y = np.zeros(8)
    groups = np.tile([1, 2, 3, 4], 2)
    rows = np.zeros((8, 1))
    splits = check_group_splits(GroupKFold(2), rows, y, groups, expected=np.arange(8))
    assert len(splits) == 2
    with pytest.raises(ValueError, match=r"^inner split 0 of KFold.*speaker leakage"):
        check_group_splits(KFold(2), rows, y, groups, expected=np.arange(8), inner=True)
    with pytest.raises(ValueError, match=r"^split 0 of KFold.*speaker leakage"):
        check_group_splits(KFold(2), rows, y, groups, expected=np.arange(8))
    # Without groups there is nothing to leak; the test sets must still cover each row once.
    assert len(check_group_splits(KFold(2), rows, y, None, expected=np.arange(8))) == 2
    with pytest.raises(ValueError, match="must partition the rows"):
        check_group_splits(KFold(2), rows, y, None, expected=np.arange(9))
    with pytest.raises(ValueError, match="produced no split"):
        check_group_splits(_NoSplits(), rows, y, groups, expected=np.arange(8))


class _NoSplits:
    def split(self, X, y=None, groups=None):
        return iter(())
