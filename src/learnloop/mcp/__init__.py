"""learnloop as an MCP server (``learnloop mcp``): tools and item resources for agents."""

from learnloop.mcp.server import build_server

__all__ = ["build_server"]
