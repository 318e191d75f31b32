"""Entities in conversations and transcripts: extract, search, the most mentioned, reindex."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.entities import Entity, EntityCount, EntityHit, ExtractIn
from learnloop.entities.models import Source

router = APIRouter(prefix="/v1/entities", tags=["entities"])
Text = Annotated[str | None, Query(min_length=1, max_length=500)]


@router.post("/extract", response_model=list[Entity])
def extract(body: ExtractIn, ll: LL, tenant: ReadTenant) -> list[Entity]:
    """The entities of a text (nothing stored): the tenant's names linked to their records,
    e-mails, phones, money, dates, ids, URLs, and a NER model's where one is installed."""
    return ll.entities.extract(tenant, body.text)


@router.get("/search", response_model=list[EntityHit])
def search(
    ll: LL,
    tenant: ReadTenant,
    label: Text = None,
    value: Text = None,
    item_id: Annotated[int | None, Query(ge=1)] = None,
    account_id: Text = None,
    source: Source | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EntityHit]:
    """Messages and transcripts naming an entity: by label, value (normalised as stored: a
    phone in any spelling), linked item or account; newest first, the matches with offsets."""
    return ll.entities.search(
        tenant,
        label=label,
        value=value,
        item_id=item_id,
        account_id=account_id,
        source=source,
        limit=limit,
    )


@router.get("/top", response_model=list[EntityCount])
def top(
    ll: LL,
    tenant: ReadTenant,
    label: Text = None,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[EntityCount]:
    """The entities mentioned most in the last days, with how many conversations name them."""
    return ll.entities.top(tenant, label=label, days=days, limit=limit)


@router.post("/reindex", response_model=dict[str, int])
def reindex(ll: LL, tenant: WriteTenant) -> dict[str, int]:
    """Extract again the entities of every stored message and transcript (after new
    accounts, items or KPIs): the counts of rows done."""
    return ll.entities.reindex(tenant)
