"""The paper (Houmard et al.): its tables, its feature registry and their reproduction.

The one home of the study's facts: Table 1 and 2's figures, Table 3's settings, and
:data:`FEATURES`, the registry of the paper's features (name, Table 3 row, figures). The
ready-made pipelines, ``TIMNetClassifier.from_paper``, the CLI and the benchmarks read it;
:func:`reproduce_table1` and :func:`reproduce_table2` run the study again.
"""

from ._features import FEATURES, TABLE1_FEATURES, PaperFeature, make_extractor
from ._reproduce import reproduce_table1, reproduce_table2
from ._settings import ReproduceSettings
from ._tables import (
    PAPER_HYPERPARAMETERS,
    PAPER_TABLE1,
    PAPER_TABLE2,
    TABLE1_EMOTIONS,
    TABLE2_COLUMNS,
    TABLE2_ROWS,
    classifier_parameters,
    network_settings,
)

__all__ = [
    "FEATURES",
    "PAPER_HYPERPARAMETERS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "TABLE1_EMOTIONS",
    "TABLE1_FEATURES",
    "TABLE2_COLUMNS",
    "TABLE2_ROWS",
    "PaperFeature",
    "ReproduceSettings",
    "classifier_parameters",
    "make_extractor",
    "network_settings",
    "reproduce_table1",
    "reproduce_table2",
]
