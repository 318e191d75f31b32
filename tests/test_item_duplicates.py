"""A new item (added or imported) that repeats a stored one is found, and kept with a
warning, skipped or merged; on the real database and embedding model."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnloop import Client
from learnloop.cli.main import app
from learnloop.knowledge.duplicates import DEFAULT_THRESHOLD
from learnloop.service import LearnLoop

PASSWORD = {
    "kind": "faq",
    "title": "How do I reset my password?",
    "body": "Settings > Security > Reset password.",
    "tags": ["account"],
}
PARAPHRASE = {
    "kind": "faq",
    "title": "How can I reset my password?",
    "body": "Go to Settings > Security and reset the password.",
    "tags": ["login"],
}
OTHER = {
    "kind": "faq",
    "title": "When does my new card arrive?",
    "body": "Cards arrive within five working days.",
}
CSV = (
    b"question,answer\n"
    b"How can I reset my password?,Open Settings > Security and reset it.\n"
    b"When does my new card arrive?,Within five working days.\n"
    b"When will my new card arrive?,Cards arrive within five working days.\n"
    b"Which currencies can I hold?,Euro and dollar.\n"
)


def _count(ll: LearnLoop, tenant: str) -> int:
    return len(ll.items.list(tenant, limit=500)[0])


def test_a_new_item_repeating_a_stored_one_is_kept_with_a_warning(
    ll: LearnLoop, tenant: str
) -> None:
    first = ll.items.add(tenant, PASSWORD)
    assert (first.outcome, first.duplicate) == ("created", None)
    again = ll.items.add(tenant, PARAPHRASE)
    assert again.outcome == "created" and again.item.item_id != first.item.item_id
    found = again.duplicate
    assert found is not None and found.action == "kept"
    assert (found.item_id, found.duplicate_title) == (first.item.item_id, PASSWORD["title"])
    assert DEFAULT_THRESHOLD <= found.similarity < 1
    # Neither a text of another subject nor the same text as another kind is a duplicate.
    assert ll.items.add(tenant, OTHER).duplicate is None
    assert ll.items.add(tenant, PARAPHRASE | {"kind": "runbook"}).duplicate is None
    assert _count(ll, tenant) == 4


def test_a_duplicate_can_be_skipped_or_merged_into_the_stored_item(
    ll: LearnLoop, tenant: str
) -> None:
    first = ll.items.add(tenant, PASSWORD).item
    skipped = ll.items.add(tenant, PARAPHRASE, on_duplicate="skip")
    assert skipped.outcome == "skipped" and skipped.item == first
    assert skipped.duplicate is not None and skipped.duplicate.action == "skipped"
    assert _count(ll, tenant) == 1

    merged = ll.items.add(tenant, PARAPHRASE | {"external_id": "pw-2"}, on_duplicate="merge")
    assert merged.outcome == "merged" and merged.item.item_id == first.item_id
    item = ll.items.get(tenant, first.item_id)
    assert (item.title, item.body, item.version) == (PASSWORD["title"], PASSWORD["body"], 2)
    assert item.tags == ["account", "login"]
    assert item.attrs["merged"] == [{"title": PARAPHRASE["title"], "external_id": "pw-2"}]
    assert item.external_id == f"item-{first.item_id}"  # named, so the merge is a version
    assert _count(ll, tenant) == 1
    # Merging the same row again changes nothing; with the check off, both are kept.
    again = ll.items.add(tenant, PARAPHRASE | {"external_id": "pw-2"}, on_duplicate="merge")
    assert again.outcome == "merged" and ll.items.get(tenant, first.item_id).version == 2
    kept = ll.items.add(tenant, PARAPHRASE, on_duplicate="off")
    assert (kept.outcome, kept.duplicate) == ("created", None)
    assert _count(ll, tenant) == 2


def test_an_update_of_a_stored_item_is_not_a_duplicate_and_the_threshold_applies(
    ll: LearnLoop, tenant: str
) -> None:
    # Another tenant's items are never compared.
    theirs = ll.tenants.create(f"{tenant}-b").tenant_id
    ll.items.add(theirs, OTHER)
    assert ll.items.add(tenant, OTHER).duplicate is None
    first = ll.items.add(tenant, PASSWORD | {"external_id": "pw"}).item
    update = ll.items.add(tenant, PARAPHRASE | {"external_id": "pw"}, on_duplicate="skip")
    assert (update.outcome, update.duplicate) == ("updated", None)
    assert update.item.item_id == first.item_id
    similarity = ll.items.add(tenant, PASSWORD, on_duplicate="skip").duplicate
    assert similarity is not None
    ll.proposals.set_duplicate_threshold(tenant, min(1.0, similarity.similarity + 0.01))
    assert ll.items.add(tenant, PASSWORD | {"external_id": "pw-3"}).duplicate is None


def test_an_import_reports_skips_or_merges_duplicate_rows(ll: LearnLoop, tenant: str) -> None:
    tenants = {
        mode: ll.tenants.create(f"{tenant}-{mode}").tenant_id for mode in ("warn", "skip", "merge")
    }
    for mode, who in tenants.items():
        ll.items.add(who, PASSWORD)
        report = ll.imports.import_file(who, CSV, "faq.csv", {"on_duplicate": mode})
        c = report.counts
        assert (c.rows, c.duplicates) == (4, 2), mode
        found = sorted(report.duplicates, key=lambda d: d.title)
        # One row repeats the stored item, the other an earlier row of the same file.
        assert [d.duplicate_title for d in found] == [
            PASSWORD["title"],
            "When does my new card arrive?",
        ]
        assert found[0].item_id is not None and found[1].item_id is None
        assert {d.action for d in found} == {
            "warn": {"kept"},
            "skip": {"skipped"},
            "merge": {"merged"},
        }[mode]
        expected = {"warn": (4, 0, 0), "skip": (2, 2, 0), "merge": (2, 0, 2)}[mode]
        assert (c.created, c.duplicates_skipped, c.duplicates_merged) == expected, mode
        assert _count(ll, who) == 1 + c.created
        assert ll.imports.get(who, report.import_id or 0).duplicates == report.duplicates
    cards = [i for i in ll.items.list(tenants["merge"], limit=50)[0] if "card" in i.title]
    assert len(cards) == 1 and cards[0].attrs["merged"][0]["title"] == (
        "When will my new card arrive?"
    )
    # Imported again, nothing new: the stored rows are unchanged, the duplicates found again.
    again = ll.imports.import_file(tenants["skip"], CSV, "faq.csv", {"on_duplicate": "skip"})
    assert (again.counts.unchanged, again.counts.duplicates_skipped) == (2, 2)


def test_the_api_and_the_cli_take_on_duplicate(
    api: TestClient, ll: LearnLoop, tenant: str, database_url: str
) -> None:
    first = api.post("/v1/items", json=PASSWORD).json()["item"]
    warned = api.post("/v1/items", json=PARAPHRASE)
    assert warned.status_code == 201
    assert warned.json()["duplicate"]["item_id"] == first["item_id"]
    skipped = api.post("/v1/items", json=PARAPHRASE | {"on_duplicate": "skip"})
    assert skipped.status_code == 200 and skipped.json()["outcome"] == "skipped"
    assert skipped.json()["item"]["item_id"] == warned.json()["item"]["item_id"]  # the same text
    bad = api.post("/v1/items", json=PARAPHRASE | {"on_duplicate": "drop"})
    assert bad.status_code == 422 and "on_duplicate" in bad.json()["error"]["message"]
    upload = api.post(
        "/v1/imports", params={"filename": "faq.csv", "on_duplicate": "skip"}, content=CSV
    )
    assert upload.status_code == 201
    assert upload.json()["counts"]["duplicates_skipped"] >= 2

    local = Client.local(ll, tenant)
    _, outcome = local.put_item(
        "faq", PARAPHRASE["title"], body=PARAPHRASE["body"], on_duplicate="skip"
    )
    assert outcome == "skipped"

    env = {"DATABASE_URL": database_url, "LEARNLOOP_TENANT": tenant, "COLUMNS": "160"}
    runner = CliRunner()
    args = [
        "items",
        "add",
        "--kind",
        "faq",
        "--title",
        "How could I reset my password?",
        "--body",
        PASSWORD["body"],
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0 and "warning: a duplicate of item" in result.stderr
    merged = runner.invoke(app, [*args, "--on-duplicate", "merge", "--json"], env=env)
    assert json.loads(merged.stdout)["outcome"] == "merged"
    wrong = runner.invoke(app, [*args, "--on-duplicate", "maybe"], env=env)
    assert wrong.exit_code == 1 and "--on-duplicate must be one of" in wrong.stderr
