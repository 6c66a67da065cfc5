"""Offline question answering over news articles, with every sentence cited.

    from assistant import answer
    print(answer("what did the Speakers discuss about AI legislation?"))
"""

from .answering import Answer, Citation
from .api import Assistant, answer
from .config import Settings
from .errors import AssistantError
from .retrieval import Filters

__all__ = ["Answer", "Assistant", "AssistantError", "Citation", "Filters", "Settings", "answer"]
__version__ = "0.1.0"
