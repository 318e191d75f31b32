"""The one table of the API routes the SDK speaks: the sync and async clients build their
requests from it, and the in-process transport dispatches on it."""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    method: str
    path: str  # a template: "{id}" stands for one path segment

    def format(self, **args: str) -> str:
        from urllib.parse import quote

        return self.path.format(**{k: quote(v, safe="") for k, v in args.items()})


ITEMS = Route("POST", "/v1/items")
LIST_ITEMS = Route("GET", "/v1/items")
ITEM = Route("GET", "/v1/items/{item_id}")
SEARCH = Route("POST", "/v1/search")
RECOMMEND = Route("POST", "/v1/recommend")
EVENTS = Route("POST", "/v1/events")
FEEDBACK = Route("POST", "/v1/feedback")
CORRECTIONS = Route("POST", "/v1/corrections")
EXECUTIONS = Route("POST", "/v1/executions")
TOOL_CREATIONS = Route("POST", "/v1/tool-creations")
REPORT = Route("POST", "/v1/reports")
REPORTS = Route("GET", "/v1/reports")
MESSAGES = Route("POST", "/v1/conversations/{conversation_id}/messages")
TRANSCRIPTS = Route("POST", "/v1/transcripts")
CONTEXT = Route("POST", "/v1/context")
ANSWER = Route("POST", "/v1/answer")
SELECT_TOOL = Route("POST", "/v1/tools/select")
PLAYBOOKS = Route("POST", "/v1/playbooks/recommend")
