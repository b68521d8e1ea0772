"""Offline decomposition of customer messages: split, route, extract entities, read signals.

Importing this package is cheap; numpy, scikit-learn and wordllama load on first use.
"""

from orchestrator.nlu.decomposer import Decomposer, guess_language
from orchestrator.nlu.pseudo import FOLLOW_UP, GREETING, HUMAN_REQUEST, NLU_DEPARTMENT, OUT_OF_SCOPE
from orchestrator.nlu.router import Router, RouterError
from orchestrator.nlu.trained import load_router
from orchestrator.nlu.types import Decomposition, Signals

__all__ = [
    "FOLLOW_UP",
    "GREETING",
    "HUMAN_REQUEST",
    "NLU_DEPARTMENT",
    "OUT_OF_SCOPE",
    "Decomposer",
    "Decomposition",
    "Router",
    "RouterError",
    "Signals",
    "guess_language",
    "load_router",
]
