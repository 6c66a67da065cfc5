"""Question analysis with the real spaCy pipeline: expected answer type, focus, entities."""

import pytest

from assistant.questions import analyze


@pytest.mark.parametrize("question,wh,types", [
    ("Who won the election for mayor of Toronto?", "who", ("PERSON", "ORG", "NORP")),
    ("Who is the director of Liberty, the rights group?", "who", ("PERSON",)),  # the copula's noun
    ("Who was the publisher of the report?", "who", ("ORG",)),
    ("When will the first Riverton trams run?", "when", ("DATE", "TIME")),
    ("Where did the plane crash?", "where", ("GPE", "LOC", "FAC")),
    ("How many patients did Northfield hospital treat in January?", "how many", ("CARDINAL", "QUANTITY")),
    ("How much will the Riverton tram line cost?", "how much", ("MONEY",)),
    ("How much rain fell on Sydney?", "how much", ("QUANTITY", "MONEY", "PERCENT")),
    ("How much did the museum get?", "how much", ("MONEY", "QUANTITY", "PERCENT")),
    ("How much of the vote did the Greens win, in percent?", "how much", ("PERCENT",)),
    # A noun right after "much" is measured, whatever the verb ("buy" alone means money).
    ("How much cannabis can a patient buy each month?", "how much", ("QUANTITY", "MONEY", "PERCENT")),
    ("How many minutes was the game stopped?", "how many", ("CARDINAL", "TIME", "DATE", "QUANTITY")),
    ("Which prisoner did Russia release first?", "which", ("PERSON",)),
    ("Which fuel supplier refused to serve the airline?", "which", ("ORG",)),
    ("What is the title of the book that revealed the remarks?", "what", ("WORK_OF_ART",)),
    # The imperative's object is asked, not the noun of a later "from which" clause.
    ("Name the ship from which gunmen seized the seamen.", "what", ("PRODUCT",)),
    ("In which city did the bombing happen?", "which", ("GPE",)),
    ("Which Sudanese foreign ministry spokesman dismissed the warning?", "which", ("PERSON",)),
    ("In which journal did the team publish its research?", "which", ("ORG",)),
    ("What company bought the Boston Celtics?", "what", ("ORG",)),
    ("What was the cost of the new stadium?", "what", ("MONEY",)),
    ("What is the name of the team that won the cup?", "what", ("ORG",)),
    ("What percentage of voters backed the referendum?", "what", ("PERCENT",)),
    ("Why did Karzai fire the minister?", "why", ("REASON",)),
    ("Karzai cabinet nominees rejected number", "keyword", ("CARDINAL", "QUANTITY")),
    ("what did the Speakers discuss about AI legislation?", "what", ()),
    ("What did the harbour council approve?", "what", ()),
])
def test_analyze_question_style_expected_type(question, wh, types):
    asks = analyze(question)
    assert (asks.wh, asks.answer_types) == (wh, types)


def test_analyze_focus_drops_wh_phrase_and_type_noun_keeps_topic():
    asks = analyze("How much will the Riverton tram line cost?")
    assert "much" not in asks.focus and "how" not in asks.focus
    assert {"riverton", "tram", "line", "cost"} <= set(asks.focus)
    asks = analyze("In which city did the bombing happen?")
    assert "citi" not in asks.focus and "bomb" in asks.focus


def test_analyze_names_proper_nouns_of_the_question():
    asks = analyze("How many people died in the Grenfell Tower fire in London?")
    assert "Grenfell Tower" in asks.proper and "London" in asks.proper


def test_analyze_month_of_a_date_is_not_a_name_passages_must_hold():
    asks = analyze("What happened on 26 August in Astana?")
    assert "August" not in " ".join(asks.proper) and "Astana" in asks.proper


@pytest.mark.parametrize("question,english", [
    ("Qué dijeron los presidentes sobre la inteligencia artificial?", False),
    ("Что обсуждали спикеры парламентов?", False),
    ("Was haben die Sprecher über das Gesetz gesagt und warum?", False),
    ("What did the speakers say about the law?", True),
    ("Koshanov Majilis AI law", True),
])
def test_analyze_non_english_question_flagged(question, english):
    assert analyze(question).english is english
