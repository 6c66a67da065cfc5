"""The per-sentence citation check for generated answers, and the answer scorers of the eval.

A generated answer is split into sentences; each sentence's ``[n]`` markers are read. A marker
that does not point at a passage the model was shown is removed. A sentence is *supported*
when at least one passage it cites supports it:

* lexical overlap: the share of the sentence's content words (lower-cased, stop words removed,
  words compared by their first six letters) found in the cited passages, their titles, outlets
  and dates, is at least ``MIN_OVERLAP``;
* embedding similarity: the cosine similarity between the sentence and the best sentence of a
  cited passage (both embedded on their own by the retrieval embedder, all-MiniLM-L6-v2) is at
  least ``MIN_SIMILARITY``;
* nothing invented: every number, and every capitalised word after the first (a name), occurs
  in a cited passage or its header.

A sentence that cites no valid passage (small models often forget the marker) is given the
passage that supports it best, when one passes the same test (``attributed``); a sentence that
cites the wrong passage is not repaired.

Sentences that only say the passages do not answer the question are recognised and are not
claims (they need no citation). Unsupported sentences keep their text and are marked
``[unsupported]`` in the answer; the caller falls back to the extractive answer when no
sentence is supported.

The thresholds were chosen on data by ``benchmarks/citation_thresholds.py``: 3,019 labelled
(sentence, passage) pairs. Synthetic ones from newsqa-mini: supported = evidence facts, their
longest clause, the fact with a third of its content words dropped, "According to <outlet>,
<fact>", each against its own article; unsupported = the fact against another evidence article
of the same query (same story, other facts), the fact with one name or number swapped in from
another query, a random Wikinews article. Real ones: 81 sentences SmolLM2-135M wrote (local
backend, newsqa-mini and seed questions), labelled by hand against the shown passage closest to
them (benchmarks/citation_labels.json). On a 0.05 grid the script keeps the pair with the
largest J = mean(supported accepted: synthetic, real) - mean(unsupported accepted: same-topic,
real): overlap 0.6, similarity 0.35 (J 0.91: synthetic supported 99.4% accepted, real
supported 7/8, same-topic 0.7%, real unsupported 3/73; swapped details 5%, caught by the names
and numbers rule). Overlap does the work; similarity only rules out sentences that share words
but not meaning. Table in benchmarks/README.md ("Citation check").

Left out: entailment models (none ships offline here); word order and negation are not
checked, so "X did not resign" citing a passage saying "X resigned" passes (2 of the 3 real
unsupported sentences accepted above are of this kind or add one unstated detail).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .chunking import split_sentences
from .timeframe import MONTH_NAMES

# Chosen by benchmarks/citation_thresholds.py (see the module docstring).
MIN_OVERLAP = 0.6
MIN_SIMILARITY = 0.35

UNSUPPORTED_MARK = "[unsupported]"

_MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
# "text. [1]" -> "text [1]." so that markers stay with the sentence they follow.
_MARKER_AFTER_STOP_RE = re.compile(r"([.!?][\"'”’)]*)((?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])+)")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_NUMBER_RE = re.compile(r"(?<![\w.])\d[\d,.]*\d|(?<![\w.])\d")
# "The passages do not contain the answer." and the like: the whole sentence is about the
# passages lacking something, with no contrast ("…, but rather …") that would carry a claim.
_REFUSAL_RE = re.compile(
    r"^\W*(?:(?:but|however|unfortunately|sorry),?\s+)?(?:(?:the|these|those)\s+)?"
    r"(?:(?:provided|given|retrieved|above)\s+)?(?:passages?|articles?|sources?|context|texts?|documents?)\s+"
    r"(?:do(?:es)?\s+not|don['’]t|doesn['’]t|did\s+not|didn['’]t|cannot|can['’]t)\s+(?:\w+\s+){0,2}?"
    r"(?:contain|mention|say|state|include|provide|cover|answer|address|specify|discuss|report|give|have)\b"
    r"|^\W*i\s+(?:cannot|can['’]t|could\s+not)\s+(?:find|answer|determine)\b"
    r"|^\W*there\s+is\s+(?:no|not\s+enough)\s+information\b",
    re.IGNORECASE,
)
_CONTRAST_RE = re.compile(r"\b(?:but|while|rather|although|instead|whereas|however)\b", re.IGNORECASE)
_BARE_VERDICT_RE = re.compile(r"\W*(?:yes|no)\W*", re.IGNORECASE)

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves
said says say according reported reports told stated noted added passage passages article
articles source sources news also however meanwhile while would could may might must shall
one yes
""".split())


@dataclass
class SentenceCheck:
    """The verdict on one sentence of a generated answer."""

    text: str  # the sentence without its citation markers
    citations: list[int]  # valid passage numbers it cites (1-based, as in the prompt)
    removed: list[int] = field(default_factory=list)  # out-of-range numbers that were dropped
    supported: bool = False
    refusal: bool = False  # says the passages do not answer (not a claim; needs no citation)
    overlap: float = 0.0
    similarity: float = 0.0
    reason: str = ""
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # n -> best passage sentence
    attributed: bool = False  # the model cited nothing; the check found the supporting passage

    def render(self) -> str:
        """The sentence as shown: text, its markers, and the unsupported mark if it failed."""
        parts = [self.text] + [f"[{n}]" for n in self.citations]
        if not self.supported and not self.refusal:
            parts.append(UNSUPPORTED_MARK)
        return " ".join(parts)


@dataclass
class CheckedAnswer:
    sentences: list[SentenceCheck]

    @property
    def text(self) -> str:
        return " ".join(s.render() for s in self.sentences)

    @property
    def supported(self) -> int:
        return sum(s.supported for s in self.sentences)

    @property
    def claims(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if not s.refusal]

    @property
    def only_refusal(self) -> bool:
        return bool(self.sentences) and all(s.refusal for s in self.sentences)

    @property
    def removed(self) -> list[int]:
        return [n for s in self.sentences for n in s.removed]

    def cited(self) -> dict[int, tuple[int, int]]:
        """Passage number -> span of its best-supporting sentence, for every cited passage."""
        best: dict[int, tuple[float, tuple[int, int]]] = {}
        for s in self.sentences:
            for n in s.citations:
                span = s.spans.get(n)
                if span is None:
                    continue
                score = s.similarity if s.supported else -1.0
                if n not in best or score > best[n][0]:
                    best[n] = (score, span)
        return {n: span for n, (_, span) in sorted(best.items())}


# -- text helpers ---------------------------------------------------------------------------
def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def _stem(word: str) -> str:
    if len(word) > 6:
        return word[:6]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stems of the content words of text (stop words and citation markers removed)."""
    text = _MARKER_RE.sub(" ", _fold(text)).replace("’", "'")
    words = []
    for w in _WORD_RE.findall(text):
        if w in STOP_WORDS or (len(w) < 2 and not w.isdigit()):
            continue
        if w.isdigit():
            words.append(w.lstrip("0") or "0")
        else:
            words.append(_stem(w))
    return words


def numbers(text: str) -> set[str]:
    """The numbers written with digits in text, normalised ("1,200" -> "1200", "08" -> "8")."""
    out = set()
    for m in _NUMBER_RE.finditer(_MARKER_RE.sub(" ", text)):
        raw = m.group(0).replace(",", "")
        if raw.count(".") == 1:
            whole, frac = raw.split(".")
            raw = whole if frac.strip("0") == "" else raw
        out.add(raw.lstrip("0") or "0")
    return out


def date_words(date: str | None) -> str:
    """A YYYY-MM-DD date as words too ("2023-10-05" -> "2023-10-05 October 5 2023")."""
    if not date:
        return ""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", date)
    if not m:
        return date
    return f"{date} {MONTH_NAMES[int(m.group(2)) - 1]} {int(m.group(3))} {m.group(1)}"


def lexical_overlap(sentence: str, reference: str) -> float:
    """Share of sentence's content words that occur in reference (1.0 for an empty sentence)."""
    words = content_words(sentence)
    if not words:
        return 1.0
    vocab = set(content_words(reference))
    return sum(w in vocab for w in words) / len(words)


def invented_numbers(sentence: str, reference: str) -> set[str]:
    """Numbers in sentence that reference does not contain."""
    return numbers(sentence) - numbers(reference)


# A capitalised word with at least one lower-case letter (acronyms such as "AI" are left out:
# the passage may spell them out), not at the start of the sentence.
_NAME_RE = re.compile(r"(?<=[\w,;:)\]”’\"'] )[A-ZÀ-ÖØ-Þ]\w*(?:[-'’]\w+)*")


def invented_names(sentence: str, reference: str) -> set[str]:
    """Capitalised words inside sentence (not its first word) that reference does not contain.

    A generated sentence that names a person, place or company its passage never mentions is
    not supported by it, however many other words it shares.
    """
    vocab = {_stem(w) for w in _WORD_RE.findall(_fold(reference))}
    out = set()
    for m in _NAME_RE.finditer(_MARKER_RE.sub(" ", sentence)):
        if m.group(0).isupper():
            continue
        words = _WORD_RE.findall(_fold(m.group(0)))
        if words and not all(_stem(w) in vocab or w in STOP_WORDS for w in words):
            out.add(m.group(0))
    return out


def is_refusal(sentence: str) -> bool:
    """Whether the sentence only says the passages do not contain the answer."""
    text = _MARKER_RE.sub(" ", sentence).strip()
    m = _REFUSAL_RE.search(text)
    return bool(m) and not _CONTRAST_RE.search(text[m.end():]) and len(text.split()) <= 30


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Sentences of a generated answer with the passage numbers each cites, markers removed.

    Markers written after a sentence's full stop ("… said. [2]") belong to that sentence; a bare
    "Yes." or "No." is joined to the sentence after it (the verdict stands or falls with it).
    """
    text = _MARKER_AFTER_STOP_RE.sub(lambda m: m.group(2) + m.group(1), text.strip())
    out = []
    spans = split_sentences(text)
    merged: list[tuple[int, int]] = []
    for a, b in spans:  # a bare "Yes." or "No." is judged with the sentence that follows it
        if merged and _BARE_VERDICT_RE.fullmatch(text[merged[-1][0]:merged[-1][1]]):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    for a, b in merged:
        raw = text[a:b]
        cited: list[int] = []
        for m in _MARKER_RE.finditer(raw):
            for part in re.split(r"[,;]", m.group(1)):
                n = int(part)
                if n not in cited:
                    cited.append(n)
        clean = _MARKER_RE.sub("", raw)
        clean = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", clean)).strip()
        if re.search(r"\w", clean):
            out.append((clean, cited))
        elif cited and out:  # a marker alone: it belongs to the sentence before
            out[-1][1].extend(n for n in cited if n not in out[-1][1])
    return out


# -- the check -------------------------------------------------------------------------------
@dataclass
class PassageView:
    """What the check needs of one passage: text, header, sentence spans and their vectors."""

    text: str
    header: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)
    vectors: np.ndarray | None = None

    @classmethod
    def of(cls, passage) -> "PassageView":
        """From an assistant.retrieval.Passage: its text, header and sentence spans.

        The sentences are embedded again on their own (check_answer does it, one batch): the
        answer's sentences are embedded on their own too, and retrieval's sentence vectors may
        be computed in context (late chunking), on another similarity scale.
        """
        c = passage.chunk
        spans = [(s.start, s.end) for s in passage.sentences]
        return cls(c.text, f"{c.title} {c.source} {date_words(c.date)}", spans)


def support(sentence: str, vector: np.ndarray, passages: Sequence[PassageView]
            ) -> tuple[float, float, set[str], dict[int, tuple[tuple[int, int], float]]]:
    """Overlap with the passages together, best similarity, invented numbers and names, and the
    best-matching sentence span (with its similarity) of each passage."""
    reference = " ".join(f"{p.header} {p.text}" for p in passages)
    overlap = lexical_overlap(sentence, reference)
    best_spans: dict[int, tuple[tuple[int, int], float]] = {}
    similarity = 0.0
    for i, p in enumerate(passages):
        if p.vectors is None or not len(p.spans):
            continue
        sims = p.vectors @ vector
        j = int(np.argmax(sims))
        best_spans[i] = (p.spans[j], float(sims[j]))
        similarity = max(similarity, float(sims[j]))
    invented = invented_numbers(sentence, reference) | invented_names(sentence, reference)
    return overlap, similarity, invented, best_spans


def _judge(sentence: str, vector: np.ndarray, passages: Sequence[PassageView],
           min_overlap: float, min_similarity: float):
    overlap, similarity, invented, spans = support(sentence, vector, passages)
    problems = []
    if overlap < min_overlap:
        problems.append(f"word overlap {overlap:.2f} < {min_overlap}")
    if similarity < min_similarity:
        problems.append(f"similarity {similarity:.2f} < {min_similarity}")
    if invented:
        problems.append(f"not in the passage: {', '.join(sorted(invented))}")
    return overlap, similarity, spans, problems


def check_answer(text: str, passages: Sequence[PassageView],
                 embed: Callable[[list[str]], np.ndarray],
                 min_overlap: float = MIN_OVERLAP, min_similarity: float = MIN_SIMILARITY,
                 attribute_uncited: bool = True) -> CheckedAnswer:
    """Check every sentence of a generated answer against the passages it cites.

    ``passages`` are the passages the model was shown, numbered from 1 in order; ``embed``
    turns texts into normalised vectors (the retrieval embedder). Passages without vectors
    get them from ``embed``. A sentence that cites a passage must be supported by it (a wrong
    citation is not repaired). With ``attribute_uncited``, a sentence that cites no valid
    passage (small models often forget the marker) is given the passage that supports it
    best, when one passes the same test; it is flagged ``attributed``.
    """
    passages = list(passages)
    for p in passages:
        if not p.spans:
            p.spans = split_sentences(p.text) or [(0, len(p.text))]
    parts = split_answer(text)
    missing = [p for p in passages if p.vectors is None]
    texts = [s for s, _ in parts] + [p.text[a:b] for p in missing for a, b in p.spans]
    vectors = embed(texts) if texts else np.zeros((0, 1))
    i = len(parts)
    for p in missing:  # one embedding batch for the answer and the passages
        p.vectors, i = vectors[i:i + len(p.spans)], i + len(p.spans)
    vectors = vectors[:len(parts)]
    checks: list[SentenceCheck] = []
    for (sentence, cited), vector in zip(parts, vectors):
        valid = [n for n in cited if 1 <= n <= len(passages)]
        check = SentenceCheck(sentence, valid, [n for n in cited if n not in valid])
        if not valid and is_refusal(sentence):
            check.refusal = True
            check.reason = "says the passages do not answer"
            checks.append(check)
            continue
        if not valid:
            check.reason = ("cites no passage" if not cited else
                            f"cites passage {', '.join(map(str, check.removed))}, which does not exist")
            if attribute_uncited:
                best = None
                for n, p in enumerate(passages, start=1):
                    overlap, similarity, spans, problems = _judge(sentence, vector, [p],
                                                                  min_overlap, min_similarity)
                    if not problems and (best is None or similarity > best[1]):
                        best = (n, similarity, overlap, spans[0][0] if spans else None)
                if best:
                    n, check.similarity, check.overlap, span = best
                    check.citations, check.supported, check.attributed = [n], True, True
                    check.spans = {n: span} if span else {}
                    check.reason += f"; passage {n} supports it"
            checks.append(check)
            continue
        cited_passages = [passages[n - 1] for n in valid]
        overlap, similarity, spans, problems = _judge(sentence, vector, cited_passages,
                                                      min_overlap, min_similarity)
        check.overlap, check.similarity = overlap, similarity
        check.spans = {valid[i]: span for i, (span, _) in spans.items()}
        check.supported = not problems
        check.reason = "; ".join(problems) or "supported"
        checks.append(check)
    return CheckedAnswer(checks)


# -- answer scoring (the eval's generation metrics) -------------------------------------------
_YES_NO_RE = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_ABSTAIN_RE = re.compile(
    r"insufficient information|do(?:es)? not (?:cover|contain|mention|say|answer)|"
    r"not enough information|cannot be determined|no information", re.IGNORECASE)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation or articles, single spaces."""
    text = _MARKER_RE.sub(" ", _fold(text)).replace(UNSUPPORTED_MARK, " ")
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def yes_no(prediction: str) -> str | None:
    """'yes' or 'no' when the answer starts with it, else None."""
    m = _YES_NO_RE.match(_MARKER_RE.sub(" ", prediction))
    return m.group(1).lower() if m else None


def strict_match(prediction: str, gold: str) -> bool:
    """Strict answer accuracy: normalised exact match for yes/no and entity answers.

    * gold yes/no: the prediction must start with the same yes/no;
    * gold "Insufficient information.": the prediction must say the passages do not answer;
    * otherwise (an entity): the normalised gold must occur as whole words in the normalised
      prediction's first sentence.
    """
    g = normalize_answer(gold)
    if g in ("yes", "no"):
        return yes_no(prediction) == g
    if g == "insufficient information":
        return bool(_ABSTAIN_RE.search(prediction))
    if not g:
        return False
    first = split_sentences(prediction.strip())
    head = prediction[first[0][0]:first[0][1]] if first else prediction
    return re.search(r"(?<!\w)" + re.escape(g) + r"(?!\w)", normalize_answer(head)) is not None


def lenient_match(prediction: str, gold: str) -> bool:
    """MultiHop-RAG's own rule (qa_evaluate.py ``has_intersection``): correct when the lower-cased
    prediction and gold answer share at least one white-space-separated word. Punctuation is
    stripped from the ends of words here ("Yes," counts as "yes"): upstream scores an answer
    string extracted from the model's reply, ours are cited sentences."""
    def words(text: str) -> set[str]:
        return {w.strip(".,;:!?\"'“”‘’()[]") for w in text.lower().split()} - {""}

    return bool(words(_MARKER_RE.sub(" ", prediction)) & words(gold))
