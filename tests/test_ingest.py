"""Importing files: formats, header finding, detection, mapping, validation, KPIs, health.

Every import runs on the real embedded PostgreSQL through ``ll.imports`` (or the HTTP API
and the CLI), and is checked against what the database then holds. The messy files and
runbooks are the real ones in ../shared/data; the KPI workbooks and CSV variants are
written here (openpyxl writes the xlsx files).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bench.tables_eval import check, expectations
from learnloop.cli.main import app as cli_app
from learnloop.errors import InvalidInput
from learnloop.ingest import ImportRejected
from learnloop.ingest.health import health_score, kpi_score
from learnloop.service import LearnLoop

from .conftest import shared_data

MESSY = "messy_tables/messytables_horror"  # under ../shared/data, read through shared_data
RUNBOOKS = "runbooks"

# What each messy file holds, read by eye: bench/data/messy_tables_expected.json (the
# benchmark bench/tables_eval.py reads the same file).
MESSY_EXPECTED: dict[str, dict[str, Any]] = expectations()


def count(ll: LearnLoop, tenant: str, table: str) -> int:
    queries = {
        "items": "SELECT count(*) AS n FROM items WHERE tenant_id = %(t)s",
        "accounts": "SELECT count(*) AS n FROM accounts WHERE tenant_id = %(t)s",
        "kpi_values": "SELECT count(*) AS n FROM kpi_values WHERE tenant_id = %(t)s",
        "versions": "SELECT count(*) AS n FROM item_versions WHERE tenant_id = %(t)s",
    }
    with ll.db.connection() as conn:
        row = conn.execute(queries[table], {"t": tenant}).fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row["n"])


def stored(ll: LearnLoop, tenant: str) -> tuple[int, int, int, int]:
    return tuple(count(ll, tenant, t) for t in ("items", "accounts", "kpi_values", "versions"))  # type: ignore[return-value]


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ----------------------------------------------------------------------- messy tables


def test_every_messy_file_is_listed() -> None:
    names = {p.name for p in shared_data(MESSY).iterdir() if p.suffix not in (".md", ".txt")}
    assert names == set(MESSY_EXPECTED)


def test_detection_finds_every_messy_table_or_a_clear_error() -> None:
    folder = shared_data(MESSY)
    missed = [
        o for name, want in MESSY_EXPECTED.items() if not (o := check(folder / name, want)).right
    ]
    assert [(o.name, o.header, o.rows, o.error) for o in missed] == []


@pytest.mark.parametrize("name", sorted(MESSY_EXPECTED))
def test_messy_file_imports_with_its_header_or_fails_clearly(
    ll: LearnLoop, tenant: str, name: str
) -> None:
    expected = MESSY_EXPECTED[name]
    data = shared_data(f"{MESSY}/{name}").read_bytes()
    if "error" in expected:
        with pytest.raises(InvalidInput) as caught:
            ll.imports.import_file(tenant, data, name)
        assert expected["error"] in caught.value.message
        assert name in caught.value.message
        assert stored(ll, tenant) == (0, 0, 0, 0)
        (failed,), _ = ll.imports.list(tenant)  # recorded, with the reason
        assert (failed.file_name, failed.status) == (name, "failed")
        assert expected["error"] in failed.errors[0].message
        return
    report = ll.imports.import_file(tenant, data, name)
    sheet = next(s for s in report.sheets if s.rows)
    header = (
        f"{sheet.header_rows[0]}-{sheet.header_rows[-1]}"
        if len(sheet.header_rows) > 1
        else str(sheet.header_row)
        if sheet.header_row
        else None
    )
    columns = expected["columns"]
    assert (header, sheet.columns[: len(columns)], sheet.rows) == (
        expected["header"],
        columns,
        expected["rows"],
    )
    assert report.kind == "document" and report.status == "succeeded"
    assert report.counts.created == expected["rows"] == count(ll, tenant, "items")
    assert sheet.first_row is not None and sheet.last_row is not None
    assert f"rows {sheet.first_row}-{sheet.last_row}" in sheet.table


def test_messy_encodings_and_delimiters_are_reported(ll: LearnLoop, tenant: str) -> None:
    found = {
        name: ll.imports.import_file(tenant, shared_data(f"{MESSY}/{name}").read_bytes(), name)
        for name in (
            "utf-16le_encoded.csv",
            "characters.csv",
            "simple.psv",
            "example.tsv",
            "simple.ssv",
            "mixedGLB.csv",
        )
    }
    assert found["utf-16le_encoded.csv"].encoding == "utf-16"
    assert found["characters.csv"].encoding == "big5"
    assert {n: r.delimiter for n, r in found.items() if n.startswith(("simple", "example"))} == {
        "simple.psv": "|",
        "example.tsv": "\t",
        "simple.ssv": ";",
    }
    items, _ = ll.items.list(tenant, external_id="characters.csv#v_1")  # from the id column
    assert items[0].title == "雲嘉南濱海國家風景區管理處"  # the name column, not the code
    glb, _ = ll.items.list(tenant, external_id="mixedGLB.csv#row5")  # CR-only line ends
    assert glb[0].attrs["values"]["Year"] == "1880" and glb[0].attrs["values"]["Jan"] == "-43"


def test_bad_rows_stop_the_import_or_are_skipped(ll: LearnLoop, tenant: str) -> None:
    name = "sparse_with_column_errors.csv"
    data = shared_data(f"{MESSY}/{name}").read_bytes()
    with pytest.raises(ImportRejected) as caught:
        ll.imports.import_file(tenant, data, name)
    rejected = caught.value.report
    assert rejected.status == "failed" and rejected.counts.bad_rows == 12
    assert [e.row for e in rejected.errors][:2] == [312, 313]
    assert stored(ll, tenant) == (0, 0, 0, 0)

    report = ll.imports.import_file(tenant, data, name, {"skip_bad_rows": True})
    assert report.status == "partial"
    assert report.counts.created == 2200 - 12 == count(ll, tenant, "items")
    assert len(report.errors) == 12
    history, _ = ll.imports.list(tenant)
    assert [(r.import_id, r.status) for r in history] == [
        (report.import_id, "partial"),
        (rejected.import_id, "failed"),
    ]
    assert ll.imports.get(tenant, rejected.import_id or 0).errors == rejected.errors


# ----------------------------------------------------------------------- runbooks


@pytest.mark.parametrize(
    ("folder", "kind"),
    [
        ("prometheus_operator", "runbook"),
        ("pagerduty_incident_response", "runbook"),
        ("aws_incident_response", "playbook"),
    ],
)
def test_runbook_folders_import_as_items(
    ll: LearnLoop, tenant: str, folder: str, kind: str
) -> None:
    root = shared_data(f"{RUNBOOKS}/{folder}")
    files = sorted(root.rglob("*.md"))
    docs = [(p.relative_to(root).as_posix(), p.read_bytes()) for p in files]
    report = ll.imports.import_markdown(tenant, docs)
    assert report.counts.created == len(files) == count(ll, tenant, "items")
    assert report.errors == [] and report.format == "markdown"
    items, _ = ll.items.list(tenant, limit=500)
    assert {i.external_id for i in items} == {path for path, _ in docs}
    assert sum(i.kind == kind for i in items) >= 0.7 * len(items)
    if folder == "prometheus_operator":
        disk = next(i for i in items if i.external_id == "node/NodeFilesystemSpaceFillingUp.md")
        assert disk.title == "Node Filesystem Space Filling Up"  # the front matter's title
        assert {"Meaning", "Impact", "Diagnosis", "Mitigation"} <= set(disk.attrs["sections"])
        assert report.kind == "runbook"
    again = ll.imports.import_markdown(tenant, docs)
    assert again.counts.unchanged == len(files) and again.counts.created == 0


def test_markdown_front_matter_and_headings_in_code(ll: LearnLoop, tenant: str) -> None:
    text = (
        "---\ntitle: Rotate keys\ntags: [security]\nkind: playbook\nowner: secops\n---\n"
        "# Ignored title\n\n## Steps\n\n```bash\n# not a heading\n```\n\n### Verify\n"
    )
    report = ll.imports.import_file(tenant, text.encode(), "rotate.md")
    assert (report.kind, report.confidence) == ("playbook", 1.0)
    (item,), _ = ll.items.list(tenant)
    assert (item.kind, item.title, item.tags) == ("playbook", "Rotate keys", ["security"])
    assert item.attrs["sections"] == ["Steps", "Verify"] and item.attrs["owner"] == "secops"
    with pytest.raises(ImportRejected, match="front matter is not valid YAML"):
        ll.imports.import_file(tenant, b"---\ntags: [a\n---\n# T\n", "broken.md")
    history, _ = ll.imports.list(tenant)
    assert [(r.file_name, r.status) for r in history] == [
        ("broken.md", "failed"),
        ("rotate.md", "succeeded"),
    ]


# ----------------------------------------------------------------------- KPIs


ACCOUNT_INFO = [
    ["Account ID", "Account Name", "Segment", "ARR"],
    ["A-1", "Acme Corp", "Enterprise", 120000],
    ["A-2", "Globex", "SMB", 8000],
]
KPI_DATA = [
    ["Customer KPI export", None, None, None, None, None, None, None],  # a title row
    [None] * 8,
    [
        "Account ID",
        "KPI/Parameter",
        "Category",
        "Value",
        "Target",
        "Weight",
        "Impact Level",
        "Health Score Component",
    ],
    ["A-1", "Weekly active users", "Adoption", 450, 600, 2, "High", "Adoption"],
    ["A-1", "NPS", "Sentiment", 40, None, 1, "Medium", "Sentiment"],
    ["A-1", "Open tickets", "Support", 12, None, 1, "Low", "no"],
    ["A-2", "Weekly active users", "Adoption", 90, 100, 1, "Critical", "yes"],
]
SUMMARY = [["Accounts", 2], ["Average health", 71]]


def kpi_workbook(kpi_rows: list[list[Any]] = KPI_DATA) -> bytes:
    return xlsx({"Account Info": ACCOUNT_INFO, "KPI Data": kpi_rows, "Summary": SUMMARY})


def test_kpi_workbook_round_trips_with_health_scores(ll: LearnLoop, tenant: str) -> None:
    report = ll.imports.import_file(tenant, kpi_workbook(), "kpis.xlsx")
    assert report.kind == "kpi_workbook" and report.format == "xlsx"
    sheets = {s.name: s for s in report.sheets}
    assert sheets["Account Info"].kind == "accounts"
    assert sheets["KPI Data"].kind == "kpi_csv" and sheets["KPI Data"].header_row == 3
    assert sheets["KPI Data"].mapping["kpi"] == "KPI/Parameter"
    assert sheets["Summary"].note is not None and "summary" in sheets["Summary"].note
    assert (report.counts.accounts, report.counts.kpi_values, report.counts.created) == (2, 4, 2)

    acme = ll.accounts.get(tenant, "A-1")
    assert (acme.name, acme.segment, acme.attrs) == ("Acme Corp", "Enterprise", {"ARR": 120000})
    # Adoption 450/600 -> 75 (weight 2 * high 1.5 = 3); NPS 40 (weight 1 * medium 1);
    # open tickets are not a health component.
    assert acme.health_score == pytest.approx((3 * 75 + 1 * 40) / 4, abs=0.01)
    assert ll.accounts.get(tenant, "A-2").health_score == pytest.approx(90.0)
    history = ll.accounts.kpis(tenant, "A-1")
    assert [(v.kpi, v.value, v.impact_level) for v in history] == [
        ("NPS", 40, "Medium"),
        ("Open tickets", 12, "Low"),
        ("Weekly active users", 450, "High"),
    ]
    items, _ = ll.items.list(tenant, kinds=["account"])
    assert {i.title for i in items} == {"Acme Corp", "Globex"}

    again = ll.imports.import_file(tenant, kpi_workbook(), "kpis.xlsx")
    assert (again.counts.kpi_values, again.counts.accounts, again.counts.unchanged) == (0, 0, 2)
    assert count(ll, tenant, "kpi_values") == 4

    changed = [row[:] for row in KPI_DATA]
    changed[3][3] = 600
    later = ll.imports.import_file(tenant, kpi_workbook(changed), "kpis-week2.xlsx")
    assert later.counts.kpi_values == 1
    values = [v.value for v in ll.accounts.kpis(tenant, "A-1") if v.kpi == "Weekly active users"]
    assert values == [450, 600]  # history: appended, not overwritten
    assert ll.accounts.get(tenant, "A-1").health_score == pytest.approx((3 * 100 + 40) / 4)


def test_simple_kpi_list_belongs_to_the_account_given(ll: LearnLoop, tenant: str) -> None:
    data = xlsx(
        {
            "KPIs": [
                ["KPI Name", "Value", "Category"],
                ["Uptime", "99.5%", "Reliability"],
                ["Churn risk", "12,5", "Retention"],
            ]
        }
    )
    report = ll.imports.import_file(tenant, data, "list.xlsx", {"account": "Initech"})
    assert (report.kind, report.counts.kpi_values) == ("kpi_list", 2)
    values = ll.accounts.kpis(tenant, "initech")
    assert [(v.kpi, v.value, v.unit) for v in values] == [
        ("Churn risk", 12.5, None),
        ("Uptime", 99.5, "%"),
    ]
    assert ll.accounts.get(tenant, "initech").health_score == pytest.approx((12.5 + 99.5) / 2)


KPI_CSV_ROWS = [
    ["kpi_name", "value", "category", "account_name"],
    ["Logins", "1,234", "Adoption", "Café Müller"],
    ["CSAT", "87.5", "Sentiment", "Café Müller"],
    ["CSAT", "64", "Sentiment", "Björk AB"],
]


@pytest.mark.parametrize(
    ("encoding", "newline", "delimiter"),
    [
        ("utf-8", "\n", ","),
        ("utf-8-sig", "\r\n", ";"),
        ("utf-16", "\r\n", "\t"),
        ("latin-1", "\r", "|"),
        ("cp1252", "\n", ";"),
    ],
)
def test_kpi_csv_variants_round_trip(
    ll: LearnLoop, tenant: str, encoding: str, newline: str, delimiter: str
) -> None:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(KPI_CSV_ROWS)
    text = out.getvalue()
    report = ll.imports.import_file(tenant, text.encode(encoding), "kpis.csv")
    assert (report.kind, report.confidence, report.delimiter) == ("kpi_csv", 0.65, delimiter)
    assert report.counts.kpi_values == 3 and report.counts.accounts == 2
    cafe = ll.accounts.get(tenant, "caf-m-ller")
    assert cafe.name == "Café Müller"
    assert {(v.kpi, v.value) for v in ll.accounts.kpis(tenant, cafe.account_id)} == {
        ("Logins", 1234.0),
        ("CSAT", 87.5),
    }
    assert ll.imports.import_file(tenant, text.encode(encoding), "kpis.csv").counts.kpi_values == 0


def test_kpi_rows_by_account_name_join_the_named_account(ll: LearnLoop, tenant: str) -> None:
    ll.imports.import_file(tenant, b"account_id,account_name,segment\nA-9,Acme,SMB\n", "acc.csv")
    ll.imports.import_file(tenant, b"kpi,value,account\nNPS,50,acme\n", "k.csv")
    assert [v.kpi for v in ll.accounts.kpis(tenant, "A-9")] == ["NPS"]
    assert count(ll, tenant, "accounts") == 1


def test_bad_kpi_rows_are_reported_by_row_and_column(ll: LearnLoop, tenant: str) -> None:
    text = (
        "kpi_name,value,weight,account\nNPS,abc,1,Acme\n,5,1,Acme\nCSAT,80,-2,Acme\nOK,1,1,Acme\n"
    )
    with pytest.raises(ImportRejected) as caught:
        ll.imports.import_file(tenant, text.encode(), "bad.csv")
    errors = [(e.row, e.column) for e in caught.value.report.errors]
    assert errors == [(2, "value"), (3, "kpi_name"), (4, "weight")]
    assert "row 2, column 'value': 'abc' is not a number" in caught.value.message
    assert stored(ll, tenant) == (0, 0, 0, 0)
    report = ll.imports.import_file(tenant, text.encode(), "bad.csv", {"skip_bad_rows": True})
    assert (report.counts.kpi_values, report.counts.bad_rows) == (1, 3)


def test_health_formula() -> None:
    assert kpi_score(150, None, 100) == 100.0 and kpi_score(-5, None, 10) == 0.0
    assert kpi_score(0.25, "ratio", None) == 25.0 and kpi_score(250, "USD", None) is None
    rows = [
        {"value": 80, "weight": 1, "impact_level": "low", "health_component": "yes"},
        {"value": 20, "weight": 1, "impact_level": "critical", "health_component": "yes"},
        {"value": 0, "weight": 5, "impact_level": None, "health_component": None},
    ]
    assert health_score(rows) == pytest.approx((0.5 * 80 + 2 * 20) / 2.5)
    assert health_score([{"value": 1e6, "unit": "USD"}]) is None


# ----------------------------------------------------------------------- detection, mapping


def test_faq_json_and_jsonl(ll: LearnLoop, tenant: str) -> None:
    faq = [
        {
            "question": "How do I reset my password?",
            "answer": "Settings > Security.",
            "category": "account",
        }
    ]
    report = ll.imports.import_file(tenant, json.dumps({"faqs": faq}).encode(), "faq.json")
    assert (report.format, report.kind) == ("json", "faq")
    (item,), _ = ll.items.list(tenant)
    assert (item.kind, item.title, item.body, item.tags) == (
        "faq",
        "How do I reset my password?",
        "Settings > Security.",
        ["account"],
    )
    lines = "\n".join(json.dumps(r) for r in faq).encode()
    again = ll.imports.import_file(tenant, lines, "faq.jsonl")
    assert (again.format, again.counts.unchanged) == ("jsonl", 1)  # same question, same item


def test_explicit_mapping_is_saved_and_reused(ll: LearnLoop, tenant: str) -> None:
    text = "Kennzahl;Wert;Kunde\nNPS;40;Acme\n"
    mapping = {"kpi": "Kennzahl", "value": "Wert", "account": "Kunde"}
    first = ll.imports.import_file(tenant, text.encode(), "de.csv", {"mapping": mapping})
    assert first.kind == "kpi_csv" and first.sheets[0].mapping == mapping
    second = ll.imports.import_file(tenant, b"Kennzahl;Wert;Kunde\nCSAT;80;Acme\n", "de2.csv")
    assert second.kind == "kpi_csv" and second.counts.kpi_values == 1
    (saved,) = ll.imports.mappings(tenant)
    assert (saved.columns, saved.mapping) == (["Kennzahl", "Wert", "Kunde"], mapping)
    with pytest.raises(InvalidInput, match="seen columns: Kennzahl, Wert, Kunde"):
        ll.imports.import_file(tenant, text.encode(), "de.csv", {"mapping": {"kpi": "KPI"}})


def test_a_file_that_is_not_the_kind_asked_lists_expected_and_seen(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    response = api.post(
        "/v1/imports", files={"file": ("x.csv", b"a,b\n1,2\n")}, data={"kind": "faq"}
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "expected columns question (any of: question" in message
    assert "seen columns: a, b" in message
    binary = api.post("/v1/imports?filename=blob.xlsx", content=b"PK\x03\x04garbage" * 10)
    assert binary.status_code == 422 and "not a readable xlsx" in binary.json()["error"]["message"]
    packed = api.post("/v1/imports?filename=data.gz", content=b"\x1f\x8b\x08\x00" + b"x" * 99)
    assert packed.status_code == 422
    assert "starts like a gzip file but is not one" in packed.json()["error"]["message"]
    noise = api.post("/v1/imports?filename=data.bin", content=bytes(range(256)) * 40)
    assert noise.status_code == 422
    assert "not text in any encoding" in noise.json()["error"]["message"]
    assert ".csv" in noise.json()["error"]["message"]  # what was expected
    assert count(ll, tenant, "items") == 0


def test_upload_multipart_and_raw_then_list(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    raw = api.post(
        "/v1/imports?filename=faq.csv&skip_bad_rows=true",
        content=b"question,answer\nWhy?,Because.\nEmpty?,\n",
    )
    assert raw.status_code == 201, raw.text
    assert raw.json()["counts"]["created"] == 1 and raw.json()["status"] == "partial"
    upload = api.post(
        "/v1/imports",
        files={"file": ("kpis.xlsx", kpi_workbook())},
        data={"mapping": json.dumps({"kpi": "KPI/Parameter"})},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["kind"] == "kpi_workbook"
    listed = api.get("/v1/imports").json()["imports"]
    assert [i["file_name"] for i in listed] == ["kpis.xlsx", "faq.csv"]
    one = api.get(f"/v1/imports/{listed[1]['import_id']}").json()
    assert one["errors"][0]["column"] == "answer"
    assert api.get("/v1/accounts/A-1").json()["health_score"] == pytest.approx(66.25)
    assert len(api.get("/v1/accounts/A-1/kpis").json()) == 3
    assert api.get("/v1/imports/mappings").json()[0]["mapping"] == {"kpi": "KPI/Parameter"}
    no_name = api.post("/v1/imports", content=b"a,b\n1,2\n")
    assert no_name.status_code == 422 and "filename" in no_name.json()["error"]["message"]


def test_upload_respects_the_body_limit(api: TestClient, ll: LearnLoop) -> None:
    big = b"a,b\n" + b"1,2\n" * (ll.settings.max_request_bytes // 4 + 10)
    response = api.post("/v1/imports?filename=big.csv", content=big)
    assert response.status_code == 413


def test_cli_imports_a_folder_and_lists_imports(
    database_url: str, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "faq.csv").write_text("question,answer\nWhy?,Because.\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "disk.md").write_text("# Disk full\n\n## Mitigation\nClean up.\n")
    (tmp_path / "bad.csv").write_text("kpi,value\nNPS,abc\n")
    (tmp_path / "README").write_text("not imported")
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "200"}
    runner = CliRunner()
    result = runner.invoke(cli_app, ["import", str(tmp_path)], env=env)
    assert result.exit_code == 1, result.output
    assert "bad row 2 value" not in result.stdout and "'abc' is not a number" in result.stderr
    assert "2 files" not in result.stdout and "1 created" in result.stdout
    assert count(ll, tenant, "items") == 2
    # The command embedded what it stored: semantic search finds it, nothing waits.
    assert ll.indexer.status(tenant).pending == 0
    hits = ll.search.search(tenant, "the disk has no space left", k=1)
    assert hits[0].item.title == "Disk full" and hits[0].similarity is not None
    listed = runner.invoke(cli_app, ["imports", "list", "--json"], env=env)
    statuses = [(r["file_name"], r["status"]) for r in json.loads(listed.stdout)]
    assert statuses == [
        ("faq.csv", "succeeded"),
        ("bad.csv", "failed"),
        ("notes/disk.md", "succeeded"),
    ]
    skipped = runner.invoke(
        cli_app,
        [
            "import",
            str(tmp_path / "bad.csv"),
            "--skip-bad-rows",
            "--map",
            "kpi=kpi",
            "--account",
            "Acme",
            "--no-embed",
        ],
        env=env,
    )
    assert skipped.exit_code == 0, skipped.output
    assert "bad row 2 value (bad.csv): 'abc' is not a number" in skipped.stdout


def test_json_lines_with_nested_values_and_nul_characters(ll: LearnLoop, tenant: str) -> None:
    lines = [{"id": 7, "title": "Disk\u0000 full", "meta": {"host": "db\u00001"}, "tags": "a; b"}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    report = ll.imports.import_file(tenant, data, "events.jsonl")
    assert (report.format, report.kind, report.counts.created) == ("jsonl", "document", 1)
    (item,), _ = ll.items.list(tenant)
    assert (item.title, item.tags, item.external_id) == ("Disk full", ["a", "b"], "events.jsonl#7")
    assert item.attrs["values"]["meta"] == {"host": "db1"}
    assert 'meta: {"host": "db1"}' in item.body
