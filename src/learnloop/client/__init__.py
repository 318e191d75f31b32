"""The Python SDK: ``learnloop.Client`` over HTTP, or ``Client.local`` in-process."""

from learnloop.client.client import Client
from learnloop.client.execution import ExecutionRecorder, ToolCallTimer

__all__ = ["Client", "ExecutionRecorder", "ToolCallTimer"]
