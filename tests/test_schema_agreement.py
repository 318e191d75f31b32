"""What the code says and what the database holds stay in step: every closed list of values
in the Python models equals the CHECK list of its column in the migrated database, and the
domain packages import no entry point (API, CLI, worker) and no other domain's adapter."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, get_args

import psycopg
import pytest

from learnloop import LearnLoop
from learnloop.errors import Conflict, InvalidInput
from learnloop.events.conversations_models import Channel, Role
from learnloop.events.models import EventType, FeedbackKind, Priority
from learnloop.events.spans import Became
from learnloop.events.tracking_models import ReportStatus
from learnloop.ingest.kpis import DataEventType
from learnloop.ingest.models import ImportReport
from learnloop.knowledge.models import Kind, Status
from learnloop.learn.autoswitch import Action as SwitchAction
from learnloop.proposals.models import (
    AuditEntry,
    Duplicate,
    DuplicateDecision,
    ProposalStatus,
    Source,
)
from learnloop.recommend.models import Strategy
from learnloop.tools.models import DecidedBy, Stage

SRC = Path(__file__).resolve().parents[1] / "src" / "learnloop"


def _field_values(model: Any, field: str) -> tuple[str, ...]:
    return get_args(model.model_fields[field].annotation)


# (table, column): the Python list of values the column may hold
LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("items", "kind"): get_args(Kind),
    ("items", "status"): get_args(Status),
    ("proposals", "kind"): get_args(Kind),
    ("proposals", "status"): get_args(ProposalStatus),
    ("proposals", "source"): get_args(Source),
    ("proposal_audit", "action"): _field_values(AuditEntry, "action"),
    ("events", "type"): get_args(EventType),
    ("feedback", "kind"): get_args(FeedbackKind),
    ("corrections", "priority"): get_args(Priority),
    ("impressions", "strategy"): get_args(Strategy),
    ("reports", "status"): get_args(ReportStatus),
    ("conversations", "channel"): get_args(Channel),
    ("messages", "role"): get_args(Role),
    ("imports", "status"): _field_values(ImportReport, "status"),
    ("tool_selections", "decided_by"): get_args(DecidedBy),
    ("tool_selection_candidates", "stage"): get_args(Stage),
    ("learn_policy_switches", "action"): get_args(SwitchAction),
    ("trace_spans", "became"): get_args(Became),
    ("duplicate_decisions", "decision"): _field_values(DuplicateDecision, "decision"),
    ("duplicate_decisions", "other_kind"): _field_values(Duplicate, "kind"),
    ("data_events", "type"): get_args(DataEventType),
}


def _check_lists(ll: LearnLoop) -> dict[tuple[str, str], set[str]]:
    """Each column's CHECK (column IN (...)) list, read from the migrated database."""
    query = """
        SELECT c.relname AS table_name, pg_get_constraintdef(k.oid) AS definition
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE k.contype = 'c' AND n.nspname = current_schema() AND NOT c.relispartition
    """
    found: dict[tuple[str, str], set[str]] = {}
    with ll.db.connection() as conn:
        for row in conn.execute(query):
            listed = re.match(r"CHECK \(\(?\(?(\w+)\)?(?:::text)?\s*=\s*ANY", row["definition"])
            if listed:
                values = set(re.findall(r"'([^']*)'::text", row["definition"]))
                found[(row["table_name"], listed[1])] = values
    return found


def test_every_closed_list_in_the_code_equals_its_check_list_in_the_database(
    ll: LearnLoop,
) -> None:
    checks = _check_lists(ll)
    assert len(checks) >= len(LISTS)  # the parser found the lists at all
    for column, values in LISTS.items():
        assert column in checks, f"{column} has no CHECK list in the database"
        assert checks[column] == set(values), f"{column}: database {sorted(checks[column])}"


def test_every_check_list_in_the_database_is_known_to_the_code(ll: LearnLoop) -> None:
    """A new CHECK list needs its Python counterpart (and an entry in LISTS above)."""
    unknown = set(_check_lists(ll)) - set(LISTS)
    # lists the code keeps only as SQL (values it writes itself, never takes as input)
    internal = {
        ("item_changes", "op"),
        ("experiments", "unit"),
        ("experiments", "status"),
        ("transcripts", "sentiment_label"),
    }
    assert unknown <= internal, f"CHECK lists without a Python list: {sorted(unknown - internal)}"


ENTRY_POINTS = ("learnloop.api", "learnloop.cli", "learnloop.worker", "learnloop.dashboard")
DOMAINS = (
    "knowledge",
    "events",
    "learn",
    "recommend",
    "proposals",
    "analytics",
    "context",
    "tools",
    "ingest",
    "tenants",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_package_imports_no_entry_point(domain: str) -> None:
    files = sorted((SRC / domain).glob("*.py"))
    assert files, f"no package src/learnloop/{domain}"
    wrong = {
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(ENTRY_POINTS) or name in ("fastapi", "typer", "procrastinate")
    }
    assert not wrong, sorted(wrong)


def test_the_pure_learning_algorithms_touch_no_database() -> None:
    """The policies, estimators and calibration are pure: the store side lives in
    learn/live.py, learn/offline.py, learn/stats.py and learn/service.py."""
    pure = ("policies", "bayes", "contextual", "memory", "evaluation", "calibration", "tally")
    wrong = {
        f"learn/{name}.py imports {module}"
        for name in pure
        for module in _imports(SRC / "learn" / f"{name}.py")
        if module.startswith(("psycopg", "learnloop.db", "learnloop._sql"))
    }
    assert not wrong, sorted(wrong)


def test_driver_errors_leave_the_database_boundary_as_the_library_s_own(
    ll: LearnLoop, tenant: str
) -> None:
    """A rule only the schema knows: a value out of a column's range is the caller's to fix
    (InvalidInput, 422); a clash with a stored row is a Conflict (409); neither a 500."""
    with pytest.raises(InvalidInput, match="a value does not fit the database"):
        with ll.db.connection() as conn:
            conn.execute("SELECT 2147483648::integer")
    with pytest.raises(Conflict, match="clashes with what is stored") as raised:
        with ll.db.connection() as conn:
            conn.execute(
                "INSERT INTO tenants (tenant_id, name) VALUES (%(t)s, 'again')", {"t": tenant}
            )
    assert raised.value.status_code == 409
    assert isinstance(raised.value.__cause__, psycopg.IntegrityError)
