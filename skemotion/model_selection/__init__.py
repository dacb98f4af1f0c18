"""Actor-grouped cross-validation for speaker-independent evaluation."""

from ._evaluate import evaluate_actor_cv, evaluate_actor_cv_many
from ._extract import extract_stateless_head
from ._fusion import fuse_posteriors, fuse_reports
from ._report import ActorCVReport, describe_protocol
from ._reproduce import (
    PAPER_TABLE1,
    PAPER_TABLE2,
    TABLE1_FEATURES,
    TABLE2_COLUMNS,
    TABLE2_ROWS,
    ReproduceSettings,
    reproduce_table1,
    reproduce_table2,
)
from ._split import (
    PAPER_ACTOR_FOLDS,
    ExcludeFromTest,
    RavdessActorFolds,
    check_no_group_overlap,
)

__all__ = [
    "PAPER_ACTOR_FOLDS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "TABLE1_FEATURES",
    "TABLE2_COLUMNS",
    "TABLE2_ROWS",
    "ActorCVReport",
    "ExcludeFromTest",
    "RavdessActorFolds",
    "ReproduceSettings",
    "check_no_group_overlap",
    "describe_protocol",
    "evaluate_actor_cv",
    "evaluate_actor_cv_many",
    "extract_stateless_head",
    "fuse_posteriors",
    "fuse_reports",
    "reproduce_table1",
    "reproduce_table2",
]
