"""Tables as people write them: title and note rows, headers over several rows, notes and
totals under the table, titles for wide tables, and the caller's corrections (header row,
skip, range, sheet, title column or template), gzip and standard input.

Each file is written here (csv, or xlsx by openpyxl) to tmp_path and imported into the real
embedded PostgreSQL through ``ll.imports``, the HTTP API or the CLI; what is stored is read
back from the database.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from learnloop.cli.main import app as cli_app
from learnloop.errors import InvalidInput
from learnloop.ingest.cells import cell, is_blank
from learnloop.ingest.readers import Sheet
from learnloop.ingest.tables import to_table
from learnloop.service import LearnLoop

NOTE_ABOVE = [
    ["Quarterly export", None, None, None, None, None],
    ["Prepared by", "finance", "on", "2024-03-31", "v2", None],  # 5 of 6 cells: a note
    [None] * 6,
    ["Region", "Name", "Revenue", "Date", "Units", "Code"],
    ["North", "Acme", "1,200", "2024-01-02", "3", "N1"],
    ["South", "Globex", "900", "2024-01-05", "5", "S1"],
    ["East", "Initech", "1,050", "2024-02-01", "4", "E1"],
    ["Total", None, "3,150", None, "12", None],
    [None] * 6,
    ["Source: the finance ledger, March 2024", None, None, None, None, None],
    ["* figures are provisional", None, None, None, None, None],
]


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([["" if v is None else v for v in row] for row in rows])
    return path


def write_xlsx(
    path: Path, sheets: dict[str, list[list[Any]]], merged: dict[str, list[str]] | None = None
) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for cells in (merged or {}).get(name, []):
            sheet.merge_cells(cells)
    book.save(path)
    return path


def items_by_row(ll: LearnLoop, tenant: str) -> dict[int, Any]:
    items, _ = ll.items.list(tenant, limit=500)
    return {item.attrs["row"]: item for item in items}


def test_note_row_above_and_totals_and_notes_below_are_not_items(
    ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "sales.csv", NOTE_ABOVE)
    report = ll.imports.import_file(tenant, path.read_bytes(), path.name)
    (sheet,) = report.sheets
    assert (sheet.header_row, sheet.columns) == (
        4,
        ["Region", "Name", "Revenue", "Date", "Units", "Code"],
    )
    assert (sheet.rows, sheet.first_row, sheet.last_row, sheet.stopped_at) == (3, 5, 7, 8)
    assert sheet.table.startswith("header row 4 (text over 3 columns of numbers or dates")
    assert "rows 1-2 above it skipped (titles and notes)" in sheet.table
    assert "stopped at row 8: a totals row ('Total'), then a blank row, then a note" in sheet.table
    stored = items_by_row(ll, tenant)
    assert sorted(stored) == [5, 6, 7]
    assert {i.title for i in stored.values()} == {"Acme", "Globex", "Initech"}  # 'Name'
    assert stored[5].attrs["values"] == {
        "Region": "North",
        "Name": "Acme",
        "Revenue": "1,200",
        "Date": "2024-01-02",
        "Units": "3",
        "Code": "N1",
    }
    again = ll.imports.get(tenant, report.import_id or 0)  # the evidence is recorded
    assert again.sheets[0].table == sheet.table
    tight = write_csv(tmp_path / "tight.csv", NOTE_ABOVE[1:2] + NOTE_ABOVE[3:])  # no blank row
    (close,) = ll.imports.import_file(tenant, tight.read_bytes(), tight.name).sheets
    assert (close.header_rows, close.columns[0], close.rows) == ([2], "Region", 3)
    assert "row 1 above it skipped" in close.table


def test_header_over_two_rows_is_merged(ll: LearnLoop, tenant: str, tmp_path: Path) -> None:
    rows = [
        ["Name", "Height", "Weight", "Born"],
        ["(at birth)", "(cm)", "(kg)", None],
        ["Ada Lovelace", "51", "3.1", "1815"],
        ["Alan Turing", "53", "3.4", "1912"],
        ["Grace Hopper", "50", "2.9", "1906"],
    ]
    path = write_csv(tmp_path / "people.csv", rows)
    report = ll.imports.import_file(tenant, path.read_bytes(), path.name)
    (sheet,) = report.sheets
    assert sheet.header_rows == [1, 2] and sheet.rows == 3
    assert sheet.columns == ["Name (at birth)", "Height (cm)", "Weight (kg)", "Born"]
    assert sheet.table.startswith("header rows 1-2 merged")
    titles = {i.title for i in items_by_row(ll, tenant).values()}
    assert titles == {"Ada Lovelace", "Alan Turing", "Grace Hopper"}  # '(at birth)' no item


def test_merged_group_cells_span_the_columns_under_them(
    ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    rows = [
        ["Sales by quarter", None, None, None, None],
        [None, "2023", None, "2024", None],
        ["Region", "Q1", "Q2", "Q1", "Q2"],
        ["North", 10, 12, 14, 15],
        ["South", 7, 8, 9, 11],
    ]
    path = write_xlsx(tmp_path / "q.xlsx", {"Sales": rows}, {"Sales": ["B2:C2", "D2:E2"]})
    report = ll.imports.import_file(tenant, path.read_bytes(), path.name)
    (sheet,) = report.sheets
    assert sheet.header_rows == [2, 3]
    assert sheet.columns == ["Region", "2023 Q1", "2023 Q2", "2024 Q1", "2024 Q2"]
    north = items_by_row(ll, tenant)[4]
    assert north.title == "North" and north.attrs["values"]["2024 Q2"] == 15


def test_a_code_column_never_titles_a_wide_table(
    ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    header = ["KS", "Kreis", "Year", *(f"m{n}" for n in range(1, 13))]
    rows = [header] + [
        ["KS", f"Landkreis {n:04d}", 2000 + n % 20, *range(n, n + 12)] for n in range(1575)
    ]
    path = write_csv(tmp_path / "wide.csv", rows)
    report = ll.imports.import_file(tenant, path.read_bytes(), path.name)
    assert report.counts.created == 1575
    assert report.sheets[0].title_column == "Kreis"
    items, _ = ll.items.list(tenant, limit=500)
    assert not any(i.title == "KS" for i in items)
    assert len({i.title for i in items}) == len(items)
    templated = ll.imports.import_file(
        tenant, path.read_bytes(), path.name, {"title_template": "{Kreis} ({Year})"}
    )
    assert templated.counts.updated == 1575
    assert templated.sheets[0].title == "the template '{Kreis} ({Year})'"
    first, _ = ll.items.list(tenant, external_id="wide.csv#row2")
    assert first[0].title == "Landkreis 0000 (2000)"
    by_column = ll.imports.import_file(
        tenant, path.read_bytes(), path.name, {"title_column": "Year"}
    )
    assert by_column.sheets[0].title_column == "Year"
    first, _ = ll.items.list(tenant, external_id="wide.csv#row2")
    assert first[0].title == "2000"


def test_another_table_after_blank_rows_and_repeated_headers(
    ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    rows = [
        ["Item", "Price", "Stock"],
        ["Pen", "1.50", "10"],
        ["Item", "Price", "Stock"],  # printed again, as on every page
        ["Ink", "4.00", "3"],
        ["Pad", "2.25", "7"],
        [None, None, None],
        [None, None, None],
        ["Supplier", "Since", "Orders"],
        ["Acme", "2019", "4"],
    ]
    path = write_csv(tmp_path / "two.csv", rows)
    (sheet,) = ll.imports.import_file(tenant, path.read_bytes(), path.name).sheets
    assert (sheet.header_row, sheet.rows, sheet.stopped_at) == (1, 3, 6)
    assert "a blank row, then another header or table ('Supplier')" in sheet.table
    assert "dropped row 3: the header again" in sheet.table
    assert sorted(items_by_row(ll, tenant)) == [2, 4, 5]


def test_header_row_skip_and_range_overrides(ll: LearnLoop, tenant: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.csv", NOTE_ABOVE)
    data = path.read_bytes()
    asked = ll.imports.import_file(
        tenant, data, path.name, {"header_row": 2, "skip_bad_rows": True}
    )
    assert asked.sheets[0].columns[:3] == ["Prepared by", "finance", "on"]
    assert asked.sheets[0].table.startswith("header row 2 (as asked)")
    none = ll.imports.import_file(tenant, data, "plain.csv", {"header_row": 0, "skip": 4})
    assert none.sheets[0].columns[0] == "column_1" and none.sheets[0].first_row == 5
    ranged = ll.imports.import_file(tenant, data, "ranged.csv", {"range": "B4:C6"})
    sheet = ranged.sheets[0]
    assert (sheet.columns, sheet.rows, sheet.stopped_at) == (["Name", "Revenue"], 2, None)
    assert "the first row of the range B4:C6" in sheet.table
    skipped = ll.imports.import_file(tenant, data, "skipped.csv", {"skip": 3})
    assert skipped.sheets[0].header_row == 4 and skipped.sheets[0].rows == 3
    with pytest.raises(InvalidInput, match=re.escape("header_row 40: sales.csv has only 11 rows")):
        ll.imports.import_file(tenant, data, path.name, {"header_row": 40})
    with pytest.raises(InvalidInput, match=re.escape("skip 11: sales.csv has only 11 rows")):
        ll.imports.import_file(tenant, data, path.name, {"skip": 11})
    with pytest.raises(InvalidInput, match="header_row 2: that row is skipped"):
        ll.imports.import_file(tenant, data, path.name, {"header_row": 2, "skip": 3})
    with pytest.raises(InvalidInput, match="range: 'A1-F9': write it as A1:F200"):
        ll.imports.import_file(tenant, data, path.name, {"range": "A1-F9"})
    with pytest.raises(InvalidInput, match="title_column 'Nom': no such column; columns: "):
        ll.imports.import_file(tenant, data, path.name, {"title_column": "Nom"})
    with pytest.raises(InvalidInput, match=r"title_template '\{Nom\}': no column named Nom"):
        ll.imports.import_file(tenant, data, path.name, {"title_template": "{Nom}"})


def test_sheet_and_sheet_range_pick_one_sheet(ll: LearnLoop, tenant: str, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "book.xlsx",
        {
            "Notes": [["Read me first"]],
            "Data": [["Name", "Score"], ["Ada", 3], ["Alan", 4], ["Grace", 5]],
        },
    )
    data = path.read_bytes()
    report = ll.imports.import_file(tenant, data, path.name, {"sheet": "Data"})
    assert [s.name for s in report.sheets] == ["Data"] and report.counts.created == 3
    by_number = ll.imports.import_file(tenant, data, path.name, {"sheet": "2"})
    assert by_number.counts.unchanged == 3
    ranged = ll.imports.import_file(tenant, data, "book2.xlsx", {"range": "Data!A1:B3"})
    assert [(s.name, s.rows) for s in ranged.sheets] == [("Data", 2)]
    with pytest.raises(
        InvalidInput,
        match=re.escape("sheet 'Daten': book.xlsx has no such sheet; its sheets: Notes, Data"),
    ):
        ll.imports.import_file(tenant, data, path.name, {"sheet": "Daten"})
    with pytest.raises(InvalidInput, match="one table without sheets"):
        ll.imports.import_file(tenant, b"a,b\n1,2\n", "x.csv", {"sheet": "Data"})


def test_gzip_by_name_and_by_magic_bytes(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    packed = gzip.compress(b"question,answer\nWhy?,Because.\nHow?,Like this.\n")
    upload = api.post("/v1/imports", files={"file": ("faq.csv.gz", packed)})
    assert upload.status_code == 201, upload.text
    assert (upload.json()["kind"], upload.json()["counts"]["created"]) == ("faq", 2)
    raw = api.post("/v1/imports?filename=faq-export", content=packed)  # no .gz: magic bytes
    assert raw.status_code == 201 and raw.json()["counts"]["unchanged"] == 2
    note = gzip.compress(b"# Disk full\n\n## Mitigation\nClean up.\n")
    markdown = api.post("/v1/imports", files={"file": ("disk.md.gz", note)})
    assert markdown.status_code == 201 and markdown.json()["kind"] == "runbook"
    cut = api.post("/v1/imports?filename=faq.csv.gz", content=packed[:-12])
    assert cut.status_code == 422 and "cut short" in cut.json()["error"]["message"]
    titles = {i.title for i in ll.items.list(tenant)[0]}
    assert titles == {"Why?", "How?", "Disk full"}


def test_api_takes_the_overrides_as_query_and_form_fields(
    api: TestClient, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "sales.csv", NOTE_ABOVE).read_bytes()
    raw = api.post("/v1/imports?filename=sales.csv&header_row=4&title_column=Region", content=data)
    assert raw.status_code == 201, raw.text
    sheet = raw.json()["sheets"][0]
    assert (sheet["header_row"], sheet["title_column"], sheet["rows"]) == (4, "Region", 3)
    form = api.post(
        "/v1/imports",
        files={"file": ("s.csv", data)},
        data={"range": "A4:C8", "title_template": "{Region}: {Name}"},
    )
    assert form.status_code == 201, form.text
    assert form.json()["sheets"][0]["rows"] == 4  # literal: the totals row is in the range
    titles = {i.title for i in ll.items.list(tenant, limit=50)[0] if i.external_id[:5] == "s.csv"}
    assert titles == {"North: Acme", "South: Globex", "East: Initech", "Total:"}
    for query, field in (
        ("header_row=x", "header_row"),
        ("skip=-1", "skip"),
        ("range=Z9:A1", "range"),
        ("sheet=Data", "sheet"),
    ):
        bad = api.post(f"/v1/imports?filename=sales.csv&{query}", content=data)
        assert bad.status_code == 422, query
        assert (
            bad.json()["error"]["message"].startswith(field)
            or field in bad.json()["error"]["message"]
        ), bad.text


def test_cli_reads_stdin_and_gzip_files_with_the_overrides(
    database_url: str, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "300"}
    runner = CliRunner()
    text = io.StringIO()
    csv.writer(text).writerows([["" if v is None else v for v in r] for r in NOTE_ABOVE])
    piped = runner.invoke(
        cli_app,
        [
            "import",
            "-",
            "--name",
            "sales.csv",
            "--no-embed",
            "--title-template",
            "{Name} ({Region})",
        ],
        input=text.getvalue().encode(),
        env=env,
    )
    assert piped.exit_code == 0, piped.output
    assert "table: header row 4 (text over 3 columns" in piped.stdout
    assert "stopped at row 8: a totals row ('Total')" in piped.stdout
    assert "titles: the template '{Name} ({Region})'" in piped.stdout
    (acme,), _ = ll.items.list(tenant, external_id="sales.csv#row5")
    assert acme.title == "Acme (North)"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "faq.csv.gz").write_bytes(gzip.compress(b"question,answer\nWhy?,So.\n"))
    folder = runner.invoke(
        cli_app, ["import", str(tmp_path / "in"), "--no-embed", "--json"], env=env
    )
    assert folder.exit_code == 0, folder.output
    (report,) = json.loads(folder.stdout)
    assert (report["file_name"], report["kind"], report["counts"]["created"]) == (
        "faq.csv.gz",
        "faq",
        1,
    )
    bad = runner.invoke(
        cli_app,
        ["import", str(tmp_path / "in" / "faq.csv.gz"), "--no-embed", "--header-row", "9"],
        env=env,
    )
    assert bad.exit_code == 1 and "header_row 9: faq.csv has only 2 rows" in bad.output


CELLS = st.one_of(
    st.none(),
    st.sampled_from(["", "Total", "Source: x", "(kg)", "Name", "2019", "n/a", "*", "Notes:"]),
    st.integers(-1000, 3000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.lists(CELLS, max_size=7), max_size=25))
def test_any_sheet_gives_a_table_of_its_own_rows(rows: list[list[Any]]) -> None:
    table = to_table(Sheet("s", rows))
    raw = [[cell(v) for v in row] for row in rows]
    assert len(table.rows) == len(table.numbers) == len(table.widths)
    assert table.numbers == sorted(set(table.numbers))
    assert not set(table.numbers) & set(table.header_rows)
    for number, values in zip(table.numbers, table.rows, strict=True):
        assert any(not is_blank(v) for v in raw[number - 1])  # no blank row is data
        assert len(values) == len(table.header)
    if table.stopped_at is not None:
        assert all(n < table.stopped_at for n in table.numbers)
