"""Turning validation failures into one message that says what to fix."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from learnloop import json_types, schema_rules
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


BIGINT = 2**63 - 1  # PostgreSQL's bigint; integer columns hold up to 2**31 - 1
INTEGER = 2**31 - 1
MAX_DEPTH = 32  # JSON nested deeper than this is refused (a parser's recursion stops there)
# The size a number may have: 0, or between these (schema_rules writes them in the schema).
TINY, HUGE = schema_rules.TINY, schema_rules.HUGE
# The largest id taken: the largest integer a double holds exactly with its neighbours, as
# JavaScript and schema tools read JSON numbers (a bigint column holds far more).
MAX_ID = 2**53 - 1
MAX_DURATION_MS = 366 * 24 * 3600 * 1000.0  # a year: the longest run or call recorded


def refuse_unstorable(value: Any, where: str = "", depth: int = 0) -> None:
    """Refuse with the input, not at insert or at a later read, what PostgreSQL or the
    analytics cannot hold: the NUL character and lone surrogates in text, Infinity and NaN,
    integers beyond bigint, numbers too large or too small (they overflow or underflow a
    column or a sum), JSON nested deeper than ``MAX_DEPTH``. The error names ``where`` it
    was (the field's dotted path).

    >>> refuse_unstorable({"a": [1, 1.1e-274]})
    Traceback (most recent call last):
    ValueError: a.1: numbers must be 0 or between 1e-30 and 1e+18 in size, not 1.1e-274
    """
    _walk(value, where, depth, flush=False)


def storable(value: Any) -> Any:
    """``value`` as ``refuse_unstorable`` lets it through, but with numbers smaller than
    ``TINY`` in size read as 0 (what they are to every computation here): only the
    containers holding one are copied.

    >>> storable({"a": [1, 1.1e-274], "b": "x"})
    {'a': [1, 0.0], 'b': 'x'}
    """
    return _walk(value, "", 0, flush=True)


def _walk(value: Any, where: str, depth: int, *, flush: bool) -> Any:
    named = f"{where}: " if where else ""
    if isinstance(value, str):
        _refuse_bad_text(value, named)
    elif isinstance(value, bool):
        return value
    elif isinstance(value, int):
        if not -BIGINT - 1 <= value <= BIGINT:
            raise ValueError(f"{named}integers must be between -2**63 and 2**63 - 1, not {value}")
    elif isinstance(value, float):
        if flush and value and abs(value) < TINY:
            return 0.0
        _refuse_bad_float(value, named)
    elif isinstance(value, Mapping | list | tuple):
        if depth >= MAX_DEPTH:
            top = ".".join(where.split(".")[:3]) + "..." if where else "the body"
            raise ValueError(f"{top}: JSON must not be nested more than {MAX_DEPTH} levels deep")
        return _walk_children(value, where, depth + 1, flush)
    return value


def _refuse_bad_text(value: str, named: str) -> None:
    if "\x00" in value:
        raise ValueError(f"{named}text must not contain the NUL character (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = f"\\u{ord(value[exc.start]):04x}"
            message = f"{named}text must be valid Unicode, not a lone surrogate ({bad})"
            raise ValueError(message) from None


def _refuse_bad_float(value: float, named: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{named}numbers must be finite, not {value}")
    if value and not TINY <= abs(value) <= HUGE:
        raise ValueError(
            f"{named}numbers must be 0 or between {TINY:g} and {HUGE:g} in size, not {value}"
        )


def _walk_children(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...],
                   where: str, depth: int, flush: bool) -> Any:  # fmt: skip
    """The container, or a copy of it where a number in it was read as 0."""
    if isinstance(value, Mapping):
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            _walk(key, where, depth, flush=False)
            read = _walk(item, f"{where}.{key}" if where else str(key), depth, flush=flush)
            if read is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = read
        return value if changed is None else changed
    items: list[Any] | None = None
    for n, item in enumerate(value):
        read = _walk(item, f"{where}.{n}" if where else str(n), depth, flush=flush)
        if read is not item:
            items = items if items is not None else list(value)
            items[n] = read
    return value if items is None else items


refuse_nul = refuse_unstorable  # its first name, when NUL was all it refused


class Input(BaseModel):
    """The base of every request model: unknown fields refused, text stripped, nothing
    PostgreSQL or the analytics cannot hold (``refuse_unstorable``) let through, and each
    field of the JSON type its schema names (``json_types``: no "5" for 5, no 1 for true),
    with the rules the schema can state written in it (``schema_rules``)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        allow_inf_nan=False,
        json_schema_extra=schema_rules.state,
    )

    # A model read from text (a CSV row, a form field, a query) takes "3" for 3: there text
    # is all there is. Its fields keep pydantic's lax reading.
    read_from_text: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.read_from_text and json_types.make_strict(cls):
            cls.model_rebuild(force=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if isinstance(data, dict) and not cls.read_from_text:  # before storable: 1e-40 in an
            # integer field is no 0
            data = json_types.read(cls, data)
        return storable(data)

    @model_validator(mode="after")
    def _settled(self) -> Self:
        json_types.settle(self)
        return self


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
        if (
            request
            and tuple(error.get("loc", ())) == ("body",)
            and error.get("type") in ("missing", "dict_type", "model_attributes_type")
        ):
            where = "the request body"  # missing, or not a JSON object
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def _location(loc: Sequence[Any], *, request: bool = False) -> str:
    """The field's dotted path; a request error's loc starts with where it was (body, ...)."""
    parts = list(loc)
    if request and parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(part) for part in parts)
