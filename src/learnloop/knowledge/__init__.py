"""Knowledge: the items assistants draw on, their versions, and search over them."""

from learnloop.knowledge.duplicates import Added, DuplicateFound, OnDuplicate
from learnloop.knowledge.items import Checked, Items
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
    "Added",
    "Checked",
    "DuplicateFound",
    "Item",
    "ItemIn",
    "ItemPatch",
    "ItemVersion",
    "Items",
    "OnDuplicate",
    "Search",
    "SearchHit",
]
