"""Killing a child process at a chosen point, for the tests of resuming interrupted work."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def kill_when_marker_appears(
    command: list[str], marker: Path, log: Path, *, waiting_for: str
) -> None:
    """Run ``command`` until it creates the file ``marker``, then kill it with SIGKILL.

    The child runs single-threaded (``OMP_NUM_THREADS=1``) and writes its stderr to
    ``log``, whose end is shown if it exits before creating ``marker``.

    Parameters
    ----------
    command : list of str
        The child's command line.
    marker : Path
        The file the child creates when it has reached the point to be killed at.
    log : Path
        Where the child's stderr goes.
    waiting_for : str
        What the child does before creating ``marker``, for the message when it has not
        within five minutes ("child never <waiting_for>").

    Raises
    ------
    AssertionError
        When the child exits early, never creates ``marker``, or does not die by SIGKILL.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as stderr:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"child ended early: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"child never {waiting_for}")
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
