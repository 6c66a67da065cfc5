"""What a question asks for: its expected answer type, focus terms, named entities, language.

Used by retrieval (focus terms, named entities) and by answering (which candidate answers
fit the question). The analysis runs spaCy's English pipeline (see nlp.py) on the question:

- the **wh-word** and, for "what/which", the **head noun** ("which *company* …",
  "what was the *cost* …", "what is the name of the *team* …");
- the **expected answer type** as spaCy entity labels: who → PERSON/ORG/NORP, when →
  DATE/TIME, where → GPE/LOC/FAC, how many → CARDINAL/QUANTITY, how much →
  MONEY/QUANTITY/PERCENT, which/what + head noun → the label of that kind of noun (a small
  English lexicon: city → GPE, company → ORG, price → MONEY …), why → a reason clause;
  keyword-style questions take the type of a type noun they contain ("… number" → CARDINAL);
- the **focus terms**: the question's content words (stems, as the lexical index has them),
  without the wh-words and the question's own type noun;
- the **named entities** and proper nouns the question names.

The lexicon is general English (question classification as in Li & Roth 2002), not the
templates of any dataset. Left out: yes/no and list questions get no type; questions in other
languages are only flagged (``english`` is False), not analysed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .lexical import STOP_WORDS, tokenize

__all__ = ["QuestionAnalysis", "analyze", "REASON"]

REASON = "REASON"  # the pseudo-type of "why" questions: a because/due-to clause

PEOPLE = ("PERSON", "ORG", "NORP")
TIMES = ("DATE", "TIME")
PLACES = ("GPE", "LOC", "FAC")
COUNTS = ("CARDINAL", "QUANTITY")
AMOUNTS = ("MONEY", "QUANTITY", "PERCENT")

# Head noun of "which/what <noun>" -> the entity labels an answer of that kind carries.
TYPE_NOUNS: dict[str, tuple[str, ...]] = {}
for _labels, _nouns in (
    (("PERSON",), "person man woman boy girl player athlete minister president official leader "
                  "actor actress singer author writer judge coach candidate politician spokesman "
                  "spokeswoman spokesperson chairman director manager founder owner driver rider "
                  "scientist doctor victim suspect winner governor mayor senator king queen prince "
                  "pope captain pilot journalist reporter artist musician composer chef student "
                  "teacher officer general commander premier chancellor head chief guard deputy "
                  "midfielder striker goalkeeper defender forward teammate footballer cricketer "
                  "golfer boxer cyclist skier swimmer runner racer jockey batsman bowler "
                  "researcher professor economist analyst lawyer attorney prosecutor detective "
                  "soldier priest bishop cardinal activist campaigner protester survivor "
                  "cartoonist photographer editor presenter host comedian designer architect "
                  "engineer astronaut explorer climber businessman entrepreneur executive "
                  "minister secretary ambassador diplomat commissioner inspector sheriff "
                  "surgeon nurse patient resident citizen husband wife son daughter father "
                  "mother brother sister friend member candidate nominee heir prisoner detainee "
                  "hostage captive convict inmate"),
    (("ORG",), "company firm organization organisation party team club group agency newspaper "
               "paper university college school bank airline union band network channel court "
               "charity business corporation carrier manufacturer maker retailer brand publisher "
               "broadcaster station label ministry department institution journal magazine "
               "website newspaper insurer automaker carmaker supermarket chain operator "
               "regulator watchdog council committee court agency orchestra supplier provider "
               "contractor"),
    (("GPE",), "city country state province town capital nation village county suburb "
               "municipality"),
    (("GPE", "LOC", "FAC"), "region place location "
                            "nation continent island village county district area site venue "
                            "destination border port airport stadium street prison hospital "
                            "suburb neighbourhood neighborhood municipality river lake mountain "
                            "park building base camp"),
    (("NORP",), "nationality religion ethnicity"),
    (("DATE", "TIME"), "year date day month time decade century season week hour deadline"),
    (("MONEY",), "amount price cost sum fine salary budget fee value bill damages compensation "
                 "reward bail funding fund loss profit revenue debt deficit payment bonus prize"),
    (("PERCENT",), "percentage percent share proportion rate"),
    (("CARDINAL", "QUANTITY"), "number figure total count toll tally score population"),
    (("QUANTITY",), "distance height weight depth length magnitude speed size area"),
    (("LANGUAGE",), "language"),
    (("LAW",), "law act bill treaty"),
    (("EVENT",), "event tournament championship competition war battle storm hurricane"),
    (("WORK_OF_ART",), "film movie book song album novel painting show"),
    (("PRODUCT",), "product vehicle car aircraft plane ship device phone shuttle spacecraft "
                   "model"),
):
    for _noun in _nouns.split():
        TYPE_NOUNS.setdefault(_noun, _labels)

# Units a "how many" question counts time in.
TIME_UNITS = frozenset("second minute hour day night week month year decade century".split())

# Words that make "how much" a question about money ("how much did it cost").
MONEY_WORDS = frozenset("""cost costs costing pay paid pays paying spend spent spending price priced
    worth budget budgeted fund funded funding raise raised earn earned earns sell sold buy bought
    fine fined charge charged owe owed lose lost invest invested donate donated donation
    compensation salary fee fees money cash dollars euros pounds""".split())
# … and about a share.
PERCENT_WORDS = frozenset("percent percentage share proportion".split())

# "how <adjective>" questions.
HOW_TYPES = {"much": AMOUNTS, "many": COUNTS, "long": ("DATE", "TIME", "QUANTITY"),
             "old": ("DATE", "CARDINAL"), "far": ("QUANTITY",), "big": ("QUANTITY", "CARDINAL"),
             "large": ("QUANTITY", "CARDINAL"), "high": ("QUANTITY", "MONEY", "PERCENT"),
             "tall": ("QUANTITY",), "heavy": ("QUANTITY",), "often": ("DATE", "CARDINAL"),
             "soon": ("DATE", "TIME"), "fast": ("QUANTITY",), "deep": ("QUANTITY",)}
WH_WORDS = {"who", "whom", "whose", "what", "which", "when", "where", "why", "how"}
# Words that only shape a question ("name the", "tell me") and are never its focus.
_FRAME_WORDS = {"name", "tell", "give", "list", "happen", "happened", "kind", "type", "sort",
                "know", "report", "reported", "say", "said", "according", "mention", "mentioned"}
_NON_ENGLISH_HINTS = frozenset(
    """der die das und ist nicht ein eine wie was wer warum wann wo welche le la les est et des
    une qui quoi pourquoi quand où comment el los las es y que qué quién por cuándo dónde cómo
    il lo gli è chi perché quando dove come o os é não quem porque quando onde como het een
    wat wie waarom wanneer waar hoe""".split())


@dataclass(frozen=True)
class QuestionAnalysis:
    text: str
    wh: str  # who what which where when why how-many how-much how keyword other
    answer_types: tuple[str, ...] = ()  # spaCy entity labels, or (REASON,) for why
    head: str | None = None  # the type noun of "which/what <noun>"
    focus: tuple[str, ...] = ()  # content-word stems (as the lexical index tokenizes)
    entities: tuple[tuple[str, str], ...] = ()  # (text, label) named in the question
    proper: tuple[str, ...] = ()  # proper-noun phrases named in the question
    english: bool = True
    words: frozenset = field(default_factory=frozenset)  # lower-cased words, for "not in the question"

    @property
    def typed(self) -> bool:
        return bool(self.answer_types) and self.answer_types != (REASON,)

    @property
    def style(self) -> str:
        return self.wh


def _lexicon_head(token) -> str | None:
    lemma = token.lemma_.lower()
    if lemma in ("name", "kind", "type", "sort", "title"):
        for child in token.children:
            if child.dep_ == "prep" and child.lower_ == "of":
                for pobj in child.children:
                    if pobj.dep_ == "pobj":
                        return pobj.lemma_.lower()
    return lemma


def _measured_noun(tokens, at: int) -> str | None:
    """The noun of "how many/much [adjectives] <noun>" ("how many *passengers*", "how much
    toxic red *mud*"), or None when no noun follows at once ("how much did it cost")."""
    for token in tokens[at:at + 4]:
        if token.pos_ == "NOUN":
            return token.lemma_.lower()
        if token.pos_ not in ("ADJ",) and token.dep_ not in ("amod", "compound"):
            return None
    return None


def _copula_noun(tokens, wh_index: int) -> str | None:
    """The noun of "who is/was the <noun> …" (its last noun before a preposition or verb),
    or None."""
    rest = tokens[wh_index + 1:]
    if not rest or rest[0].lemma_.lower() != "be":
        return None
    nouns = []
    for token in rest[1:]:
        if token.pos_ in ("DET", "ADJ", "NOUN", "PROPN") or token.dep_ == "compound":
            if token.pos_ == "NOUN":
                nouns.append(token)
            continue
        break
    return _lexicon_head(nouns[-1]) if nouns else None


def _head_noun(doc, wh_index: int) -> str | None:
    """The noun a what/which question asks about, or None."""
    # "Which Danish newspaper …", "Which Immaculate Conception player …": the parser makes the
    # wh-word a determiner of its noun.
    # The noun phrase right after the wh-word ends at its head: the last noun of the run of
    # adjectives and nouns ("which Sudanese foreign ministry *spokesman* …").
    run = []
    for token in doc[wh_index + 1:]:
        if token.pos_ in ("ADJ", "NOUN", "PROPN", "NUM") or token.dep_ == "compound":
            run.append(token)
            continue
        break
    nouns = [t for t in run if t.pos_ == "NOUN"]
    if nouns:
        return _lexicon_head(nouns[-1])
    wh = doc[wh_index]
    if wh.dep_ == "det" and wh.head.pos_ in ("NOUN", "PROPN") and wh.head.i > wh_index:
        return _lexicon_head(wh.head)
    # "which company …", "what new law …": the first noun shortly after the wh-word.
    for token in doc[wh_index + 1: wh_index + 4]:
        if token.pos_ in ("NOUN", "PROPN"):
            return _lexicon_head(token)
        if token.pos_ in ("AUX", "VERB") or token.lower_ in ("of",):
            break
    # "what was the cost of …", "what is the name of the team …": the copula's subject. Not
    # "what did the council approve": there the subject is who acted, not what is asked.
    # spaCy makes a new Token object on every access, so compare indices, never identity.
    root = doc[wh_index].sent.root
    if root.lemma_ != "be":
        return None
    for token in doc[wh_index + 1:]:
        if token.dep_ in ("nsubj", "nsubjpass", "attr") and token.pos_ in ("NOUN", "PROPN"):
            return _lexicon_head(token)
    return None


def _is_english(text: str, words: list[str]) -> bool:
    letters = [c for c in text if c.isalpha()]
    if letters:
        latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
        if latin / len(letters) < 0.5:
            return False
    if len(words) >= 3:
        foreign = sum(1 for w in words if w in _NON_ENGLISH_HINTS and w not in STOP_WORDS)
        english = sum(1 for w in words if w in STOP_WORDS or w in WH_WORDS)
        if foreign >= 2 and foreign > english:
            return False
    return True


def analyze(question: str) -> QuestionAnalysis:
    """The analysis of one question (see the module docstring)."""
    from .nlp import pipeline

    words = [w.lower() for w in re.findall(r"[^\W_]+", question)]
    english = _is_english(question, words)
    if not english:
        return QuestionAnalysis(question, "other", english=False, focus=tuple(dict.fromkeys(tokenize(question))),
                                words=frozenset(words))
    doc = pipeline()(question)
    wh, types, head = _classify(doc)
    entities = tuple((e.text, e.label_) for e in doc.ents)
    proper = tuple(dict.fromkeys(_proper_phrases(doc)))
    # The wh-phrase ("how many", "which city") says what kind of answer, not what about.
    skip = set(WH_WORDS) | _FRAME_WORDS | {"much", "many"} | (set(HOW_TYPES) if wh == "how" else set())
    if head in TYPE_NOUNS:
        skip.add(head)
    focus_words = [t.text for t in doc if not t.is_punct and t.lower_ not in skip
                   and t.lemma_.lower() not in skip and t.pos_ not in ("AUX", "DET", "PRON", "ADP", "CCONJ", "SCONJ", "PART")]
    focus = tuple(dict.fromkeys(tokenize(" ".join(focus_words))))
    return QuestionAnalysis(question, wh, types, head, focus, entities, proper, True, frozenset(words))


def _classify(doc) -> tuple[str, tuple[str, ...], str | None]:
    tokens = list(doc)
    # "Name the ship from which …", "Identify the company that …": the imperative's object
    # is what is asked, as in "which ship …" (a wh-word later in the sentence is not).
    if len(tokens) > 2 and tokens[0].lower_ in ("name", "identify"):
        head = _measured_noun(tokens, 2 if tokens[1].pos_ == "DET" else 1)
        if head in TYPE_NOUNS:
            return "what", TYPE_NOUNS[head], head
    for i, token in enumerate(tokens):
        word = token.lower_
        if word not in WH_WORDS:
            continue
        nxt = tokens[i + 1].lower_ if i + 1 < len(tokens) else ""
        if word == "how":
            if nxt == "much":
                rest = {t.lower_ for t in tokens[i + 2:]}
                # "how much oil leaked", "how much cannabis can a patient buy": a noun right
                # after "much" is what is measured, so a quantity first, whatever the verb.
                stuff = _measured_noun(tokens, i + 2)
                if stuff and stuff not in MONEY_WORDS and stuff not in PERCENT_WORDS:
                    return "how much", ("QUANTITY", "MONEY", "PERCENT"), None
                if rest & MONEY_WORDS:
                    return "how much", ("MONEY",), None
                if rest & PERCENT_WORDS:
                    return "how much", ("PERCENT",), None
                return "how much", AMOUNTS, None
            if nxt == "many":
                # "how many dollars/percent …" ask for money or a share, not a count.
                unit = _measured_noun(tokens, i + 2)
                if unit in TYPE_NOUNS and TYPE_NOUNS[unit] in (("MONEY",), ("PERCENT",)):
                    return "how many", TYPE_NOUNS[unit], unit
                # "how many minutes/years …": a length of time ("seventeen minutes", which the
                # recogniser calls TIME, "fifteen years", a DATE), counted.
                if unit in TIME_UNITS:
                    return "how many", ("CARDINAL", "TIME", "DATE", "QUANTITY"), unit
                return "how many", COUNTS, None
            if nxt in HOW_TYPES:
                return "how", HOW_TYPES[nxt], None
            return "how", (), None
        if word in ("who", "whom", "whose"):
            # "Who is the director of …": the copula's noun says which of the people kinds.
            head = _copula_noun(tokens, i)
            if head in TYPE_NOUNS and set(TYPE_NOUNS[head]) <= set(PEOPLE):
                return "who", TYPE_NOUNS[head], head
            return "who", PEOPLE, None
        if word == "when":
            return "when", TIMES, None
        if word == "where":
            return "where", PLACES, None
        if word == "why":
            return "why", (REASON,), None
        # what / which
        head = _head_noun(doc, i)
        if head in TYPE_NOUNS:
            return word, TYPE_NOUNS[head], head
        return word, (), head
    # Keyword style ("tram line cost Riverton"): the type of a type noun it contains.
    if not doc.text.rstrip().endswith("?"):
        for token in reversed(tokens):
            lemma = token.lemma_.lower()
            if token.pos_ in ("NOUN", "PROPN") and lemma in TYPE_NOUNS:
                return "keyword", TYPE_NOUNS[lemma], lemma
        return "keyword", (), None
    return "other", (), None


def _proper_phrases(doc) -> list[str]:
    """Named entities and runs of proper nouns ("Grenfell Tower", "Karzai")."""
    numeric = ("CARDINAL", "ORDINAL", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY")
    out = [e.text for e in doc.ents if e.label_ not in numeric]
    # A month in "on 26 August" is a date the time filter reads, not a name passages must hold.
    in_numeric = {t.i for e in doc.ents if e.label_ in numeric for t in e}
    run: list[str] = []
    for token in list(doc) + [None]:
        if token is not None and token.pos_ == "PROPN" and token.i > 0 and token.i not in in_numeric:
            run.append(token.text)
            continue
        if run:
            out.append(" ".join(run))
            run = []
    return [re.sub(r"^(?:the|The)\s+", "", p) for p in out if p.strip()]
