"""Turning validation failures into one message that says what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from learnloop.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: M | Mapping[str, Any], where: str = "") -> M:
    """``data`` as a ``model``; InvalidInput, prefixed with ``where``, names what to fix."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(where + describe(exc)) from exc


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
