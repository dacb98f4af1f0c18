"""Actor-grouped cross-validation for speaker-independent evaluation."""

from ._split import PAPER_ACTOR_FOLDS, RavdessActorFolds, check_no_group_overlap

__all__ = [
    "PAPER_ACTOR_FOLDS",
    "RavdessActorFolds",
    "check_no_group_overlap",
]
from ._evaluate import ActorCVReport, evaluate_actor_cv

__all__ += ["ActorCVReport", "evaluate_actor_cv"]
