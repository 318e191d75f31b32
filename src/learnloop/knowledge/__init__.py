"""Knowledge: the items assistants draw on, their versions, and search over them."""

from learnloop.knowledge.items import Items
from learnloop.knowledge.models import (
    KINDS,
    STATUSES,
    Item,
    ItemIn,
    ItemPatch,
    ItemVersion,
    SearchHit,
)
from learnloop.knowledge.search import Search

__all__ = [
    "KINDS",
    "STATUSES",
    "Item",
    "ItemIn",
    "ItemPatch",
    "ItemVersion",
    "Items",
    "Search",
    "SearchHit",
]
