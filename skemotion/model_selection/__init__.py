"""Actor-grouped cross-validation for speaker-independent evaluation."""

from ._evaluate import (
    ActorCVReport,
    describe_protocol,
    evaluate_actor_cv,
    evaluate_actor_cv_many,
)
from ._fusion import fuse_posteriors, fuse_reports
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
    "describe_protocol",
    "evaluate_actor_cv",
    "evaluate_actor_cv_many",
    "fuse_posteriors",
    "fuse_reports",
]
