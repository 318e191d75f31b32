"""One Markdown file as one item: front matter becomes attrs, the first heading the title."""

from __future__ import annotations

import re
from typing import Any

import yaml

from learnloop.errors import InvalidInput

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SECTION = re.compile(r"^#{2,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def parse_markdown(text: str, *, fallback_title: str) -> dict[str, Any]:
    """Title, body, tags and attrs of a Markdown document.

    >>> doc = parse_markdown("---\\ntitle: Disk full\\ntags: [disk]\\n---\\n# DiskFull\\n"
    ...                      "## Meaning\\nNo space left.", fallback_title="f")
    >>> doc["title"], doc["tags"], doc["attrs"]["sections"]
    ('Disk full', ['disk'], ['Meaning'])
    """
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match[1])
        except yaml.YAMLError as exc:
            raise InvalidInput(f"the front matter is not valid YAML: {exc}") from exc
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end() :]
    heading = _HEADING.search(text)
    title = str(meta.pop("title", "") or (heading[1] if heading else "") or fallback_title)
    tags = meta.pop("tags", []) or []
    attrs = {key: value for key, value in meta.items() if _is_json(value)}
    attrs["sections"] = _SECTION.findall(text)
    return {
        "title": title.strip(),
        "body": text.strip(),
        "tags": [str(tag) for tag in tags] if isinstance(tags, list) else [str(tags)],
        "attrs": attrs,
    }


def _is_json(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict) or value is None
