"""Conversations and voice transcripts, with sentiment from VADER (the real library)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from learnloop import Client, InvalidInput, LearnLoop, NotFound

ANGRY = (
    "I called three times about the outage. Nobody fixed it and I am really angry. "
    "This is unacceptable."
)
HAPPY = "Thanks a lot, the restart fixed it. Great support, really helpful!"


def test_messages_are_numbered_in_order_with_their_sentiment(ll: LearnLoop, tenant: str) -> None:
    ll.conversations.add(
        tenant,
        "c1",
        {
            "account": "kestrel",
            "messages": [
                {"role": "user", "content": "My dashboard is broken and I am furious."},
                {"role": "assistant", "content": "Sorry! Let us clear the cache."},
            ],
        },
    )
    convo = ll.conversations.add(
        tenant, "c1", {"messages": [{"role": "user", "content": "That worked, thank you so much!"}]}
    )
    assert [(m.seq, m.role) for m in convo.messages] == [(1, "user"), (2, "assistant"), (3, "user")]
    assert convo.messages[0].sentiment < -0.3 < 0.3 < convo.messages[2].sentiment
    assert convo.account_id == "kestrel"


def test_concurrent_appends_keep_one_gapless_order(ll: LearnLoop, tenant: str) -> None:
    def append(n: int) -> None:
        ll.conversations.add(
            tenant,
            "busy",
            {"messages": [{"role": "user", "content": f"message {n}.{i}"} for i in range(5)]},
        )

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = ll.conversations.get(tenant, "busy").messages
    assert [m.seq for m in messages] == list(range(1, 21))
    for n in range(4):  # each call's messages stay together and in order
        seqs = [m.seq for m in messages if m.content.startswith(f"message {n}.")]
        assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_transcript_sentiment_overall_and_per_sentence(ll: LearnLoop, tenant: str) -> None:
    angry, new = ll.conversations.transcript(
        tenant, {"text": ANGRY, "external_id": "call-1", "account": "kestrel", "duration_s": 312}
    )
    assert new and angry.sentiment_label == "negative" and angry.sentiment < -0.5
    assert len(angry.sentences) == 3
    assert min(s["sentiment"] for s in angry.sentences) < -0.4
    happy, _ = ll.conversations.transcript(tenant, {"text": HAPPY})
    assert happy.sentiment_label == "positive" and happy.sentiment > 0.5
    neutral, _ = ll.conversations.transcript(tenant, {"text": "The call lasted four minutes."})
    assert neutral.sentiment_label == "neutral"
    again, new = ll.conversations.transcript(tenant, {"text": ANGRY, "external_id": "call-1"})
    assert not new and again.transcript_id == angry.transcript_id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "   "}, "text: String should have at least 1 character"),
        ({"text": "ok", "duration_s": -1}, "duration_s: Input should be greater than or equal"),
        ({"text": "a\x00b"}, "NUL character"),
    ],
)
def test_bad_transcripts_are_refused(
    ll: LearnLoop, tenant: str, data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ll.conversations.transcript(tenant, data)


def test_conversations_over_http_are_per_tenant(
    api: TestClient, ll: LearnLoop, tenant: str
) -> None:
    bad = api.post(
        "/v1/conversations/c/messages", json={"messages": [{"role": "robot", "content": "hi"}]}
    )
    assert bad.status_code == 422 and "messages.0.role" in bad.json()["error"]["message"]
    ok = api.post(
        "/v1/conversations/c/messages", json={"messages": [{"role": "user", "content": "hello"}]}
    )
    assert ok.status_code == 200 and ok.json()["messages"][0]["seq"] == 1
    other = ll.tenants.create(f"{tenant}-o").tenant_id
    with pytest.raises(NotFound):
        ll.conversations.get(other, "c")
    ll.items.put(other, {"kind": "faq", "title": "Invoices", "body": "Billing > Invoices"})
    theirs = ll.recommender.recommend(other, {"query": "where are my invoices"})
    stolen = api.post(
        "/v1/conversations/c/messages",
        json={
            "messages": [
                {
                    "role": "assistant",
                    "content": "see this",
                    "impression_id": str(theirs.impression_id),
                }
            ]
        },
    )
    assert stolen.status_code == 404
    assert len(api.get("/v1/conversations/c").json()["messages"]) == 1
    created = api.post("/v1/transcripts", json={"text": ANGRY, "external_id": "t"})
    assert created.status_code == 201 and created.json()["sentiment_label"] == "negative"
    assert api.post("/v1/transcripts", json={"text": ANGRY, "external_id": "t"}).status_code == 200


@pytest.mark.parametrize("transport", ["http", "local"])
def test_sdk_messages_and_transcripts(
    request: pytest.FixtureRequest, ll: LearnLoop, tenant: str, transport: str
) -> None:
    if transport == "http":
        client = Client(request.getfixturevalue("server_url"), api_key=ll.keys.create(tenant).key)
    else:
        client = Client.local(ll, tenant)
    with client:
        convo = client.messages(
            "support/42", [{"role": "user", "content": "It works now, thanks!"}], channel="voice"
        )
        assert (convo.conversation_id, convo.channel, convo.messages[0].seq) == (
            "support/42",
            "voice",
            1,
        )
        assert client.transcript(ANGRY).sentiment_label == "negative"
