"""Which articles a dated answer draws on (timeline.relevant_sentences): exact small tables."""

from types import SimpleNamespace

import pytest

from assistant.questions import QuestionAnalysis
from assistant.retrieval import Passage, Retrieval, Sentence
from assistant.timeline import relevant_sentences


def _passage(article: str, title: str, text: str, score: float, sentence_score: float) -> Passage:
    chunk = SimpleNamespace(id=article + "-0", article_id=article, title=title, text=text, date="2023-10-01",
                            sentences=[(0, len(text))], annotations={"event_dates": [None]})
    return Passage(chunk, score, [Sentence(0, len(text), sentence_score)])


def _retrieval(passages, proper=()) -> Retrieval:
    asks = QuestionAnalysis(text="q", wh="what", proper=tuple(proper))
    return Retrieval("q", passages, SimpleNamespace(date_from=None, date_to=None), None, asks)


PASSAGES = [
    _passage("a", "Council approves Riverton tram line", "The council approved the Riverton tram line.", 4.0, 0.70),
    # About the topic, worded unlike the question: far below the best sentence.
    _passage("b", "First rails laid", "Crews laid the first rails in Riverton on Tuesday.", 3.0, 0.30),
    # Close in score, but it never names Riverton.
    _passage("c", "City buses go electric", "Bus operators bought forty electric buses for the line.", 3.2, 0.45),
    _passage("d", "Weather", "Rain is expected across the region on Friday.", 0.5, 0.10),
]


@pytest.mark.parametrize("ratio,proper,expected", [
    (0.0, (), ["a"]),  # the margin rule: only sentences within 0.15 of the best
    (0.7, (), ["a", "c", "b"]),  # passage score >= 2.8
    (0.7, ("Riverton",), ["a", "b"]),  # ... and names Riverton
    (0.9, ("Riverton",), ["a"]),
])
def test_relevant_sentences_ratio_and_names_choose_articles(ratio, proper, expected):
    events = relevant_sentences(_retrieval(PASSAGES, proper), threshold=0.35, margin=0.15, ratio=ratio)
    assert [PASSAGES[e.sources[0][0]].chunk.article_id for e in events] == expected


def test_relevant_sentences_names_count_by_last_word_as_far_as_the_best_passage_holds_them():
    passages = [_passage("a", "Microsoft hires Altman", "Microsoft hired Sam Altman on Monday.", 2.0, 0.5),
                _passage("b", "Altman returns", "Altman is back as chief executive.", 1.9, 0.5)]
    # "Altman" stands for "Sam Altman"; "Microsoft", held by the best passage, is demanded.
    events = relevant_sentences(_retrieval(passages, ("Sam Altman",)), 0.35, 0.15, ratio=0.5)
    assert len(events) == 2
    events = relevant_sentences(_retrieval(passages, ("Sam Altman", "Microsoft")), 0.35, 0.15, ratio=0.5)
    assert [e.sources[0][0] for e in events] == [0]
    # "Europe" is in no passage: not demanded, so the list is not emptied by it.
    events = relevant_sentences(_retrieval(passages, ("Sam Altman", "Europe")), 0.35, 0.15, ratio=0.5)
    assert len(events) == 2


def test_relevant_sentences_nothing_relevant_falls_back_to_margin_rule():
    passages = [_passage("a", "Altman", "Altman spoke.", 2.0, 0.6),  # too short to quote
                _passage("b", "Board", "The board met Altman on Monday to discuss his return.", 0.5, 0.5)]
    # Only passage a is within the ratio and it has no sentence to quote: the margin rule
    # then keeps b's sentence (0.5 >= the 0.35 threshold).
    events = relevant_sentences(_retrieval(passages), 0.35, 0.15, ratio=0.5)
    assert [passages[e.sources[0][0]].chunk.article_id for e in events] == ["b"]
