"""Events, feedback and corrections: what happened after an impression, kept append-only."""

from learnloop.events.feedback import Feedbacks
from learnloop.events.models import (
    Correction,
    CorrectionIn,
    EventIn,
    EventResult,
    Feedback,
    FeedbackIn,
)
from learnloop.events.service import Events

__all__ = [
    "Correction",
    "CorrectionIn",
    "EventIn",
    "EventResult",
    "Events",
    "Feedback",
    "FeedbackIn",
    "Feedbacks",
]
