"""Time in questions and articles: the reference date, date expressions, event dates.

- ``reference_date``: "now" for relative expressions: ``--as-of`` / ``ASSISTANT_AS_OF``
  (``today`` = the machine's date), else the newest article date in the index.
- ``find_timeframe``: the time a question is about. Relative windows ("last week",
  "yesterday", "the past 3 days", "since Monday", "over the weekend", "earlier this year") are
  hard filters; named dates ("on 2023-11-24", "in March", "Q3 2023") are boosts, as are
  before/after forms; "recently", "latest", "what's new" ask for recency (a boost, no window).
- ``parse_bound``: a filter box / ``--since`` / ``--until`` value: YYYY-MM-DD or the same words.
- ``event_dates``: day-precise date expressions inside a sentence ("on Tuesday", "yesterday",
  "Aug. 26") resolved against the article's publication date.
- ``temporal_intent``: "latest" and "timeline" questions.

Resolution of a single expression is dateparser's (``RELATIVE_BASE`` = the reference date,
past preferred); this module only finds the phrases and turns an anchor day into a window
(whole week / month / quarter / year). Left out: times of day, time zones, future-tense
expressions ("next week" resolves, but event dates always prefer the past), non-English text.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import logging
import re
from dataclasses import dataclass

__all__ = ["MONTHS", "MONTH_NAMES", "MONTH_NAMES_RE", "Reference", "TimeFrame", "reference_date",
           "find_timeframe", "parse_bound", "event_dates", "sentence_event_dates",
           "annotate_event_dates", "temporal_intent", "has_topic", "strip_temporal", "resolve",
           "within"]

log = logging.getLogger(__name__)

# The one home of month names: full names and abbreviations, lower case -> month number.
MONTH_NAMES: tuple[str, ...] = tuple(name.lower() for name in calendar.month_name[1:])  # january..
MONTHS: dict[str, int] = {name: i for i, name in enumerate(MONTH_NAMES, start=1)}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
MONTH_NAMES_RE = (r"(?:January|February|March|April|May|June|July|August|September|October|"
                  r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)")
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"


@dataclass(frozen=True)
class Reference:
    """The date relative expressions are resolved against, and where it came from."""

    date: dt.date
    source: str  # "as_of" (set by the user), "today" (the machine's date), "newest" (index)

    def describe(self) -> str:
        day = self.date.isoformat()
        if self.source == "newest":
            return f"as of {day}, the newest article"
        if self.source == "today":
            return f"as of today, {day}"
        return f"as of {day}"


def reference_date(as_of: str | dt.date | None, newest: str | None, *,
                   today: dt.date | None = None) -> Reference:
    """The reference date: as_of ("today" or YYYY-MM-DD), else the newest article date,
    else the machine's date. ConfigError names a malformed as_of."""
    today = today or dt.date.today()
    if isinstance(as_of, dt.date):
        return Reference(as_of, "as_of")
    value = (as_of or "").strip()
    if value.lower() == "today":
        return Reference(today, "today")
    if value:
        try:
            return Reference(dt.date.fromisoformat(value), "as_of")
        except ValueError:
            from .errors import ConfigError

            raise ConfigError(f"unknown reference date {value!r}: use YYYY-MM-DD or 'today'") from None
    if newest:
        try:
            return Reference(dt.date.fromisoformat(newest), "newest")
        except ValueError:
            log.warning("index's newest date %r is not YYYY-MM-DD; using today", newest)
    return Reference(today, "today")


@dataclass(frozen=True)
class TimeFrame:
    """The time a question is about: a window (either end may be open), how binding it is,
    and whether it was resolved against the reference date."""

    start: dt.date | None = None
    end: dt.date | None = None
    hard: bool = False  # a filter ("last week"), not just a boost ("in March")
    relative: bool = False  # resolved against the reference date
    recent: bool = False  # "recently", "latest": prefer newer articles
    phrase: str = ""

    @property
    def date_from(self) -> str | None:
        return self.start.isoformat() if self.start else None

    @property
    def date_to(self) -> str | None:
        return self.end.isoformat() if self.end else None


# -- resolution with dateparser ----------------------------------------------------------------
def resolve(expression: str, base: dt.date) -> dt.date | None:
    """One date expression resolved by dateparser against base (the past preferred)."""
    return _resolve(expression.strip().lower(), base)


@functools.lru_cache(maxsize=4096)
def _resolve(expression: str, base: dt.date) -> dt.date | None:
    import dateparser

    settings = {"RELATIVE_BASE": dt.datetime(base.year, base.month, base.day),
                "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False,
                "PREFER_DAY_OF_MONTH": "first", "STRICT_PARSING": False}
    try:
        parsed = dateparser.parse(expression, languages=["en"], settings=settings)
    except Exception as exc:  # dateparser raises assorted errors on odd input
        log.warning("dateparser failed on %r: %s", expression, exc)
        return None
    return parsed.date() if parsed else None


def _week(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def _month(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


# -- phrases in questions -------------------------------------------------------------------------
_NUM = r"(\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve)"
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12}
_RELATIVE = [  # (pattern, kind); matched case-insensitively, first match wins per span
    (r"\b(?:in|over|during|within)?\s*the\s+(?:past|last|previous)\s+" + _NUM + r"\s+(day|week|month|year)s?\b", "past_n"),
    (r"\b(?:in|over|during)?\s*the\s+(?:past|previous)\s+(day|week|month|year)\b", "past_1"),
    (r"\bearlier\s+this\s+(week|month|year)\b", "earlier_this"),
    (r"\b(this|last|previous)\s+(week|month|year)\b", "this_last"),
    (r"\b(?:over\s+|during\s+)?(?:the|this|last)\s+weekend\b", "weekend"),
    (r"\bsince\s+(" + _WEEKDAYS + r")\b", "since_weekday"),
    # "last Sunday('s)" points at one day as plainly as "yesterday" does ("on Sunday" stays a
    # boost: a Monday paper reports Sunday's game).
    (r"\blast\s+(" + _WEEKDAYS + r")\b", "last_weekday"),
    (r"\b(?:the\s+)?day\s+before\s+(yesterday)\b", "day_before"),
    (r"\b(today|yesterday)\b", "day_word"),
    (r"\b" + _NUM + r"\s+(day|week)s?\s+ago\b", "ago"),
]
_RELATIVE = [(re.compile(p, re.IGNORECASE), kind) for p, kind in _RELATIVE]
_QUARTER_RE = re.compile(r"\b(?:Q([1-4])|(first|second|third|fourth)\s+quarter(?:\s+of)?)\s+(\d{4})\b",
                         re.IGNORECASE)
_ISO_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# "November 24, 2023", "Nov. 24", "24 November 2023", "November 2023", "in March".
_MONTH_RE = re.compile(
    r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?)?(" + MONTH_NAMES_RE + r")\.?"
    r"(?:\s+(\d{1,2})(?:st|nd|rd|th)?\b)?(?:,?\s+(\d{4}))?\b")
_WEEKDAY_RE = re.compile(r"\b(?:on|last)\s+(" + _WEEKDAYS + r")\b", re.IGNORECASE)
_BEFORE_RE = re.compile(r"\b(before|prior to|until|by)\s*$", re.IGNORECASE)
_AFTER_RE = re.compile(r"\b(after|since|following|from)\s*$", re.IGNORECASE)
_RECENT_RE = re.compile(r"\b(recently|recent|lately|latest|newest|most\s+recent|what[’']?s\s+new|"
                        r"these\s+days|nowadays|currently)\b", re.IGNORECASE)


def _relative_window(m: re.Match, kind: str, ref: dt.date) -> tuple[dt.date, dt.date] | None:
    g = [x.lower() if x else x for x in m.groups()]
    if kind == "past_n" or kind == "past_1":
        n = 1 if kind == "past_1" else (int(g[0]) if g[0].isdigit() else _NUMBERS[g[0]])
        unit = g[-1]
        start = resolve(f"{n} {unit}s ago", ref)
        return (start + dt.timedelta(days=1), ref) if start else None
    if kind == "earlier_this":
        unit = g[0]
        if unit == "week":
            return _week(ref)[0], ref
        if unit == "month":
            return ref.replace(day=1), ref
        return ref.replace(month=1, day=1), ref
    if kind == "this_last":
        which, unit = g
        anchor = ref if which == "this" else resolve(f"last {unit}", ref)
        if anchor is None:
            return None
        if unit == "week":
            first, last = _week(anchor)
        elif unit == "month":
            first, last = _month(anchor.year, anchor.month)
        else:
            first, last = dt.date(anchor.year, 1, 1), dt.date(anchor.year, 12, 31)
        return first, min(last, ref)
    if kind == "weekend":
        saturday = resolve("saturday", ref)
        if saturday is None:
            return None
        if ref.weekday() == 6 and saturday == ref - dt.timedelta(days=1):
            pass  # Sunday: this weekend is the one that is ending
        return saturday, min(saturday + dt.timedelta(days=1), ref)
    if kind == "since_weekday":
        day = resolve(g[0], ref)
        return (day, ref) if day else None
    if kind == "day_word":
        day = resolve(g[0], ref)
        return (day, day) if day else None
    if kind == "day_before":
        day = resolve("2 days ago", ref)
        return (day, day) if day else None
    if kind == "last_weekday":
        day = resolve(g[0], ref)
        if day is not None and day >= ref:
            day = ref - dt.timedelta(days=7 - (day - ref).days % 7 or 7)
        return (day, day) if day else None
    if kind == "ago":
        n = int(g[0]) if g[0].isdigit() else _NUMBERS[g[0]]
        day = resolve(f"{n} {g[1]}s ago", ref)
        return (day, day) if day else None
    return None


def _named_windows(text: str, ref: dt.date) -> list[tuple[int, int, dt.date, dt.date, bool]]:
    """Explicit dates in text: (start, end offsets, first day, last day, resolved against ref)."""
    found = []
    years = [int(y) for y in re.findall(r"\b(19\d{2}|20\d{2})\b", text)]
    for m in _ISO_RE.finditer(text):
        try:
            day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
        found.append((m.start(), m.end(), day, day, False))
    for m in _QUARTER_RE.finditer(text):
        q = int(m.group(1)) if m.group(1) else ["first", "second", "third", "fourth"].index(m.group(2).lower()) + 1
        year = int(m.group(3))
        found.append((m.start(), m.end(), _month(year, 3 * q - 2)[0], _month(year, 3 * q)[1], False))
    for m in _MONTH_RE.finditer(text):
        day_before, name, day_after, year = m.groups()
        if name.lower() == "may" and (name != "May" or not (day_before or day_after or year)):
            continue  # "may" / "May" alone is mostly the verb
        month = MONTHS[name.lower()]
        day = day_before or day_after
        inferred = False
        if year:
            y = int(year)
        elif years:
            y = years[0]
        else:  # the most recent such month (or day) not after the reference date
            y = ref.year if (month, int(day or 1)) <= (ref.month, ref.day) else ref.year - 1
            inferred = True
        try:
            first, last = ((dt.date(y, month, int(day)),) * 2 if day else _month(y, month))
        except ValueError:
            continue
        found.append((m.start(), m.end(), first, last, inferred))
    for m in _WEEKDAY_RE.finditer(text):
        day = resolve(m.group(1), ref)
        if day:
            found.append((m.start(), m.end(), day, day, True))
    return found


def find_timeframe(question: str, ref: dt.date) -> TimeFrame | None:
    """The time the question is about, or None when it names none (see the module doc)."""
    lo: dt.date | None = None
    hi: dt.date | None = None
    open_lo = open_hi = False
    hard = relative = False
    phrases: list[str] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in _RELATIVE:
        for m in pattern.finditer(question):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            window = _relative_window(m, kind, ref)
            if window is None:
                continue
            taken.append((m.start(), m.end()))
            phrases.append(m.group(0).strip())
            hard = relative = True
            lo = window[0] if lo is None else min(lo, window[0])
            hi = window[1] if hi is None else max(hi, window[1])
    for start, end, first, last, inferred in sorted(_named_windows(question, ref)):
        if any(s < end and start < e for s, e in taken):
            continue
        taken.append((start, end))
        phrases.append(question[start:end].strip())
        relative = relative or inferred
        before = question[:start]
        if _BEFORE_RE.search(before):
            open_lo = True
        elif _AFTER_RE.search(before):
            open_hi = True
            if re.search(r"\bsince\s*$", before, re.IGNORECASE):
                last = ref  # "since March": up to now
                open_hi = False
        lo = first if lo is None else min(lo, first)
        hi = last if hi is None else max(hi, last)
    recent = bool(_RECENT_RE.search(question))
    if not phrases and not recent:
        return None
    return TimeFrame(None if open_lo else lo, None if open_hi else hi, hard, relative, recent,
                     ", ".join(phrases))


def parse_bound(value: str | None, ref: dt.date, *, end: bool, label: str = "date") -> str | None:
    """A date filter value (YYYY-MM-DD, or words: "last week", "yesterday", "March", "Q3 2023",
    "3 days ago", "today") as YYYY-MM-DD: the window's first day for a start bound, its last
    day for an end bound. ConfigError names a value it cannot read."""
    value = (value or "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    else:
        frame = find_timeframe(value, ref)
        if frame and (frame.start or frame.end):
            day = (frame.end or frame.start) if end else (frame.start or frame.end)
            return day.isoformat()
        day = resolve(value, ref) if re.search(r"[a-z]", value, re.IGNORECASE) else None
        if day:
            return day.isoformat()
    from .errors import ConfigError

    raise ConfigError(f"unknown date {value!r} for the '{label}' filter: use YYYY-MM-DD or words "
                      "such as 'last week', 'yesterday', 'the past 3 days', 'March', 'Q3 2023'")


# -- intent ----------------------------------------------------------------------------------------
_LATEST_RE = re.compile(r"\b(latest|newest|most\s+recent|what[’']?s\s+new|recent\s+news|"
                        r"latest\s+news|any\s+news|news\s+on|updates?\s+on)\b", re.IGNORECASE)
# A timeline question's instructions ("how did X develop", "lay out, in order, ...", "what
# followed", "coverage of") say how to answer, not what about: kept in the search text they
# reward articles that say "develop" or "timeline" over articles about X.
_SEQUENCE_VERBS = (r"develop|developed|evolve|evolved|unfold|unfolded|progress|progressed|change|"
                   r"changed|build\s+up|built\s+up|play\s+out|played\s+out|escalate|escalated|"
                   r"(?:stay|stayed|remain|remained)\s+in\s+the\s+(?:news|headlines)")
# The verb ends its clause ("how did the strike develop over the summer"), unlike "how did
# climate change affect farming", where "change" is part of the topic.
_CLAUSE_END = (r"(?=\s*(?:$|[?.,;:!)]|(?:over|since|after|during|in|this|through|throughout|from|"
               r"until|across|around|between|when|and|so|to|into)\b))")


def _how_did(auxiliaries: str) -> str:
    """"how <auxiliary> <topic> <sequence verb>", the topic in group 1."""
    return (r"\bhow\s+(?:" + auxiliaries + r")\s+(.+?)\s+(?:" + _SEQUENCE_VERBS + r")\b"
            + _CLAUSE_END)


# Phrases that ask for a sequence: they make a question a timeline and are not its topic.
_SEQUENCE_PHRASES = (r"in\s+(?:date\s+)?order(?!\s+(?:to|for))|what\s+followed|step\s+by\s+step|"
                     r"(?:the\s+)?(?:sequence|course)\s+of\s+events|(?:the\s+)?story\s+so\s+far|"
                     r"(?:the\s+)?key\s+(?:events|moments|developments)(?:\s+(?:of|in))?|"
                     r"(?:the\s+)?history\s+of|over\s+time|recap(?:\s+of)?")
# Chosen on the dev split of benchmarks/questions/temporal-qa: "in order", "what followed",
# "build up" and "play out" name a sequence as plainly as "timeline" does.
_TIMELINE_RE = re.compile(
    r"\b(timeline|chronology|chronological|" + _how_did(r"did|has|have|does") + r"|"
    r"what\s+(?:has\s+)?happened\s+(?:with|to)\s+.+?\s+since|" + _SEQUENCE_PHRASES + r")\b",
    re.IGNORECASE)


def temporal_intent(question: str) -> str | None:
    """"timeline" (how X developed, a timeline of X, what happened with X since ...),
    "latest" (the latest / newest / what's new about X), or None."""
    if _TIMELINE_RE.search(question):
        return "timeline"
    if _LATEST_RE.search(question):
        return "latest"
    return None


_STRIP_RE = re.compile(
    r"\b(?:what\s+is\s+|what\s+are\s+|tell\s+me\s+)?(?:the\s+)?(?:latest|newest|most\s+recent|recent)"
    r"(?:\s+(?:news|developments?|updates?|reports?|stories|articles?))?(?:\s+(?:about|on|from|regarding|with))?\b"
    r"|\bwhat[’']?s\s+new(?:\s+(?:about|on|with|in))?\b|\b(?:give\s+me\s+)?a\s+timeline\s+of\b|\btimeline\b"
    r"|\brecently\b|\blately\b", re.IGNORECASE)


_HOW_DID_RE = re.compile(_how_did(r"did|has|have|does|do"), re.IGNORECASE)
_INSTRUCTION_RE = re.compile(
    r"\b(?:lay\s+out|walk\s+me\s+through|" + _SEQUENCE_PHRASES + r"|chronolog(?:y|ical)(?:\s+of)?|"
    r"(?:the\s+)?(?:news\s+)?coverage\s+of)\b", re.IGNORECASE)


def strip_temporal(question: str) -> str:
    """The question without its recency/timeline words, timeline instructions and relative
    windows (the topic is what retrieval should match); the question itself when nothing is
    left."""
    text = _HOW_DID_RE.sub(r"\1", question)
    text = _INSTRUCTION_RE.sub(" ", text)
    text = _STRIP_RE.sub(" ", text)
    for pattern, _ in _RELATIVE:
        text = pattern.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,?.")
    return text if re.search(r"\w{3,}", text) else question


# Words that ask about news in general, not about a topic ("what happened", "any news").
_GENERIC = frozenset("""happen happened happening news latest newest new recent recently going story
    stories headline headlines tell show give anything everything event events update updates
    report reports reported article articles archive today yesterday week month year weekend
    whats what's lately""".split())


def has_topic(question: str) -> bool:
    """Whether the question names something to match once its time words are gone
    ("what happened last week?" does not; "latest on the OpenAI board" does)."""
    from .lexical import STOP_WORDS

    words = re.findall(r"[^\W_]+", strip_temporal(question).lower())
    return any(w not in STOP_WORDS and w not in _GENERIC and not w.isdigit()
               and w not in MONTHS for w in words)


# -- event dates inside articles ------------------------------------------------------------------
_EVENT_RE = re.compile(
    r"\b(?:(?:on|last|this\s+past)\s+(" + _WEEKDAYS + r")|(yesterday|today)|"
    r"(\d{4}-\d{2}-\d{2})|"
    r"(\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + MONTH_NAMES_RE + r"\.?(?:,?\s+\d{4})?)|"
    r"(" + MONTH_NAMES_RE + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?\b(?:,?\s+\d{4})?))", re.IGNORECASE)


def event_dates(text: str, published: str | dt.date | None) -> list[tuple[int, int, str]]:
    """Day-precise date expressions in text resolved against the publication date:
    [(start, end, YYYY-MM-DD)]. "on Tuesday" in an article of Wednesday 2025-08-27 is
    2025-08-26. Empty when the article is undated (relative words mean nothing then)."""
    if isinstance(published, str):
        try:
            published = dt.date.fromisoformat(published)
        except ValueError:
            return []
    if published is None:
        return []
    out = []
    for m in _EVENT_RE.finditer(text):
        weekday, word, iso, day_month, month_day = m.groups()
        phrase = weekday or word or iso or day_month or month_day
        if (day_month or month_day) and re.match(r"may\b", (month_day or day_month.split()[-1]), re.I) \
                and "May" not in phrase:
            continue
        phrase = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", phrase)
        if weekday and weekday.capitalize() == calendar.day_name[published.weekday()]:
            day = published  # "said on Wednesday" in Wednesday's paper: that day
        else:
            day = resolve(phrase, published)
        if day is None or day > published + dt.timedelta(days=366):
            continue
        out.append((m.start(), m.end(), day.isoformat()))
    return out


def within(day: str | None, date_from: str | None, date_to: str | None) -> bool:
    """Whether day (YYYY-MM-DD) is set and inside [date_from, date_to]; a missing bound is open."""
    return bool(day) and (date_from or "") <= day <= (date_to or "9999")


def sentence_event_dates(chunk) -> list[str | None]:
    """One event date per sentence of a stored chunk (the first day-precise date it names,
    None otherwise): read from the chunk's annotations when the index stored them, else
    computed (cached per chunk version)."""
    annotations = getattr(chunk, "annotations", None)
    if isinstance(annotations, dict) and "event_dates" in annotations:
        return list(annotations["event_dates"])
    return list(_chunk_event_dates(chunk.id, chunk.hash, chunk.text, tuple(chunk.sentences), chunk.date))


@functools.lru_cache(maxsize=8192)
def _chunk_event_dates(chunk_id, hash_, text, sentences, date) -> tuple[str | None, ...]:
    out = []
    for a, b in sentences:
        found = event_dates(text[a:b], date)
        out.append(found[0][2] if found else None)
    return tuple(out)


def annotate_event_dates(article, chunks) -> list[dict]:
    """The indexer's annotator: per chunk {"event_dates": [date or None per sentence]}."""
    out = []
    for chunk in chunks:
        text = getattr(chunk, "text", "")
        dates = []
        for a, b in getattr(chunk, "sentences", []):
            found = event_dates(text[a:b], getattr(article, "date", None))
            dates.append(found[0][2] if found else None)
        out.append({"event_dates": dates})
    return out
