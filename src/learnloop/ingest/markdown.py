"""A Markdown file as one runbook or playbook item, its structure kept in attrs.

The kind is the one asked for, else the front matter's ``kind``, else playbook when the
path or the first lines say so, else runbook.

Front matter (YAML between --- lines) becomes attrs (``title``, ``tags``, ``kind`` and
``id`` are used as such); headings are read by markdown-it-py, so a '#' inside a code
block is not taken for one. The first level-1 heading is the title; the level-2+
headings are the sections.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from markdown_it import MarkdownIt

from learnloop.knowledge.markdown import parse_markdown

RUNBOOK_SECTIONS = {
    "meaning",
    "impact",
    "diagnosis",
    "mitigation",
    "steps",
    "procedure",
    "resolution",
    "remediation",
    "symptoms",
    "overview",
    "escalation",
}
_MD = MarkdownIt("commonmark")


def headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of every heading, in order.

    >>> headings("# T\\n```\\n# not a heading\\n```\\n## Impact\\n")
    [(1, 'T'), (2, 'Impact')]
    """
    tokens = _MD.parse(text)
    return [
        (int(tok.tag[1:]), tokens[n + 1].content.strip())
        for n, tok in enumerate(tokens)
        if tok.type == "heading_open"
    ]


def markdown_item(text: str, path: str, kind: str | None = None) -> tuple[dict[str, Any], float]:
    """The item for one Markdown file, and how sure its kind is (0..1)."""
    stem = PurePosixPath(path).stem
    doc = parse_markdown(text, fallback_title=stem)
    attrs: dict[str, Any] = doc["attrs"]
    found = headings(doc["body"])
    titles = [h for level, h in found if level == 1]
    if titles and not _front_title(text):
        doc["title"] = titles[0]
    attrs["sections"] = [h for level, h in found if level >= 2]
    attrs["source"] = path
    named = str(attrs.pop("kind", "") or "")
    external_id = str(attrs.pop("id", "") or path)
    says_playbook = "playbook" in path.lower() or "playbook" in doc["body"][:1000].lower()
    chosen = kind or named or ("playbook" if says_playbook else "runbook")
    known = sum(s.lower() in RUNBOOK_SECTIONS for s in attrs["sections"])
    confidence = 1.0 if kind or named else min(1.0, 0.6 + 0.1 * known)
    item = {
        "kind": chosen,
        "title": doc["title"][:500] or stem,
        "body": doc["body"],
        "tags": doc["tags"],
        "attrs": attrs,
        "external_id": external_id[:300],
    }
    return item, confidence


def _front_title(text: str) -> bool:
    if not text.startswith("---"):
        return False
    head = text[3:].split("\n---", 1)[0]
    return any(line.startswith("title:") for line in head.splitlines())
