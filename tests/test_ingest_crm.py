"""CRM exports (Salesforce reports and Data Loader, HubSpot) told by their columns and
stored as accounts, account items, KPI values and documents; and the standard KPI
templates, written by the CLI and served by the API, each imported back as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop.cli.main import app
from learnloop.errors import InvalidInput
from learnloop.ingest.templates import TEMPLATES
from learnloop.service import LearnLoop

SF_ACCOUNTS = (
    "Account ID,Account Name,Type,Industry,Annual Revenue,Billing City,Billing Country,"
    "Number of Employees,Account Owner\n"
    '001A,Acme Corp,Customer - Direct,Manufacturing,"$1,250,000",Berlin,Germany,120,Ana Lee\n'
    "001B,Globex,Prospect,Energy,,Austin,USA,35,Bo Chen\n"
)
SF_OPPORTUNITIES = (
    "Opportunity ID,Opportunity Name,Account Name,Account ID,Stage,Amount,Close Date,"
    "Probability (%)\n"
    "006X,Acme renewal 2026,Acme Corp,001A,Closed Won,48000,2026-01-15,100\n"
    "006Y,Globex pilot,Globex,001B,Negotiation/Review,12000,2026-03-01,60\n"
)
SF_CONTACTS = (
    "Contact ID,First Name,Last Name,Title,Email,Phone,Account Name,Account ID\n"
    "003P,Dana,Ruiz,VP Operations,dana@acme.example,+49 30 1234,Acme Corp,001A\n"
    "003Q,,,,,,Acme Corp,001A\n"
)
HS_COMPANIES = (
    "Record ID,Company name,Lifecycle Stage,Industry,Annual Revenue,Number of Employees,City,"
    "Country/Region,Company owner\n"
    "9001,Initech,customer,COMPUTER_SOFTWARE,5000000,800,Dallas,United States,Sam Roe\n"
)
HS_DEALS = (
    "Record ID,Deal Name,Deal Stage,Amount,Close Date,Pipeline,Associated Company,"
    "Associated Company IDs (Primary)\n"
    "77,Initech expansion,contractsent,30000,2026-02-20,Sales Pipeline,Initech,9001\n"
)


def _kpis(ll: LearnLoop, tenant: str, account_id: str) -> dict[str, Any]:
    return {k.kpi: k for k in ll.accounts.kpis(tenant, account_id)}


def test_salesforce_exports_become_accounts_kpis_deals_and_contacts(
    ll: LearnLoop, tenant: str
) -> None:
    report = ll.imports.import_file(tenant, SF_ACCOUNTS.encode(), "Accounts report.csv")
    assert (report.kind, report.counts.accounts, report.counts.kpi_values) == (
        "salesforce_accounts",
        2,
        3,
    )
    acme = ll.accounts.get(tenant, "001A")
    assert (acme.name, acme.segment) == ("Acme Corp", "Manufacturing")
    assert acme.attrs["type"] == "Customer - Direct" and acme.attrs["crm"] == "salesforce"
    assert (acme.attrs["city"], acme.attrs["country"], acme.attrs["owner"]) == (
        "Berlin",
        "Germany",
        "Ana Lee",
    )
    figures = _kpis(ll, tenant, "001A")
    assert figures["Annual Revenue"].value == 1_250_000
    assert figures["Number of Employees"].value == 120
    assert figures["Annual Revenue"].weight == 0  # describes the account, not its health
    assert acme.health_score is None
    item = ll.items.list(tenant, kinds=["account"], external_id="account:001A")[0][0]
    assert "Industry: Manufacturing" in item.body and "salesforce" in item.tags

    deals = ll.imports.import_file(tenant, SF_OPPORTUNITIES.encode(), "Opportunities.csv")
    assert (deals.kind, deals.counts.created, deals.counts.kpi_values) == ("salesforce_deals", 2, 2)
    amount = _kpis(ll, tenant, "001A")["Deal amount"]
    assert (amount.value, amount.category, amount.recorded_at.date().isoformat()) == (
        48000,
        "Closed Won",
        "2026-01-15",
    )
    deal = ll.items.list(tenant, external_id="salesforce:deal:006Y")[0][0]
    assert deal.title == "Deal: Globex pilot" and "Negotiation/Review" in deal.tags
    assert deal.attrs["account_id"] == "001B" and deal.attrs["probability"] == 60

    with pytest.raises(InvalidInput) as refused:  # the nameless contact: nothing stored
        ll.imports.import_file(tenant, SF_CONTACTS.encode(), "Contacts.csv")
    assert "row 3" in refused.value.message and "no name and no email" in refused.value.message
    contacts = ll.imports.import_file(tenant, SF_CONTACTS.encode(), "Contacts.csv",
                                      {"skip_bad_rows": True})  # fmt: skip
    assert (contacts.kind, contacts.counts.created, contacts.counts.bad_rows) == (
        "salesforce_contacts",
        1,
        1,
    )
    dana = ll.items.list(tenant, external_id="salesforce:contact:003P")[0][0]
    assert dana.title == "Dana Ruiz (VP Operations)" and dana.attrs["account_id"] == "001A"
    assert ll.accounts.get(tenant, "001A").name == "Acme Corp"  # linked, not renamed


def test_data_loader_and_hubspot_exports_are_told_by_their_columns(
    ll: LearnLoop, tenant: str
) -> None:
    loader = "Id,Name,Type,Industry,AnnualRevenue,BillingCity,NumberOfEmployees\n" \
             "001C,Umbrella,Customer,Biotech,900000,Raccoon City,4000\n"  # fmt: skip
    report = ll.imports.import_file(tenant, loader.encode(), "extract.csv")
    assert report.kind == "salesforce_accounts"
    assert ll.accounts.get(tenant, "001C").attrs["city"] == "Raccoon City"

    companies = ll.imports.import_file(tenant, HS_COMPANIES.encode(), "hubspot-companies.csv")
    assert companies.kind == "hubspot_accounts"
    initech = ll.accounts.get(tenant, "9001")
    assert (initech.name, initech.segment, initech.attrs["lifecycle_stage"]) == (
        "Initech",
        "COMPUTER_SOFTWARE",
        "customer",
    )
    deals = ll.imports.import_file(tenant, HS_DEALS.encode(), "hubspot-deals.csv")
    assert deals.kind == "hubspot_deals"
    assert _kpis(ll, tenant, "9001")["Deal amount"].value == 30000
    deal = ll.items.list(tenant, external_id="hubspot:deal:77")[0][0]
    assert deal.attrs["pipeline"] == "Sales Pipeline" and deal.attrs["account_id"] == "9001"

    generic = "account_id,account_name,segment\nX-1,Hooli,SMB\n"
    assert ll.imports.import_file(tenant, generic.encode(), "a.csv").kind == "accounts"
    with pytest.raises(InvalidInput, match="does not look like a hubspot deals export"):
        ll.imports.import_file(tenant, generic.encode(), "a.csv", {"kind": "hubspot_deals"})


def test_templates_from_the_cli_and_the_api_import_as_they_are(
    ll: LearnLoop, tenant: str, api: TestClient, database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant}
    written = CliRunner().invoke(app, ["templates", str(tmp_path)], env=env)
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TEMPLATES)
    again = CliRunner().invoke(app, ["templates", str(tmp_path)], env=env)
    assert again.exit_code == 1 and "--force" in again.output

    expected = {  # kind, accounts, KPI values
        "kpi_standard.xlsx": ("kpi_workbook", 2, 4),
        "kpi_simple.xlsx": ("kpi_list", 1, 3),
        "kpi.csv": ("kpi_csv", 2, 4),
        "accounts.csv": ("accounts", 2, 0),
    }
    for name, (kind, accounts, kpis) in expected.items():
        options = {"account": "Acme Corp"} if name == "kpi_simple.xlsx" else {}
        own = ll.tenants.create(f"{tenant}-{name.replace('.', '-')}").tenant_id  # one each
        report = ll.imports.import_file(own, (tmp_path / name).read_bytes(), name, options)
        assert (report.kind, report.status, report.counts.bad_rows) == (kind, "succeeded", 0)
        assert report.counts.kpi_values == kpis, name
        assert report.counts.accounts == accounts, name
        if kpis:
            scores = [a.health_score for a in ll.accounts.list(own)]
            assert scores and None not in scores, name  # scored from the KPIs

    listed = api.get("/v1/imports/templates").json()
    assert [t["name"] for t in listed] == list(TEMPLATES)
    served = api.get("/v1/imports/templates/kpi.csv")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/csv")
    assert served.content == (tmp_path / "kpi.csv").read_bytes()
    assert 'filename="kpi.csv"' in served.headers["content-disposition"]
    book = api.get("/v1/imports/templates/kpi_standard.xlsx")
    sent = api.post("/v1/imports", params={"filename": "kpi_standard.xlsx"}, content=book.content)
    assert sent.status_code == 201 and sent.json()["kind"] == "kpi_workbook"
    missing = api.get("/v1/imports/templates/nope.xlsx")
    assert missing.status_code == 404 and "kpi.csv" in missing.json()["error"]["message"]


def test_hubspot_contacts_and_data_loader_contacts_and_opportunities(
    ll: LearnLoop, tenant: str
) -> None:
    """The other three exports, as HubSpot's contact export and Salesforce Data Loader's
    Contact and Opportunity extracts name their columns."""
    ll.imports.import_file(tenant, HS_COMPANIES.encode(), "hubspot-companies.csv")
    hs_contacts = (
        "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Lifecycle Stage,"
        "Contact owner,Associated Company,Associated Company IDs (Primary)\n"
        "501,Peter,Gibbons,peter@initech.example,+1 214 555 0100,Engineer,customer,Sam Roe,"
        "Initech,9001\n"
    )
    report = ll.imports.import_file(tenant, hs_contacts.encode(), "hubspot-contacts.csv")
    assert (report.kind, report.counts.created) == ("hubspot_contacts", 1)
    peter = ll.items.list(tenant, external_id="hubspot:contact:501")[0][0]
    assert peter.title == "Peter Gibbons (Engineer)" and "contact" in peter.tags
    assert (peter.attrs["account_id"], peter.attrs["email"]) == ("9001", "peter@initech.example")
    assert ll.accounts.get(tenant, "9001").name == "Initech"  # linked, not a new account

    loader_contacts = (
        "Id,AccountId,FirstName,LastName,Title,Email,Phone,MailingCity\n"
        "003R,001C,Alice,Abernathy,Security Lead,alice@umbrella.example,555-0101,Raccoon City\n"
    )
    contacts = ll.imports.import_file(tenant, loader_contacts.encode(), "extract.csv")
    assert (contacts.kind, contacts.counts.created) == ("salesforce_contacts", 1)
    alice = ll.items.list(tenant, external_id="salesforce:contact:003R")[0][0]
    assert alice.attrs["account_id"] == "001C" and alice.title.startswith("Alice Abernathy")

    loader_deals = (
        "Id,AccountId,Name,StageName,Amount,CloseDate,Probability,Type\n"
        "006Z,001C,Umbrella renewal,Closed Won,75000,2026-04-30,100,Existing Business\n"
    )
    deals = ll.imports.import_file(tenant, loader_deals.encode(), "extract.csv")
    assert (deals.kind, deals.counts.created, deals.counts.kpi_values) == ("salesforce_deals", 1, 1)
    amount = _kpis(ll, tenant, "001C")["Deal amount"]
    assert (amount.value, amount.category, amount.recorded_at.date().isoformat()) == (
        75000,
        "Closed Won",
        "2026-04-30",
    )
    deal = ll.items.list(tenant, external_id="salesforce:deal:006Z")[0][0]
    assert deal.title == "Deal: Umbrella renewal" and deal.attrs["account_id"] == "001C"
