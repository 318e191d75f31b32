"""A file's bytes to its tables, as the caller's options say (which sheet, which rows), and
each table's part of the import report: where it was found and how its rows are titled.

Gzip is unpacked first; ``sheet`` (or a range's ``Sheet!``) picks one sheet of a
workbook; ``header_row``, ``skip`` and ``range`` place the table in every sheet read.
"""

from __future__ import annotations

from learnloop.errors import InvalidInput
from learnloop.ingest.detect import Detection
from learnloop.ingest.models import ImportOptions, SheetReport
from learnloop.ingest.ranges import parse_range
from learnloop.ingest.readers import Sheet, Source, read, unpack
from learnloop.ingest.tables import Layout, Table, to_table
from learnloop.ingest.titles import Titles, choose


def read_tables(data: bytes, file_name: str, opts: ImportOptions) -> tuple[Source, list[Table]]:
    """The file's source (format, encoding, ...) and its tables."""
    data, file_name = unpack(data, file_name)
    source = read(data, file_name)
    cells = parse_range(opts.range) if opts.range else None
    wanted = opts.sheet or (cells.sheet.strip("'") if cells and cells.sheet else None)
    sheets = pick_sheet(source, wanted, file_name) if wanted else source.sheets
    layout = Layout(opts.header_row, opts.skip, cells)
    return source, [to_table(sheet, layout) for sheet in sheets]


def pick_sheet(source: Source, wanted: str, file_name: str) -> list[Sheet]:
    """The sheet named ``wanted`` (or at position ``wanted``, from 1)."""
    names = [s.name for s in source.sheets]
    if source.format not in ("xlsx", "xlsm", "xls", "ods", "spreadsheet"):
        raise InvalidInput(
            f"sheet {wanted!r}: {file_name} is {source.format}, one table "
            "without sheets; leave sheet out"
        )
    for sheet in source.sheets:
        if sheet.name == wanted:
            return [sheet]
    if wanted.isdigit() and 1 <= int(wanted) <= len(names):
        return [source.sheets[int(wanted) - 1]]
    raise InvalidInput(
        f"sheet {wanted!r}: {file_name} has no such sheet; its sheets: "
        f"{', '.join(names) or '(none)'}"
    )


def describe(table: Table) -> str:
    """'header row 3 (why), rows 4-120, stopped at row 121: a blank row, then a note'."""
    rows = table.header_rows
    if not rows:
        head = f"no header row ({table.header_reason})"
    elif len(rows) == 1:
        head = f"header row {rows[0]} ({table.header_reason})"
    else:
        head = f"header rows {rows[0]}-{rows[-1]} merged ({table.header_reason})"
    body = f"rows {table.numbers[0]}-{table.numbers[-1]}" if table.numbers else "no data rows"
    end = (
        f"stopped at row {table.stopped_at}: {table.stop_reason}"
        if table.stopped_at is not None
        else "to the end of the sheet"
    )
    dropped = f"; dropped {', '.join(table.dropped)}" if table.dropped else ""
    return f"{head}, {body}, {end}{dropped}"


def titles_for(table: Table, detection: Detection | None, opts: ImportOptions) -> Titles | None:
    """How a generic table's rows are titled (other kinds title rows by their own field)."""
    if detection is None or detection.kind != "document":
        return None
    try:
        return choose(
            table.header,
            table.rows,
            column=opts.title_column,
            template=opts.title_template,
            mapped=detection.columns.get("title"),
        )
    except InvalidInput as exc:
        raise InvalidInput(f"{table.name}: {exc.message}") from exc


def sheet_report(
    table: Table, detection: Detection | None, note: str | None, titles: Titles | None
) -> SheetReport:
    column = titles.column if titles else None
    return SheetReport(
        name=table.name,
        kind=detection.kind if detection else "empty",
        confidence=detection.confidence if detection else 0.0,
        header_row=table.header_row,
        header_rows=table.header_rows,
        columns=table.header,
        mapping=detection.columns if detection else {},
        rows=len(table.rows),
        first_row=table.numbers[0] if table.numbers else None,
        last_row=table.numbers[-1] if table.numbers else None,
        stopped_at=table.stopped_at,
        table=describe(table),
        title=titles.reason if titles else None,
        title_column=None if column is None else table.header[column],
        note=note,
    )
