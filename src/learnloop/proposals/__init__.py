"""The learning queue: corrections and bad feedback become reviewed, deduplicated knowledge.

Proposals arise by themselves (database triggers on feedback, corrections, transcripts and
reports), are embedded and checked for duplicates (``embed_pending``), reviewed (``Proposals``),
applied in batches as new item versions (``apply_approved``) and can be rolled back.
Reviewers' decisions on duplicate pairs teach the tenant's duplicate threshold
(``Proposals.learn_duplicate_threshold``, see ``threshold``).
``refresh_views`` refreshes the learning metric views.
"""

from learnloop.proposals.apply import apply_approved
from learnloop.proposals.duplicates import DEFAULT_THRESHOLD, embed_pending
from learnloop.proposals.models import (
    AuditEntry,
    Duplicate,
    DuplicateDecision,
    LearningMetric,
    Proposal,
    ProposalEdit,
    ProposalIn,
    ResponsePerformance,
    Review,
)
from learnloop.proposals.service import Proposals, refresh_views
from learnloop.proposals.threshold import ThresholdFit

__all__ = [
    "DEFAULT_THRESHOLD",
    "AuditEntry",
    "Duplicate",
    "DuplicateDecision",
    "LearningMetric",
    "Proposal",
    "ProposalEdit",
    "ProposalIn",
    "Proposals",
    "ResponsePerformance",
    "Review",
    "ThresholdFit",
    "apply_approved",
    "embed_pending",
    "refresh_views",
]
