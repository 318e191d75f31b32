"""The Python SDK: ``learnloop.Client`` (and ``AsyncClient``) over HTTP, or in-process."""

from learnloop.client.async_client import AsyncClient
from learnloop.client.client import Client
from learnloop.client.execution import ExecutionRecorder, ToolCallTimer

__all__ = ["AsyncClient", "Client", "ExecutionRecorder", "ToolCallTimer"]
