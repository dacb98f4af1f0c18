"""Test-session settings shared by every test module."""

import matplotlib
import torch

# Tests draw figures to files only.
matplotlib.use("Agg")
# The suite's networks are tiny; one intra-op thread avoids OpenMP spin-waits when another
# process holds the second core, which slows small matrix products tenfold.
torch.set_num_threads(1)


def pytest_configure(config):
    """Keep the landmark cache of the whole session in a temporary folder, not ~/.cache."""
    import os
    import tempfile

    if "SKEMOTION_CACHE_DIR" not in os.environ:
        os.environ["SKEMOTION_CACHE_DIR"] = tempfile.mkdtemp(prefix="skemotion-test-cache-")
