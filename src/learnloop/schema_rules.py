"""The rules every request model checks, written into its JSON schema where JSON Schema can
say them, so that /openapi.json states what the server accepts:

- text that must not be blank: the models strip it first, so ``minLength: 1`` alone would
  allow ``"  "``; the schema gives it a ``pattern`` too (``NOT_BLANK``: some character
  that is not whitespace);
- numbers: at most 1e18 in size (``HUGE``); a number below 1e-30 in size is read
  as 0 (``validation.storable``), so a field that must be above 0 takes at least 1e-30.

What JSON Schema cannot say (one field compared with another, a referenced id that must
exist) the API checks all the same, and docs/api.md ("Errors") lists.

>>> schema = {"properties": {"t": {"type": "string", "minLength": 1},
...                          "w": {"type": "number", "exclusiveMinimum": 0}}}
>>> state(schema)
>>> schema["properties"]["w"]
{'type': 'number', 'minimum': 1e-30, 'maximum': 1e+18}
"""

from __future__ import annotations

from typing import Any

# The largest a number may be in size: JSON stored in PostgreSQL reads back a float of 1e20
# as the integer 100000000000000000000, beyond a bigint, so no number is taken beyond one.
HUGE = 1e18
TINY = 1e-30  # below this in size a number is read as 0
# What pydantic strips from text (Python's str.isspace but \x1c-\x1f), and a character
# that is none of it, spelled out: regex engines do not agree on \s.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
NOT_BLANK = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def state(schema: dict[str, Any], model: type | None = None) -> None:
    """Add the rules to the schema of one model (its ``json_schema_extra``), and those the
    model writes itself in ``json_schema_rules`` (one field against another, say)."""
    for prop in schema.get("properties", {}).values():
        _state_value(prop)
    schema.update(getattr(model, "json_schema_rules", {}))


def _state_value(value: dict[str, Any]) -> None:
    for branch in value.get("anyOf", ()):
        _state_value(branch)
    if isinstance(value.get("items"), dict):
        _state_value(value["items"])
    kind = value.get("type")
    if kind == "string":
        if value.get("minLength", 0) >= 1 and not {"pattern", "enum", "const"} & set(value):
            value["pattern"] = NOT_BLANK
    elif kind == "number":
        _bound_number(value)


def _bound_number(value: dict[str, Any]) -> None:
    if value.get("exclusiveMinimum") == 0:
        del value["exclusiveMinimum"]
        value["minimum"] = TINY
    if "minimum" not in value and "exclusiveMinimum" not in value:
        value["minimum"] = -HUGE
    if "maximum" not in value and "exclusiveMaximum" not in value:
        value["maximum"] = HUGE
