"""TIMNetClassifier training killed mid-run resumes from skorch's Checkpoint / LoadInitState.

A real subprocess trains with ``Checkpoint(monitor=None)`` (every epoch saved) and is
killed with SIGKILL after a few epochs; training is then resumed in this process with
``LoadInitState``. skorch's ``fit`` trains ``max_epochs`` *more* epochs after loading, so
the resumed call asks for the epochs still missing.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from ._killed_child import kill_when_marker_appears

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

TOTAL_EPOCHS = 8
KILL_AFTER = 3  # epochs checkpointed when the child is killed

SETUP = textwrap.dedent(
    """
    import numpy as np
    from skorch.callbacks import Callback, Checkpoint, LoadInitState
    from skemotion.nets import TIMNetClassifier

    def data():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(48, 12, 5)).astype("float32")
        y = np.where(X[:, :, 0].mean(axis=1) > 0, "angry", "calm")
        X[y == "angry", :, 1] += 0.5
        return X, y

    def make(dirname, max_epochs, extra=()):
        checkpoint = Checkpoint(dirname=dirname, monitor=None)
        return TIMNetClassifier(
            max_epochs=max_epochs, batch_size=16, module__filters=8, module__n_scales=3,
            random_state=0, callbacks=[checkpoint, LoadInitState(checkpoint), *extra],
        )
    """
)

CHILD = textwrap.dedent(
    """
    import sys, time
    dirname, marker = sys.argv[1], sys.argv[2]
    kill_after, total = int(sys.argv[3]), int(sys.argv[4])

    class Hang(Callback):
        # Runs after Checkpoint (later in the list): epoch kill_after is on disk.
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == kill_after:
                open(marker, "w").close()
                time.sleep(600)

    X, y = data()
    make(dirname, total, extra=[Hang()]).fit(X, y)
    """
)


def _namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(SETUP, namespace)
    return namespace


def _train_and_kill(dirname: Path, tmp_path: Path) -> None:
    marker = tmp_path / "epoch-done"
    command = [
        sys.executable,
        "-c",
        SETUP + CHILD,
        str(dirname),
        str(marker),
        str(KILL_AFTER),
        str(TOTAL_EPOCHS),
    ]
    kill_when_marker_appears(
        command, marker, tmp_path / "child.log", waiting_for="finished its epochs"
    )


@pytest.fixture
def killed_run(tmp_path: Path) -> Path:
    dirname = tmp_path / "checkpoint"
    _train_and_kill(dirname, tmp_path)
    return dirname


def test_training_resumes_from_a_killed_run(killed_run: Path) -> None:
    history = json.loads((killed_run / "history.json").read_text())
    assert len(history) == KILL_AFTER
    saved = torch.load(killed_run / "params.pt", weights_only=True)

    ns = _namespace()
    X, y = ns["data"]()
    net = ns["make"](str(killed_run), TOTAL_EPOCHS - len(history))
    # The weights the resumed run starts from are the checkpointed ones.
    starts: list[dict[str, torch.Tensor]] = []
    net.callbacks = [*net.callbacks, _StartSpy(starts)]
    net.fit(X, y)

    for key, value in saved.items():
        torch.testing.assert_close(starts[0][key], value)
    epochs = [row["epoch"] for row in net.history_]
    assert epochs == list(range(1, TOTAL_EPOCHS + 1))
    np.testing.assert_allclose(
        [row["train_loss"] for row in net.history_[:KILL_AFTER]],
        [row["train_loss"] for row in history],
    )
    assert set(net.classes_) == {"angry", "calm"}
    proba = net.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


class _StartSpy(Callback):
    """Keeps the module's weights at the first epoch's start, i.e. after LoadInitState."""

    def __init__(self, starts: list[dict[str, torch.Tensor]]) -> None:
        self.starts = starts

    def on_epoch_begin(self, net: Any, **kwargs: Any) -> None:
        if not self.starts:
            self.starts.append({k: v.clone() for k, v in net.module_.state_dict().items()})


def test_resumed_run_keeps_the_best_epoch_of_the_whole_history(killed_run: Path) -> None:
    # Make the killed run's second epoch the clear best, as it would be had the loss
    # risen afterwards.
    history_file = killed_run / "history.json"
    history = json.loads(history_file.read_text())
    history[1]["train_loss"] = 0.0
    history_file.write_text(json.dumps(history))

    ns = _namespace()
    X, y = ns["data"]()
    # Epoch 2's weights were not saved (only the last epoch's are): said, not hidden.
    with pytest.warns(UserWarning, match="epoch 2 had the lowest train_loss"):
        net = ns["make"](str(killed_run), TOTAL_EPOCHS - len(history)).fit(X, y)
    resumed_flags = [row["checkpoint"] for row in net.history_[KILL_AFTER:]]
    assert not any(resumed_flags)
    best = dict(net.callbacks_)["checkpoint"]
    assert best.best_score_ == 0.0 and best.best_epoch_ == 2
