"""All the entities of a text: the tenant's names, the patterns, a NER model's (pure).

Where two overlap, the longer wins, then the surer kind: a pattern (an e-mail is an e-mail)
before a tenant's name, before a model's guess.
"""

from __future__ import annotations

from learnloop.entities import patterns
from learnloop.entities.gazetteer import Gazetteer
from learnloop.entities.models import Entity
from learnloop.entities.ner import Ner

RANK = {"pattern": 0, "exact": 1, "fuzzy": 2, "ner": 3}


def extract(
    text: str, gazetteer: Gazetteer | None = None, *, region: str = "US", ner: Ner | None = None
) -> list[Entity]:
    """The entities of the text in text order, none overlapping another."""
    found = patterns.find(text, region)
    if gazetteer is not None:
        found += gazetteer.find(text)
    if ner is not None:
        found += [_ner_entity(text, *span) for span in ner.entities(text)]
    return _without_overlaps(found)


def _ner_entity(text: str, start: int, end: int, label: str, score: float) -> Entity:
    written = text[start:end]
    value = " ".join(written.split())
    return Entity(
        label=label,
        text=written,
        start=start,
        end=end,
        value=value,
        key=value.casefold(),
        method="ner",
        score=min(max(score, 0.0), 1.0),
    )


def _without_overlaps(found: list[Entity]) -> list[Entity]:
    kept: list[Entity] = []
    for entity in sorted(found, key=lambda e: (e.start - e.end, RANK[e.method], e.start)):
        if all(entity.end <= k.start or entity.start >= k.end for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)
