"""The request models read each field as the JSON type its schema names, and their schema
states the rules they check (learnloop.json_types, learnloop.schema_rules)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from learnloop.api import create_app
from learnloop.events.models import EventIn, FeedbackIn
from learnloop.schema_rules import NOT_BLANK, WHITESPACE
from learnloop.validation import Input

SPACES = [chr(n) for n in range(0x3001) if chr(n).isspace()]


class _Stripped(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    text: str


def test_the_not_blank_pattern_is_what_pydantic_leaves_once_it_strips() -> None:
    for char in SPACES:
        stripped = _Stripped(text=char).text == ""
        assert stripped == (char in WHITESPACE), hex(ord(char))
        assert stripped == (re.search(NOT_BLANK, char) is None), hex(ord(char))


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        ({"type": "viewed", "session": "s", "rank": "2"}, "rank"),
        ({"type": "viewed", "session": "s", "rank": True}, "rank"),
        ({"type": "viewed", "session": "s", "rank": 2.5}, "rank"),
        ({"type": "viewed", "session": "s", "occurred_at": 1764000000}, "occurred_at"),
        ({"type": "viewed", "session": "s", "occurred_at": "1764000000"}, "occurred_at"),
    ],
)
def test_a_field_of_another_json_type_is_refused(data: dict[str, object], refused: str) -> None:
    with pytest.raises(ValidationError, match=refused):
        EventIn.model_validate(data)


def test_an_integer_with_a_point_is_an_integer_and_a_tiny_number_zero() -> None:
    event = EventIn.model_validate({"type": "viewed", "session": "s", "rank": 2.0})
    assert event.rank == 2 and type(event.rank) is int
    rating = FeedbackIn.model_validate({"response_id": "r", "kind": "stars", "value": 4.0})
    assert rating.value == 4
    with pytest.raises(ValidationError, match="rank"):  # 1e-40 is no integer, not even 0
        EventIn.model_validate({"type": "viewed", "session": "s", "rank": 1e-40})


def test_every_integer_number_and_boolean_field_of_a_request_model_is_strict() -> None:
    models = {model for model in _subclasses(Input) if model.__pydantic_complete__}
    assert len(models) > 40
    models -= {model for model in models if model.read_from_text}  # CSV rows, form fields
    for model in models:
        for name, field in model.model_fields.items():
            if field.annotation in (int, float, bool, int | None, float | None, bool | None):
                wrong = "true" if field.annotation in (int, float) else "1"
                if field.annotation in (bool, bool | None):
                    wrong = "yes"
                with pytest.raises(ValidationError) as refused:
                    model.model_validate({name: wrong})
                assert any(error["loc"][:1] == (name,) for error in refused.value.errors()), (
                    model.__name__,
                    name,
                )


def test_the_schema_bounds_every_number_and_every_non_blank_text() -> None:
    components = create_app().openapi()["components"]["schemas"]
    for name, schema in components.items():
        for field, prop in schema.get("properties", {}).items():
            for value in [prop, *prop.get("anyOf", [])]:
                if value.get("type") == "number" and name.endswith("In"):
                    assert {"minimum", "maximum"} <= set(value), (name, field)
                if value.get("type") == "string" and value.get("minLength", 0) >= 1:
                    if name.endswith("In") and "enum" not in value:
                        assert value.get("pattern"), (name, field)


def test_dates_are_iso_text() -> None:
    class Window(Input):
        since: date | None = None

    assert Window.model_validate({"since": "2026-11-23"}).since == date(2026, 11, 23)
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        Window.model_validate({"since": "0"})


def _subclasses(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in model.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
