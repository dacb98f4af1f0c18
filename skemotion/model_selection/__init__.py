"""Actor-grouped cross-validation for speaker-independent evaluation."""

from ._evaluate import default_actor_cv, evaluate_actor_cv, evaluate_actor_cv_many
from ._extract import extract_stateless_head
from ._fusion import fuse_posteriors, fuse_reports
from ._report import ActorCVReport, describe_protocol
from ._split import (
    PAPER_ACTOR_FOLDS,
    ExcludeFromTest,
    RavdessActorFolds,
    check_no_group_overlap,
)

__all__ = [
    "PAPER_ACTOR_FOLDS",
    "ActorCVReport",
    "ExcludeFromTest",
    "RavdessActorFolds",
    "check_no_group_overlap",
    "default_actor_cv",
    "describe_protocol",
    "evaluate_actor_cv",
    "evaluate_actor_cv_many",
    "extract_stateless_head",
    "fuse_posteriors",
    "fuse_reports",
]
