"""The per-sentence citation check on hand-made answers, and the answer scorers."""

from __future__ import annotations

import pytest

from assistant.citations import (UNSUPPORTED_MARK, PassageView, check_answer, content_words,
                                 date_words, invented_names, is_refusal, lenient_match, numbers, split_answer,
                                 strict_match)

# Five passages: paragraphs of the seed article (title, outlet and date as indexed).
PARAGRAPHS = [
    "Welcoming the Tajik parliamentary delegation, Majilis Speaker Koshanov congratulated his colleagues "
    "on the success of the parliament elections as well as Rustam Emomali on his re-election as Chairman "
    "of the Majlisi Milli of the Majlisi Oli of Tajikistan.",
    "The meeting fostered discussions on prospects for further enhancing and promoting interparliamentary "
    "ties, highlighting interaction within multilateral platforms and groups of friendship as well as "
    "identifying a range of issues for deepening experience-sharing in the legislative sphere.",
    "During the talks, focused on prospects in digital innovations, Koshanov expressed the readiness of "
    "Majilis deputies for the exchange of experience in this field. The Kazakh Majilis Speaker stressed "
    "Kazakhstan is among the leading countries in the UN E-Government Development Index (EGDI), occupying "
    "the 24th spot. Over 90% of public services in the country are available online, and the Majilis is "
    "working actively over the drafts of the law on artificial intelligence and the Digital Code, he said.",
    "The Tajik parliamentarians also expressed their keenness on social reforms in Kazakhstan. In this "
    "context, Koshanov briefed his colleagues on the law on the status of teachers the country adopted in 2019.",
    "In turn, Rustam Emomali thanked the Kazakhstani side for a warm welcome, noting the special role "
    "interparliamentary cooperation plays in today’s world.",
]
HEADER = "Majilis Speaker meets Tajik delegation 000_db5d042bbc5024b2 2025-08-27 august 27 2025"
LAW = ("Over 90% of public services in the country are available online, and the Majilis is working "
       "actively over the drafts of the law on artificial intelligence and the Digital Code, he said.")


@pytest.fixture(scope="module")
def embed():
    from assistant import Settings
    from assistant.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(Settings.from_env(env={}).model_path()).embed


@pytest.fixture
def passages():
    return [PassageView(text, HEADER) for text in PARAGRAPHS]


def test_quoted_sentence_with_its_citation_is_supported(passages, embed):
    checked = check_answer(f"{LAW} [3]", passages, embed)
    (s,) = checked.sentences
    assert s.supported and s.citations == [3] and not s.attributed
    assert checked.text == f"{LAW} [3]"
    start, end = checked.cited()[3]
    assert PARAGRAPHS[2][start:end] == LAW


def test_close_paraphrase_is_supported(passages, embed):
    checked = check_answer("The Majilis is working on drafts of a law on artificial intelligence "
                           "and on the Digital Code [3].", passages, embed)
    assert checked.sentences[0].supported, checked.sentences[0].reason


def test_invented_sentence_is_marked_unsupported(passages, embed):
    answer = f"{LAW} [3] The Majilis banned all research on artificial intelligence in 2020 [3]."
    checked = check_answer(answer, passages, embed)
    kept, invented = checked.sentences
    assert kept.supported and not invented.supported
    assert "2020" in invented.reason
    assert checked.text.endswith(f"in 2020. [3] {UNSUPPORTED_MARK}")
    assert checked.supported == 1


def test_unrelated_claim_is_marked_unsupported(passages, embed):
    checked = check_answer("Tajikistan will host the next Olympic Games in its capital [1].", passages, embed)
    assert not checked.sentences[0].supported
    assert UNSUPPORTED_MARK in checked.text and checked.supported == 0


def test_invented_name_is_not_supported(passages, embed):
    checked = check_answer("Koshanov briefed Vladimir Putin on the law on the status of teachers [4].",
                           passages, embed)
    assert not checked.sentences[0].supported
    assert "Putin" in checked.sentences[0].reason


def test_marker_out_of_range_is_removed(passages, embed):
    answer = f"{LAW} [7]"
    strict = check_answer(answer, passages, embed, attribute_uncited=False)
    (s,) = strict.sentences
    assert s.removed == [7] and s.citations == [] and not s.supported
    assert "[7]" not in strict.text and strict.text.endswith(UNSUPPORTED_MARK)
    # By default an uncited sentence is given the passage that supports it, flagged as such.
    attributed = check_answer(answer, passages, embed)
    (s,) = attributed.sentences
    assert s.supported and s.attributed and s.citations == [3] and s.removed == [7]
    assert "[7]" not in attributed.text and attributed.text.endswith("[3]")


def test_wrong_citation_is_not_repaired(passages, embed):
    checked = check_answer(f"{LAW} [5]", passages, embed)
    s = checked.sentences[0]
    assert s.citations == [5] and not s.supported and not s.attributed
    assert checked.text == f"{LAW} [5] {UNSUPPORTED_MARK}"


def test_uncited_invention_stays_unsupported(passages, embed):
    checked = check_answer("The delegation visited a football stadium in Almaty.", passages, embed)
    assert not checked.sentences[0].supported and checked.sentences[0].citations == []


def test_markers_after_the_full_stop_and_lists(passages, embed):
    answer = ("Koshanov briefed his colleagues on the law on the status of teachers the country adopted "
              "in 2019. [4] Rustam Emomali thanked the Kazakhstani side for a warm welcome [5, 9].")
    checked = check_answer(answer, passages, embed)
    first, second = checked.sentences
    assert first.citations == [4] and first.supported
    assert second.citations == [5] and second.removed == [9] and second.supported
    assert checked.text.endswith("in 2019. [4] Rustam Emomali thanked the Kazakhstani side for a warm welcome. [5]")
    assert sorted(checked.cited()) == [4, 5]


def test_refusal_is_not_a_claim(passages, embed):
    checked = check_answer("The passages do not contain the answer.", passages, embed)
    assert checked.only_refusal and checked.sentences[0].refusal
    assert UNSUPPORTED_MARK not in checked.text


def test_bare_yes_is_judged_with_the_next_sentence(passages, embed):
    assert split_answer("Yes. The council met [1].") == [("Yes. The council met.", [1])]
    checked = check_answer(f"Yes. {LAW} [3]", passages, embed)
    assert len(checked.sentences) == 1 and checked.sentences[0].supported


def test_text_helpers():
    assert numbers("Over 90% of 1,200 seats in 2019 [3]") == {"90", "1200", "2019"}
    assert "teache" in content_words("The teachers [2]")
    assert invented_names("Koshanov met Rustam Emomali and the UN", "Koshanov Rustam Emomali") == set()
    assert invented_names("Koshanov met Olaf Scholz", "Koshanov") == {"Olaf", "Scholz"}
    assert is_refusal("The articles do not mention the price.")
    assert not is_refusal("The minister did not resign.")


@pytest.mark.parametrize("prediction, gold, strict, lenient", [
    ("Yes, the article says so [1].", "Yes", True, True),
    ("yes [2]", "Yes", True, True),
    ("No. Both outlets agree [1].", "no", True, True),
    ("Yes, but no one agrees [1].", "no", False, True),  # lenient: shares the word "no"
    ("The report says yes.", "Yes", False, True),
    ("Sam Bankman-Fried was convicted [1].", "Sam Bankman-Fried", True, True),
    ("The founder of FTX, Sam Bankman-Fried, testified [2].", "Sam Bankman-Fried", True, True),
    ("Sam Altman led OpenAI [1].", "Sam Bankman-Fried", False, True),  # lenient: "sam"
    ("Google paid Apple [1]. Amazon did not.", "Amazon", False, True),
    ("The articles do not cover this question.", "Insufficient information.", True, False),
    ("Google [3]", "Google", True, True),
    ("Googleplex [3]", "Google", False, False),
])
def test_strict_and_lenient_match(prediction, gold, strict, lenient):
    assert strict_match(prediction, gold) is strict
    assert lenient_match(prediction, gold) is lenient


@pytest.mark.parametrize("date, words", [
    ("2023-10-05", "2023-10-05 october 5 2023"),
    ("2025-01-31", "2025-01-31 january 31 2025"),
    ("2023-12", "2023-12"),  # not a whole date: kept as it is
    (None, ""),
])
def test_date_words_iso_date_spelled_with_month_name(date, words):
    assert date_words(date) == words
