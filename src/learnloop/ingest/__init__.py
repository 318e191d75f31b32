"""Ingest: files (delimited text, spreadsheets, JSON, Markdown) into items, accounts and KPIs."""

from learnloop.errors import ImportRejected
from learnloop.ingest.accounts import Accounts
from learnloop.ingest.models import (
    ImportCounts,
    ImportOptions,
    ImportReport,
    RowError,
    SavedMapping,
    SheetReport,
)
from learnloop.ingest.service import Imports

__all__ = [
    "Accounts",
    "ImportCounts",
    "ImportOptions",
    "ImportRejected",
    "ImportReport",
    "Imports",
    "RowError",
    "SavedMapping",
    "SheetReport",
]
