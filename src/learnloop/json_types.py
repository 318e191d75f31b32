"""Each field of a request model read as the JSON type its schema names, as strict as the
schema: an integer field takes a JSON integer (``14`` or ``14.0``, which JSON Schema counts
as one), never the text ``"14"`` or ``true``; a number field a JSON number (an integer too),
never text; a boolean field only ``true`` or ``false``; a date or a date-time field text in
ISO 8601 (``2026-11-23``, ``2026-11-23T09:15:00Z``), never a number of seconds. pydantic's
lax mode would take all of these; its strict mode, set for a whole model, would refuse
``14.0`` and, from Python, the ISO text of dates and UUIDs that JSON can only send as text.

So ``make_strict`` makes pydantic strict for the integer, number and boolean fields of a
model (``validation.Input`` calls it for each), and ``read`` runs before pydantic on the
fields the model declares: it writes ``14.0`` as ``14``, and refuses, naming the field,
what pydantic would read too freely (dates, and the items of lists).

>>> from pydantic import BaseModel
>>> from datetime import date
>>> class Example(BaseModel):
...     k: int = 3
...     day: date | None = None
>>> read(Example, {"k": 14.0, "day": "2026-11-23"})
{'k': 14, 'day': '2026-11-23'}
>>> read(Example, {"day": "0"})
Traceback (most recent call last):
ValueError: day: Input should be a date as text, YYYY-MM-DD, not the text '0'
"""

from __future__ import annotations

import re
import types
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, Strict

Kind = Literal["int", "float", "bool", "date", "datetime"]
_KINDS: tuple[tuple[type, Kind], ...] = (
    (bool, "bool"), (int, "int"), (float, "float"), (datetime, "datetime"), (date, "date")
)  # fmt: skip
_WANTED: dict[Kind, str] = {
    "int": "Input should be an integer (a JSON number)",
    "float": "Input should be a number (a JSON number)",
    "bool": "Input should be true or false",
    "date": "Input should be a date as text, YYYY-MM-DD",
    "datetime": "Input should be a date and time as ISO 8601 text, such as 2026-11-23T09:15:00Z",
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_STORABLE_OFFSET = timedelta(hours=15, minutes=59)  # PostgreSQL's timestamptz
_typed: dict[type[BaseModel], dict[str, tuple[Kind, bool]]] = {}


def make_strict(model: type[BaseModel]) -> bool:
    """Make pydantic strict for the integer, number and boolean fields of ``model`` (not
    lists of them: ``read`` checks their items); True where a field changed, and the model
    must be rebuilt."""
    changed = False
    for field in model.model_fields.values():
        typed = _kind(field.annotation)
        if typed in (("int", False), ("float", False), ("bool", False)) and not any(
            isinstance(rule, Strict) for rule in field.metadata
        ):
            field.metadata.append(Strict())
            changed = True
    return changed


def read(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each typed field checked (and ``14.0`` read as ``14``): a copy where
    one changed, ``data`` itself otherwise."""
    fields = _typed.get(model)
    if fields is None:
        fields = _typed[model] = _typed_fields(model)
    changed: dict[str, Any] | None = None
    for key, (kind, many) in fields.items():
        value = data.get(key)
        if value is None:
            continue
        if many:
            if not isinstance(value, list):
                continue  # pydantic names what it wants
            items = [_as(kind, item, f"{key}.{n}", checked=False)
                     for n, item in enumerate(value)]  # fmt: skip
            new: Any = value if all(a is b for a, b in zip(items, value, strict=True)) else items
        else:
            new = _as(kind, value, key, checked=kind in ("int", "float", "bool"))
        if new is not value:
            changed = changed if changed is not None else dict(data)
            changed[key] = new
    return data if changed is None else changed


def settle(instance: BaseModel) -> None:
    """Its date-times whose UTC offset PostgreSQL cannot hold (beyond 15:59, which ISO 8601
    allows up to 23:59) as the same instant in UTC."""
    for name, (kind, many) in _typed.get(type(instance), {}).items():
        value = getattr(instance, name, None)
        if kind == "datetime" and not many and isinstance(value, datetime):
            offset = value.utcoffset()
            if offset is not None and abs(offset) > _STORABLE_OFFSET:
                instance.__dict__[name] = value.astimezone(UTC)


def _as(kind: Kind, value: Any, where: str, *, checked: bool = False) -> Any:
    """``value`` read as ``kind``; where pydantic's strict check will see it (``checked``)
    a wrong type is left to it, which names the field where it is."""
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        ok = checked or not isinstance(value, bool | str)
    elif kind == "float":
        ok = checked or not isinstance(value, bool | str)
    elif kind == "bool":
        ok = checked or isinstance(value, bool)
    elif kind == "date":
        ok = isinstance(value, date) or (isinstance(value, str) and bool(_DAY.fullmatch(value)))
    else:
        ok = isinstance(value, date) or (isinstance(value, str) and bool(_DAY.match(value)))
    if not ok:
        named = f"{where}: " if where else ""
        raise ValueError(f"{named}{_WANTED[kind]}, not {_shown(value)}")
    return value


def _day(value: Any) -> Any:
    return _as("date", value, "")


def _moment(value: Any) -> Any:
    return _as("datetime", value, "")


# For query parameters, whose text pydantic would read as a number of seconds ("0").
Day = Annotated[date, BeforeValidator(_day)]
Moment = Annotated[datetime, BeforeValidator(_moment)]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return repr(value)
    return f"a JSON {'object' if isinstance(value, dict) else 'array'}"


def _typed_fields(model: type[BaseModel]) -> dict[str, tuple[Kind, bool]]:
    """The fields of ``model`` of one of the kinds above (or a list of one), by the key the
    input names them with."""
    fields = {}
    for name, field in model.model_fields.items():
        typed = _kind(field.annotation)
        if typed is not None:
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            fields[alias or field.alias or name] = typed
    return fields


def _kind(annotation: Any) -> tuple[Kind, bool] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) != 1:
            return None  # str | int and the like: pydantic's union decides
        annotation = args[0]
    many = get_origin(annotation) is list
    if many:
        (annotation,) = get_args(annotation) or (Any,)
    for python, kind in _KINDS:
        if annotation is python:
            return kind, many
    return None
