"""learnloop demo: the end-to-end run of README's first command.

It starts (or joins) the embedded database, loads the sample knowledge base, and runs
simulated users (``learnloop.learn.Simulator``) through the real recommend and events paths:
first with the similarity baseline, then with a learning policy, the statistics brought up
to date as the worker would. It prints the success rate and first-choice accuracy before
and after (the change with its 95% interval), spreads the interactions over the weeks
before now (``--days``: the dashboard's daily charts then show the trend), then serves the
API and the dashboard until Ctrl-C.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from learnloop.cli.context import console, err_console
from learnloop.embedders import make_embedder
from learnloop.errors import LearnLoopError
from learnloop.learn import Outcome, SimItem, Simulator, backdate
from learnloop.learn.registry import demo_policies
from learnloop.ports import Embedder, Vectors
from learnloop.service import LearnLoop
from learnloop.settings import Settings

QUESTION = "how do I reset my password"
UPDATE_EVERY = 25  # interactions between two statistics updates (the worker's job)
THREADS = 4
THRESHOLD = 0.2  # the demo tenant shows up to three options, so there is a ranking to learn
DAYS = 28  # the interactions are spread over the four weeks before now (the dashboard shows 30)


def sample_items() -> list[dict[str, Any]]:
    """The sample knowledge base shipped with learnloop."""
    text = resources.files("learnloop.samples").joinpath("knowledge.json").read_text("utf-8")
    items: list[dict[str, Any]] = json.loads(text)
    return items


def question(target: SimItem) -> str:
    """How a simulated user asks about ``target``: in the words of its topic (its tags), the
    way people ask, not in the item's title; the items that share a tag answer it too, and
    which of them helps most depends on who asks."""
    return " ".join(sorted(target.tags)) or target.title.lower()


class CachedEmbedder:
    """An embedder that remembers its query vectors: the simulated users repeat questions."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self._queries: dict[str, Vectors] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed(texts)

    def remember(self, queries: Sequence[str]) -> None:
        """Embed these queries now, in one batch."""
        new = sorted(set(queries) - set(self._queries))
        for text, vector in zip(new, self.inner.embed(new) if new else [], strict=True):
            self._queries[text] = vector

    def embed_query(self, text: str) -> Vectors:
        if text not in self._queries:
            self._queries[text] = self.inner.embed_query(text)
        return self._queries[text]

    def close(self) -> None:
        self.inner.close()


@dataclass
class Tally:
    """What the simulated users did in one phase."""

    interactions: int = 0
    succeeded: int = 0
    clicked: int = 0
    first_choice: int = 0
    value: float = 0.0  # expected successes of what was shown, under the hidden quality

    def add(self, done: tuple[Sequence[Outcome], float]) -> None:
        outcomes, value = done
        self.interactions += 1
        self.value += value
        self.succeeded += any(o.type == "succeeded" for o in outcomes)
        clicks = [o for o in outcomes if o.type == "clicked"]
        if clicks:
            self.clicked += 1
            self.first_choice += clicks[0].rank == 1

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.interactions if self.interactions else 0.0

    @property
    def expected(self) -> float:
        return self.value / self.interactions if self.interactions else 0.0

    @property
    def first_choice_accuracy(self) -> float:
        return self.first_choice / self.clicked if self.clicked else 0.0


def demo(
    tenant: Annotated[str, typer.Option(help="The tenant the demo fills.")] = "demo",
    interactions: Annotated[
        int, typer.Option(help="Simulated interactions in all (the first fifth: baseline).")
    ] = 3000,
    policy: Annotated[
        str, typer.Option(help="The learning policy: memory, bayes or contextual.")
    ] = "memory",
    seed: Annotated[int, typer.Option(help="Seed of the simulated users.")] = 7,
    days: Annotated[
        int, typer.Option(help="Days before now the interactions are spread over (0: now).")
    ] = DAYS,
    serve: Annotated[
        bool, typer.Option(help="Serve the API and the dashboard afterwards, until Ctrl-C.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Load the sample knowledge base, simulate users learning it, show the dashboard."""
    if policy not in demo_policies():
        raise typer.BadParameter(f"use {', '.join(demo_policies())}", param_hint="--policy")
    if interactions < 10:
        raise typer.BadParameter("at least 10", param_hint="--interactions")
    if not 0 <= days <= 365:
        raise typer.BadParameter("between 0 and 365", param_hint="--days")
    with _opened() as ll:
        _load(ll, tenant)
        started = backdate.database_now(ll.db)
        before, after, seconds = _simulate(ll, tenant, interactions, policy, seed)
        _report(before, after, seconds, interactions, policy)
        if days:
            moved, _ = backdate.spread(ll.db, tenant, started, days)
            console.print(f"the {moved:,} interactions spread over the {days} days before now")
        ll.analytics.refresh(tenant, full=True)
        key = ll.keys.create(tenant, "demo").key
        console.print(f"tenant {tenant!r} is ready. API key (shown once): {key}", highlight=False)
        if serve:
            _serve(ll, host, port, key)


@contextmanager
def _opened() -> Iterator[LearnLoop]:
    settings = Settings()
    try:
        inner = make_embedder(settings)
        try:
            with LearnLoop.open(settings, CachedEmbedder(inner)) as ll:
                yield ll
        finally:
            inner.close()
    except LearnLoopError as exc:
        err_console.print(Text.assemble(("error:", "red"), " ", exc.message))
        raise typer.Exit(1) from exc


def _load(ll: LearnLoop, tenant: str) -> None:
    """Store the sample items (only what changed is embedded) and search them once."""
    ll.tenants.ensure(tenant, "learnloop demo")
    samples = sample_items()
    with console.status(f"embedding and storing {len(samples)} sample items"):
        stored = ll.items.put_many(tenant, samples)
    outcomes = Counter(outcome for _, outcome in stored)
    console.print("items: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
    table = Table("rank", "kind", "title", "similarity", title=f"search: {QUESTION!r}")
    for rank, hit in enumerate(ll.search.search(tenant, QUESTION, k=3), 1):
        similarity = f"{hit.similarity:.3f}" if hit.similarity is not None else ""
        table.add_row(str(rank), hit.item.kind, hit.item.title, similarity)
    console.print(table)


def _simulate(
    ll: LearnLoop, tenant: str, total: int, policy: str, seed: int
) -> tuple[Tally, Tally, float]:
    """A baseline phase (a fifth), then learning; 'after' is the last fifth."""
    sim = Simulator.from_knowledge(sample_items(), seed=seed)
    if isinstance(ll.embedder, CachedEmbedder):
        with console.status("embedding the simulated questions"):
            ll.embedder.remember([question(item) for item in sim.items.values()])
    baseline = total // 5
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("baseline (similarity)", total=total)
        ll.recommender.set_threshold(tenant, THRESHOLD)
        ll.learning.configure(tenant, {"policy": "similarity"})
        before = Users(ll, tenant, sim, lambda: progress.advance(task)).run(baseline)
        ll.learning.configure(tenant, {"policy": policy})
        progress.update(task, description=f"learning ({policy})")
        users = Users(ll, tenant, sim, lambda: progress.advance(task), learn=True)
        users.run(total - 2 * baseline)
        after = users.run(baseline)
    return before, after, time.perf_counter() - started


class Users:
    """Simulated users asking at once from THREADS threads (the database does the waiting);
    the simulator, which is not thread-safe, is used under a lock."""

    def __init__(
        self,
        ll: LearnLoop,
        tenant: str,
        sim: Simulator,
        advance: Callable[[], object],
        *,
        learn: bool = False,
    ):
        self.ll, self.tenant, self.sim = ll, tenant, sim
        self.advance = advance
        self.learn = learn
        self.lock = threading.Lock()
        self.done = 0
        self.recorded = False

    def run(self, n: int) -> Tally:
        """n interactions; what the users did."""
        tally = Tally()
        while n and not self.recorded:  # one at a time until the month's events table exists
            tally.add(self.interact())
            n -= 1
        with ThreadPoolExecutor(THREADS) as pool:
            for done in pool.map(lambda _: self.interact(), range(n)):
                tally.add(done)
        return tally

    def interact(self) -> tuple[list[Outcome], float]:
        """One simulated user: a question, the recommendation, what the user did, as events."""
        with self.lock:
            query = self.sim.query()
        request = {"query": question(self.sim.items[query.target]), "context": query.context,
                   "k": 3}  # fmt: skip
        answer = self.ll.recommender.recommend(self.tenant, request)
        ids = {str(r.item.external_id): r.item.item_id for r in answer.recommendations}
        with self.lock:
            outcomes = self.sim.respond(query, list(ids))
            value = self.sim.value(query, list(ids))
            self.done += 1
            due = self.learn and self.done % UPDATE_EVERY == 0
        events = [
            {"type": o.type, "impression_id": answer.impression_id, "item_id": ids[o.key]}
            for o in outcomes
        ]
        if events:
            self.ll.events.record(self.tenant, events)
            self.recorded = True
        if due:
            _learn(self.ll)
        self.advance()
        return outcomes, value


def _learn(ll: LearnLoop) -> None:
    """What the worker does on new events: bring the learning statistics up to date."""
    while ll.learning.update() >= 10_000:
        pass


def _report(before: Tally, after: Tally, seconds: float, total: int, policy: str) -> None:
    table = Table("", "before (similarity)", f"after ({policy})", "change", title="learning")
    for label, then, now in (
        ("success rate", before.success_rate, after.success_rate),
        ("expected successes", before.expected, after.expected),
        ("first-choice accuracy", before.first_choice_accuracy, after.first_choice_accuracy),
    ):
        table.add_row(label, f"{then:.1%}", f"{now:.1%}", f"{100 * (now - then):+.1f} points")
    console.print(table)
    console.print(
        f"{total:,} simulated interactions in {seconds:.1f} s "
        f"(before: the first {before.interactions:,}; after: the last {after.interactions:,})"
    )
    low, high = _difference_interval(
        before.success_rate, before.interactions, after.success_rate, after.interactions
    )
    console.print(
        f"success rate: before {before.success_rate:.1%}, after {after.success_rate:.1%}"
        f" (change {100 * (after.success_rate - before.success_rate):+.1f} points,"
        f" 95% interval {100 * low:+.1f} to {100 * high:+.1f})"
    )
    console.print(
        f"first-choice accuracy: before {before.first_choice_accuracy:.1%}, "
        f"after {after.first_choice_accuracy:.1%}"
    )


def _difference_interval(p1: float, n1: int, p2: float, n2: int) -> tuple[float, float]:
    """A 95% (Wald) interval of the difference p2 - p1 of two independent proportions.

    >>> [round(v, 3) for v in _difference_interval(0.5, 600, 0.6, 600)]
    [0.044, 0.156]
    """
    if not n1 or not n2:
        return (-1.0, 1.0)
    spread = 1.96 * ((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2) ** 0.5
    return p2 - p1 - spread, p2 - p1 + spread


def _serve(ll: LearnLoop, host: str, port: int, key: str) -> None:
    from learnloop.api import create_app
    from learnloop.api.server import serve

    port = _free_port(host, port)
    url = f"http://{host}:{port}"
    link = dashboard_link(ll, url, ll.keys.grant(key).tenant_id)
    console.print(f"dashboard: {link}", highlight=False)
    console.print("(the link's key can only read; review proposals with the key above)")
    console.print(f"API docs: {url}/docs   (Ctrl-C stops)", highlight=False)
    sys.stdout.flush()
    serve(create_app(ll), ll.settings, host=host, port=port, log_level="warning")


def dashboard_link(ll: LearnLoop, url: str, tenant: str) -> str:
    """A link to the dashboard signed in with a new key that can only read (a link ends up
    in a browser's history)."""
    viewer = ll.keys.create(tenant, "dashboard (read-only)", ["read"]).key
    return f"{url}/dashboard/#key={viewer}"


def _free_port(host: str, port: int, tries: int = 20) -> int:
    """``port``, or the next of ``tries`` ports that is free (another server may hold it)."""
    for candidate in range(port, port + tries):
        with socket.socket() as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return candidate
    raise typer.BadParameter(f"ports {port}-{port + tries - 1} are all taken", param_hint="--port")
