"""The command line, run in-process on the real embedded database and embedding model.

Every command runs through ``CliRunner`` with ``DATABASE_URL`` pointing at the test database
and ``LEARNLOOP_TENANT`` at this test's own tenant, and is checked against what the library
(``ll``) then finds stored. ``COLUMNS=80`` fixes the width Rich renders at, so tables and
messages come out the same on every machine: that of a plain terminal or a log.
"""

from __future__ import annotations

import inspect
import json
import re
import socket
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import AliasChoices
from typer.models import DefaultPlaceholder
from typer.testing import CliRunner, Result

from learnloop.cli.demo import sample_items
from learnloop.cli.main import app
from learnloop.errors import AuthError, NotFound
from learnloop.learn import Simulator, stats
from learnloop.learn.simulate import play
from learnloop.service import LearnLoop
from learnloop.settings import Settings
from learnloop.tenants import RateLimit

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
API_KEY = re.compile(r"ll_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def _plain(text: str) -> str:
    """Output without colour codes (Rich adds them where FORCE_COLOR is set)."""
    return ANSI.sub("", text)


def _explain(result: Result) -> str:
    """Everything about a run, for assertion messages."""
    parts = [
        f"exit code {result.exit_code}",
        f"stdout:\n{result.stdout}",
        f"stderr:\n{result.stderr}",
    ]
    if result.exc_info and not isinstance(result.exception, SystemExit):
        parts.append("".join(traceback.format_exception(*result.exc_info)))
    return "\n".join(parts)


class Cli:
    """Runs ``learnloop ...`` in-process against the test database, for one tenant."""

    def __init__(self, database_url: str, tenant: str) -> None:
        self.database_url = database_url
        self.tenant = tenant
        self.runner = CliRunner()

    def __call__(self, *args: str, tenant: str | None = None, stdin: str | None = None) -> Result:
        env = {
            "DATABASE_URL": self.database_url,
            "LEARNLOOP_TENANT": tenant or self.tenant,
            "COLUMNS": "80",
        }
        return self.runner.invoke(app, list(args), env=env, input=stdin)

    def ok(self, *args: str, tenant: str | None = None) -> str:
        """Standard output of a command that must succeed."""
        result = self(*args, tenant=tenant)
        assert result.exit_code == 0, _explain(result)
        return _plain(result.stdout)

    def json(self, *args: str, tenant: str | None = None) -> Any:
        """The parsed output of a command run with --json."""
        return json.loads(self.ok(*args, "--json", tenant=tenant))

    def fails(self, *args: str, tenant: str | None = None) -> str:
        """The error message of a command that must fail cleanly: exit 1, no traceback.

        Rich wraps long messages at the terminal width (see
        test_error_messages_fit_on_one_line), so the lines are joined back here.
        """
        result = self(*args, tenant=tenant)
        assert result.exit_code == 1, _explain(result)
        assert isinstance(result.exception, SystemExit), _explain(result)
        assert "Traceback" not in result.output, _explain(result)
        assert result.stdout == "", _explain(result)
        message = " ".join(_plain(result.stderr).split())
        assert message.startswith("error: "), _explain(result)
        return message


@pytest.fixture
def cli(database_url: str, tenant: str) -> Cli:
    return Cli(database_url, tenant)


@pytest.fixture
def other_tenant(ll: LearnLoop) -> str:
    """A second fresh tenant, for isolation tests."""
    return ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id


def _new_tenant_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _rows(table: str) -> list[list[str]]:
    """The body rows of a Rich table, as lists of cell texts."""
    rows = []
    for line in table.splitlines():
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def _add(cli: Cli, *args: str, tenant: str | None = None) -> int:
    """Add an item through the CLI; its id."""
    added = cli.json("items", "add", *args, tenant=tenant)
    assert added["outcome"] == "created", added
    item_id: int = added["item"]["item_id"]
    return item_id


def _ids(ll: LearnLoop, tenant: str) -> list[int]:
    items, _ = ll.items.list(tenant, limit=500)
    return [item.item_id for item in items]


# --- items add, list, show, archive, delete ------------------------------------------------


def test_items_add_with_options_then_list_as_table_and_json(
    cli: Cli, ll: LearnLoop, tenant: str
) -> None:
    out = cli.ok(
        "items", "add", "--kind", "faq", "--title", "Reset a password",
        "--body", "Open Settings, then Security, then Reset password.",
        "--tag", "account", "--tag", "login",
        "--attrs", '{"product": "portal", "priority": 2}',
    )  # fmt: skip
    match = re.fullmatch(r"created: item (\d+) version 1 \(Reset a password\)\n", out)
    assert match, out
    faq = int(match[1])
    stored = ll.items.get(tenant, faq)
    assert (stored.kind, stored.title, stored.status, stored.external_id) == (
        "faq", "Reset a password", "active", None,
    )  # fmt: skip
    assert stored.body == "Open Settings, then Security, then Reset password."
    assert stored.tags == ["account", "login"]
    assert stored.attrs == {"product": "portal", "priority": 2}

    added = cli.json(
        "items", "add", "--kind", "runbook", "--title", "Disk almost full",
        "--body", "Remove old WAL files.", "--status", "draft",
    )  # fmt: skip
    assert added["outcome"] == "created"
    assert added["item"]["status"] == "draft"
    runbook = added["item"]["item_id"]
    assert ll.items.get(tenant, runbook).status == "draft"

    listed = cli.json("items", "list")
    assert [i["item_id"] for i in listed["items"]] == [runbook, faq]  # newest first
    assert listed["next_cursor"] is None
    assert listed["items"][1]["attrs"] == {"product": "portal", "priority": 2}
    assert listed["items"][1]["tags"] == ["account", "login"]

    assert _rows(cli.ok("items", "list")) == [
        [str(runbook), "runbook", "Disk almost full", "draft", "1", ""],
        [str(faq), "faq", "Reset a password", "active", "1", "account, login"],
    ]

    def ids(*filters: str) -> list[int]:
        return [i["item_id"] for i in cli.json("items", "list", *filters)["items"]]

    assert ids("--kind", "faq") == [faq]
    assert ids("--kind", "faq", "--kind", "runbook") == [runbook, faq]
    assert ids("--tag", "login") == [faq]
    assert ids("--tag", "login", "--tag", "billing") == []
    assert ids("--status", "draft") == [runbook]

    page = cli.json("items", "list", "--limit", "1")
    assert [i["item_id"] for i in page["items"]] == [runbook]
    assert page["next_cursor"] == runbook
    assert ids("--limit", "1", "--cursor", str(runbook)) == [faq]
    assert cli.ok("items", "list", "--limit", "1").splitlines()[-1] == f"more: --cursor {runbook}"


def test_items_add_from_markdown_file_with_front_matter(
    cli: Cli, ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    doc = tmp_path / "disk-full.md"
    doc.write_text(
        "---\n"
        "title: Disk almost full on a database host\n"
        "tags: [disk, storage]\n"
        "service: postgres\n"
        "severity: 2\n"
        "---\n"
        "# NodeFilesystemSpaceFillingUp\n\n"
        "## Meaning\nThe data volume has less than 5% free space.\n\n"
        "## Mitigation\nRemove old WAL files, then grow the volume.\n",
        "utf-8",
    )
    added = cli.json(
        "items", "add", "--kind", "runbook", "--file", str(doc),
        "--tag", "oncall", "--attrs", '{"team": "sre", "severity": 3}',
    )  # fmt: skip
    item = ll.items.get(tenant, added["item"]["item_id"])
    assert item.title == "Disk almost full on a database host"  # front matter beats heading
    assert item.tags == ["disk", "storage", "oncall"]  # file's tags, then --tag
    assert item.attrs == {  # front matter, sections, then --attrs (which wins)
        "service": "postgres",
        "severity": 3,
        "sections": ["Meaning", "Mitigation"],
        "team": "sre",
    }
    assert item.body.startswith("# NodeFilesystemSpaceFillingUp\n\n## Meaning")
    assert item.body.endswith("Remove old WAL files, then grow the volume.")
    assert "service: postgres" not in item.body

    heading_only = tmp_path / "pw.md"
    heading_only.write_text("# Reset a password\n\nUse the link on the sign-in page.\n", "utf-8")
    from_heading = cli.json("items", "add", "--kind", "faq", "--file", str(heading_only))
    assert from_heading["item"]["title"] == "Reset a password"
    assert from_heading["item"]["attrs"] == {"sections": []}

    text = tmp_path / "invoice-address.txt"
    text.write_text("Billing > Details > Address.\n", "utf-8")
    from_text = cli.json("items", "add", "--kind", "faq", "--file", str(text))
    assert from_text["item"]["title"] == "invoice-address"
    assert from_text["item"]["body"] == "Billing > Details > Address."  # stripped
    titled = cli.json(
        "items", "add", "--kind", "faq", "--file", str(text), "--title", "Change the address"
    )
    assert titled["item"]["title"] == "Change the address"
    assert len(_ids(ll, tenant)) == 4


def test_items_show_and_an_earlier_version(cli: Cli, ll: LearnLoop, tenant: str) -> None:
    common = ("items", "add", "--kind", "faq", "--external-id", "faq-pw", "--tag", "account")
    old_body, new_body = "Use the link on the sign-in page.", "Open Settings, then Security."
    first = cli.json(*common, "--title", "Reset a password", "--body", old_body)
    assert (first["outcome"], first["item"]["version"]) == ("created", 1)
    item_id = first["item"]["item_id"]

    again = cli.json(*common, "--title", "Reset a password", "--body", old_body)
    assert (again["outcome"], again["item"]["item_id"], again["item"]["version"]) == (
        "unchanged", item_id, 1,
    )  # fmt: skip
    out = cli.ok(*common, "--title", "Reset a password", "--body", new_body)
    assert out == f"updated: item {item_id} version 2 (Reset a password)\n"
    assert _ids(ll, tenant) == [item_id]  # a new version, not a new item
    assert [v.version for v in ll.items.versions(tenant, item_id)] == [1, 2]

    current = cli.json("items", "show", str(item_id))
    assert (current["version"], current["body"], current["external_id"]) == (
        2, new_body, "faq-pw",
    )  # fmt: skip
    earlier = cli.json("items", "show", str(item_id), "--version", "1")
    assert (earlier["item_id"], earlier["version"], earlier["body"]) == (item_id, 1, old_body)

    shown = cli.ok("items", "show", str(item_id)).splitlines()
    assert shown[0] == f"Reset a password  (faq, item {item_id}, version 2 of [1, 2], active)"
    assert "tags: account" in shown
    assert new_body in shown
    assert old_body not in shown
    shown_v1 = cli.ok("items", "show", str(item_id), "--version", "1").splitlines()
    assert shown_v1[0] == f"Reset a password  (faq, item {item_id}, version 1 of [1, 2], active)"
    assert old_body in shown_v1

    assert cli.fails("items", "show", str(item_id), "--version", "3") == (
        f"error: item {item_id} has no version 3 in this tenant"
    )


def test_search_finds_the_item_and_archive_and_delete_remove_it(
    cli: Cli, ll: LearnLoop, tenant: str
) -> None:
    disk = _add(
        cli, "--kind", "runbook", "--title", "Disk almost full",
        "--body", "The data volume of the database server has less than 5% free space. "
        "Remove old WAL files and grow the volume.",
    )  # fmt: skip
    password = _add(
        cli, "--kind", "faq", "--title", "Reset a password",
        "--body", "Open Settings, then Security, then Reset password.",
    )  # fmt: skip
    renewal = _add(
        cli, "--kind", "playbook", "--title", "Renewal at risk",
        "--body", "The customer may not renew: book an executive business review.",
    )  # fmt: skip

    def found(query: str, *options: str) -> list[int]:
        return [hit["item"]["item_id"] for hit in cli.json("search", query, *options)]

    disk_query = "the server is running out of disk space"
    assert found(disk_query)[0] == disk
    assert set(found(disk_query)) <= {disk, password, renewal}
    assert found("I forgot my password", "--k", "1") == [password]
    assert set(found(disk_query, "--kind", "faq", "--kind", "playbook")) == {password, renewal}
    hits = cli.json("search", disk_query)
    assert hits[0]["similarity"] > hits[-1]["similarity"]
    assert hits[0]["score"] >= hits[-1]["score"]
    assert _rows(cli.ok("search", disk_query))[0][:4] == [
        "1",
        str(disk),
        "runbook",
        "Disk almost full",
    ]

    assert cli.ok("items", "archive", str(disk)) == f"archived: item {disk} (Disk almost full)\n"
    assert ll.items.get(tenant, disk).status == "archived"
    assert disk not in found(disk_query)
    assert disk not in found("Disk almost full")
    assert cli.json("items", "show", str(disk))["status"] == "archived"  # still readable
    archived = cli.json("items", "list", "--status", "archived")["items"]
    assert [i["item_id"] for i in archived] == [disk]

    declined = cli("items", "delete", str(password), stdin="n\n")
    assert declined.exit_code == 1, _explain(declined)
    assert "Aborted" in declined.output
    assert ll.items.get(tenant, password).title == "Reset a password"

    assert cli.ok("items", "delete", str(password), "--yes") == f"deleted: item {password}\n"
    assert _ids(ll, tenant) == [renewal, disk]
    with pytest.raises(NotFound):
        ll.items.versions(tenant, password)
    assert password not in found("I forgot my password")
    assert cli.fails("items", "show", str(password)) == (
        f"error: no item {password} in this tenant"
    )
    assert cli.fails("items", "delete", str(password), "--yes") == (
        f"error: no item {password} in this tenant"
    )


# --- bad input -----------------------------------------------------------------------------

# args of `items add` ({md} and {missing} become paths under tmp_path), a part of the message
# that names the fix, and whether Rich wraps that message at 80 columns today.
BAD_ADDS: dict[str, tuple[list[str], str, bool]] = {
    "unknown kind": (
        ["--kind", "recipe", "--title", "T", "--body", "b"],
        "kind: Input should be 'runbook', 'playbook', 'faq', 'kpi', 'account', 'report', "
        "'tool', 'document' or 'correction'",
        True,
    ),
    "attrs not JSON": (
        ["--kind", "faq", "--title", "T", "--attrs", "{service: db}"],
        "--attrs is not valid JSON: Expecting property name enclosed in double quotes",
        True,
    ),
    "attrs a JSON list": (
        ["--kind", "faq", "--title", "T", "--attrs", '["db"]'],
        '--attrs must be a JSON object, like \'{"service": "db"}\'',
        False,
    ),
    "no title and no file": (
        ["--kind", "faq", "--body", "text without a title"],
        "--title is required (or give a --file with a heading)",
        False,
    ),
    "unknown status": (
        ["--kind", "faq", "--title", "T", "--status", "live"],
        "status: Input should be 'active', 'draft', 'deprecated' or 'archived'",
        False,
    ),
    "body and file": (
        ["--kind", "faq", "--file", "{md}", "--body", "b"],
        "give --body or --file, not both",
        False,
    ),
    "missing file": (
        ["--kind", "faq", "--file", "{missing}"],
        "missing.md: [Errno 2] No such file or directory",
        True,
    ),
}


def _bad_add_args(args: list[str], tmp_path: Path) -> list[str]:
    md = tmp_path / "note.md"
    md.write_text("# A note\n\ntext\n", "utf-8")
    paths = {"{md}": str(md), "{missing}": str(tmp_path / "missing.md")}
    return [paths.get(arg, arg) for arg in args]


@pytest.mark.parametrize(
    ("args", "fix"), [(a, f) for a, f, _ in BAD_ADDS.values()], ids=list(BAD_ADDS)
)
def test_items_add_rejects_bad_input_and_stores_nothing(
    cli: Cli, ll: LearnLoop, tenant: str, tmp_path: Path, args: list[str], fix: str
) -> None:
    message = cli.fails("items", "add", *_bad_add_args(args, tmp_path))
    assert fix in message
    assert ll.items.list(tenant) == ([], None)


@pytest.mark.parametrize("args", [pytest.param(a, id=k) for k, (a, _, _) in BAD_ADDS.items()])
def test_error_messages_fit_on_one_line(cli: Cli, tmp_path: Path, args: list[str]) -> None:
    result = cli("items", "add", *_bad_add_args(args, tmp_path))
    assert result.exit_code == 1, _explain(result)
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_unknown_item_ids_fail_cleanly(cli: Cli, ll: LearnLoop, tenant: str) -> None:
    item_id = _add(cli, "--kind", "faq", "--title", "Reset a password")
    missing = str(item_id + 1_000_000)
    for command in (["show", missing], ["archive", missing], ["delete", missing, "--yes"]):
        assert cli.fails("items", *command) == f"error: no item {missing} in this tenant"
    assert _ids(ll, tenant) == [item_id]
    assert ll.items.get(tenant, item_id).status == "active"

    not_a_number = cli("items", "show", "seven")  # the parser's own error: exit 2
    assert not_a_number.exit_code == 2, _explain(not_a_number)
    assert "Traceback" not in not_a_number.output


def test_bad_settings_fail_cleanly(cli: Cli) -> None:
    runner = CliRunner()
    wrong_embedder = runner.invoke(
        app,
        ["items", "list"],
        env={"DATABASE_URL": cli.database_url, "LEARNLOOP_EMBEDDER": "word2vec"},
    )
    assert wrong_embedder.exit_code == 1, _explain(wrong_embedder)
    assert isinstance(wrong_embedder.exception, SystemExit)
    assert " ".join(wrong_embedder.stderr.split()) == (
        "error: LEARNLOOP_EMBEDDER='word2vec' is not known; use 'local' or 'openai'"
    )
    # Port 1 refuses connections at once; the password must not be echoed back.
    unreachable = runner.invoke(
        app,
        ["items", "list"],
        env={"DATABASE_URL": "postgresql://someone:s3cret@127.0.0.1:1/learnloop"},
    )
    assert unreachable.exit_code == 1, _explain(unreachable)
    assert isinstance(unreachable.exception, SystemExit)
    assert unreachable.stderr.startswith("error: cannot reach the database at ")
    assert "s3cret" not in unreachable.output


def test_titles_with_square_brackets_are_printed_as_given(
    cli: Cli, ll: LearnLoop, tenant: str
) -> None:
    """A title like '[/draft] ...' crashes with a MarkupError after the item was stored."""
    title = "Reset a password [/draft]"
    result = cli("items", "add", "--kind", "faq", "--title", title)
    assert result.exit_code == 0, _explain(result)
    assert title in result.stdout
    assert [row[2] for row in _rows(cli.ok("items", "list"))] == [title]


def test_error_messages_with_square_brackets_are_printed_as_given(cli: Cli) -> None:
    """An error naming the user's input '[/x]' crashes with a MarkupError, not 'error: ...'."""
    message = cli.fails("--tenant", "[/x]", "init")
    assert message.startswith("error: tenant id '[/x]': use 1-63 lowercase letters")


# --- tenants and keys ----------------------------------------------------------------------


def test_items_of_one_tenant_are_invisible_to_another(
    cli: Cli, ll: LearnLoop, tenant: str, other_tenant: str
) -> None:
    item_id = _add(
        cli, "--kind", "runbook", "--title", "Disk almost full",
        "--body", "Remove old WAL files and grow the volume.",
    )  # fmt: skip
    unknown = f"error: no item {item_id} in this tenant"

    # Tenant B through LEARNLOOP_TENANT.
    assert cli.json("items", "list", tenant=other_tenant) == {"items": [], "next_cursor": None}
    assert cli.json("search", "disk almost full", tenant=other_tenant) == []
    assert _rows(cli.ok("items", "list", tenant=other_tenant)) == []
    assert cli.fails("items", "show", str(item_id), tenant=other_tenant) == unknown
    assert cli.fails("items", "show", str(item_id), "--version", "1", tenant=other_tenant) == (
        f"error: item {item_id} has no version 1 in this tenant"
    )
    assert cli.fails("items", "archive", str(item_id), tenant=other_tenant) == unknown
    assert cli.fails("items", "delete", str(item_id), "--yes", tenant=other_tenant) == unknown

    # Tenant B through --tenant, which wins over LEARNLOOP_TENANT (tenant A here).
    assert cli.json("--tenant", other_tenant, "items", "list")["items"] == []
    assert cli.json("--tenant", other_tenant, "search", "disk almost full") == []
    assert cli.fails("--tenant", other_tenant, "items", "show", str(item_id)) == unknown
    theirs = _add(cli, "--kind", "runbook", "--title", "Disk almost full", tenant=other_tenant)
    assert _ids(ll, other_tenant) == [theirs]

    # Tenant A still has its item, untouched, and does not see B's.
    assert _ids(ll, tenant) == [item_id]
    assert ll.items.get(tenant, item_id).status == "active"
    assert [h["item"]["item_id"] for h in cli.json("search", "disk almost full")] == [item_id]
    assert cli.fails("items", "show", str(theirs)) == f"error: no item {theirs} in this tenant"


def test_keys_create_list_and_revoke(
    cli: Cli, ll: LearnLoop, tenant: str, other_tenant: str
) -> None:
    lines = cli.ok("keys", "create", "--name", "support bot").splitlines()
    key = lines[-1]
    assert API_KEY.fullmatch(key), lines
    key_id = key.split("_")[1]
    assert lines[0] == f"key {key_id} (admin) created (shown once):"
    assert ll.keys.authenticate(key) == tenant

    listed = cli.json("keys", "list")
    assert [(k["key_id"], k["name"], k["scopes"], k["revoked_at"]) for k in listed] == [
        (key_id, "support bot", ["admin"], None)
    ]
    table = cli.ok("keys", "list")
    assert [row[:3] for row in _rows(table)] == [[key_id, "support bot", "admin"]]
    assert key not in table
    assert key not in json.dumps(listed)
    assert cli.json("keys", "list", tenant=other_tenant) == []

    assert cli.fails("keys", "revoke", key_id, tenant=other_tenant) == (
        f"error: no API key '{key_id}' in this tenant"
    )
    assert ll.keys.authenticate(key) == tenant  # another tenant cannot revoke it

    assert cli.ok("keys", "revoke", key_id) == f"revoked: key {key_id}\n"
    with pytest.raises(AuthError):
        ll.keys.authenticate(key)
    assert cli.json("keys", "list")[0]["revoked_at"] is not None


def test_keys_create_takes_scopes_and_a_rate(cli: Cli, ll: LearnLoop, tenant: str) -> None:
    args = (
        "keys",
        "create",
        "--scope",
        "read",
        "--scope",
        "beacon",
        "--rate",
        "5",
        "--burst",
        "10",
    )
    lines = cli.ok(*args).splitlines()
    assert "(read, beacon) created" in lines[0]
    grant = ll.keys.grant(lines[-1])
    assert (sorted(grant.scopes), grant.rate) == (["beacon", "read"], RateLimit(5.0, 10))
    listed = cli.json("keys", "list")
    assert [(k["scopes"], k["rate_per_second"], k["rate_burst"]) for k in listed] == [
        (["read", "beacon"], 5.0, 10)
    ]
    assert _rows(cli.ok("keys", "list"))[0][2].startswith("read,beacon;")
    assert "scopes: use one or more of read, write, admin, beacon" in cli.fails(
        "keys", "create", "--scope", "root"
    )
    assert "give both rate_per_second and rate_burst" in cli.fails("keys", "create", "--rate", "5")
    assert len(ll.keys.list(tenant)) == 1


def test_keys_create_for_a_tenant_that_does_not_exist_fails(cli: Cli, ll: LearnLoop) -> None:
    missing = _new_tenant_id()
    assert cli.fails("keys", "create", tenant=missing) == (
        f"error: no tenant '{missing}'; create it with 'learnloop init --tenant'"
    )
    assert missing not in [t.tenant_id for t in ll.tenants.list()]
    assert ll.keys.list(missing) == []


def test_init_creates_a_new_tenant_and_prints_a_working_key(
    cli: Cli, ll: LearnLoop, tenant: str
) -> None:
    new = _new_tenant_id()
    lines = cli.ok("--tenant", new, "init", "--name", "Init Co").splitlines()
    assert lines[0] == f"database ready; tenant {new}; API key (shown once):"
    key = lines[-1]
    assert API_KEY.fullmatch(key), lines
    assert ll.keys.authenticate(key) == new
    assert ll.tenants.get(new).name == "Init Co"
    assert ll.keys.list(tenant) == []  # LEARNLOOP_TENANT's tenant was not touched

    second = cli.ok("--tenant", new, "init").splitlines()[-1]  # again: same tenant, new key
    assert second != key
    assert ll.keys.authenticate(second) == new
    assert ll.keys.authenticate(key) == new
    assert ll.tenants.get(new).name == "Init Co"
    assert [t.tenant_id for t in ll.tenants.list()].count(new) == 1

    from_env = _new_tenant_id()  # LEARNLOOP_TENANT alone names the tenant too
    assert ll.keys.authenticate(cli.ok("init", tenant=from_env).splitlines()[-1]) == from_env

    invalid = cli.fails("--tenant", "Not Valid", "init")
    assert invalid.startswith("error: tenant id 'Not Valid': use 1-63 lowercase letters")
    assert "Not Valid" not in [t.tenant_id for t in ll.tenants.list()]


def test_tenants_create_and_list(cli: Cli, ll: LearnLoop) -> None:
    new = _new_tenant_id()
    lines = cli.ok("tenants", "create", new, "--name", "Acme Inc.").splitlines()
    assert lines[0] == f"tenant {new} created; API key (shown once):"
    assert ll.keys.authenticate(lines[-1]) == new

    listed = {t["tenant_id"]: t["name"] for t in cli.json("tenants", "list")}
    assert listed[new] == "Acme Inc."
    assert listed.keys() == {t.tenant_id for t in ll.tenants.list()}
    assert [new, "Acme Inc."] in [row[:2] for row in _rows(cli.ok("tenants", "list"))]

    assert cli.fails("tenants", "create", new) == f"error: tenant '{new}' already exists"
    assert len(ll.keys.list(new)) == 1  # the failed create made no key
    assert ll.tenants.get(new).name == "Acme Inc."


def test_learning_threshold_prints_the_tradeoffs_before_applying_one(
    cli: Cli, ll: LearnLoop, tenant: str
) -> None:
    runbooks = sample_items()[:16]
    ll.items.put_many(tenant, runbooks)
    ll.learning.configure(tenant, {"rewards": {"wait_seconds": 30}})
    ll.recommender.set_threshold(tenant, 0.1)
    play(
        Simulator.from_knowledge(runbooks, seed=3),
        30,
        recommend=lambda r: ll.recommender.recommend(tenant, r),
        record=lambda e: ll.events.record(tenant, e),
    )
    while stats.update(ll.db, now=datetime.now(UTC) + timedelta(seconds=31)) > 0:
        pass
    table = ll.learning.thresholds(tenant)
    found = ll.learning.tune_threshold(tenant, 0.5)
    assert table["impressions"] >= 20 and found is not None
    lines = cli.ok("learning", "threshold", "--precision", "0.5", "--apply").splitlines()
    assert lines[0] == f"first items of {table['impressions']} impressions; threshold now 0.10"
    assert lines[1] == "threshold  right  wrong  nothing shown"
    printed = [line.split() for line in lines[2:-1]]
    assert printed == [
        [f"{r['threshold']:.2f}", f"{r['right']:.1%}", f"{r['wrong']:.1%}", f"{r['nothing']:.1%}"]
        for r in table["rows"]
    ]
    assert len(printed) == 20 and {r["right"] for r in table["rows"]} != {0.0}
    assert lines[-1] == f"threshold {found:.3f} applied"  # after the table
    assert ll.recommender.threshold(tenant) == pytest.approx(found)


def test_demo_fills_its_own_tenant_and_searches_it(cli: Cli, ll: LearnLoop, tenant: str) -> None:
    demo = _new_tenant_id()
    count = len(sample_items())
    out = " ".join(cli.ok("demo", "--tenant", demo, "--interactions", "40", "--no-serve").split())
    assert f"items: {count} created" in out
    assert out.count("search: ") == 1
    assert re.search(r"success rate: before \d+\.\d%, after \d+\.\d%", out), out
    assert re.search(r"95% interval [+-]\d+\.\d to [+-]\d+\.\d", out), out
    # The 40 interactions spread over the 28 days before now: the daily charts show a trend.
    assert "the 40 interactions spread over the 28 days before now" in out
    days = [p.period for p in ll.analytics.metrics(demo).series if p.counts.impressions]
    assert len(days) >= 20 and (max(days) - min(days)).days >= 25, days
    key = re.search(rf"tenant '{demo}' is ready\. API key \(shown once\): ({API_KEY.pattern})", out)
    assert key, out
    assert ll.keys.authenticate(key[1]) == demo
    assert len(_ids(ll, demo)) == count
    assert ll.items.list(tenant) == ([], None)  # demo ignores LEARNLOOP_TENANT

    top = cli.json("search", "the disk on a server is almost full", "--k", "3", tenant=demo)
    assert len(top) == 3
    assert top[0]["item"]["kind"] == "runbook"

    again = " ".join(cli.ok("demo", "--tenant", demo, "--interactions", "10", "--no-serve").split())
    assert f"items: {count} unchanged" in again
    assert len(_ids(ll, demo)) == count


# --- the command tree and its documentation -------------------------------------------------


def _value(value: Any) -> Any:
    return value.value if isinstance(value, DefaultPlaceholder) else value


def _typer_commands(
    typer_app: typer.Typer, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, str]]:
    """('items add', help) for every command and group registered in a Typer app."""
    for command in typer_app.registered_commands:
        assert command.callback is not None
        name = _value(command.name) or typer.main.get_command_name(command.callback.__name__)
        yield " ".join((*prefix, name)), _value(command.help) or inspect.getdoc(command.callback)
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        name = _value(group.name) or _value(sub.info.name)
        path = (*prefix, name)
        yield " ".join(path), _value(group.help) or _value(sub.info.help) or ""
        yield from _typer_commands(sub, path)


def _click_commands(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """('items add', command) for every command under the click command built from the app.

    Typer builds on its own copy of click, so groups are told by their ``commands``.
    """
    for name, sub in getattr(command, "commands", {}).items():
        yield " ".join((*prefix, name)), sub
        yield from _click_commands(sub, (*prefix, name))


def _doc_sections() -> dict[str, str]:
    """The text under each '### learnloop ...' heading of docs/cli.md, by command path."""
    text = DOCS.read_text("utf-8")
    sections: dict[str, str] = {}
    for part in re.split(r"^(?=#{1,6} )", text, flags=re.MULTILINE):
        heading = re.match(r"### learnloop (.+?)\s*\n", part)
        if heading:
            assert heading[1] not in sections, f"two headings for {heading[1]!r}"
            sections[heading[1]] = part
    return sections


def test_every_command_has_help_and_a_docs_heading() -> None:
    commands = dict(_typer_commands(app))
    assert {"init", "demo", "search", "serve", "items add", "keys revoke", "tenants list"} <= set(
        commands
    )
    assert set(commands) == {path for path, _ in _click_commands(typer.main.get_command(app))}
    assert [path for path, help_text in commands.items() if not help_text.strip()] == []
    sections = _doc_sections()
    assert sorted(set(commands) - set(sections)) == [], "commands without a docs heading"
    assert sorted(set(sections) - set(commands)) == [], "docs headings of no command"


def test_docs_name_every_option_and_argument() -> None:
    sections = _doc_sections()
    missing = []
    for path, command in _click_commands(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name == "argument":
                names = [str(param.name).upper()]
            else:
                names = [opt for opt in param.opts if opt.startswith("--") and opt != "--help"]
            missing += [
                f"{path} {name}" for name in names if f"`{name}" not in sections.get(path, "")
            ]
    assert missing == []
    assert "`--tenant TENANT`" in DOCS.read_text("utf-8")  # the global option


def test_docs_name_every_environment_variable() -> None:
    docs = DOCS.read_text("utf-8")
    names = []
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names += [str(choice) for choice in alias.choices]
        else:
            names.append(f"LEARNLOOP_{field_name.upper()}")
    assert "DATABASE_URL" in names
    assert [name for name in names if f"`{name}`" not in docs] == []


def test_every_option_has_help() -> None:
    without = [
        f"{path} {param.opts[0]}"
        for path, command in _click_commands(typer.main.get_command(app))
        for param in command.params
        if param.param_type_name == "option" and not param.help
    ]
    assert without == []


def test_help_of_every_command_prints_its_summary() -> None:
    runner = CliRunner()
    for path, help_text in _typer_commands(app):
        result = runner.invoke(app, [*path.split(), "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, _explain(result)
        summary = help_text.strip().splitlines()[0]
        assert summary in " ".join(_plain(result.stdout).split()), (path, result.stdout)


def test_index_status_and_reembed_with_the_same_embedder(cli: Cli, ll: LearnLoop) -> None:
    ll.items.put_many(cli.tenant, [{"kind": "faq", "title": "Lost card"}], embed=False)
    status = cli.json("index", "status")
    assert (status["state"], status["items"], status["pending"]) == ("building", 1, 1)
    assert "building; 1 items, 1 waiting for a vector" in cli.ok("index", "status")
    out = cli.ok("reembed")  # the embedder is unchanged: it embeds what waits, asking nothing
    assert "re-embedded" in out and "dropped" not in out
    status = cli.json("index", "status")
    assert (status["state"], status["pending"]) == ("ready", 0)


def test_serve_on_a_busy_port_says_so_at_once(cli: Cli) -> None:
    """Before loading the model or opening the database (issue 14: a second `serve`)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = cli.fails("serve", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in message
    assert "another `learnloop serve`" in message and "--port" in message


def test_serve_with_several_processes_refuses_the_in_process_worker(cli: Cli) -> None:
    message = cli.fails("serve", "--workers", "2", "--worker")
    assert "--workers N run `learnloop worker` beside the servers" in message
