"""Events, feedback and corrections: what happened after an impression, kept append-only."""

from learnloop.events.conversations import Conversations
from learnloop.events.conversations_models import (
    Conversation,
    ConversationIn,
    Message,
    MessageIn,
    Transcript,
    TranscriptIn,
)
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
from learnloop.events.spans import Span, SpanEvent
from learnloop.events.traces import Intake, Traces
from learnloop.events.tracking import Tracking
from learnloop.events.tracking_models import (
    Execution,
    ExecutionIn,
    Outcome,
    Report,
    ReportIn,
    ToolCall,
    ToolCallIn,
    ToolCreation,
    ToolCreationIn,
)

__all__ = [
    "Conversation",
    "ConversationIn",
    "Conversations",
    "Correction",
    "CorrectionIn",
    "EventIn",
    "EventResult",
    "Events",
    "Execution",
    "ExecutionIn",
    "Feedback",
    "FeedbackIn",
    "Feedbacks",
    "Intake",
    "Message",
    "MessageIn",
    "Outcome",
    "Report",
    "ReportIn",
    "Span",
    "SpanEvent",
    "ToolCall",
    "ToolCallIn",
    "ToolCreation",
    "ToolCreationIn",
    "Traces",
    "Tracking",
    "Transcript",
    "TranscriptIn",
]
