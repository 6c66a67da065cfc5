"""Load articles from a corpus folder: .txt, .md, .html/.htm, .json/.jsonl.

A file that cannot be read or parsed is skipped with a one-line reason naming it (and the
line or record); the rest of the corpus loads. Content that appears under two names is kept
once and the copy reported. Symbolic links to folders are not followed (no loops); hidden
files are ignored. Deliberately left out: PDF and office formats.

Untrusted files are bounded before the expensive step: JSON nesting is measured before
parsing (``safejson``), a JSON file holds at most ``MAX_JSON_RECORDS`` records, HTML and
Markdown files at most ``MAX_MARKUP_BYTES``, and YAML front matter at most
``MAX_FRONT_MATTER_BYTES`` with no anchors or aliases (an alias bomb of 579 bytes expands to
gigabytes); only plain scalar front-matter fields are read. The expensive steps (HTML and
Markdown extraction, JSON records) run in the bounded parse worker (``parseworker``) under
``limits`` (time and memory): a file past a bound is skipped with "took longer than N s to
parse" or "used more than N MB". Plain .txt files are parsed in-process (reading, decoding
and the header lines are linear in the file size). Markup parse results and every failure of
a bounded step are cached by content hash, so an unchanged file is not re-parsed on every
build (nor a pathological one re-run to its bound). ``limits=None`` parses everything
in-process, unbounded: for trusted files and unit tests only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import parseworker, safejson
from .errors import ArticleError, CorpusError
from .parseworker import ParseLimitError, ParseLimits

log = logging.getLogger(__name__)

EXTENSIONS = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
MAX_FILE_BYTES = 200_000_000  # a JSON corpus file may hold thousands of articles
MAX_ARTICLE_CHARS = 1_000_000  # about 1,200 chunks: beyond that it is not one news article
# HTML parsing time grows faster than linearly (2 MB: 20 s, 8.6 MB: 12 min with trafilatura);
# a news page is well under 1 MB.
MAX_MARKUP_BYTES = 1_000_000
MAX_FRONT_MATTER_BYTES = 8_000  # title, date, source, url, author fit in a few hundred
MAX_JSON_DEPTH = 64  # an article record nests 2-3 levels
# 100,000 tiny records in one file took ~14 min of CPU to index: split larger exports.
MAX_JSON_RECORDS = 20_000
_FRONT_FIELDS = ("title", "date", "source", "url", "author", "updated")
DEFAULT_LIMITS = ParseLimits()  # Settings.parse_timeout / parse_memory_mb defaults
_PARSE_CACHE: OrderedDict[str, tuple[dict | str, int]] = OrderedDict()  # sha256 -> (reply or reason, bytes)
_PARSE_CACHE_SIZE = 4096
_PARSE_CACHE_BYTES = 64_000_000  # texts of the cached replies, about what they hold
_PARSE_CACHE_USED = [0]
# A JSON file's articles are cached when its text is at most this long: a rebuild of a corpus
# of one-article JSON files (2,327 in newsqa-mini) then re-parses only what changed (the
# worker round trips were 2.8 s of adding one article); big exports are parsed each time.
_CACHE_JSON_CHARS = 256_000
_PARSE_CACHE_LOCK = threading.Lock()

_DATE_RE = re.compile(r"^\s*date\s+(\S+)\s*", re.IGNORECASE)
_HEADER_RE = re.compile(r"^(title|source|url|author)\s*:\s*(.*)$", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FIRST_SENTENCE_RE = re.compile(r"^(.{10,300}?[.!?])(?=\s|$)", re.DOTALL)


@dataclass
class Article:
    id: str
    path: str  # relative to the corpus folder, with "#n" for the n-th record of a JSON file
    title: str
    source: str
    date: str | None  # ISO YYYY-MM-DD
    url: str | None
    text: str
    author: str | None = None
    category: str | None = None
    hash: str = ""
    # ISO date a corrected version replaced an earlier one (front matter "updated", JSON
    # "updated_at"/"updated"); None for an article never corrected.
    updated: str | None = None

    def __post_init__(self) -> None:
        if not self.hash:
            h = hashlib.sha256()
            for part in (self.title, self.source, self.date, self.url, self.author, self.text):
                h.update((part or "").encode("utf-8", "surrogatepass"))
                h.update(b"\x1f")
            if self.updated:  # only when present, so hashes of uncorrected articles stay as they were
                h.update(b"updated\x1f" + self.updated.encode("ascii", "replace"))
            self.hash = h.hexdigest()[:32]

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def to_dict(self) -> dict:
        return asdict(self)

    def full(self) -> "Article":
        """The article with its text (an ``ArticleStub`` parses its file for it)."""
        return self


@dataclass
class ArticleStub(Article):
    """An article of a file unchanged since the last build, known from that build's parse
    (``LoadReport.files``) without its text: a re-index after one new file parses that file
    only. ``full()`` parses the file when the text is needed after all (a version the index
    does not hold, a story signature not cached)."""

    known_text_hash: str = ""
    file: str = ""  # the corpus file it came from (path without "#n")

    @property
    def text_hash(self) -> str:
        return self.known_text_hash

    def full(self) -> Article:
        root, today, limits = self._origin  # set by load_articles
        for article in parse_file(root / self.file, self.file, today=today, limits=limits):
            if article.id == self.id:
                return article
        raise ArticleError(self.file, f"no longer holds article {self.id} (changed while indexing)")


@dataclass
class Problem:
    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadReport:
    articles: list[Article] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)  # not indexed, with the reason
    warnings: list[Problem] = field(default_factory=list)  # indexed, with a caveat
    # Per file that gave articles: what its parse gave, without texts (``known`` of the next
    # load_articles of the same, unchanged file).
    files: dict[str, dict] = field(default_factory=dict)


def parse_key(today: dt.date | None, limits: ParseLimits | None) -> str:
    """What a file's parse depends on besides its bytes: the day (dates in the future are
    dropped) and the bounds."""
    return f"{(today or dt.date.today()).isoformat()} {limits}"


def load_articles(corpus_dir: str | Path, today: dt.date | None = None,
                  prefer: set[str] | frozenset = frozenset(), *,
                  limits: ParseLimits | None = DEFAULT_LIMITS,
                  known: dict[str, dict] | None = None) -> LoadReport:
    """Read every article under corpus_dir (recursively); never raises for one bad file.

    Of articles with the same text, the one whose path is in ``prefer`` (the copy already
    indexed) is kept, else the first by path; the others are reported as duplicates.
    ``limits`` bounds each file's parse (None: in-process, unbounded). ``known``: per file
    the caller knows to be unchanged, its ``LoadReport.files`` entry of an earlier load with
    the same ``parse_key``; those files are not read and give ``ArticleStub``s.
    """
    root = Path(corpus_dir)
    if not root.exists():
        raise CorpusError(f"corpus folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise CorpusError(f"corpus path {str(root)!r} is not a folder")
    report = LoadReport()
    loaded: list[Article] = []
    for full_path, rel in walk_files(root):
        suffix = os.path.splitext(rel)[1]
        if suffix.lower() not in EXTENSIONS:
            report.skipped.append(
                Problem(rel, f"unsupported file type {suffix or '(none)'!r}; "
                        f"supported: {', '.join(EXTENSIONS)}")
            )
            continue
        summary = (known or {}).get(rel)
        if summary is not None:
            for d in summary["articles"]:
                stub = ArticleStub(**d, text="")
                stub._origin = (root, today, limits)
                loaded.append(stub)
            report.skipped.extend(Problem(**p) for p in summary["skipped"])
            report.warnings.extend(Problem(**p) for p in summary["warnings"])
            report.files[rel] = summary
            continue
        own = LoadReport()
        try:
            got = parse_file(Path(full_path), rel, own, today=today, limits=limits)
        except ArticleError as exc:
            got = []
            own.skipped.append(Problem(exc.path, exc.reason))
        except Exception as exc:  # one bad file never stops a build (RecursionError, a parser bug)
            log.exception("%s: unexpected error while reading it", rel)
            got = []
            own.skipped.append(Problem(rel, f"cannot read it ({type(exc).__name__}: {exc})"[:300]))
        loaded.extend(got)
        report.skipped.extend(own.skipped)
        report.warnings.extend(own.warnings)
        # Only files that gave articles are remembered: a file that could not be read (its
        # permissions, say, which change no size or mtime) is tried again on every build.
        if got:
            report.files[rel] = {
                "articles": [{**{k: v for k, v in a.to_dict().items() if k != "text"},
                              "known_text_hash": a.text_hash, "file": rel} for a in got],
                "skipped": [p.to_dict() for p in own.skipped],
                "warnings": [p.to_dict() for p in own.warnings]}
    keeper: dict[str, Article] = {}
    for article in loaded:
        first = keeper.get(article.text_hash)
        if first is None or (article.path in prefer and first.path not in prefer):
            keeper[article.text_hash] = article
    for article in loaded:
        kept = keeper[article.text_hash]
        if kept is article:
            report.articles.append(article)
        else:
            report.skipped.append(Problem(article.path, f"duplicate content of {kept.path} (indexed once)"))
    return report


def walk_files(root: Path):
    """(path, path relative to root with "/") of every non-hidden file, sorted, not following
    links to folders: what load_articles reads and the indexer's manifest lists. Strings, as
    pathlib's parsing cost more than the rest of reading 2,000 unchanged files."""
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        prefix = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        for name in sorted(filenames):
            if not name.startswith("."):
                yield os.path.join(dirpath, name), prefix + name


def parse_file(path: Path, rel: str, report: LoadReport | None = None,
               today: dt.date | None = None, *,
               limits: ParseLimits | None = DEFAULT_LIMITS) -> list[Article]:
    """Parse one file into articles; raises ArticleError naming the file when it cannot.

    Problems with single records of a JSON file, and caveats (odd encodings, unknown
    dates), are added to ``report``. ``limits`` bounds the parse (see load_articles).
    """
    report = LoadReport() if report is None else report
    warnings = report.warnings
    raw = _read_bytes(path, rel)
    text = _decode(raw, rel, warnings)
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        request = {"step": "json", "text": text, "rel": rel, "suffix": suffix,
                   "today": today.isoformat() if today else None}
        reply = _bounded(request, limits, cache=len(text) <= _CACHE_JSON_CHARS)
        report.skipped.extend(Problem(**p) for p in reply["skipped"])
        report.warnings.extend(Problem(**p) for p in reply["warnings"])
        return [Article(**a) for a in reply["articles"]]
    if suffix in (".md", ".html", ".htm") and len(raw) > MAX_MARKUP_BYTES:
        raise ArticleError(rel, f"{suffix[1:].upper()} file is {len(raw):,} bytes, over the "
                           f"{MAX_MARKUP_BYTES:,}-byte limit for {suffix} files (save the "
                           "article text as .txt)")
    if suffix in (".md", ".html", ".htm"):
        fields = _bounded({"step": "markup", "text": text, "rel": rel, "suffix": suffix},
                          limits, cache=True)["fields"]
    else:
        fields = _parse_txt(text)
    fields.setdefault("source", path.stem)
    return [_make_article(rel, rel, fields, warnings, today)]


def run_step(request: dict) -> dict:
    """One expensive parse step, as the parse worker runs it: ``{"step": "markup"}`` gives
    ``{"fields": ...}`` of an HTML or Markdown text, ``{"step": "json"}`` the articles and
    problems of a JSON/JSONL text; ``{"error": reason}`` when the file cannot be read. Plain
    data in and out (JSON crosses the process boundary)."""
    text, rel, suffix = request["text"], request["rel"], request["suffix"]
    try:
        if request["step"] == "markup":
            fields = _parse_markdown(text, rel) if suffix == ".md" else _extract_html(text, rel)
            return {"fields": fields}
        report = LoadReport()
        today = dt.date.fromisoformat(request["today"]) if request.get("today") else None
        articles = _parse_json_records(text, rel, suffix, report, today)
        return {"articles": [a.to_dict() for a in articles],
                "skipped": [p.to_dict() for p in report.skipped],
                "warnings": [p.to_dict() for p in report.warnings]}
    except ArticleError as exc:
        return {"error": exc.reason}


def _bounded(request: dict, limits: ParseLimits | None, *, cache: bool) -> dict:
    """run_step(request) under limits (in the worker), or in-process when limits is None.

    Failures are cached by content hash (also successes when ``cache``): a file that timed
    out is not parsed again until its content changes."""
    rel = request["rel"]
    # A bound's failure is its own; "today" decides which dates are in the future.
    today = request.get("today") or dt.date.today().isoformat()
    h = hashlib.sha256(f"{request['suffix']} {limits} {today} {request['step']}".encode())
    h.update(request["text"].encode("utf-8", "surrogatepass"))
    key = h.hexdigest()
    with _PARSE_CACHE_LOCK:
        entry = _PARSE_CACHE.get(key)
        if entry is not None:
            _PARSE_CACHE.move_to_end(key)
    hit = entry[0] if entry is not None else None
    if hit is None:
        try:
            if limits is None:
                reply = run_step(request)
            else:
                reply = parseworker.run(request, limits, what=rel)
            hit = reply["error"] if "error" in reply else reply
        except ParseLimitError as exc:
            hit = exc.reason
        if isinstance(hit, str) or cache:
            size = len(hit) if isinstance(hit, str) else len(request["text"])
            with _PARSE_CACHE_LOCK:
                old = _PARSE_CACHE.pop(key, None)
                _PARSE_CACHE_USED[0] -= old[1] if old else 0
                _PARSE_CACHE[key] = (hit, size)
                _PARSE_CACHE_USED[0] += size
                while _PARSE_CACHE and (len(_PARSE_CACHE) > _PARSE_CACHE_SIZE
                                        or _PARSE_CACHE_USED[0] > _PARSE_CACHE_BYTES):
                    _PARSE_CACHE_USED[0] -= _PARSE_CACHE.popitem(last=False)[1][1]
    if isinstance(hit, str):
        raise ArticleError(rel, hit)
    # Copies: callers may change what they get; the cached reply stays as parsed.
    return {k: (dict(v) if isinstance(v, dict) else
                [dict(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v)
            for k, v in hit.items()}


def _read_bytes(path: Path, rel: str) -> bytes:
    try:
        info = path.stat()  # follows links: a loop or a link to nowhere raises here
        if not stat.S_ISREG(info.st_mode):
            raise ArticleError(rel, "not a regular file")
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise ArticleError(rel, f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise ArticleError(rel, f"cannot read file: {exc.strerror or exc}") from exc


def _decode(raw: bytes, rel: str, warnings: list[Problem]) -> str:
    if not raw.strip():
        raise ArticleError(rel, "empty file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
        warnings.append(Problem(rel, "decoded as UTF-16 (byte-order mark)"))
        return _clean(text)
    if b"\x00" in raw[:4096] or _binary_ratio(raw[:4096]) > 0.1:
        raise ArticleError(rel, "binary data, not text")
    try:
        return _clean(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        warnings.append(Problem(rel, "not valid UTF-8; decoded as Latin-1 (Windows-1252)"))
        try:
            return _clean(raw.decode("cp1252"))
        except UnicodeDecodeError:
            return _clean(raw.decode("latin-1"))


_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def _binary_ratio(sample: bytes) -> float:
    """The share of control bytes other than tab, newline, form feed and return."""
    if not sample:
        return 0.0
    # bytes.translate deletes in C what a loop over 4 KB per file did in Python.
    return (len(sample) - len(sample.translate(None, _CONTROL_BYTES))) / len(sample)


def _clean(text: str) -> str:
    text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.lstrip("\ufeff")


def _parse_txt(text: str) -> dict:
    fields: dict = {}
    m = _DATE_RE.match(text)
    if m:
        fields["date"] = m.group(1)
        text = text[m.end():]
    lines = text.lstrip("\n").split("\n")
    while lines and (h := _HEADER_RE.match(lines[0].strip())):
        fields[h.group(1).lower()] = h.group(2).strip()
        lines.pop(0)
    fields["text"] = "\n".join(lines).strip()
    return fields


def _parse_markdown(text: str, rel: str) -> dict:
    fields: dict = {}
    body = text.lstrip("\ufeff")
    if body.startswith("---"):
        end = re.search(r"^---\s*$", body[3:], re.MULTILINE)
        if end is None:
            raise ArticleError(rel, "front matter starts with '---' but has no closing '---'")
        front = body[3:3 + end.start()]
        body = body[3 + end.end():]
        meta = _front_matter(front, rel)
        for key in _FRONT_FIELDS:
            value = meta.get(key)
            if isinstance(value, (str, int, float, dt.date)) and not isinstance(value, bool) \
                    and value != "":
                fields[key] = str(value)
    body = body.strip()
    heading = re.match(r"^#\s+(.+)$", body, re.MULTILINE)
    if heading and "title" not in fields and heading.start() == 0:
        fields["title"] = heading.group(1).strip()
        body = body[heading.end():].strip()
    fields["text"] = body
    return fields


def _front_matter(front: str, rel: str) -> dict:
    """The front matter's fields: size capped, anchors and aliases refused before anything is
    built (yaml.scan is linear), parsed with the safe loader."""
    import yaml

    if len(front.encode("utf-8", "surrogatepass")) > MAX_FRONT_MATTER_BYTES:
        raise ArticleError(rel, f"YAML front matter is over the {MAX_FRONT_MATTER_BYTES:,}-byte "
                           "limit (only title, date, source, url, author and updated are read)")
    try:
        for token in yaml.scan(front):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                raise ArticleError(rel, "YAML front matter uses anchors or aliases (& or *); "
                                   "only plain fields are allowed")
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise ArticleError(rel, f"invalid YAML front matter{where}") from exc
    if not isinstance(meta, dict):
        raise ArticleError(rel, "front matter is not a mapping of fields")
    return meta


def _extract_html(text: str, rel: str) -> dict:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False)
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken markup
        log.info("%s: trafilatura failed: %r", rel, exc)
        raise ArticleError(rel, f"cannot parse HTML: {exc}") from exc
    data = doc.as_dict() if hasattr(doc, "as_dict") else (doc or {})
    body = (data.get("text") or "").strip()
    title = (data.get("title") or "").strip()
    if title and body.startswith(title):
        body = body[len(title):].strip()
    fields = {"text": body}
    for key, name in (("title", "title"), ("sitename", "source"), ("date", "date"),
                      ("url", "url"), ("author", "author")):
        if data.get(key):
            fields[name] = str(data[key]).strip()
    return fields


def _parse_json_records(text: str, rel: str, suffix: str, report: LoadReport,
                        today: dt.date | None) -> list[Article]:
    skipped, warnings = report.skipped, report.warnings
    skipped_before = len(skipped)
    records: list[tuple[str, object]] = []
    if suffix == ".jsonl":
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            if len(records) == MAX_JSON_RECORDS:
                skipped.append(Problem(f"{rel}:{lineno}", f"records from line {lineno} on not "
                                       f"read: over the {MAX_JSON_RECORDS:,}-record limit of one "
                                       "file (split the file)"))
                break
            try:
                records.append((f"line {lineno}", safejson.loads(line, max_depth=MAX_JSON_DEPTH)))
            except json.JSONDecodeError as exc:
                skipped.append(Problem(f"{rel}:{lineno}", f"invalid JSON on line {lineno}: {exc.msg}"))
            except ValueError as exc:  # nested too deep
                skipped.append(Problem(f"{rel}:{lineno}", f"line {lineno}: {exc}"))
    else:
        try:
            data = safejson.loads(text, max_depth=MAX_JSON_DEPTH)
        except json.JSONDecodeError as exc:
            raise ArticleError(
                rel, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        except ValueError as exc:  # nested too deep: refused before parsing
            raise ArticleError(rel, str(exc)) from exc
        items = data if isinstance(data, list) else [data]
        if len(items) > MAX_JSON_RECORDS:
            skipped.append(Problem(rel, f"{len(items) - MAX_JSON_RECORDS:,} records after record "
                                   f"{MAX_JSON_RECORDS - 1} not read: over the "
                                   f"{MAX_JSON_RECORDS:,}-record limit of one file (split the file)"))
            items = items[:MAX_JSON_RECORDS]
        records = [(f"record {i}", item) for i, item in enumerate(items)]
    articles = []
    for n, (where, record) in enumerate(records):
        ref = f"{rel}#{n}"
        if not isinstance(record, dict):
            skipped.append(Problem(ref, f"{where}: not a JSON object"))
            continue
        body = record.get("body")
        if not isinstance(body, str) or not body.strip():
            skipped.append(Problem(ref, f"{where}: no 'body' text"))
            continue
        fields = {"text": _clean(body).strip()}
        for key, name in (("title", "title"), ("source", "source"), ("published_at", "date"),
                          ("url", "url"), ("author", "author"), ("category", "category"),
                          ("updated", "updated"), ("updated_at", "updated")):
            value = record.get(key)
            if value not in (None, ""):
                fields[name] = str(value)
        fields.setdefault("source", Path(rel).stem)
        try:
            articles.append(_make_article(ref, f"{rel}#{n}", fields, warnings, today))
        except ArticleError as exc:
            skipped.append(Problem(ref, f"{where}: {exc.reason}"))
    if not records and len(skipped) == skipped_before:
        raise ArticleError(rel, "no records")
    return articles


def parse_date(value: str | None) -> str | None:
    """ISO date (YYYY-MM-DD) from a date or datetime string; None when it is not one."""
    if not value:
        return None
    m = re.match(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})", value)
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


def first_sentence(text: str) -> str:
    """The article's first sentence, as a fallback title."""
    line = text.strip().split("\n", 1)[0].strip()
    m = _FIRST_SENTENCE_RE.match(line)
    title = m.group(1) if m else line
    return title if len(title) <= 200 else title[:197].rstrip() + "…"


def _make_article(ident: str, path: str, fields: dict, warnings: list[Problem],
                  today: dt.date | None) -> Article:
    text = fields.get("text", "").strip()
    if not text:
        raise ArticleError(path, "no article text")
    if len(text) > MAX_ARTICLE_CHARS:
        raise ArticleError(
            path, f"article text is {len(text):,} characters, over the {MAX_ARTICLE_CHARS:,} limit"
        )
    raw_date = fields.get("date")
    date = parse_date(raw_date)
    if raw_date and date is None:
        warnings.append(Problem(path, f"unknown date {raw_date!r} (expected YYYY-MM-DD); indexed without a date"))
    today = today or dt.date.today()
    if date and dt.date.fromisoformat(date) > today + dt.timedelta(days=1):
        warnings.append(Problem(path, f"date {date} is in the future; indexed without a date"))
        date = None
    return Article(
        id=hashlib.sha1(ident.encode("utf-8", "surrogatepass")).hexdigest()[:16],
        path=path,
        title=(fields.get("title") or first_sentence(text)).strip()[:300],
        source=(fields.get("source") or "").strip()[:200] or "unknown",
        date=date,
        url=fields.get("url") or None,
        text=text,
        author=fields.get("author") or None,
        category=fields.get("category") or None,
        updated=parse_date(fields.get("updated")),
    )
