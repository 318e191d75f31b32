"""Learn: rewards and statistics from outcomes, policies that learn, offline evaluation,
calibrated confidence, experiments, and a user simulator to prove it."""

from learnloop.learn.config import LearningConfig, Rewards
from learnloop.learn.service import Learning
from learnloop.learn.simulator import Outcome, Query, SimItem, Simulator

__all__ = [
    "Learning",
    "LearningConfig",
    "Outcome",
    "Query",
    "Rewards",
    "SimItem",
    "Simulator",
]
