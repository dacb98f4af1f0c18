"""Actor-grouped cross-validation for speaker-independent evaluation."""

from ._split import PAPER_ACTOR_FOLDS, RavdessActorFolds, check_no_group_overlap

__all__ = [
    "PAPER_ACTOR_FOLDS",
    "RavdessActorFolds",
    "check_no_group_overlap",
]
