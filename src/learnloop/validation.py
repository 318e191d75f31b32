"""Turning validation failures into one message that says what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError


def describe(exc: ValidationError) -> str:
    """'field: problem; other: problem' for every error pydantic found."""
    return describe_errors(exc.errors())


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """Format pydantic-style error dicts (loc, msg, input).

    >>> describe_errors([{"loc": ("body", "title"), "msg": "Field required"}])
    'title: Field required'
    """
    parts = []
    for error in errors:
        where = _location(error.get("loc", ()))
        message = str(error.get("msg", "is not valid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def _location(loc: Sequence[Any]) -> str:
    trimmed = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(trimmed)
