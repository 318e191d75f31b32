"""A user simulator: hidden item quality per segment, position bias and noisy clicks.

Pure and seeded (no I/O): the tests, the benchmarks and ``learnloop demo`` use it to show
that a policy learns from outcomes, and by how much it trails an oracle that knows the
hidden quality.

The world
    Each query aims at one *target* item. Items that share a tag with the target are its
    *siblings*. The chance that an item, once looked at, solves the query is
    ``quality = relevance * preference[segment][item]``: relevance is 1 for the target,
    ``SIBLING`` for a sibling and ``STRAY`` for anything else; the preference of each
    segment for each item is hidden, drawn once per seed from U(0.15, 0.95). So which of a
    target and its siblings is best depends on the segment, and similarity cannot tell.

Users
    A pool of users, each in one segment; a query comes from a random user, with a fresh
    session, and a context ``{"user", "session", "segment", "intent"}`` (intent: the
    target's kind).

Outcomes of showing items (``respond``)
    The item at rank r is looked at with probability ``examine(r) = 1 / r ** position_bias``.
    A looked-at item is clicked with probability ``min(1, quality + click_noise)`` and,
    once clicked, succeeds with probability ``quality / min(1, quality + click_noise)``
    (so P(success | looked at) = quality), otherwise fails; a looked-at item that is not
    clicked is dismissed with probability ``dismiss_rate``. Every looked-at item yields a
    ``viewed`` outcome first. Outcomes name the item's key and its 1-based rank.

Stable interface::

    sim = Simulator.from_knowledge(sample_items(), seed=7)   # or Simulator.synthetic(seed=7)
    q = sim.query()                # Query(text, target, segment, context)
    shown = ["rb-disk-full", ...]  # the keys a policy showed, best first
    for outcome in sim.respond(q, shown):      # Outcome(type, key, rank)
        ...                                    # send as an event of the impression
    sim.value(q, shown)            # expected successes of that list (no randomness)
    sim.oracle(q, candidates, k)   # the k candidates with the highest hidden quality
    sim.candidates(q, n)           # synthetic worlds only: [(key, similarity)] best first

Keys are ``external_id`` for knowledge items (``item.external_id`` of a recommendation).

Through the real recommend and events code paths (``learnloop.learn.simulate.play``)::

    trace = play(sim, 2000,
                 recommend=lambda request: ll.recommender.recommend(tenant, request),
                 record=lambda events: ll.events.record(tenant, events),
                 update=ll.learning.update)      # or leave it to the worker
    trace.mean(500), trace.oracle_mean(500)      # value of the last 500 vs the oracle's

>>> sim = Simulator.synthetic(seed=1)
>>> q = sim.query()
>>> keys = [key for key, _ in sim.candidates(q, 5)]
>>> sim.value(q, sim.oracle(q, keys, 3)) >= sim.value(q, keys[:3])
True
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEGMENTS = ("smb", "enterprise", "internal")
SIBLING = 0.85
STRAY = 0.03


@dataclass(frozen=True)
class SimItem:
    key: str
    title: str
    kind: str = "faq"
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Query:
    text: str
    target: str
    segment: str
    context: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class Outcome:
    type: str  # viewed, clicked, succeeded, failed, dismissed
    key: str
    rank: int


class Simulator:
    """Simulated users answering what a policy shows them; see the module docstring."""

    def __init__(
        self,
        items: Sequence[SimItem],
        *,
        segments: Sequence[str] = SEGMENTS,
        users: int = 300,
        seed: int = 0,
        position_bias: float = 1.0,
        click_noise: float = 0.1,
        dismiss_rate: float = 0.3,
    ):
        if len(items) < 2:
            raise ValueError("a simulator needs at least two items")
        self.items = {item.key: item for item in items}
        self.segments = tuple(segments)
        self.position_bias = position_bias
        self.click_noise = click_noise
        self.dismiss_rate = dismiss_rate
        self._rng = random.Random(seed)
        world = random.Random(f"world-{seed}")
        self._preference = {
            (segment, key): world.uniform(0.15, 0.95)
            for segment in self.segments
            for key in sorted(self.items)
        }
        self._users = [self.segments[n % len(self.segments)] for n in range(users)]
        self._seed = seed
        self._issued = 0

    @classmethod
    def from_knowledge(cls, items: Sequence[Mapping[str, Any]], **options: Any) -> Simulator:
        """A world over knowledge items as dicts (``kind, external_id, title, tags``)."""
        sims = [
            SimItem(str(i["external_id"]), str(i["title"]), str(i["kind"]), frozenset(i["tags"]))
            for i in items
        ]
        return cls(sims, **options)

    @classmethod
    def synthetic(cls, n_items: int = 40, group: int = 5, **options: Any) -> Simulator:
        """``n_items`` items in tag groups of ``group``: an in-memory world for tests."""
        sims = [
            SimItem(f"i{n}", f"synthetic item {n}", "faq", frozenset({f"g{n // group}"}))
            for n in range(n_items)
        ]
        return cls(sims, **options)

    def query(self) -> Query:
        """The next query: a random user (so segment) asking about a random target."""
        self._issued += 1
        user = self._rng.randrange(len(self._users))
        target = self.items[self._rng.choice(sorted(self.items))]
        segment = self._users[user]
        context = {
            "user": f"sim-user-{user}",
            "session": f"sim-{self._seed}-{self._issued}",
            "segment": segment,
            "intent": target.kind,
        }
        return Query(target.title.lower(), target.key, segment, context)

    def relevance(self, query: Query, key: str) -> float:
        if key == query.target:
            return 1.0
        return SIBLING if self.items[key].tags & self.items[query.target].tags else STRAY

    def quality(self, query: Query, key: str) -> float:
        """P(the item solves the query | the user looked at it): hidden from policies."""
        if key not in self.items:
            return 0.0
        return self.relevance(query, key) * self._preference[query.segment, key]

    def examine(self, rank: int) -> float:
        """P(the user looks at the item shown at this 1-based rank)."""
        return float(1.0 / rank**self.position_bias)

    def respond(self, query: Query, shown: Sequence[str]) -> list[Outcome]:
        """What the user did with the items shown, best first (random, seeded)."""
        outcomes: list[Outcome] = []
        for rank, key in enumerate(shown, 1):
            if self._rng.random() >= self.examine(rank):
                continue
            outcomes.append(Outcome("viewed", key, rank))
            outcomes.extend(self._react(self.quality(query, key), key, rank))
        return outcomes

    def _react(self, quality: float, key: str, rank: int) -> list[Outcome]:
        attract = min(1.0, quality + self.click_noise)
        if self._rng.random() < attract:
            solved = self._rng.random() < quality / attract
            return [Outcome("clicked", key, rank), Outcome(_ending(solved), key, rank)]
        if self._rng.random() < self.dismiss_rate:
            return [Outcome("dismissed", key, rank)]
        return []

    def value(self, query: Query, shown: Sequence[str]) -> float:
        """Expected successes of showing these items in this order."""
        return sum(self.examine(r) * self.quality(query, key) for r, key in enumerate(shown, 1))

    def oracle(self, query: Query, candidates: Sequence[str], k: int) -> list[str]:
        """The k candidates an all-knowing policy shows, best first."""
        return sorted(candidates, key=lambda key: -self.quality(query, key))[:k]

    def similarity(self, query: Query, key: str) -> float:
        """A stand-in for cosine similarity in synthetic worlds: relevance plus fixed noise."""
        noise = random.Random(f"{self._seed}-{query.target}-{key}").gauss(0.0, 0.05)
        base = {1.0: 0.62, SIBLING: 0.55}.get(self.relevance(query, key), 0.3)
        return base + noise

    def candidates(self, query: Query, n: int = 10) -> list[tuple[str, float]]:
        """The n items most similar to the query, as (key, similarity), best first."""
        scored = [(key, self.similarity(query, key)) for key in self.items]
        return sorted(scored, key=lambda pair: -pair[1])[:n]


def _ending(solved: bool) -> str:
    return "succeeded" if solved else "failed"
