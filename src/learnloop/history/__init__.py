"""History import: an existing assistant's audit logs as impressions and events."""

from learnloop.history.models import (
    ChoiceIn,
    HistoryOptions,
    HistoryReport,
    LogEntryIn,
    RowError,
    SolutionIn,
)
from learnloop.history.service import History

__all__ = [
    "ChoiceIn",
    "History",
    "HistoryOptions",
    "HistoryReport",
    "LogEntryIn",
    "RowError",
    "SolutionIn",
]
