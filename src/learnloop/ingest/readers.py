"""Reading a file's bytes into raw tables (rows of cells) or Markdown text.

Spreadsheets (.xlsx, .xlsm, .xls, .ods) are read by python-calamine; the encoding of text
is found by charset-normalizer; the delimiter by the standard library's csv.Sniffer,
checked against how evenly each candidate splits the rows. Gzip-compressed files
(``.csv.gz``, or any file starting with gzip's magic bytes) are unpacked first.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import charset_normalizer
import python_calamine

from learnloop.errors import InvalidInput

SPREADSHEETS = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls", ".ods": "ods"}
DELIMITED = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".psv": "psv",
    ".ssv": "csv",
    ".txt": "csv",
}
JSONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MARKDOWN = {".md": "markdown", ".markdown": "markdown"}
SUPPORTED = sorted({**SPREADSHEETS, **DELIMITED, **JSONS, **MARKDOWN})
DELIMITERS = ",;\t|"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
GZIP = b"\x1f\x8b"
MAX_UNPACKED = 256 * 1024 * 1024  # bytes a compressed file may unpack to


@dataclass
class Sheet:
    """One table as read: its name (a sheet's name, or the file's) and its rows of cells."""

    name: str
    rows: list[list[Any]]
    fixed_header: bool = False  # the first row is the header as read (JSON keys)


@dataclass
class Source:
    """What a file turned out to hold."""

    format: str
    sheets: list[Sheet] = field(default_factory=list)
    text: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


def read(data: bytes, file_name: str) -> Source:
    """The tables (or Markdown text) in ``data``; InvalidInput says why a file cannot be read."""
    if not data.strip():
        raise InvalidInput(f"{file_name}: the file is empty")
    suffix = PurePath(file_name).suffix.lower()
    if suffix in SPREADSHEETS or data.startswith((_ZIP, _OLE)):
        return _spreadsheet(data, file_name, SPREADSHEETS.get(suffix, "spreadsheet"))
    text, encoding = decode(data, file_name)
    if suffix in MARKDOWN:
        return Source("markdown", text=text, encoding=encoding)
    if suffix in JSONS or (suffix not in DELIMITED and text.lstrip()[:1] in "[{"):
        fmt = JSONS.get(suffix) or ("json" if _is_json(text) else "jsonl")
        sheet = Sheet(file_name, _json_rows(text, file_name, fmt), fixed_header=True)
        return Source(fmt, [sheet], encoding=encoding)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    rows = list(reader)
    fmt = DELIMITED.get(suffix) or {"\t": "tsv", "|": "psv"}.get(delimiter, "csv")
    return Source(fmt, [Sheet(file_name, rows)], encoding=encoding, delimiter=delimiter)


def unpack(data: bytes, file_name: str) -> tuple[bytes, str]:
    """A gzip file's content and its name without ``.gz``; anything else as it is.

    >>> import gzip
    >>> unpack(gzip.compress(b"a,b"), "x.csv.gz")
    (b'a,b', 'x.csv')
    """
    if not data.startswith(GZIP):
        return data, file_name
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_UNPACKED)
        while inflater.unconsumed_tail == b"" and inflater.unused_data.startswith(GZIP):
            rest = inflater.unused_data  # a file of several gzip members, one after another
            inflater = zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest, MAX_UNPACKED - len(out))
    except zlib.error as exc:
        raise InvalidInput(
            f"{file_name}: starts like a gzip file but is not one ({exc}); "
            "send it unpacked or as a whole .gz file"
        ) from exc
    if inflater.unconsumed_tail or len(out) >= MAX_UNPACKED:
        raise InvalidInput(
            f"{file_name}: unpacks to more than {MAX_UNPACKED // 2**20} MiB; "
            "split it into smaller files"
        )
    if not inflater.eof:
        raise InvalidInput(f"{file_name}: the gzip file is cut short; send the whole file")
    name = file_name[:-3] if file_name.lower().endswith(".gz") else file_name
    return out, name


def decode(data: bytes, file_name: str) -> tuple[str, str]:
    """The text and its encoding: a BOM decides, then strict UTF-8, then charset-normalizer."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    f"{file_name}: starts with a {encoding} byte-order mark, "
                    f"but is not {encoding} text: {exc.reason}"
                ) from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise InvalidInput(
            f"{file_name}: the file is not text in any encoding found (binary?); expected one "
            f"of {', '.join(SUPPORTED)}"
        )
    return str(best), best.encoding


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines most evenly into more than one column."""
    sample = "\n".join(text[:50_000].splitlines()[:50])
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    scores = {d: _evenness(sample, d) for d in DELIMITERS}
    best = max(scores, key=lambda d: scores[d])
    return sniffed if scores[sniffed] >= scores[best] else best


def _evenness(sample: str, delimiter: str) -> float:
    """Rows with the most common cell count (over one cell), counted; 0 if nothing splits."""
    widths = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    split = [w for w in widths if w > 1]
    if not split:
        return 0.0
    mode = max(set(split), key=split.count)
    return split.count(mode) + 0.01 * mode


def _spreadsheet(data: bytes, file_name: str, fmt: str) -> Source:
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [
            Sheet(name, book.get_sheet_by_name(name).to_python(skip_empty_area=False))
            for name in book.sheet_names
        ]
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise InvalidInput(f"{file_name}: not a readable {fmt} workbook: {exc}") from exc
    return Source(fmt, sheets)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json_rows(text: str, file_name: str, fmt: str) -> list[list[Any]]:
    """Objects as a header row (the union of their keys, in order seen) and value rows."""
    records = _json_records(text, file_name, fmt)
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    header = list(columns)
    return [header, *([record.get(key) for key in header] for record in records)]


def _json_records(text: str, file_name: str, fmt: str) -> list[dict[str, Any]]:
    try:
        if fmt == "jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{file_name}: not valid {fmt.upper()}: {exc}") from exc
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput(
            f"{file_name}: expected a JSON array of objects (or one object per line); "
            "seen something else"
        )
    return data
