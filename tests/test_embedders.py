"""The embedders: OpenAIEmbedder against a local OpenAI-protocol server, the real LocalEmbedder,
and the embedding space they claim in a real database."""

from __future__ import annotations

import base64
import gc
import re
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest

from learnloop.embedders import LocalEmbedder, OpenAIEmbedder
from learnloop.embedders.local import DEFAULT_NAME
from learnloop.errors import EmbedderError, EmbeddingMismatchError, LearnLoopError
from learnloop.knowledge.models import embedding_text
from learnloop.service import LearnLoop
from learnloop.settings import Settings
from tests.openai_server import FakeOpenAI, RunningServer, raw_vector

API_KEY = "sk-test-0123456789abcdef"
MODEL = "text-embedding-3-small"

TEXTS = [
    "How do I reset my password?",
    "Quarterly revenue grew by ten percent",
    "Restart the ingestion worker when the queue backs up",
    "The office is closed on public holidays",
    "Rotate the database credentials every ninety days",
]


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with RunningServer(API_KEY) as server:
        yield server


@pytest.fixture
def openai_embedder(openai_server: FakeOpenAI) -> Iterator[OpenAIEmbedder]:
    client = OpenAIEmbedder(base_url=openai_server.base_url, model=MODEL, api_key=API_KEY)
    yield client
    client.close()


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def open_sockets_left_by(action: Callable[[], None], server: FakeOpenAI) -> list[str]:
    """Run ``action``, drop everything it made, and list the sockets to ``server`` left open.

    An httpx client that is never closed keeps its keep-alive connection until garbage
    collection, where the socket warns ResourceWarning (an error under this test suite).
    """
    port = server.url.rsplit(":", 1)[1]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        action()
        gc.collect()
    return [
        str(w.message)
        for w in seen
        if issubclass(w.category, ResourceWarning) and f"'127.0.0.1', {port})" in str(w.message)
    ]


# --- the server itself: the protocol the tests rely on --------------------------------------


def test_server_speaks_the_openai_protocol(openai_server: FakeOpenAI) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=openai_server.base_url, headers=headers) as client:
        one = client.post("/embeddings", json={"model": MODEL, "input": "hello world"})
        many = client.post(
            "/embeddings", json={"model": MODEL, "input": TEXTS[:3], "dimensions": 5}
        )
        b64 = client.post(
            "/embeddings",
            json={"model": MODEL, "input": ["hello world"], "encoding_format": "base64"},
        )
        unauthorised = client.post(
            "/embeddings",
            json={"model": MODEL, "input": "x"},
            headers={"Authorization": "Bearer no"},
        )
        empty = client.post("/embeddings", json={"model": MODEL, "input": []})

    assert one.status_code == 200
    answer = one.json()
    assert answer["object"] == "list" and answer["model"] == MODEL
    assert answer["data"] == [
        {"object": "embedding", "index": 0, "embedding": raw_vector("hello world")}
    ]
    assert answer["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    assert len(raw_vector("hello world")) == 8

    indexes = [d["index"] for d in many.json()["data"]]
    assert sorted(indexes) == [0, 1, 2] and indexes != [0, 1, 2]
    assert all(len(d["embedding"]) == 5 for d in many.json()["data"])

    decoded = np.frombuffer(base64.b64decode(b64.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, raw_vector("hello world"), rtol=1e-6)

    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["type"] == "invalid_request_error"
    assert empty.status_code == 400


# --- OpenAIEmbedder ---------------------------------------------------------------------------


def test_dimension_is_learned_from_the_first_answer(openai_server: FakeOpenAI) -> None:
    client = OpenAIEmbedder(base_url=openai_server.base_url, model=MODEL, api_key=API_KEY)
    try:
        assert client.dimension == 8
        assert client.name == f"openai:{MODEL}"
        probes = openai_server.embedding_requests()
        assert len(probes) == 1
        assert probes[0]["model"] == MODEL
        assert "dimensions" not in probes[0]
        assert client.embed(TEXTS).shape == (len(TEXTS), 8)
    finally:
        client.close()


def test_requested_dimensions_are_sent_and_need_no_probe(openai_server: FakeOpenAI) -> None:
    client = OpenAIEmbedder(
        base_url=openai_server.base_url, model=MODEL, api_key=API_KEY, dimensions=16
    )
    try:
        assert client.dimension == 16
        assert openai_server.embedding_requests() == []
        vectors = client.embed(TEXTS[:2])
        assert vectors.shape == (2, 16)
        assert [r["dimensions"] for r in openai_server.embedding_requests()] == [16]
        np.testing.assert_allclose(vectors[1], unit(raw_vector(TEXTS[1], 16)), atol=1e-6)
    finally:
        client.close()


def test_vectors_are_unit_length_and_in_input_order(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    vectors = openai_embedder.embed(TEXTS)

    # The server really did shuffle, and its raw vectors are not unit length.
    assert openai_server.response_orders[-1] != list(range(len(TEXTS)))
    assert all(abs(np.linalg.norm(raw_vector(t)) - 1) > 0.1 for t in TEXTS)

    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    for text, vector in zip(TEXTS, vectors, strict=True):
        np.testing.assert_allclose(vector, unit(raw_vector(text)), atol=1e-6)
    assert openai_server.embedding_requests()[-1]["input"] == TEXTS


def test_batching_gives_the_same_vectors(
    openai_server: FakeOpenAI, openai_embedder: OpenAIEmbedder
) -> None:
    whole = openai_embedder.embed(TEXTS)
    batched_client = OpenAIEmbedder(
        base_url=openai_server.base_url, model=MODEL, api_key=API_KEY, batch_size=2
    )
    try:
        before = len(openai_server.embedding_requests())
        batched = batched_client.embed(TEXTS)
        sent = openai_server.embedding_requests()[before:]
    finally:
        batched_client.close()
    assert [r["input"] for r in sent] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    np.testing.assert_array_equal(batched, whole)


def test_embed_query_matches_embed(openai_embedder: OpenAIEmbedder) -> None:
    query = openai_embedder.embed_query(TEXTS[2])
    assert query.shape == (8,)
    np.testing.assert_allclose(query, openai_embedder.embed([TEXTS[2]])[0], atol=1e-7)


def test_embedding_nothing_sends_nothing(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    before = len(openai_server.requests)
    assert openai_embedder.embed([]).shape == (0, 8)
    assert len(openai_server.requests) == before


def test_the_api_key_is_sent(openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI) -> None:
    openai_embedder.embed(["anything"])
    assert {r.authorization for r in openai_server.requests} == {f"Bearer {API_KEY}"}
    assert {r.path for r in openai_server.requests} == {"/v1/embeddings"}


def failed_construction(server: FakeOpenAI, api_key: str | None) -> tuple[str, list[str]]:
    """The message of the EmbedderError the constructor raises, and the sockets it left open."""
    messages: list[str] = []

    def construct() -> None:
        try:
            OpenAIEmbedder(base_url=server.base_url, model=MODEL, api_key=api_key)
        except EmbedderError as exc:
            messages.append(str(exc))

    leaks = open_sockets_left_by(construct, server)
    assert messages, "the constructor did not raise EmbedderError"
    return messages[0], leaks


def test_a_wrong_api_key_raises_embedder_error(openai_server: FakeOpenAI) -> None:
    message, _ = failed_construction(openai_server, "sk-wrong-key-9999")
    assert "401" in message
    assert "Incorrect API key provided" in message
    assert openai_server.requests[-1].authorization == "Bearer sk-wrong-key-9999"


def test_no_api_key_raises_embedder_error(openai_server: FakeOpenAI) -> None:
    message, _ = failed_construction(openai_server, None)
    assert "401" in message
    assert "didn't provide an API key" in message
    assert openai_server.requests[-1].authorization is None


def test_a_failed_dimension_probe_closes_its_connection(openai_server: FakeOpenAI) -> None:
    _, leaks = failed_construction(openai_server, "sk-wrong-key-9999")
    assert leaks == [], "OpenAIEmbedder.__init__ raised without closing its httpx client"


def test_an_answer_of_another_dimension_raises_embedder_error(
    openai_server: FakeOpenAI,
) -> None:
    client = OpenAIEmbedder(
        base_url=openai_server.base_url, model=MODEL, api_key=API_KEY, dimensions=8
    )
    try:
        openai_server.fail("wrong_dimension")  # as a server that ignores "dimensions" would
        with pytest.raises(EmbedderError, match=r"\b9\b") as caught:
            client.embed(TEXTS)
        assert re.search(r"\b8\b", str(caught.value))
        with pytest.raises(EmbedderError):
            client.embed_query("a query")
    finally:
        client.close()


def test_a_server_error_raises_embedder_error(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    openai_server.fail("500")
    with pytest.raises(EmbedderError, match="answered 500") as caught:
        openai_embedder.embed(TEXTS)
    assert "server_error" in str(caught.value)
    with pytest.raises(EmbedderError, match="answered 500"):
        openai_embedder.embed_query("a query")


def test_malformed_json_raises_embedder_error(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    openai_server.fail("malformed_json")
    with pytest.raises(EmbedderError) as caught:
        openai_embedder.embed(TEXTS)
    message = str(caught.value)
    assert openai_server.base_url in message
    assert "failed" in message
    assert not isinstance(caught.value, EmbeddingMismatchError)


def test_an_answer_without_data_raises_embedder_error(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    openai_server.fail("no_data")
    with pytest.raises(EmbedderError, match="'data'"):
        openai_embedder.embed(TEXTS)


def test_the_wrong_number_of_vectors_raises_embedder_error(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    openai_server.fail("wrong_count")
    expected = f"sent {len(TEXTS) - 1} vectors for {len(TEXTS)} texts"
    with pytest.raises(EmbedderError, match=expected):
        openai_embedder.embed(TEXTS)
    with pytest.raises(EmbedderError, match="sent 2 vectors for 1 texts"):
        openai_embedder.embed_query("one text")


def test_the_embedder_recovers_once_the_server_does(
    openai_embedder: OpenAIEmbedder, openai_server: FakeOpenAI
) -> None:
    openai_server.fail("500")
    with pytest.raises(EmbedderError):
        openai_embedder.embed(TEXTS)
    openai_server.fail(None)
    recovered = openai_embedder.embed(TEXTS)
    np.testing.assert_allclose(recovered[0], unit(raw_vector(TEXTS[0])), atol=1e-6)


def test_an_unreachable_service_raises_embedder_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EmbedderError, match=f"127.0.0.1:{port}"):
        OpenAIEmbedder(
            base_url=f"http://127.0.0.1:{port}/v1", model=MODEL, api_key=API_KEY, timeout=5
        )


# --- LocalEmbedder: the real model ------------------------------------------------------------


def test_local_embedder_makes_384_unit_vectors(embedder: LocalEmbedder) -> None:
    assert embedder.name == DEFAULT_NAME
    assert embedder.dimension == 384
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_local_embed_query_matches_embed(embedder: LocalEmbedder) -> None:
    for text in (TEXTS[0], TEXTS[2]):
        query = embedder.embed_query(text)
        assert query.shape == (384,)
        assert query.dtype == np.float32
        assert abs(float(np.linalg.norm(query)) - 1) < 1e-5
        np.testing.assert_allclose(query, embedder.embed([text])[0], atol=1e-4)


def test_local_embedder_keeps_input_order(embedder: LocalEmbedder) -> None:
    together = embedder.embed(TEXTS)
    reversed_ = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(together, reversed_[::-1], atol=1e-5)


def test_questions_run_on_the_query_threads_and_batches_on_the_batch_threads(
    embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch raises torch's threads while it runs and sets them back to the query's after,
    and its vectors equal those of one thread; a question runs on the query's threads."""
    import torch

    seen: list[int] = []
    model = embedder._model()
    encode = model.encode

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        return encode(*args, **kwargs)

    two = LocalEmbedder(query_threads=1, batch_threads=2)
    torch.set_num_threads(2)
    single = two.embed_query(TEXTS[0])
    assert torch.get_num_threads() == 1
    monkeypatch.setattr(model, "encode", watched)
    batch = two.embed(TEXTS)
    assert seen == [2] and torch.get_num_threads() == 1
    np.testing.assert_allclose(batch[0], single, atol=1e-5)
    one = LocalEmbedder(query_threads=1, batch_threads=1)
    np.testing.assert_allclose(one.embed(TEXTS), batch, atol=1e-5)
    assert seen == [2, 1]


def test_the_settings_choose_the_embedding_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnloop.embedders import make_embedder

    monkeypatch.setenv("LEARNLOOP_EMBED_QUERY_THREADS", "2")
    monkeypatch.setenv("LEARNLOOP_EMBED_BATCH_THREADS", "1")
    made = make_embedder(Settings())
    assert isinstance(made, LocalEmbedder)
    assert (made.query_threads, made.batch_threads) == (2, 1)
    monkeypatch.setenv("LEARNLOOP_EMBED_QUERY_THREADS", "0")
    with pytest.raises(ValueError, match="embed_query_threads"):
        Settings()
    with pytest.raises(ValueError, match="at least 1"):
        LocalEmbedder(query_threads=0)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: LocalEmbedder) -> None:
    anchor, paraphrase, unrelated = embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my login password and need to change it",
            "The quarterly sales figures were published on Monday",
        ]
    )
    near = float(anchor @ paraphrase)
    far = float(anchor @ unrelated)
    assert near > far + 0.2, (near, far)


# --- the embedding space in a real database ---------------------------------------------------


def embedding_column(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'items'::regclass AND attname = 'embedding'"
        ).fetchone()
    assert row is not None
    return str(row[0])


def stored_space(url: str) -> tuple[str, int] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT embedder, dimension FROM embedding_space").fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def test_a_fresh_database_is_claimed_by_the_openai_embedder(
    migrated_db_url: str, tmp_path: Path, openai_server: FakeOpenAI, embedder: LocalEmbedder
) -> None:
    settings = Settings(database_url=migrated_db_url, data_dir=tmp_path)
    remote = OpenAIEmbedder(
        base_url=openai_server.base_url, model=MODEL, api_key=API_KEY, dimensions=8
    )
    try:
        with LearnLoop.open(settings, embedder=remote) as ll:
            assert embedding_column(migrated_db_url) == "vector(8)"
            assert stored_space(migrated_db_url) == (f"openai:{MODEL}", 8)

            tenant = ll.tenants.create("space-test").tenant_id
            password, created = ll.items.put(
                tenant, {"kind": "faq", "title": "Reset a password", "body": "Open settings"}
            )
            assert created == "created"
            revenue, _ = ll.items.put(
                tenant, {"kind": "kpi", "title": "Quarterly revenue", "body": "Grew ten percent"}
            )

            hits = ll.search.search(tenant, "reset password")
            assert hits[0].item.item_id == password.item_id

            # The semantic side alone: the stored vector is the server's, normalised.
            text = embedding_text("Quarterly revenue", "Grew ten percent")
            query = unit(raw_vector(text)).astype(np.float32)
            hits = ll.search.search_vector(tenant, query)
            assert hits[0].item.item_id == revenue.item_id
            assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)

        # Opening again with the same embedder is fine and changes nothing.
        with LearnLoop.open(settings, embedder=remote) as ll:
            assert ll.items.get(tenant, password.item_id).title == "Reset a password"
        assert embedding_column(migrated_db_url) == "vector(8)"

        with pytest.raises(EmbeddingMismatchError) as caught:
            LearnLoop.open(settings, embedder=embedder)
        message = str(caught.value)
        assert f"openai:{MODEL}" in message and "(8 dimensions)" in message
        assert DEFAULT_NAME in message and "(384)" in message
        assert isinstance(caught.value, LearnLoopError)
        assert stored_space(migrated_db_url) == (f"openai:{MODEL}", 8)
        assert embedding_column(migrated_db_url) == "vector(8)"
    finally:
        remote.close()


def test_vectors_of_an_unknown_embedder_block_a_new_claim(
    migrated_db_url: str, tmp_path: Path, openai_server: FakeOpenAI, embedder: LocalEmbedder
) -> None:
    settings = Settings(database_url=migrated_db_url, data_dir=tmp_path)
    remote = OpenAIEmbedder(base_url=openai_server.base_url, model=MODEL, api_key=API_KEY)
    try:
        with LearnLoop.open(settings, embedder=remote) as ll:
            tenant = ll.tenants.create("orphans").tenant_id
            item, _ = ll.items.put(tenant, {"kind": "faq", "title": "Reset a password"})
    finally:
        remote.close()

    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM embedding_space")

    with pytest.raises(EmbeddingMismatchError) as caught:
        LearnLoop.open(settings, embedder=embedder)
    message = str(caught.value)
    assert "1 vectors of 8 dimensions" in message and "unknown embedder" in message
    assert DEFAULT_NAME in message and "384" in message
    assert stored_space(migrated_db_url) is None
    assert embedding_column(migrated_db_url) == "vector(8)"

    # Without vectors in it, the database can be claimed again, at the new dimension.
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        conn.execute("UPDATE items SET embedding = NULL")
    with LearnLoop.open(settings, embedder=embedder) as ll:
        assert stored_space(migrated_db_url) == (DEFAULT_NAME, 384)
        assert embedding_column(migrated_db_url) == "vector(384)"
        assert ll.items.get(tenant, item.item_id).title == "Reset a password"


def openai_settings(
    url: str, data_dir: Path, server: FakeOpenAI, dimensions: int | None = 8
) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        embedder="openai",
        openai_base_url=server.base_url,
        openai_model=MODEL,
        openai_api_key=API_KEY,
        openai_dimensions=dimensions,
    )


def test_the_settings_choose_the_openai_embedder(
    migrated_db_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    with LearnLoop.open(openai_settings(migrated_db_url, tmp_path, openai_server)) as ll:
        assert isinstance(ll.embedder, OpenAIEmbedder)
        assert (ll.embedder.name, ll.embedder.dimension) == (f"openai:{MODEL}", 8)
        assert embedding_column(migrated_db_url) == "vector(8)"
        tenant = ll.tenants.create("from-settings").tenant_id
        ll.items.put(tenant, {"kind": "faq", "title": "Reset a password"})
        assert ll.search.search(tenant, "password")[0].item.title == "Reset a password"
        assert openai_server.embedding_requests()[-1]["dimensions"] == 8
        ll.embedder.close()  # closing twice is harmless; LearnLoop.close() may not (see below)


def test_closing_learnloop_closes_the_embedder_it_made(
    migrated_db_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    def open_use_close() -> None:
        with LearnLoop.open(openai_settings(migrated_db_url, tmp_path, openai_server)) as ll:
            tenant = ll.tenants.create("owned").tenant_id
            ll.items.put(tenant, {"kind": "faq", "title": "Reset a password"})

    leaks = open_sockets_left_by(open_use_close, openai_server)
    assert openai_server.embedding_requests(), "the embedder was never used"
    assert leaks == [], "LearnLoop.close() left the OpenAIEmbedder it made open"


def test_a_failed_open_closes_the_embedder_it_made(
    migrated_db_url: str, tmp_path: Path, openai_server: FakeOpenAI, embedder: LocalEmbedder
) -> None:
    LearnLoop.open(Settings(database_url=migrated_db_url, data_dir=tmp_path), embedder).close()
    errors: list[str] = []

    def open_mismatched() -> None:
        try:
            # No dimensions: the embedder probes, so it holds an open connection.
            LearnLoop.open(openai_settings(migrated_db_url, tmp_path, openai_server, None))
        except EmbeddingMismatchError as exc:
            errors.append(str(exc))

    leaks = open_sockets_left_by(open_mismatched, openai_server)
    assert errors and DEFAULT_NAME in errors[0] and f"openai:{MODEL}" in errors[0]
    assert [r["input"] for r in openai_server.embedding_requests()] == [["dimension probe"]]
    assert leaks == [], "LearnLoop.open() failed without closing the OpenAIEmbedder it made"
