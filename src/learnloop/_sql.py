"""Named SQL queries, written as SQL in .sql files and loaded once.

A file holds blocks that each start with a ``-- name: NAME`` line:

    -- name: get_item
    SELECT * FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s;
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString, cast

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, LiteralString]:
    """Split a .sql text into its named blocks.

    >>> parse_queries("-- name: one\\nSELECT 1;\\n-- name: two\\nSELECT 2;\\n")
    {'one': 'SELECT 1;', 'two': 'SELECT 2;'}
    """
    parts = _NAME.split(text)
    names, bodies = parts[1::2], parts[2::2]
    pairs = zip(names, bodies, strict=True)
    return {name: cast(LiteralString, body.strip()) for name, body in pairs}


@cache
def load_queries(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    """The named queries of ``package/filename``, read once per process."""
    return parse_queries(resources.files(package).joinpath(filename).read_text("utf-8"))
