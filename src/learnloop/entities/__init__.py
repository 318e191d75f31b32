"""Entities in conversations and transcripts: the tenant's own names (accounts, products,
tools, KPIs, items) by an exact and fuzzy gazetteer, pattern entities (e-mails, phones,
money, dates, order and ticket ids, URLs), and a NER model's where one is installed."""

from learnloop.entities.extract import extract
from learnloop.entities.gazetteer import Gazetteer, Name
from learnloop.entities.models import Entity, EntityCount, EntityHit, ExtractIn
from learnloop.entities.ner import Ner, load_ner
from learnloop.entities.service import Entities

__all__ = [
    "Entities",
    "Entity",
    "EntityCount",
    "EntityHit",
    "ExtractIn",
    "Gazetteer",
    "Name",
    "Ner",
    "extract",
    "load_ner",
]
