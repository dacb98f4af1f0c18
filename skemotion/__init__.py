"""skemotion: scikit-learn-compatible emotion classification from speech and faces.

Every feature extractor is a scikit-learn transformer, every network a skorch classifier,
and a whole study is a :class:`~sklearn.pipeline.Pipeline` that can be cross-validated
with actor-grouped folds, grid-searched and saved.
"""

from ._persistence import load_model, save_model
from ._version import __version__
from .datasets import EMOTIONS, RavdessNeutralReference
from .face import set_default_reference_resolver

# The face features take the corpus's neutral-reference lookup as a parameter and never
# import a corpus; the package root, which sees both, installs RAVDESS's as the default
# their reference_resolver=None stands for.
set_default_reference_resolver(RavdessNeutralReference())

__all__ = ["EMOTIONS", "__version__", "load_model", "save_model"]
