"""Entities in messages and transcripts: the tenant's names by an exact and fuzzy gazetteer,
pattern entities (the real phonenumbers and dateutil), a pluggable NER model, stored with
offsets and found again through the GIN index; tenants apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from learnloop import LearnLoop
from learnloop.entities import Entities, extract, load_ner
from learnloop.entities.patterns import find
from learnloop.errors import ConfigurationError, InvalidInput

CALL = (
    "Agent: Thanks for calling, this is Priya. Customer: Hi, Dana Whitfield from Northwind "
    "Traders here. Our Net Revenue Retention dropped after the March 3, 2026 renewal, and "
    "invoice ORD-88213 for $12,400.00 still shows as unpaid. You can reach me at "
    "+1 (415) 555-0199 or dana.whitfield@northwind.example. I opened ticket #48213 and "
    "INC0012345 last week; the status page https://status.northwind.example/billing. says "
    "nothing. Could someone check Zendsk Suite? We also pay EUR 300 a month for it."
)
ACCOUNTS = (
    b"account_id,account,segment\nnorthwind,Northwind Traders,enterprise\ncontoso,Contoso Ltd,smb\n"
)


def _by_label(entities: list, label: str) -> list:
    return [e for e in entities if e.label == label]


def test_pattern_entities_of_a_support_call_with_offsets() -> None:
    found = extract(CALL)
    for e in found:
        assert CALL[e.start : e.end] == e.text
    values = {(e.label, e.value) for e in found}
    assert {
        ("email", "dana.whitfield@northwind.example"),
        ("phone", "+14155550199"),
        ("money", "USD 12400.00"),
        ("money", "EUR 300.00"),
        ("date", "2026-03-03"),
        ("order_id", "ORD-88213"),
        ("ticket_id", "#48213"),
        ("ticket_id", "INC0012345"),
        ("url", "https://status.northwind.example/billing"),
    } <= values
    # no two entities overlap, and a date inside nothing else is not read as a phone
    spans = sorted((e.start, e.end) for e in found)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert not _by_label(find("the 2026-02-30 meeting"), "date")  # no such day


def test_tenant_names_are_linked_exactly_and_fuzzily(ll: LearnLoop, tenant: str) -> None:
    ll.imports.import_file(tenant, ACCOUNTS, "accounts.csv")
    kpi, _ = ll.items.put(tenant, {"kind": "kpi", "title": "Net Revenue Retention"})
    tool, _ = ll.items.put(
        tenant, {"kind": "tool", "title": "Zendesk Suite", "attrs": {"aliases": ["Zendesk"]}}
    )
    other = ll.tenants.create(f"{tenant}-x").tenant_id
    transcript, _ = ll.conversations.transcript(tenant, {"text": CALL, "account": "northwind"})
    found = transcript.entities
    account = _by_label(found, "account")
    assert [(e.text, e.account_id, e.method) for e in account] == [
        ("Northwind Traders", "northwind", "exact")
    ]
    assert [(e.item_id, e.method) for e in _by_label(found, "kpi")] == [(kpi.item_id, "exact")]
    zendesk = _by_label(found, "tool")
    assert [(e.text, e.item_id, e.method) for e in zendesk] == [
        ("Zendsk Suite", tool.item_id, "fuzzy")
    ]
    assert 0.9 <= zendesk[0].score < 1
    # another tenant has none of these names: nothing of them is linked there
    elsewhere, _ = ll.conversations.transcript(other, {"text": CALL})
    assert not [e for e in elsewhere.entities if e.method in ("exact", "fuzzy")]


def test_search_by_entity_finds_messages_and_transcripts_of_this_tenant_only(
    ll: LearnLoop, tenant: str
) -> None:
    other = ll.tenants.create(f"{tenant}-o").tenant_id
    ll.conversations.transcript(tenant, {"text": CALL, "external_id": "call-1"})
    ll.conversations.add(
        tenant,
        "chat-9",
        {
            "messages": [
                {"role": "user", "content": "Still nothing? Call me on 415-555-0199 please."},
                {"role": "assistant", "content": "We will call you back today."},
            ]
        },
    )
    ll.conversations.transcript(other, {"text": CALL, "external_id": "call-1"})
    hits = ll.entities.search(tenant, label="phone", value="(415) 555 0199")
    assert sorted((h.source, h.seq) for h in hits) == [("message", 1), ("transcript", None)]
    message = next(h for h in hits if h.source == "message")
    assert message.conversation_id == "chat-9"
    assert message.entities[0].text == "415-555-0199" and "415-555-0199" in message.snippet
    assert len(ll.entities.search(other, value="+14155550199")) == 1
    assert ll.entities.search(tenant, label="email", value="nobody@example.com") == []
    top = ll.entities.top(tenant, label="phone")
    assert [(t.value, t.mentions, t.conversations) for t in top] == [("+14155550199", 2, 2)]
    with pytest.raises(InvalidInput, match="label, value, item_id or account_id"):
        ll.entities.search(tenant)


def test_the_search_uses_the_gin_index(ll: LearnLoop, tenant: str) -> None:
    with ll.db.connection() as conn:  # a tenant with 5,000 calls, each naming another phone
        conn.execute(
            "INSERT INTO transcripts (tenant_id, text, sentiment, sentiment_label, entities) "
            "SELECT %(t)s, 'call ' || n, 0, 'neutral', jsonb_build_array(jsonb_build_object("
            "'label', 'phone', 'key', '+1415555' || n, 'value', '+1415555' || n, 'text', "
            "'415555' || n, 'start', 0, 'end', 10, 'method', 'pattern', 'score', 1)) "
            "FROM generate_series(1, 5000) n",
            {"t": tenant},
        )
        conn.execute("VACUUM ANALYZE transcripts")  # as autovacuum would
        hits = ll.entities.search(tenant, label="phone", value="+14155554242")
        plan = conn.execute(
            "EXPLAIN SELECT 1 FROM transcripts WHERE tenant_id = %(t)s "
            'AND entities @> \'[{"key": "+14155554242"}]\'',
            {"t": tenant},
        ).fetchall()
    assert [h.snippet for h in hits] == ["call 4242"]
    assert "transcripts_entities" in " ".join(str(r) for r in plan)


def test_reindex_links_names_added_after_the_text(ll: LearnLoop, tenant: str) -> None:
    ll.conversations.add(
        tenant, "c1", {"messages": [{"role": "user", "content": "Contoso Ltd wants a refund."}]}
    )
    assert ll.entities.search(tenant, account_id="contoso") == []
    ll.imports.import_file(tenant, ACCOUNTS, "accounts.csv")
    assert ll.entities.reindex(tenant) == {"messages": 1, "transcripts": 0}
    [hit] = ll.entities.search(tenant, account_id="contoso")
    assert (hit.entities[0].start, hit.entities[0].end) == (0, 11)


class KeywordNer:
    """A NER model of the ``Ner`` protocol: people named in a fixed list."""

    name = "keywords"

    def entities(self, text: str) -> list[tuple[int, int, str, float]]:
        found = []
        for person in ("Priya", "Dana Whitfield", "Northwind"):
            start = text.find(person)
            if start >= 0:
                found.append((start, start + len(person), "person", 0.8))
        return found


def test_a_ner_model_adds_its_entities_below_the_tenants_names(ll: LearnLoop, tenant: str) -> None:
    ll.imports.import_file(tenant, ACCOUNTS, "accounts.csv")
    entities = Entities(ll.db, ner=KeywordNer())
    found = entities.extract(tenant, CALL)
    people = [e.text for e in found if e.method == "ner"]
    assert people == ["Priya", "Dana Whitfield"]  # "Northwind" lies inside an account name
    assert [e.text for e in _by_label(found, "account")] == ["Northwind Traders"]


def test_a_spacy_pipeline_in_a_folder_is_the_model(
    ll: LearnLoop, tenant: str, tmp_path: Path
) -> None:
    """A real spaCy pipeline, saved to a folder and named by LEARNLOOP_NER=spacy:FOLDER
    (an entity ruler on a blank English pipeline: no trained model to download here)."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PERSON", "pattern": [{"LOWER": "dana"}, {"LOWER": "whitfield"}]},
            {"label": "PERSON", "pattern": "Priya"},
            {"label": "ORG", "pattern": "Northwind Traders"},
        ]
    )
    nlp.to_disk(tmp_path / "pipeline")
    ner = load_ner(f"spacy:{tmp_path / 'pipeline'}")
    assert ner is not None and ner.name == f"spacy:{tmp_path / 'pipeline'}"
    ll.imports.import_file(tenant, ACCOUNTS, "accounts.csv")
    found = Entities(ll.db, ner=ner).extract(tenant, CALL)
    people = [(e.text, e.label, e.method) for e in found if e.method == "ner"]
    assert people == [("Priya", "person", "ner"), ("Dana Whitfield", "person", "ner")]
    assert all(CALL[e.start : e.end] == e.text for e in found)
    [account] = _by_label(found, "account")  # the tenant's own name wins over the model's org
    assert (account.text, account.method) == ("Northwind Traders", "exact")
    assert load_ner("auto") is None  # spaCy, but no pipeline installed as a package
    with pytest.raises(ConfigurationError, match=r"spaCy cannot load .*none"):
        load_ner(f"spacy:{tmp_path / 'none'}")


def test_ner_choice_needs_nothing_downloaded() -> None:
    assert load_ner("off") is None
    with pytest.raises(ConfigurationError, match="auto, off, spacy:NAME or gliner:PATH"):
        load_ner("bert")
    with pytest.raises(ConfigurationError, match="gliner package is not installed"):
        load_ner("gliner:/models/gliner")


def test_entities_over_http(api: TestClient, ll: LearnLoop, tenant: str) -> None:
    api.post("/v1/transcripts", json={"text": CALL, "external_id": "c"})
    found = api.post("/v1/entities/extract", json={"text": "mail ana@acme.io"}).json()
    assert [(e["label"], e["start"], e["end"]) for e in found] == [("email", 5, 16)]
    hits = api.get("/v1/entities/search", params={"label": "order_id", "value": "ord-88213"})
    assert hits.status_code == 200 and hits.json()[0]["source"] == "transcript"
    top = api.get("/v1/entities/top", params={"label": "money"}).json()
    assert {t["value"] for t in top} == {"USD 12400.00", "EUR 300.00"}
    bad = api.get("/v1/entities/search")
    assert bad.status_code == 422 and "label, value" in bad.text
    assert api.get("/v1/entities/search", params={"limit": 0, "label": "x"}).status_code == 422
