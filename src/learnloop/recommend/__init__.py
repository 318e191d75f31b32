"""Recommend: rank items for a question with a confidence, and log every impression."""

from learnloop.recommend.models import (
    Context,
    Impression,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
)
from learnloop.recommend.service import Recommender

__all__ = [
    "Context",
    "Impression",
    "RecommendRequest",
    "RecommendResponse",
    "Recommendation",
    "Recommender",
]
