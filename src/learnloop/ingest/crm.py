"""CRM exports: Salesforce and HubSpot account, contact and deal exports, told by their
column names (report exports' labels and Data Loader's API names alike), and what each row
becomes.

- accounts (Salesforce Accounts, HubSpot Companies): an account (id, name, segment from the
  industry) and its account item, with the firmographics as attrs (type or lifecycle stage,
  industry, annual revenue, employees, city, state, country, owner, website), and the
  annual revenue and number of employees as KPI values (category ``Firmographics``);
- contacts: a document item per person (name, title, email, phone, account), tagged
  ``contact``, linked to its account;
- deals (Salesforce Opportunities, HubSpot Deals): a document item per deal (stage, amount,
  close date, probability), tagged ``deal`` and its stage, and its amount as a KPI value
  ``Deal amount`` of its account at its close date (category: the stage).

CRM figures are kept as KPI values (history, trends, context) with weight 0: they describe
an account, they do not score its health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIELDS = {
    "account_id": ("account_id", "accountid", "id", "record_id", "company_id",
                   "associated_company_id", "associated_company_ids_primary"),
    "account": ("account_name", "name", "company_name", "company", "associated_company",
                "associated_company_primary"),
    "type": ("type", "account_type"),
    "lifecycle_stage": ("lifecycle_stage",),
    "industry": ("industry",),
    "annual_revenue": ("annual_revenue", "annualrevenue"),
    "employees": ("number_of_employees", "numberofemployees", "employees"),
    "city": ("billing_city", "billingcity", "city", "mailing_city", "mailingcity"),
    "state": ("billing_state_province", "billingstate", "state_region", "state"),
    "country": ("billing_country", "billingcountry", "country_region", "country"),
    "owner": ("account_owner", "owner", "ownerid", "company_owner", "contact_owner",
              "deal_owner", "opportunity_owner"),
    "website": ("website", "company_domain_name", "website_url"),
    "phone": ("phone", "phone_number"),
    "modified_at": ("last_modified_date", "lastmodifieddate", "last_activity_date"),
    "contact_id": ("contact_id", "id", "record_id"),
    "first_name": ("first_name", "firstname"),
    "last_name": ("last_name", "lastname"),
    "email": ("email",),
    "job_title": ("title", "job_title"),
    "deal_id": ("opportunity_id", "id", "record_id"),
    "deal": ("opportunity_name", "deal_name", "name"),
    "stage": ("stage", "stagename", "deal_stage"),
    "amount": ("amount",),
    "currency": ("amount_currency", "currency", "currencyisocode"),
    "close_date": ("close_date", "closedate"),
    "probability": ("probability", "probability_percent", "deal_probability"),
    "pipeline": ("pipeline",),
}  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """One CRM export: the columns that tell it (normalised names, all present, and none of
    ``absent``) and the fields it has."""

    kind: str
    crm: str
    signs: tuple[str, ...]
    fields: tuple[str, ...]
    absent: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()  # at least one of these too, where the signs alone are common


ACCOUNT = ("account_id", "account", "type", "industry", "annual_revenue", "employees", "city",
           "state", "country", "owner", "website", "phone", "modified_at")  # fmt: skip
COMPANY = ("account_id", "account", "lifecycle_stage", "industry", "annual_revenue",
           "employees", "city", "state", "country", "owner", "website", "phone",
           "modified_at")  # fmt: skip
CONTACT = ("contact_id", "first_name", "last_name", "email", "job_title", "phone",
           "account_id", "account", "city", "country", "owner", "lifecycle_stage")  # fmt: skip
DEAL = ("deal_id", "deal", "account_id", "account", "stage", "amount", "currency",
        "close_date", "probability", "type", "pipeline", "owner")  # fmt: skip
# Columns only a Salesforce account export has (a generic accounts file has the others).
SALESFORCE_ACCOUNT = ("billing_city", "billing_state_province", "billing_country",
                      "billing_street", "account_owner", "account_number", "parent_account",
                      "account_site", "annual_revenue")  # fmt: skip
PROFILES = (
    Profile("salesforce_deals", "salesforce", ("opportunity_name",), DEAL),
    Profile("salesforce_deals", "salesforce", ("stagename", "closedate"), DEAL),
    Profile("salesforce_contacts", "salesforce", ("contact_id", "last_name"), CONTACT),
    Profile("salesforce_contacts", "salesforce", ("firstname", "lastname", "accountid"), CONTACT),
    Profile(
        "salesforce_accounts",
        "salesforce",
        ("account_id", "account_name"),
        ACCOUNT,
        ("first_name", "last_name"),
        SALESFORCE_ACCOUNT,
    ),
    Profile("salesforce_accounts", "salesforce", ("id", "name", "billingcity"), ACCOUNT),
    Profile("salesforce_accounts", "salesforce", ("id", "name", "annualrevenue"), ACCOUNT),
    Profile("hubspot_deals", "hubspot", ("record_id", "deal_name"), DEAL),
    Profile("hubspot_contacts", "hubspot", ("record_id", "first_name", "last_name"), CONTACT),
    Profile(
        "hubspot_contacts",
        "hubspot",
        ("record_id", "email", "lifecycle_stage"),
        CONTACT,
        ("company_name",),
    ),
    Profile("hubspot_accounts", "hubspot", ("record_id", "company_name"), COMPANY),
)
KINDS = tuple(dict.fromkeys(p.kind for p in PROFILES))


def detect(by_name: dict[str, str], kind: str | None = None) -> tuple[str, dict[str, str]] | None:
    """(kind, field -> column) of the CRM export whose columns these are (``by_name``:
    normalised name -> column), or None; with ``kind``, only that kind's profiles."""
    for profile in PROFILES:
        if kind is not None and profile.kind != kind:
            continue
        names = set(by_name)
        if (
            set(profile.signs) <= names
            and not set(profile.absent) & names
            and (not profile.any_of or set(profile.any_of) & names)
        ):
            return profile.kind, _columns(profile, by_name)
    return None


def _columns(profile: Profile, by_name: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    used: set[str] = set()
    for name in profile.fields:
        own = _own_names(profile, name)
        column = next((by_name[n] for n in own if n in by_name and by_name[n] not in used), None)
        if column is not None:
            found[name] = column
            used.add(column)
    return found


def _own_names(profile: Profile, name: str) -> tuple[str, ...]:
    """The column names of ``name`` in this export: an account's ``id`` is its own id; a
    contact's or deal's ``id`` is the person's or deal's, its account the account's columns."""
    names = FIELDS[name]
    if name == "account_id" and profile.kind.endswith(("_contacts", "_deals")):
        return tuple(n for n in names if n not in ("id", "record_id"))
    if name == "account" and profile.kind.endswith("_deals"):
        return tuple(n for n in names if n != "name")
    return names


def crm_of(kind: str) -> str:
    return kind.split("_", 1)[0]


def attrs(get: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The normalised CRM fields a row has, for an item's attrs."""
    return {name: value for name in fields if (value := get(name)) is not None}
