"""Questions and chat history: the checks every question and history turn passes, and the
rule-based condensation of a follow-up into a standalone question.

Every history turn obeys the same limit as a question (``max_question_chars``), and only the
last ``max_history_turns`` turns are kept, so a history can never make a search larger or
slower than a question can. The patterns here are linear-time on any input (no nested or
adjacent unbounded quantifiers over the same characters); tests run them on long adversarial
strings. Left out: coreference resolution beyond "what about X" and short pronoun follow-ups
(an LLM generator rewrites follow-ups itself, see generation.py).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Sequence

from .errors import QuestionError

__all__ = ["History", "check_history", "check_question", "condense_question", "user_turns"]

log = logging.getLogger(__name__)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

History = Sequence  # [(user, assistant), ...] or [{"role": ..., "content": ...}, ...]

# Turns the rule-based condensation looks back over (each adds to the searched text).
CONDENSE_TURNS = 8


def check_question(question: object, max_chars: int) -> str:
    """The question cleaned of control characters; QuestionError when it cannot be asked."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    if len(question) > 4 * max_chars + 1000:  # refuse before normalising megabytes
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is {max_chars:,} "
            "(ask about one thing at a time)")
    cleaned = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", question)).strip()
    if not cleaned:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(cleaned) > max_chars:
        raise QuestionError(
            f"the question is {len(cleaned):,} characters long; the limit is {max_chars:,} "
            "(ask about one thing at a time)"
        )
    if not re.search(r"\w", cleaned):
        raise QuestionError("the question has no words in it, only punctuation or symbols")
    return re.sub(r"\s+", " ", cleaned)


def check_history(history: object, *, max_chars: int, max_turns: int) -> list:
    """The history's last ``max_turns`` turns, each checked; QuestionError naming the turn
    when the history is not a list of [question, answer] pairs or role/content messages, or
    a turn is over ``max_chars`` characters (answers may be up to 20 times longer)."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise QuestionError("the history must be a list of [question, answer] pairs or of "
                            f"{{'role', 'content'}} messages, got {type(history).__name__}")
    kept = list(history)[-2 * max_turns:] if max_turns else []
    if len(history) > len(kept):
        log.info("history of %d items cut to the last %d", len(history), len(kept))
    for n, item in enumerate(kept, start=len(history) - len(kept) + 1):
        if isinstance(item, dict):
            texts = [(item.get("content"), item.get("role") == "user")]
        elif isinstance(item, (list, tuple)):
            texts = [(text, i == 0) for i, text in enumerate(item[:2])]
        else:
            raise QuestionError(f"history item {n} must be a [question, answer] pair or a "
                                f"{{'role', 'content'}} message, got {type(item).__name__}")
        for text, is_question in texts:
            if text is None:
                continue
            if not isinstance(text, str):
                raise QuestionError(f"history item {n} holds {type(text).__name__}, not text")
            limit = max_chars if is_question else 20 * max_chars
            if len(text) > limit:
                raise QuestionError(f"history item {n} is {len(text):,} characters long; the "
                                    f"limit is {limit:,}")
    return kept


def user_turns(history: History | None) -> list[str]:
    """The user's earlier questions, oldest first, from either history shape."""
    turns: list[str] = []
    for item in history or []:
        if isinstance(item, dict):
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                turns.append(item["content"])
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            turns.append(item[0])
    return [t for t in turns if t.strip()]


# "(.+)" then rstrip, not "(.+?)[\s?.!]*$": a lazy group before a starred class of the same
# characters backtracks quadratically ("what about x" + "?" * 40000 + "a" took 12 s).
_FOLLOW_UP_RE = re.compile(r"^(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(\S.*)$",
                           re.IGNORECASE | re.DOTALL)
_LEADING_AND_RE = re.compile(r"^(?:and|but|also|so)\s+", re.IGNORECASE)
_PRONOUN_RE = re.compile(r"\b(they|them|their|it|its|he|she|his|her|this|that|these|those|there)\b",
                         re.IGNORECASE)
_ABOUT_RE = re.compile(r"\b(about|on|regarding|of)\b", re.IGNORECASE)
_TRAILING = " \t\r\n?.!"


def condense_question(question: str, history: History | None) -> str:
    """A standalone question from a follow-up and the chat history (rule-based).

    "and what about teachers?" after "what did the Speakers discuss about AI legislation?"
    becomes "what did the Speakers discuss about teachers?". Only the last
    ``CONDENSE_TURNS`` questions are looked at.
    """
    previous = user_turns(history)[-CONDENSE_TURNS:]
    if not previous:
        return question
    base = previous[0]
    for turn in previous[1:]:
        base = condense_question(turn, [(base, "")])
    base = base.strip().rstrip(_TRAILING)
    m = _FOLLOW_UP_RE.match(question.strip())
    if m:
        topic = m.group(1).rstrip(_TRAILING)
        if topic:
            about = list(_ABOUT_RE.finditer(base))
            if about:
                return f"{base[:about[-1].end()]} {topic}?"
            return f"{base}: {topic}?"
    starts_with_and = bool(_LEADING_AND_RE.match(question))
    words = re.findall(r"\w+", question)
    if starts_with_and or (len(words) <= 8 and _PRONOUN_RE.search(question)):
        return f"{_LEADING_AND_RE.sub('', question).rstrip()} ({base})"
    return question
