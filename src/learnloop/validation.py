"""Turning validation failures into one message that says what to fix."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

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


def refuse_nul(value: Any, where: str = "") -> None:
    """PostgreSQL text and jsonb cannot hold U+0000, nor jsonb Infinity or NaN: refuse them
    with the input, not at insert. The error names ``where`` it was (the field's dotted path)."""
    named = f"{where}: " if where else ""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{named}text must not contain the NUL character (\\u0000)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{named}numbers must be finite, not {value}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            refuse_nul(key, where)
            refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            refuse_nul(item, f"{where}.{n}" if where else str(n))


class Input(BaseModel):
    """The base of every request model: unknown fields refused, text stripped, and nothing
    PostgreSQL cannot store (the NUL character) let through to the database."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        refuse_nul(data)
        return data


def describe(exc: ValidationError) -> str:
    """'field: problem; other: problem' for every error pydantic found."""
    return describe_errors(exc.errors())


def describe_errors(errors: Iterable[Mapping[str, Any]], *, request: bool = False) -> str:
    """Format pydantic-style error dicts (loc, msg, input).

    >>> describe_errors([{"loc": ("body", "title"), "msg": "Field required"}], request=True)
    'title: Field required'
    """
    parts = []
    for error in errors:
        where = _location(error.get("loc", ()), request=request)
        if request and tuple(error.get("loc", ())) == ("body",) and error.get("type") in (
            "missing", "dict_type", "model_attributes_type"
        ):
            where = "the request body"  # missing, or not a JSON object
        message = str(error.get("msg", "is not valid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def _location(loc: Sequence[Any], *, request: bool = False) -> str:
    """The field's dotted path; a request error's loc starts with where it was (body, ...)."""
    parts = list(loc)
    if request and parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(part) for part in parts)
