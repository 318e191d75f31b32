"""Items through the domain API: create, upsert by external_id, versions, list, archive, delete."""

from __future__ import annotations

import pytest

from learnloop import InvalidInput, LearnLoop, NotFound


def faq(**changes: object) -> dict[str, object]:
    return {"kind": "faq", "title": "Reset a password", "body": "Settings > Security.", **changes}


def test_put_creates_then_same_external_id_updates_never_duplicates(
    ll: LearnLoop, tenant: str
) -> None:
    first, outcome = ll.items.put(tenant, faq(external_id="pw"))
    assert (outcome, first.version) == ("created", 1)
    again, outcome = ll.items.put(tenant, faq(external_id="pw"))
    assert (outcome, again.item_id, again.version) == ("unchanged", first.item_id, 1)
    changed, outcome = ll.items.put(tenant, faq(external_id="pw", body="Use the reset link."))
    assert (outcome, changed.item_id, changed.version) == ("updated", first.item_id, 2)
    items, _ = ll.items.list(tenant)
    assert [i.item_id for i in items] == [first.item_id]


def test_same_external_id_in_another_kind_is_another_item(ll: LearnLoop, tenant: str) -> None:
    a, _ = ll.items.put(tenant, faq(external_id="x"))
    b, outcome = ll.items.put(tenant, faq(external_id="x", kind="runbook"))
    assert outcome == "created" and a.item_id != b.item_id


def test_every_version_is_kept_and_readable(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq(tags=["auth"]))
    ll.items.update(tenant, item.item_id, {"body": "Second text."})
    third = ll.items.update(tenant, item.item_id, {"title": "Reset your password", "tags": ["a"]})
    assert third.version == 3
    versions = ll.items.versions(tenant, item.item_id)
    assert [(v.version, v.title, v.body) for v in versions] == [
        (1, "Reset a password", "Settings > Security."),
        (2, "Reset a password", "Second text."),
        (3, "Reset your password", "Second text."),
    ]
    assert ll.items.version(tenant, item.item_id, 1).tags == ["auth"]
    assert len({v.content_hash for v in versions}) == 3
    with pytest.raises(NotFound, match="no version 9"):
        ll.items.version(tenant, item.item_id, 9)


def test_update_without_content_change_keeps_the_version(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq())
    same = ll.items.update(tenant, item.item_id, {"body": "Settings > Security."})
    assert same.version == 1 and same.updated_at == item.updated_at
    archived = ll.items.update(tenant, item.item_id, {"status": "deprecated"})
    assert (archived.version, archived.status) == (1, "deprecated")


def test_list_filters_and_pages(ll: LearnLoop, tenant: str) -> None:
    made = [
        ll.items.put(tenant, faq(title=f"FAQ {n}", tags=["even"] if n % 2 == 0 else []))[0]
        for n in range(5)
    ]
    ll.items.put(tenant, {"kind": "runbook", "title": "Disk full", "tags": ["even", "disk"]})
    assert {i.title for i in ll.items.list(tenant, kinds=["runbook"])[0]} == {"Disk full"}
    evens = ll.items.list(tenant, kinds=["faq"], tags=["even"])[0]
    assert {i.title for i in evens} == {"FAQ 0", "FAQ 2", "FAQ 4"}
    page1, cursor = ll.items.list(tenant, kinds=["faq"], limit=2)
    page2, cursor2 = ll.items.list(tenant, kinds=["faq"], limit=2, cursor=cursor)
    page3, end = ll.items.list(tenant, kinds=["faq"], limit=2, cursor=cursor2)
    seen = [i.item_id for i in page1 + page2 + page3]
    assert seen == sorted((i.item_id for i in made), reverse=True) and end is None


def test_archive_hides_from_search_but_keeps_the_item(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq())
    assert [h.item.item_id for h in ll.search.search(tenant, "reset password")] == [item.item_id]
    ll.items.archive(tenant, item.item_id)
    assert ll.search.search(tenant, "reset password") == []
    assert ll.items.get(tenant, item.item_id).status == "archived"
    found = ll.search.search(tenant, "reset password", statuses=["archived"])
    assert [h.item.item_id for h in found] == [item.item_id]


def test_delete_removes_item_and_versions(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq())
    ll.items.delete(tenant, item.item_id)
    with pytest.raises(NotFound):
        ll.items.get(tenant, item.item_id)
    with pytest.raises(NotFound):
        ll.items.versions(tenant, item.item_id)
    with pytest.raises(NotFound):
        ll.items.delete(tenant, item.item_id)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "faq"}, "title: Field required"),
        ({"kind": "faq", "title": "   "}, "title: String should have at least 1 character"),
        ({"kind": "recipe", "title": "x"}, "kind: Input should be 'runbook'"),
        ({"kind": "faq", "title": 5}, "title: Input should be a valid string"),
        ({"kind": "faq", "title": "x", "tags": "a"}, "tags: Input should be a valid list"),
        ({"kind": "faq", "title": "x", "attrs": [1]}, "attrs: Input should be a valid dict"),
        ({"kind": "faq", "title": "x", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"kind": "faq", "title": "x", "body": "b" * 200_001}, "over the limit of 200,000"),
        ({"kind": "faq", "title": "x", "body": "a\x00b"}, "must not contain the NUL character"),
        ({"kind": "faq", "title": "x", "attrs": {"k": "\x00"}}, "NUL character"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_stored(
    ll: LearnLoop, tenant: str, data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        ll.items.put(tenant, data)
    assert ll.items.list(tenant) == ([], None)


def test_kind_cannot_be_patched(ll: LearnLoop, tenant: str) -> None:
    item, _ = ll.items.put(tenant, faq())
    with pytest.raises(InvalidInput, match="kind: Extra inputs are not permitted"):
        ll.items.update(tenant, item.item_id, {"kind": "runbook"})
    assert ll.items.get(tenant, item.item_id).kind == "faq"


def test_unknown_item_is_not_found(ll: LearnLoop, tenant: str) -> None:
    with pytest.raises(NotFound, match="no item 987654321 in this tenant"):
        ll.items.update(tenant, 987654321, {"body": "x"})


def test_batch_is_all_or_nothing_and_names_the_bad_row(ll: LearnLoop, tenant: str) -> None:
    rows = [faq(title="One"), faq(title="Two"), {"kind": "faq", "body": "no title"}]
    with pytest.raises(InvalidInput, match="item 2: title: Field required"):
        ll.items.put_many(tenant, rows)
    assert ll.items.list(tenant) == ([], None)
    results = ll.items.put_many(tenant, [faq(title="One", external_id="1"), faq(title="Two")])
    assert [outcome for _, outcome in results] == ["created", "created"]
    again = ll.items.put_many(tenant, [faq(title="One", external_id="1"), faq(title="Three")])
    assert [outcome for _, outcome in again] == ["unchanged", "created"]
    assert again[0][0].item_id == results[0][0].item_id


def test_a_batch_maps_every_row_to_its_item_in_order(ll: LearnLoop, tenant: str) -> None:
    ll.items.put(tenant, {"kind": "faq", "external_id": "kept", "title": "Kept as it is"})
    rows = [
        {"kind": "faq", "title": "Unnamed one"},
        {"kind": "faq", "external_id": "kept", "title": "Kept as it is"},
        {"kind": "faq", "external_id": "twice", "title": "First take"},
        {"kind": "faq", "title": "Unnamed two"},
        {"kind": "runbook", "external_id": "twice", "title": "Another kind, same id"},
        {"kind": "faq", "external_id": "twice", "title": "Second take"},
    ]
    results = ll.items.put_many(tenant, rows, embed=False)
    assert [(item.title, outcome) for item, outcome in results] == [
        ("Unnamed one", "created"),
        ("Kept as it is", "unchanged"),
        ("Second take", "created"),  # a batch naming a key twice stores its last row
        ("Unnamed two", "created"),
        ("Another kind, same id", "created"),
        ("Second take", "created"),
    ]
    assert results[2][0].item_id == results[5][0].item_id
    assert len({item.item_id for item, _ in results}) == 5
    assert [v.title for v in ll.items.versions(tenant, results[5][0].item_id)] == ["Second take"]
    again = ll.items.put_many(tenant, rows, embed=False)
    assert [outcome for _, outcome in again][1:3] == ["unchanged", "unchanged"]
