"""Knowledge items and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from learnloop.api.deps import LL, ReadTenant, WriteTenant
from learnloop.api.responses import also, errors
from learnloop.knowledge import (
    DuplicateFound,
    Item,
    ItemIn,
    ItemPatch,
    ItemVersion,
    OnDuplicate,
    SearchHit,
)
from learnloop.knowledge.indexing import IndexStatus
from learnloop.knowledge.models import Kind, Status
from learnloop.validation import MAX_ID, Input

router = APIRouter(prefix="/v1", tags=["knowledge"])


class PutResult(BaseModel):
    item: Item = Field(description="the item stored; when skipped or merged, the one repeated")
    outcome: str = Field(
        description="created, updated (a new version), unchanged, skipped or merged"
    )
    duplicate: DuplicateFound | None = Field(
        default=None, description="the stored item of the same kind that a new item repeats"
    )


class ItemAdd(ItemIn):
    on_duplicate: OnDuplicate = Field(
        default="warn",
        description="when a new item repeats a stored item of its kind (cosine similarity at "
        "or above the tenant's duplicate threshold): warn (store it, name the duplicate), "
        "skip, merge into it, or off (no check)",
    )


class ItemPage(BaseModel):
    items: list[Item]
    next_cursor: int | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class SearchRequest(Input):
    model_config = ConfigDict(strict=True)
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    kinds: list[Kind] | None = None
    tags: list[str] | None = None
    statuses: list[Status] = Field(default_factory=lambda: list[Status](["active"]), min_length=1)


class SearchResult(BaseModel):
    hits: list[SearchHit]


@router.post(
    "/items",
    response_model=PutResult,
    status_code=status.HTTP_201_CREATED,
    responses=also(200, "A new version, unchanged, skipped or merged", PutResult)
    | errors(409, e409="Another item of this kind already has that external_id"),
)
def put_item(body: ItemAdd, ll: LL, tenant: WriteTenant, response: Response) -> PutResult:
    """Create an item; with a known kind + external_id, store a new version of that item.

    A new item that repeats a stored one is stored with ``duplicate`` set (or skipped, or
    merged, as ``on_duplicate`` says)."""
    item = ItemIn.model_validate(body.model_dump(exclude={"on_duplicate"}))
    added = ll.items.add(tenant, item, on_duplicate=body.on_duplicate)
    if added.outcome != "created":
        response.status_code = status.HTTP_200_OK
    return PutResult(item=added.item, outcome=added.outcome, duplicate=added.duplicate)


@router.get("/items", response_model=ItemPage)
def list_items(
    ll: LL,
    tenant: ReadTenant,
    kind: Annotated[list[Kind] | None, Query()] = None,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    external_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ItemPage:
    """Items newest first, filtered by kind, status, tags (all must match) or external_id."""
    items, next_cursor = ll.items.list(
        tenant,
        kinds=list(kind or []),
        statuses=list(status_ or []),
        tags=tag,
        external_id=external_id,
        limit=limit,
        cursor=cursor,
    )
    return ItemPage(items=items, next_cursor=next_cursor)


@router.get("/items/{item_id}", response_model=Item)
def get_item(item_id: int, ll: LL, tenant: ReadTenant) -> Item:
    return ll.items.get(tenant, item_id)


@router.patch(
    "/items/{item_id}",
    response_model=Item,
    responses=errors(
        409, e409="The item changed while this update ran, or the external_id is another item's"
    ),
)
def update_item(item_id: int, body: ItemPatch, ll: LL, tenant: WriteTenant) -> Item:
    """Change some fields; a content change makes a new version and re-embeds."""
    return ll.items.update(tenant, item_id, body)


@router.post("/items/{item_id}/archive", response_model=Item)
def archive_item(item_id: int, ll: LL, tenant: WriteTenant) -> Item:
    """Hide an item from search; it stays readable."""
    return ll.items.archive(tenant, item_id)


@router.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(item_id: int, ll: LL, tenant: WriteTenant) -> Response:
    """Delete an item and every version of it."""
    ll.items.delete(tenant, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/items/{item_id}/versions", response_model=list[ItemVersion])
def list_versions(item_id: int, ll: LL, tenant: ReadTenant) -> list[ItemVersion]:
    return ll.items.versions(tenant, item_id)


@router.get("/items/{item_id}/versions/{version}", response_model=ItemVersion)
def get_version(item_id: int, version: int, ll: LL, tenant: ReadTenant) -> ItemVersion:
    return ll.items.version(tenant, item_id, version)


@router.post("/search", response_model=SearchResult)
def search(body: SearchRequest, ll: LL, tenant: ReadTenant) -> SearchResult:
    """Semantic and keyword search fused into one ranking, each hit with its scores."""
    hits = ll.search.search(
        tenant, body.query, k=body.k, kinds=body.kinds, tags=body.tags, statuses=body.statuses
    )
    return SearchResult(hits=hits)


@router.get("/index/status", response_model=IndexStatus)
def index_status(ll: LL, tenant: ReadTenant) -> IndexStatus:
    """``ready``; ``building`` while ``pending`` items wait for a vector (the worker embeds
    them); ``error`` when the last embedding attempt failed, with its message."""
    return ll.indexer.status(tenant)
