"""Named SQL queries, written as SQL in .sql files and loaded once.

A file holds blocks that each start with a ``-- name: NAME`` line:

    -- name: get_item
    SELECT * FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s;

A line ``-- include: NAME`` stands for the block NAME of the same file, so queries that share
a part (two searches with one keyword side) write it once. A block whose name starts with
``_`` is such a part only, not a query of its own.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"^--\s*include:\s*(\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, LiteralString]:
    """Split a .sql text into its named blocks.

    >>> parse_queries("-- name: one\\nSELECT 1;\\n-- name: two\\nSELECT 2;\\n")
    {'one': 'SELECT 1;', 'two': 'SELECT 2;'}
    >>> parse_queries("-- name: _cols\\na, b\\n-- name: q\\nSELECT\\n-- include: _cols\\nFROM t;")
    {'q': 'SELECT\\na, b\\nFROM t;'}
    """
    parts = _NAME.split(text)
    names, bodies = parts[1::2], parts[2::2]
    blocks = {name: body.strip() for name, body in zip(names, bodies, strict=True)}

    def included(match: re.Match[str]) -> str:
        if match[1] not in blocks:
            raise KeyError(f"-- include: {match[1]}: no block of that name in the file")
        return blocks[match[1]]

    queries = {name: _INCLUDE.sub(included, body) for name, body in blocks.items()}
    return {name: query for name, query in queries.items() if not name.startswith("_")}


@cache
def load_queries(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    """The named queries of ``package/filename``, read once per process."""
    return parse_queries(resources.files(package).joinpath(filename).read_text("utf-8"))
