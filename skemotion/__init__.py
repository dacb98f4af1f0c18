"""skemotion: scikit-learn-compatible emotion classification from speech and faces.

Every feature extractor is a scikit-learn transformer, every network a skorch classifier,
and a whole study is a :class:`~sklearn.pipeline.Pipeline` that can be cross-validated
with actor-grouped folds, grid-searched and saved.
"""

__version__ = "0.1.0.dev0"

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
"""The eight RAVDESS emotions, in the order of their codes 01..08."""

from ._persistence import load_model, save_model  # noqa: E402


def _install_defaults() -> None:
    # The face features take the corpus's neutral-reference lookup as a parameter and
    # never import a corpus; the package root, which sees both, installs RAVDESS's as
    # the default their reference_resolver=None stands for.
    from .datasets import RavdessNeutralReference
    from .face import set_default_reference_resolver

    set_default_reference_resolver(RavdessNeutralReference())


_install_defaults()

__all__ = ["EMOTIONS", "__version__", "load_model", "save_model"]
