"""The answer step's sentence scoring and typed candidates, on passages written here
(entities from the real spaCy recogniser, similarities given: exact-number unit tests)."""

from dataclasses import dataclass, field

import pytest

from assistant.candidates import Weights, weigh_evidence
from assistant.chunking import split_sentences
from assistant.questions import analyze
from assistant.retrieval import Passage, Sentence

TRAM = ("Riverton's city council voted 31 to 9 on Tuesday to build the city's first tram line. "
        "The line will have 22 stops and is expected to carry 40,000 passengers a day. "
        "The project is budgeted at €412 million, of which the national transport fund will cover 60 percent. "
        "Construction starts next spring and the first trams are due to run in September 2028.")


@dataclass
class FakeChunk:
    id: str
    article_id: str
    text: str
    title: str = ""
    start: int = 0
    end: int = 0
    annotations: dict = field(default_factory=dict)
    date: str | None = None


def passage(text: str, sims: list[float] | None = None, pid: str = "a", score: float = 1.0) -> Passage:
    spans = split_sentences(text)
    sims = sims or [0.5] * len(spans)
    chunk = FakeChunk(f"{pid}-0", pid, text, end=len(text))
    return Passage(chunk, score, [Sentence(a, b, s) for (a, b), s in zip(spans, sims)])


def idf_of(asks, value: float = 1.0) -> dict:
    return {t: value for t in asks.focus}


def test_weigh_evidence_how_much_picks_the_money_sentence_over_similar_ones():
    asks = analyze("How much will the Riverton tram line cost?")
    # The vote sentence is the most similar to the question; the budget sentence answers it.
    p = passage(TRAM, sims=[0.6, 0.4, 0.35, 0.3])
    evidence = weigh_evidence(asks, [p], idf_of(asks), Weights())
    best = evidence.candidates[0]
    assert best.text == "€412 million"
    assert "budgeted" in p.text[:best.start].rsplit(".", 1)[-1]


@pytest.mark.parametrize("amount, expected", [
    ("412 million euros", "412 million euros"),  # the recogniser says CARDINAL "412 million"
    ("3 billion US dollars", "3 billion US dollars"),
    ("€412 million", "€412 million"),  # a MONEY entity as recognised
])
def test_weigh_evidence_how_much_number_with_currency_word_is_money(amount, expected):
    asks = analyze("How much will the Riverton tram line cost?")
    text = (f"The Riverton city council approved the new tram line on Monday. The project is "
            f"budgeted at {amount}. The line will have 14 stops and should carry 30,000 passengers a day.")
    # (entities are cached by chunk id: one id per text)
    evidence = weigh_evidence(asks, [passage(text, sims=[0.6, 0.35, 0.5], pid=f"money-{amount}")],
                              idf_of(asks), Weights())
    assert evidence.candidates and evidence.candidates[0].text == expected
    assert evidence.candidates[0].label == "MONEY"


def test_weigh_evidence_number_before_a_currency_word_stays_a_count_for_how_many():
    asks = analyze("How many stops will the tram line have?")
    text = "The line will have 14 stops. The project is budgeted at 412 million euros."
    evidence = weigh_evidence(asks, [passage(text, pid="stops-euros")], idf_of(asks), Weights())
    assert evidence.candidates[0].text == "14"
    assert all(c.label != "MONEY" for c in evidence.candidates)


def test_weigh_evidence_candidate_named_in_question_is_not_an_answer():
    asks = analyze("How many stops will the tram line with 40,000 passengers have?")
    evidence = weigh_evidence(asks, [passage(TRAM)], idf_of(asks), Weights())
    assert all(c.text != "40,000" for c in evidence.candidates)
    assert evidence.candidates[0].text == "22"


def test_weigh_evidence_candidate_repeating_question_by_stem_is_skipped_but_head_noun_kept():
    text = ("Gilbert Arenas of the Washington Wizards quarrelled with teammate Javaris Crittenton "
            "over a gambling debt, the Wizard said. Continental Airlines cameras filmed the gate.")
    asks = analyze("With which Wizards teammate did Gilbert Arenas quarrel over gambling debts?")
    # (a chunk id of its own: recognised entities are cached per chunk id)
    texts = [c.text for c in weigh_evidence(asks, [passage(text, pid="wiz")], idf_of(asks), Weights()).candidates]
    assert "Wizard" not in texts and "Javaris Crittenton" in texts
    asks = analyze("Which airline's cameras filmed the gate?")
    texts = [c.text for c in weigh_evidence(asks, [passage(text, pid="wiz")], idf_of(asks), Weights()).candidates]
    assert "Continental Airlines" in texts


def test_weigh_evidence_candidate_beside_the_head_noun_ranks_first():
    text = ("Police said the cartoonist Kurt Westergaard was attacked at his home in Aarhus. "
            "His drawing first ran in the newspaper The Daily Telegraph, the Copenhagen Police "
            "Department said on Saturday.")
    asks = analyze("Which newspaper ran Kurt Westergaard's cartoon?")
    evidence = weigh_evidence(asks, [passage(text, pid="cartoon")], idf_of(asks), Weights())
    assert evidence.candidates[0].text == "The Daily Telegraph"
    off = weigh_evidence(asks, [passage(text, pid="cartoon")], idf_of(asks), Weights(apposition=0.0))
    assert off.candidates[0].score < evidence.candidates[0].score


def test_weigh_evidence_when_question_never_answers_with_an_age():
    text = ("The 61-year-old former teacher pleaded guilty on November 30, 2009 to the charge, "
            "the court in Halifax said.")
    asks = analyze("When did the former teacher plead guilty?")
    texts = [c.text for c in weigh_evidence(asks, [passage(text, pid="age")], idf_of(asks), Weights()).candidates]
    assert "61-year-old" not in texts and texts[0] == "November 30, 2009"


def test_weigh_evidence_why_question_finds_reason_clause_not_schedule():
    text = ("The first trams are due to run in September 2028. "
            "Nurses' unions blamed staff shortages for the delays. "
            "The hospital closed a ward because of a norovirus outbreak.")
    asks = analyze("Why did the hospital close a ward?")
    evidence = weigh_evidence(asks, [passage(text)], idf_of(asks), Weights())
    texts = [c.text for c in evidence.candidates]
    assert "a norovirus outbreak" in texts and not any("run in" in t for t in texts)
    assert evidence.candidates[0].text == "a norovirus outbreak"


@pytest.mark.parametrize("sentence,reason", [
    ("The militants attacked the crowd in retaliation for the expulsion of their fighters.",
     "the expulsion of their fighters"),
    ("Police said the crowd was attacked in reaction to the expulsion of the militants.",
     "the expulsion of the militants"),
    ("Arenas cited that he had young children at home.", "he had young children at home"),
])
def test_weigh_evidence_why_question_reads_general_causal_markers(sentence, reason):
    asks = analyze("Why was the crowd attacked?")
    evidence = weigh_evidence(asks, [passage(sentence, pid="why")], idf_of(asks), Weights())
    assert [c.text for c in evidence.candidates][:1] == [reason]


def test_weigh_evidence_focus_share_weights_terms_by_idf():
    asks = analyze("tram budget Riverton")
    p = passage("Riverton opened a new library. The tram is running late again.", sims=[0.5, 0.5])
    idf = {t: (3.0 if t == "riverton" else 1.0) for t in asks.focus}
    evidence = weigh_evidence(asks, [p], idf, Weights())
    shares = sorted(round(s.focus, 3) for s in evidence.sentences)
    total = sum(idf.values())
    assert shares == sorted([round(3.0 / total, 3), round(1.0 / total, 3)])


def test_weigh_evidence_acronym_counts_when_its_expansion_is_present():
    asks = analyze("AI law drafts")
    p = passage("The Majilis is working on the drafts of the law on artificial intelligence.")
    evidence = weigh_evidence(asks, [p], idf_of(asks), Weights())
    assert evidence.sentences[0].focus == pytest.approx(1.0)


def test_weigh_evidence_unrelated_passages_give_low_support():
    asks = analyze("How many people died in the Grenfell Tower fire in London?")
    p = passage("A fire at Millbank Tower in London injured two workers on Monday.")
    idf = {t: (8.0 if t == "grenfel" else 2.0) for t in asks.focus}
    evidence = weigh_evidence(asks, [p], idf, Weights())
    assert evidence.support < 0.6


def test_weigh_evidence_person_answer_without_its_title():
    text = ("The foundation asked an outside consultant to study the row over the images. "
            "The study was led by Mr Harris, who said little about it.")
    asks = analyze("Who did the foundation bring in to study the images row?")
    evidence = weigh_evidence(asks, [passage(text, pid="title")], idf_of(asks), Weights())
    best = evidence.candidates[0]
    assert best.text == "Harris"  # the recogniser's span is "Mr Harris"
    assert text[best.start:best.end] == "Harris"


def test_weigh_evidence_count_without_a_number_is_no_answer():
    text = "The toll could climb as high as officials fear, and 88 people died in the blast."
    p = passage(text, pid="count")
    # Stored entities as the index keeps them; the recogniser sometimes tags "as high as" CARDINAL.
    p.chunk.annotations = {"entities": [[text.index("as high as"), text.index("as high as") + 10, "CARDINAL"],
                                        [text.index("88"), text.index("88") + 2, "CARDINAL"]]}
    asks = analyze("How many people died in the blast?")
    texts = [c.text for c in weigh_evidence(asks, [p], idf_of(asks), Weights()).candidates]
    assert texts == ["88"]


def test_weigh_evidence_how_many_minutes_takes_a_length_in_minutes_only():
    text = ("A fan fell 30 feet from the concourse at 8 p.m. on Tuesday night. "
            "Play was stopped and suspended for 16 minutes while medics worked.")
    p = passage(text, pid="unit")
    at = text.index
    # Stored entities as the index keeps them (the recogniser's labels for such spans).
    p.chunk.annotations = {"entities": [[at("30 feet"), at("30 feet") + 7, "QUANTITY"],
                                        [at("8 p.m."), at("8 p.m.") + 6, "TIME"],
                                        [at("Tuesday"), at("Tuesday") + 7, "DATE"],
                                        [at("16"), at("16") + 2, "CARDINAL"]]}
    asks = analyze("How many minutes was the game stopped after the fan fell?")
    assert asks.head == "minute" and "TIME" in asks.answer_types
    texts = [c.text for c in weigh_evidence(asks, [p], idf_of(asks), Weights()).candidates]
    assert texts == ["16"]  # followed by "minutes"; not a height, a clock time or a day


def test_weigh_evidence_one_word_name_is_the_fuller_name_of_the_passages():
    text = ("Andre flew the plane through the night. "
            "Pilot Andre Borschberg landed the Solar Impulse plane after 26 hours in the air.")
    p = passage(text, sims=[0.9, 0.5], pid="name")
    at = text.index
    p.chunk.annotations = {"entities": [[0, 5, "PERSON"],
                                        [at("Andre Borschberg"), at("Andre Borschberg") + 16, "PERSON"]]}
    asks = analyze("Who flew the Solar Impulse plane for 26 hours?")
    texts = [c.text for c in weigh_evidence(asks, [p], idf_of(asks), Weights()).candidates]
    assert texts[0] == "Andre Borschberg" and "Andre" not in texts


def test_weigh_evidence_name_of_the_wrong_kind_counts_beside_the_head_noun():
    text = ("Kurt Westergaard drew the cartoon in 2005. "
            "It ran in the Danish newspaper Jyllands-Posten and angered many readers.")
    p = passage(text, pid="relabel")
    at = text.index
    # The recogniser's labels for this sentence: the newspaper a PERSON (as it tags it).
    p.chunk.annotations = {"entities": [[0, 15, "PERSON"], [at("Danish"), at("Danish") + 6, "NORP"],
                                        [at("Jyllands-Posten"), at("Jyllands-Posten") + 15, "PERSON"]]}
    asks = analyze("Which newspaper printed the cartoon?")
    assert asks.answer_types == ("ORG",)
    texts = [c.text for c in weigh_evidence(asks, [p], idf_of(asks), Weights()).candidates]
    # Westergaard is a PERSON too, but nowhere near "newspaper": no answer to "which newspaper".
    assert texts == ["Jyllands-Posten"]
    off = [c.text for c in weigh_evidence(asks, [p], idf_of(asks), Weights(relabel=0.0)).candidates]
    assert off == []


def test_weigh_evidence_question_window_prefers_sentences_of_that_period():
    no_event = {"event_dates": [None]}  # as the index stores them: no day named in the sentence
    old = FakeChunk("w-old", "old", "Chelsea lost 2-0 at home to Aston Villa and were booed off.",
                    annotations=no_event, date="2023-09-24")
    new = FakeChunk("w-new", "new", "Chelsea beat Tottenham 4-1 in a stormy derby with two red cards.",
                    annotations=no_event, date="2023-11-06")
    passages = [Passage(c, 1.0, [Sentence(0, len(c.text), sim)]) for c, sim in ((old, 0.55), (new, 0.45))]
    asks = analyze("What happened at Chelsea in November?")
    plain = weigh_evidence(asks, passages, idf_of(asks), Weights())
    assert plain.sentences[0].passage == 0  # the more similar sentence, from September
    dated = weigh_evidence(asks, passages, idf_of(asks), Weights(), window=("2023-11-01", "2023-11-30"))
    assert dated.sentences[0].passage == 1
