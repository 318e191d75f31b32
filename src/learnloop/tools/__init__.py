"""Tools: choose the tool for an agent's goal by meaning, by outcomes, and optionally by LLM."""

from learnloop.tools.models import ToolCandidate, ToolSelection, ToolSelectRequest
from learnloop.tools.service import ToolSelector

__all__ = ["ToolCandidate", "ToolSelectRequest", "ToolSelection", "ToolSelector"]
