"""The Gradio web chat: a thin layer over ``Assistant`` (no retrieval or prompt logic here).

Pages: "Ask" (chat with streaming answers, source cards, filters, example questions) and
"Articles" (upload, rebuild with a progress bar, index statistics, skipped files).
Named API endpoints (usable with ``gradio_client``): ``/ask`` returns ``Answer.to_dict()``
(the same object as ``assistant ask --json``), ``/upload``, ``/rebuild`` and ``/stats``.

Article text is untrusted. Everything taken from an article goes through ``_esc``: HTML
escaping plus numeric entities for Markdown punctuation, and ``<br>`` for line breaks, so
the chat's Markdown renderer sees one raw HTML block with no Markdown syntax in it (no
``[x](javascript:…)`` links, no headings); links are rendered only for http(s) URLs. The
chatbot's own HTML sanitiser is a second layer, not the only one.

Access: with ASSISTANT_AUTH ("user:password", a writer) or ASSISTANT_USERS_FILE (lines of
"user:password:role", role read or write) the page needs a login; the write endpoints
(/upload, /add_files, /rebuild) and the Articles tab need the write role. Without a login
on a non-loopback bind, writes are refused unless ASSISTANT_ALLOW_ANONYMOUS_WRITES. Failed
logins are rate limited; requests whose Host header is not a configured name are refused
(DNS rebinding); uploads land in the app's own folder (index_dir/.gradio-uploads), cleaned at
start and hourly. API fields (titles, passages, URLs) are raw article text: escape them
before showing them as HTML; URLs other than http(s) are dropped.

Concurrency: Gradio's queue runs answers ``settings.concurrency`` at a time; uploads and
rebuilds run in their own queue group ("index", one at a time) so a rebuild never holds up
answering, which keeps reading the current index until the new one is committed.
"""

from __future__ import annotations

import errno
import hmac
import html
import ipaddress
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

from .answering import Answer, Citation
from .api import Assistant
from .config import Settings
from .corpus import EXTENSIONS
from .errors import (AssistantError, ConfigError, IndexBusyError, IndexMissingError,
                     QuestionError)
from .index import IndexReport
from .retrieval import Filters
from .suggestions import SEED_QUESTION, example_questions
from .parseworker import ParseLimits
from .uploads import UPLOAD_SUBDIR, save_upload

__all__ = ["SEED_QUESTION", "Access", "build_app", "launch", "parse_auth", "render_answer",
           "render_sources", "serve"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Rendering (pure functions: Answer in, HTML out)
# ---------------------------------------------------------------------------------------

_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "[]()*`#!|~$\\"}
_ESCAPES.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;",
                 ord("'"): "&#x27;", ord("\n"): "<br>", ord("\r"): "", ord("\t"): " "})
_MARKER_RE = re.compile(r"(\[\d+(?:\s*,\s*\d+)*\])")


def _esc(text: object) -> str:
    """Untrusted text as inert HTML that no Markdown renderer will turn into markup."""
    return str(text if text is not None else "").translate(_ESCAPES)


def _safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None."""
    if not url:
        return None
    url = url.strip()
    if re.search(r"[\x00-\x20\x7f<>\"'`]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _link(url: str | None, label: str = "open article ↗") -> str:
    url = _safe_url(url)
    if not url:
        return ""
    return (f"<a class='source-link' href=\"{html.escape(url, quote=True)}\" target=\"_blank\" "
            f"rel=\"noopener noreferrer nofollow\">{label}</a>")


def _highlight(passage: str, spans: list[tuple[int, int]],
               strong: tuple[int, int] | None = None) -> str:
    """The passage escaped, with the given character spans wrapped in <mark> and the direct
    answer's span (``strong``, inside one of them) in <strong class='direct-answer'>."""
    merged: list[list[int]] = []
    for a, b in sorted((max(0, a), min(len(passage), b)) for a, b in spans):
        if a >= b:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, pos = [], 0
    for a, b in merged:
        out.append(_esc(passage[pos:a]))
        if strong and a <= strong[0] < strong[1] <= b:
            inner = (_esc(passage[a:strong[0]]) + "<strong class='direct-answer'>"
                     + _esc(passage[strong[0]:strong[1]]) + "</strong>" + _esc(passage[strong[1]:b]))
        else:
            inner = _esc(passage[a:b])
        out.append("<mark>" + inner + "</mark>")
        pos = b
    out.append(_esc(passage[pos:]))
    return "".join(out)


def _cited_spans(answer: Answer, c: Citation) -> list[tuple[int, int]]:
    """Every span of passage c that an answer sentence citing [c.n] quotes."""
    spans = [tuple(c.span)] + [tuple(s) for s in (c.spans or [])]
    for sentence in answer.sentences:
        if c.n in sentence.citations and sentence.text:
            at = c.passage.find(sentence.text.strip())
            if at >= 0:
                spans.append((at, at + len(sentence.text.strip())))
    return spans  # type: ignore[return-value]


def _meta_line(c: Citation) -> str:
    parts = [f"<span class='source-outlet'>{_esc(c.source or 'unknown outlet')}</span>",
             f"<span class='source-date'>{_esc(c.dated)}</span>"]
    link = _link(c.url)
    if link:
        parts.append(link)
    return " · ".join(parts)


def _card(c: Citation, spans: list[tuple[int, int]], numbered: bool = True,
          strong: tuple[int, int] | None = None) -> str:
    number = f"<span class='source-n'>[{int(c.n)}]</span> " if numbered else ""
    return (f"<div class='source-card'><div class='source-head'>{number}"
            f"<span class='source-title'>{_esc(c.title or 'untitled')}</span></div>"
            f"<div class='source-meta'>{_meta_line(c)}</div>"
            f"<div class='source-passage'>{_highlight(c.passage, spans, strong)}</div>"
            f"{_also_in(c)}</div>")



def _also_in(c: Citation) -> str:
    """"Also reported by …": the other outlets' copies of the cited story, with links."""
    others = getattr(c, "also_in", None) or []
    if not others:
        return ""
    items = []
    for m in others[:10]:
        label = _esc(m.get("source") or "unknown outlet") + (f" ({_esc(m['date'])})" if m.get("date") else "")
        url = _safe_url(m.get("url"))
        items.append(f"<a class='source-link' href=\"{html.escape(url, quote=True)}\" "
                     f"target=\"_blank\" rel=\"noopener noreferrer nofollow\">{label}</a>"
                     if url else label)
    more = f" and {len(others) - 10} more" if len(others) > 10 else ""
    return f"<div class='source-also'>Also reported by {', '.join(items)}{more}</div>"


def render_sources(answer: Answer) -> str:
    """Source cards for the passages the answer cites, numbered like its [n] markers."""
    if not answer.citations:
        return ""
    direct = answer.direct_answer
    cards = "".join(_card(c, _cited_spans(answer, c),
                          strong=tuple(direct.span) if direct and direct.n == c.n else None)
                    for c in answer.citations)
    return f"<div class='sources'>{cards}</div>"


def render_other_passages(answer: Answer) -> str:
    """The retrieved passages the answer does not cite, folded."""
    cited = {c.chunk_id for c in answer.citations if c.chunk_id}
    cited_text = {c.passage for c in answer.citations}
    others = [p for p in answer.passages
              if not (p.chunk_id and p.chunk_id in cited) and p.passage not in cited_text]
    if not others:
        return ""
    label = "Closest passages" if answer.abstained else "Other retrieved passages"
    cards = "".join(_card(p, [tuple(p.span)], numbered=False) for p in others)  # type: ignore[list-item]
    return (f"<details class='other-passages'><summary>{label} ({len(others)})</summary>"
            f"{cards}</details>")


def _answer_text(text: str) -> str:
    """The answer escaped, its [n] markers kept visible and styled."""
    parts = _MARKER_RE.split(text or "")
    return "".join(f"<span class='cite'>{html.escape(p)}</span>" if i % 2 else _esc(p)
                   for i, p in enumerate(parts))


def _searched(searched_for: str) -> str:
    if not searched_for:
        return ""
    return f"<div class='searched'>Searched for: <q>{_esc(searched_for)}</q></div>"


def render_answer(answer: Answer) -> str:
    """The whole chat message for an answer: what was searched, the text, its sources."""
    note = ""
    if answer.fallback:
        note = (f"<div class='note'>The {_esc(answer.generator)} generator was unavailable "
                f"({_esc(answer.fallback_reason)}); this is the extractive answer.</div>")
    if answer.time_note:  # "As of 2025-08-27, the newest article; last week = ..."
        note = f"<div class='note time-note'>{_esc(answer.time_note)}</div>" + note
    cls = "answer-text abstained" if answer.abstained else "answer-text"
    text = _answer_text(answer.answer)
    if answer.direct_answer:
        # The direct answer leads as **text**: shown bold (the text is escaped already).
        bold = _esc(f"**{answer.direct_answer.text}**")
        text = text.replace(bold, f"<strong class='direct-answer'>{_esc(answer.direct_answer.text)}</strong>", 1)
    return (f"<div class='answer'>{_searched(answer.searched_for)}{note}"
            f"<div class='{cls}'>{text}</div>"
            f"{render_sources(answer)}{render_other_passages(answer)}</div>")


def render_partial(searched_for: str, text: str) -> str:
    """The message while the answer streams in."""
    body = _answer_text(text) if text else "<span class='pending'>Reading the articles…</span>"
    return (f"<div class='answer streaming'>{_searched(searched_for)}"
            f"<div class='answer-text'>{body}</div></div>")


def render_error(message: str) -> str:
    return f"<div class='answer error'>⚠️ {_esc(message)}</div>"


def render_stats(assistant: Assistant) -> str:
    """Index statistics as an HTML table (or how to build the index)."""
    try:
        s = assistant.stats()
    except IndexMissingError:
        return ("<div class='stats empty'>No index yet: add articles below, then press "
                "<b>Rebuild index</b>.</div>")
    except AssistantError as exc:
        return render_error(str(exc))
    outlets = ", ".join(f"{_esc(name or 'unknown')} ({n})" for name, n in list(s.outlets.items())[:30])
    if len(s.outlets) > 30:
        outlets += f", … ({len(s.outlets) - 30} more)"
    dates = (f"{_esc(s.first_date)} – {_esc(s.last_date)}" if s.first_date else "no dated articles")
    rows = [("Articles", f"{s.articles:,}"), ("Chunks", f"{s.chunks:,}"),
            (f"Outlets ({len(s.outlets)})", outlets or "none"), ("Date range", dates),
            ("Last build", _esc(s.last_build or "unknown"))]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='stats'>{body}</table>"


def render_report(report: IndexReport | None) -> str:
    """What the last build did and the files it skipped, with their reasons."""
    if report is None:
        return ("<div class='report'>No build from this page yet: press <b>Rebuild index</b> "
                "to see skipped files.</div>")
    head = (f"<div class='report-summary'>{report.articles:,} articles, {report.chunks:,} chunks: "
            f"{report.added} added, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged; {report.embedded} chunks embedded in "
            f"{report.seconds:.1f} s.</div>")
    if report.rebuilt:
        head += f"<div class='note'>{_esc(report.rebuilt)}</div>"

    def table(title: str, problems) -> str:
        if not problems:
            return ""
        rows = "".join(f"<tr><td>{_esc(p.path)}</td><td>{_esc(p.reason)}</td></tr>" for p in problems[:500])
        more = f"<div>… and {len(problems) - 500} more</div>" if len(problems) > 500 else ""
        return (f"<div class='problems'><b>{title} ({len(problems)})</b><table>"
                f"<tr><th>file</th><th>reason</th></tr>{rows}</table>{more}</div>")

    skipped = table("Skipped files", report.skipped) or "<div class='problems'>No files skipped.</div>"
    return f"<div class='report'>{head}{skipped}{table('Warnings', report.warnings)}</div>"


# ---------------------------------------------------------------------------------------
# Glue between the page and the library
# ---------------------------------------------------------------------------------------

def _text_of(content) -> str:
    """Plain text of a chat message's content (a string or Gradio's list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text_of(part) for part in content if isinstance(part, (str, dict)))
    return ""


def plain_history(history) -> list:
    """History in a shape the library reads: pairs stay pairs, messages get text content."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise ConfigError("history must be a list of [question, answer] pairs or of "
                          "{'role', 'content'} messages")
    out: list = []
    for item in history:
        if isinstance(item, dict):
            out.append({"role": str(item.get("role") or ""), "content": _text_of(item.get("content"))})
        elif isinstance(item, (list, tuple)):
            out.append([_text_of(x) if x is not None else "" for x in item[:2]])
    return out


def parse_auth(value: str) -> tuple[str, str] | None:
    """ASSISTANT_AUTH ("user:password") as Gradio's auth pair; None when empty."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("ASSISTANT_AUTH must be user:password (both parts non-empty)")
    return user, password


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
ROLES = ("read", "write")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Access:
    """Who may log in and who may write; failed logins rate limited.

    Users come from settings.auth (one writer) and settings.users_file. ``can_write`` takes
    the logged-in user name (None without a login). A user name gets at most
    ``max_failures`` wrong passwords per ``window`` seconds, and all users together
    ``10 * max_failures``: beyond that, every login of that name (or every login) fails
    until the window has passed, so guessing runs at a few tries a minute.
    """

    def __init__(self, settings: Settings, *, max_failures: int = 5, window: float = 60.0):
        self.users: dict[str, tuple[str, str]] = {}  # name -> (password, role)
        pair = parse_auth(settings.auth)
        if pair:
            self.users[pair[0]] = (pair[1], "write")
        if settings.users_file:
            self.users.update(_read_users(settings.users_file))
        self.anonymous_writes = settings.allow_anonymous_writes or is_loopback(settings.host)
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque] = {}
        self._all_failures: deque = deque()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def login(self, username: str, password: str) -> bool:
        """Gradio's auth callable."""
        now = time.monotonic()
        with self._lock:
            mine = self._failures.setdefault(str(username)[:200], deque())
            for q in (mine, self._all_failures):
                while q and now - q[0] > self.window:
                    q.popleft()
            if len(mine) >= self.max_failures or len(self._all_failures) >= 10 * self.max_failures:
                log.warning("login of %r refused: too many failed logins in %g s",
                            str(username)[:50], self.window)
                return False
            known = self.users.get(username)
            ok = known is not None and hmac.compare_digest(
                known[0].encode("utf-8"), str(password).encode("utf-8", "surrogatepass"))
            if not ok:
                mine.append(now)
                self._all_failures.append(now)
                log.info("failed login for %r", str(username)[:50])
            return ok

    def can_write(self, username: str | None) -> bool:
        if not self.enabled:
            return self.anonymous_writes
        return username is not None and self.users.get(username, ("", ""))[1] == "write"

    def refusal(self, username: str | None) -> str:
        if self.enabled:
            return "this needs an account with the write role: log in as an editor"
        return ("writes are refused on a non-loopback address without a login: set "
                "ASSISTANT_AUTH or ASSISTANT_USERS_FILE, or pass --allow-anonymous-writes")


def _read_users(path: str) -> dict[str, tuple[str, str]]:
    users: dict[str, tuple[str, str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the users file {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, _, rest = line.partition(":")
        password, _, role = rest.rpartition(":")
        if not user or not password or role not in ROLES:
            raise ConfigError(f"{path}, line {n}: expected user:password:role with role read "
                              "or write")
        users[user] = (password, role)
    return users


def allowed_host_names(settings: Settings) -> list[str]:
    """Host header values the app answers to ("*" when bound to every address and no
    names are configured: a LAN server is reached by names we cannot know)."""
    extra = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    if settings.host in ("0.0.0.0", "::") and not extra:
        return ["*"]
    names = [*LOOPBACK_NAMES, *extra]
    if settings.host not in ("0.0.0.0", "::"):
        names.append(settings.host)
    return list(dict.fromkeys(names))


class _Panels:
    """Outlets, example questions and stats for the page, recomputed when the index changes."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self._lock = threading.Lock()
        self._key: object = None
        self._value: tuple[list[str], list[str]] = ([], [])
        self.report: IndexReport | None = None

    def current(self) -> tuple[list[str], list[str]]:
        """(outlets, example questions) of the current index."""
        try:
            snap = self.assistant.searcher.snapshot()
            key = snap.generation
        except AssistantError:
            snap, key = None, None
        with self._lock:
            if key is not None and key == self._key:
                return self._value
        outlets, examples = [], []
        if snap is not None:
            outlets = list(snap.stats.outlets)
            examples = example_questions(snap.records)
        value = (outlets, examples)
        with self._lock:
            self._key, self._value = key, value
        return value


def _upload_dir(assistant: Assistant) -> Path:
    return Path(assistant.settings.corpus_dir) / UPLOAD_SUBDIR


def _username(request) -> str | None:
    return getattr(request, "username", None) if request is not None else None


MAX_OUTLETS = 100


def check_ask_params(settings: Settings, question, history, date_from, date_to, outlets, k):
    """The /ask parameters, each bounded and typed before any work; QuestionError naming
    the parameter otherwise."""
    if not isinstance(question, str):
        raise QuestionError(f"question must be text, got {type(question).__name__}")
    if k is not None and k != "":
        if isinstance(k, bool) or not isinstance(k, (int, float)) or k != int(k):
            raise QuestionError(f"k must be a whole number from 1 to 50, got {k!r}"[:200])
        if not 1 <= int(k) <= 50:
            raise QuestionError(f"k must be from 1 to 50 (passages to read), got {int(k)}")
        k = int(k)
    else:
        k = None
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and not isinstance(value, str):
            raise QuestionError(f"{name} must be a YYYY-MM-DD text, got {type(value).__name__}")
        if isinstance(value, str) and len(value) > 40:
            raise QuestionError(f"{name} must be a YYYY-MM-DD date, got {len(value):,} characters")
    if outlets is not None:
        if isinstance(outlets, str):
            outlets = [outlets]
        if not isinstance(outlets, (list, tuple)) or not all(isinstance(o, str) for o in outlets):
            raise QuestionError("outlets must be a list of outlet names (text)")
        if len(outlets) > MAX_OUTLETS or any(len(o) > 200 for o in outlets):
            raise QuestionError(f"outlets must be at most {MAX_OUTLETS} names of at most 200 "
                                "characters")
    return k, list(outlets) if outlets else None


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

CSS = """
.answer .searched { color: var(--body-text-color-subdued); font-size: 0.85em; margin-bottom: 0.4em; }
.answer .answer-text { margin-bottom: 0.6em; line-height: 1.5; }
.answer .answer-text.abstained { font-style: italic; }
.answer .cite { font-weight: 600; color: var(--color-accent); white-space: nowrap; }
.answer .note { font-size: 0.85em; color: var(--body-text-color-subdued); }
.answer.error { color: var(--error-text-color); }
.source-card { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 8px; padding: 0.5em 0.75em; margin: 0.5em 0; background: var(--background-fill-primary); }
.source-head { font-weight: 600; }
.source-n { color: var(--color-accent); margin-right: 0.25em; }
.source-meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.15em 0 0.35em; }
.source-passage { font-size: 0.9em; line-height: 1.45; }
.source-passage mark { background: #fff3a3; color: #1f2937; padding: 0 2px; border-radius: 2px; }
.direct-answer { font-weight: 700; }
.source-passage mark strong.direct-answer { background: #fde047; }
details.other-passages summary { cursor: pointer; font-size: 0.9em; color: var(--body-text-color-subdued); }
details.other-passages .source-card { border-left-color: var(--border-color-primary); }
table.stats th { text-align: left; padding-right: 1em; white-space: nowrap; }
.problems table { font-size: 0.9em; }
"""

THEME_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"],
                   font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def build_app(assistant: Assistant, report: IndexReport | None = None,
              access: Access | None = None, syncer=None):
    """The Gradio Blocks app over an Assistant (not launched). With a ``syncer``
    (watch.Syncer) the Articles tab shows its last sync and report."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    settings = assistant.settings
    access = access or Access(settings)
    panels = _Panels(assistant)
    panels.report = report
    # Behind a login the page's initial config (served to the login page too) holds no
    # outlet names or questions: the page loads them after login.
    outlets0, examples0 = ([], []) if access.enabled else panels.current()

    def wants_request(fn):
        """Let Gradio inject the request (this module's annotations are strings, and
        typing.get_type_hints cannot resolve the locally imported ``gr``)."""
        fn.__annotations__["request"] = gr.Request
        return fn

    # -- handlers ----------------------------------------------------------------------
    def respond(message, chat, turns, date_from, date_to, outlets, k):
        """Stream one answer into the chat (a generator: Gradio streams each yield)."""
        message = message if isinstance(message, str) else ""
        chat = list(chat or [])
        turns = list(turns or [])
        if not message.strip():
            yield gr.skip(), chat, turns
            return
        if not turns and chat:  # a client that sends the chat but has no session state
            turns = [[html.unescape(_text_of(m.get("content")).replace("<br>", "\n")), ""]
                     for m in chat if isinstance(m, dict) and m.get("role") == "user"]
        chat.append({"role": "user", "content": _esc(message)})
        chat.append({"role": "assistant", "content": render_partial("", "")})
        yield "", chat, turns
        try:
            filters = Filters.parse(date_from, date_to, outlets or None,
                                    reference=assistant.retriever.reference().date)
            searched, text = "", ""
            for kind, value in assistant.stream(message, turns, k=int(k) if k else None,
                                                filters=filters):
                if kind == "searched":
                    searched = str(value)
                elif kind == "text":
                    text += str(value)
                elif kind == "answer":
                    chat[-1] = {"role": "assistant", "content": render_answer(value)}
                    turns.append([message, value.answer])
                    yield "", chat, turns
                    return
                chat[-1] = {"role": "assistant", "content": render_partial(searched, text)}
                yield "", chat, turns
        except AssistantError as exc:
            chat[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield "", chat, turns
        except Exception as exc:  # never leave the bubble on "Reading the articles…"
            log.exception("the chat handler failed on %r", message[:200])
            chat[-1] = {"role": "assistant", "content": render_error(
                f"Something went wrong while answering ({type(exc).__name__}); the server log "
                "has the details. Try again or rephrase the question.")}
            yield "", chat, turns

    def clear():
        return [], [], ""

    def ask_api(question: str, history: list | None = None, date_from: str | None = None,
                date_to: str | None = None, outlets: list[str] | None = None,
                k: int | None = None, as_of: str | None = None) -> dict:
        """Answer a question (optional chat history and filters); the JSON of `assistant ask --json`.

        Every field of the answer is raw text from the articles (titles, passages, dates):
        escape it before showing it as HTML. URLs other than http(s) are returned as null.
        """
        refused = None
        try:
            k, outlets = check_ask_params(settings, question, history, date_from, date_to,
                                          outlets, k)
            filters = Filters.parse(date_from, date_to, outlets,
                                    reference=assistant.retriever.reference(as_of or None).date)
            data = assistant.ask(question, plain_history(history) or None, k=k,
                                 filters=filters, as_of=as_of or None).to_dict()
        except AssistantError as exc:
            refused = str(exc)
        except Exception as exc:
            log.exception("/ask failed")
            raise gr.Error(f"internal error ({type(exc).__name__}); see the server log") from exc
        if refused is not None:  # raised outside the except: see upload_api
            raise gr.Error(refused)
        for c in [*data.get("citations", []), *data.get("passages", [])]:
            c["url"] = _safe_url(c.get("url"))
        return data

    # -- what's new (digest.py) ------------------------------------------------------------
    def whats_new(message, chat, date_from, date_to):
        """The digest of the filter's dates (default: the past 7 days) as a chat answer; the
        question box, when filled, is its topic."""
        chat = list(chat or [])
        topic = message.strip() if isinstance(message, str) else ""
        chat.append({"role": "user", "content": _esc("What's new" + (f" about {topic}?" if topic else "?"))})
        try:
            result = assistant.digest(since=date_from or None, until=date_to or None,
                                      topic=topic or None)
            chat.append({"role": "assistant", "content": render_answer(result.to_answer())})
        except AssistantError as exc:
            chat.append({"role": "assistant", "content": render_error(str(exc))})
        return "", chat

    def digest_api(since: str | None = None, until: str | None = None, topic: str | None = None,
                   as_of: str | None = None) -> dict:
        """The main stories of a period; the JSON of `assistant digest --json`."""
        try:
            return assistant.digest(since=since or None, until=until or None, topic=topic or None,
                                    as_of=as_of or None).to_dict()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    def refresh():
        outlets, examples = panels.current()
        return (gr.Dropdown(choices=outlets), gr.Dataset(samples=[[q] for q in examples]),
                render_stats(assistant), render_report(panels.report))

    def _save(filename, data_or_path):
        return save_upload(_upload_dir(assistant), filename, data_or_path,
                           settings.max_upload_bytes, max_files=settings.max_uploads,
                           max_total_bytes=settings.max_upload_total_bytes,
                           limits=ParseLimits.from_settings(settings))

    @wants_request
    def add_files(files, request=None):
        """Save uploaded files into the corpus; one line per file (saved or refused)."""
        if not access.can_write(_username(request)):
            return f"<div class='upload-result'>⚠️ {_esc(access.refusal(_username(request)))}</div>"
        files = [f for f in (files or []) if f] if isinstance(files, (list, tuple)) else [files]
        if not files:
            return "<div class='upload-result'>Choose one or more files first.</div>"
        lines = []
        saved = 0
        for f in files:
            try:  # one bad file never stops the batch
                path = Path(f if isinstance(f, (str, Path)) else getattr(f, "name", "") or "")
                result = _save(path.name, path)
            except AssistantError as exc:
                lines.append(f"<li class='refused'>✗ {_esc(str(exc))}</li>")
                continue
            except Exception as exc:
                log.exception("saving an upload failed")
                lines.append(f"<li class='refused'>✗ {_esc(str(f)[-80:])}: not saved "
                             f"({_esc(type(exc).__name__)}: {_esc(str(exc)[:200])})</li>")
                continue
            saved += 1
            verb = ("renamed (a different file has that name) and saved" if result.renamed else
                    "already there, kept" if result.unchanged else
                    "replaced" if result.replaced else "saved")
            lines.append(f"<li class='saved'>✓ {_esc(result.name)} {verb} as "
                         f"{_esc(UPLOAD_SUBDIR + '/' + result.name)} ({result.articles} "
                         f"article{'s' if result.articles != 1 else ''})</li>")
        return (f"<div class='upload-result'>{saved} of {len(files)} file(s) added."
                f"<ul>{''.join(lines)}</ul></div>")

    @wants_request
    def upload_api(filename: str, content: str, request=None) -> dict:
        """Save one article (file name and text) into the corpus; rebuild to index it.
        A different file of the same name is never replaced: the article is saved under a
        free name ("renamed": true)."""
        if not access.can_write(_username(request)):
            raise gr.Error(access.refusal(_username(request)))
        if not isinstance(content, str):
            raise gr.Error("content must be the article's text")
        if len(content) > settings.max_upload_bytes:  # before encoding a huge string
            raise gr.Error(f"upload refused: the content is over the "
                           f"{settings.max_upload_bytes:,}-byte upload limit")
        refused = None
        try:
            result = _save(filename, content.encode("utf-8", "surrogatepass"))
        except AssistantError as exc:
            refused = str(exc)
        except Exception as exc:
            log.exception("/upload failed")
            raise gr.Error(f"upload failed ({type(exc).__name__}); see the server log") from exc
        if refused is not None:
            # Raised outside the except block, so the error carries no chained exception:
            # its traceback's frames hold the request's text (megabytes), and Gradio keeps
            # the error in reference cycles that only a full collection frees (a server
            # grew ~22 MB per refused 6 MB upload until one ran).
            raise gr.Error(refused)
        return {"name": result.name, "saved_as": f"{UPLOAD_SUBDIR}/{result.name}",
                "replaced": result.replaced, "renamed": result.renamed,
                "bytes": result.size, "articles": result.articles}

    def _build(progress_cb=None) -> IndexReport:
        report = assistant.build_index(progress=progress_cb)
        panels.report = report
        return report

    @wants_request
    def rebuild(progress=gr.Progress(), request=None):
        if not access.can_write(_username(request)):
            status = f"<div class='rebuild-result error'>⚠️ {_esc(access.refusal(_username(request)))}</div>"
            return (status, *refresh())

        def on_progress(done: int, total: int) -> None:
            if total:
                progress((done, total), desc="Embedding new and changed articles", unit="chunks")

        progress(0, desc="Reading the corpus")
        try:
            report = _build(on_progress)
            status = (f"<div class='rebuild-result ok'>✓ Index updated: {report.added} added, "
                      f"{report.updated} updated, {report.removed} removed, "
                      f"{len(report.skipped)} skipped.</div>")
        except IndexBusyError as exc:
            status = f"<div class='rebuild-result busy'>⏳ {_esc(str(exc))}</div>"
        except AssistantError as exc:
            status = f"<div class='rebuild-result error'>⚠️ {_esc(str(exc))}</div>"
        except Exception as exc:
            log.exception("rebuild failed")
            status = (f"<div class='rebuild-result error'>⚠️ The rebuild failed "
                      f"({_esc(type(exc).__name__)}); the server log has the details.</div>")
        return (status, *refresh())

    @wants_request
    def add_and_index(files, progress=gr.Progress(), request=None):
        """One step: save the chosen files, then index (a build runs even with none chosen)."""
        chosen = [f for f in (files or []) if f] if isinstance(files, (list, tuple)) else [files]
        added = add_files(files, request=request) if [f for f in chosen if f] else ""
        return (added, *rebuild(progress, request=request))

    def sync_line() -> str:
        last = syncer.last if syncer is not None else None
        if last is None:
            return ("<div class='sync'>Watching for new articles: no sync yet.</div>"
                    if syncer is not None else "")
        # The last build's report stays in view; a later "nothing new" pull is one line below.
        shown = syncer.last_build or last
        problems = "".join(f"<li>{_esc(p)}</li>" for p in shown.problems[:50])
        pull = f"<div>{_esc(shown.pull)}</div>" if shown.pull else ""
        since = f"<div>{_esc(last.line())}</div>" if last is not shown else ""
        return (f"<div class='sync {'ok' if shown.ok else 'error'}'>{_esc(shown.line())}{pull}"
                + (f"<ul>{problems}</ul>" if problems else "") + since + "</div>")

    @wants_request
    def rebuild_api(request=None) -> dict:
        """Update the index from the corpus folder; the build report and index statistics."""
        if not access.can_write(_username(request)):
            raise gr.Error(access.refusal(_username(request)))
        try:
            report = _build().to_dict()
            # "file", not "path": gradio_client would take {"path": …} for a file to download.
            for key in ("skipped", "warnings"):
                report[key] = [{"file": p["path"], "reason": p["reason"]} for p in report[key]]
            return {"report": report, "stats": assistant.stats().to_dict()}
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    def stats_api() -> dict:
        """Index statistics: articles, chunks, outlets, date range, last build."""
        try:
            return assistant.stats().to_dict()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    # -- layout ------------------------------------------------------------------------
    with gr.Blocks(title="News archive assistant", analytics_enabled=False) as demo:
        gr.Markdown("## News archive assistant\nAsk about the articles: every answer "
                    "sentence cites the passage it came from.", elem_id="header")
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4):
                        chatbot = gr.Chatbot(
                            [], label="Answers", elem_id="chat", height=560, sanitize_html=True,
                            render_markdown=True, latex_delimiters=[], feedback_options=None,
                            buttons=["copy"], placeholder="Ask a question about the articles. "
                            "Answers quote the articles and number their sources.")
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False, placeholder="Ask a question about the articles…",
                                elem_id="question", scale=6, lines=1, max_lines=4, autofocus=True,
                                container=False)
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="ask", scale=1,
                                                min_width=80)
                            clear_btn = gr.Button("Clear", elem_id="clear", scale=1, min_width=80)
                            news_btn = gr.Button("What's new", elem_id="whats-new", scale=1,
                                                 min_width=100)
                        examples = gr.Dataset(components=[question], label="Try asking",
                                              samples=[[q] for q in examples0], elem_id="examples",
                                              samples_per_page=8)
                    with gr.Column(scale=1, min_width=240):
                        gr.Markdown("### Filters")
                        date_from = gr.Textbox("", label="From date", placeholder="YYYY-MM-DD or 'last week'",
                                               elem_id="date-from")
                        date_to = gr.Textbox("", label="To date", placeholder="YYYY-MM-DD or 'yesterday'",
                                             elem_id="date-to")
                        outlets = gr.Dropdown(choices=outlets0, value=[], multiselect=True,
                                              label="Outlets", info="none chosen: all outlets",
                                              elem_id="outlets")
                        k = gr.Slider(1, 50, value=settings.k, step=1, label="Passages to read",
                                      elem_id="k")
            with gr.Tab("Articles", id="articles") as articles_tab:
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        files = gr.File(label=f"Add articles ({' '.join(EXTENSIONS)})",
                                        file_count="multiple", elem_id="files")
                        add_btn = gr.Button("Add and index", variant="primary", elem_id="add-files")
                        upload_result = gr.HTML(elem_id="upload-result")
                        rebuild_btn = gr.Button("Rebuild index", elem_id="rebuild")
                        rebuild_result = gr.HTML(elem_id="rebuild-result")
                        sync_html = gr.HTML(sync_line(), elem_id="last-sync")
                    with gr.Column(scale=1):
                        gr.Markdown("### Index")
                        stats = gr.HTML("" if access.enabled else render_stats(assistant),
                                        elem_id="stats")
                        report_html = gr.HTML("" if access.enabled else render_report(report),
                                              elem_id="report")

        # -- events ----------------------------------------------------------------------
        chat_inputs = [question, chatbot, turns, date_from, date_to, outlets, k]
        chat_outputs = [question, chatbot, turns]
        question.submit(respond, chat_inputs, chat_outputs, api_name="chat",
                        show_progress="hidden")
        ask_btn.click(respond, chat_inputs, chat_outputs, api_visibility="private",
                      show_progress="hidden")
        examples.click(lambda sample: sample[0] if sample else "", examples, question,
                       api_visibility="private", queue=False).then(
            respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden")
        clear_btn.click(clear, None, [chatbot, turns, question], api_visibility="private",
                        queue=False)
        chatbot.clear(lambda: [], None, turns, api_visibility="private", queue=False)
        news_btn.click(whats_new, [question, chatbot, date_from, date_to], [question, chatbot],
                       api_visibility="private", show_progress="hidden")

        panel_outputs = [outlets, examples, stats, report_html]
        demo.load(refresh, None, panel_outputs, api_visibility="private")
        @wants_request
        def articles_visible(request=None):
            return gr.Tab(visible=access.can_write(_username(request)))

        demo.load(articles_visible, None, articles_tab, api_visibility="private", queue=False)
        # Both buttons add the chosen files and index: a chosen file is never left behind.
        add_btn.click(add_and_index, files, [upload_result, rebuild_result, *panel_outputs],
                      api_name="add_files", concurrency_id="index", concurrency_limit=1)
        rebuild_btn.click(add_and_index, files, [upload_result, rebuild_result, *panel_outputs],
                          api_name="rebuild_page", api_visibility="undocumented",
                          concurrency_id="index", concurrency_limit=1)
        if syncer is not None:
            gr.Timer(2.0).tick(sync_line, None, sync_html, api_visibility="private", queue=False)

        gr.api(ask_api, api_name="ask")
        gr.api(upload_api, api_name="upload", concurrency_id="index", concurrency_limit=1)
        gr.api(rebuild_api, api_name="rebuild", concurrency_id="index", concurrency_limit=1)
        gr.api(stats_api, api_name="stats")
        gr.api(digest_api, api_name="digest")
    return demo


def _check_port(host: str, port: int) -> None:
    """ConfigError in one line when the port is taken or the address is not this machine's
    (instead of Gradio's traceback advising GRADIO_SERVER_PORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use (another `assistant "
                                  "serve`?): choose another with --port or ASSISTANT_PORT") from exc
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc} (check "
                              "--host/ASSISTANT_HOST and --port/ASSISTANT_PORT)") from exc


_UPLOAD_CACHE: list[Path] = []  # the folder chosen by the first app of this process


def _upload_cache(settings: Settings) -> Path:
    """The app's own folder for Gradio's uploads, emptied at start (not the shared
    /tmp/gradio, where a file uploaded to one app can be fetched from another by its path).
    Gradio reads the folder from the process environment, so every app of one process
    shares the first app's folder."""
    if not _UPLOAD_CACHE:
        folder = Path(settings.index_dir).absolute() / ".gradio-uploads"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        _UPLOAD_CACHE.append(folder)
        os.environ["GRADIO_TEMP_DIR"] = str(folder)
    return _UPLOAD_CACHE[0]


def launch(assistant: Assistant, *, host: str | None = None, port: int | None = None,
           block: bool = True, report: IndexReport | None = None, quiet: bool | None = None,
           syncer=None):
    """Build the app and serve it (Gradio queue on, never a public share link).

    Binds to settings.host (127.0.0.1 by default); login is on when settings.auth or
    settings.users_file is set. With block=False it returns at once; call ``demo.close()``
    to stop.
    """
    import gradio as gr
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    settings = assistant.settings
    host, port = host or settings.host, port or settings.port
    if host != settings.host:
        settings = settings.replace(host=host)
    access = Access(settings)
    _check_port(host, port)
    _upload_cache(settings)
    hosts = allowed_host_names(settings)
    if hosts == ["*"]:
        log.warning("bound to %s with no ASSISTANT_ALLOWED_HOSTS: any Host header is accepted",
                    host)
    demo = build_app(assistant, report=report, access=access, syncer=syncer)
    demo.syncer = syncer  # stopped by the caller with demo.syncer.stop()
    demo.delete_cache = (3600, 3600)  # uploads older than an hour go (they are in the corpus)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=256)
    # The serving app is its embedded index's only writer (store.py): `assistant index`
    # beside it is refused with this URL and pid.
    release = assistant.store.hold_writer(f"http://{host}:{port}")
    try:
        demo.launch(server_name=host, server_port=port,
                    share=False, auth=access.login if access.enabled else None,
                    auth_message="Log in to the news archive assistant.",
                    prevent_thread_lock=not block, quiet=(not block) if quiet is None else quiet,
                    ssr_mode=False, mcp_server=False, max_file_size=settings.max_upload_bytes,
                    theme=gr.themes.Soft(**THEME_FONTS), css=CSS,
                    footer_links=[] if access.enabled else ["api"],
                    app_kwargs={"middleware": [Middleware(TrustedHostMiddleware,
                                                          allowed_hosts=hosts)]})
    except OSError as exc:  # the port was taken between the check and the bind
        release()
        if "empty port" in str(exc) or getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use: choose another with "
                              "--port or ASSISTANT_PORT") from exc
        raise
    except BaseException:
        release()
        raise
    close = demo.close

    def close_and_release(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            release()

    demo.close = close_and_release
    if block:
        release()
    return demo


def _return_large_blocks(threshold: int = 256 * 1024) -> None:
    """Make glibc give large blocks back to the system when they are freed. By default it
    raises its mmap threshold to the size of every large block freed (up to 32 MB), so after
    a few big requests (a 10 MB history turn, a 3 MB upload) such blocks come from the heap
    arenas of the request threads and stay in the process for good: a long-running server
    grew by ~60 MB per round of hostile requests. A fixed threshold ends that; small
    allocations are unaffected. Left out: other C libraries (musl returns them already)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as exc:
        log.info("large freed blocks may stay in the process (no glibc mallopt: %s)", exc)
        return
    M_MMAP_THRESHOLD = -3  # glibc's malloc.h
    if not mallopt(M_MMAP_THRESHOLD, threshold):
        log.info("mallopt(M_MMAP_THRESHOLD) refused; large freed blocks may stay in the process")


def serve(settings: Settings | None = None, build: bool = True, block: bool = True, *,
          watch: bool = False, fetcher=None):
    """Update the index (when it can), then serve the chat on settings.host:settings.port.

    A corpus that cannot be indexed (empty, busy) does not stop the page from starting:
    articles can be uploaded from it. ``watch`` indexes changes in the corpus folder as they
    happen; with ``settings.pull_every`` and a ``fetcher`` the feeds are pulled in the
    background (see watch.Syncer).
    """
    settings = settings or Settings.from_env()
    Access(settings)  # refuse a malformed login setting before the slow parts
    _check_port(settings.host, settings.port)  # and a busy port
    _return_large_blocks()
    assistant = Assistant(settings)
    assistant.preload()  # the model loads while the index is checked and the page is built
    report = None
    if build:
        try:
            report = assistant.build_index()
            print(f"index: {report.articles} articles, {report.chunks} chunks "
                  f"({report.added} added, {report.updated} updated, {report.removed} removed, "
                  f"{len(report.skipped)} skipped)")
        except ConfigError:
            raise
        except AssistantError as exc:  # empty corpus, busy index: serve what there is
            print(f"index not updated: {exc}")
        except Exception as exc:  # a failing start-up build never stops the server
            log.exception("the start-up build failed")
            print(f"index not updated: the build failed ({type(exc).__name__}: {exc}); "
                  "the log has the details")
    print(f"serving on http://{settings.host}:{settings.port}"
          + (" (login required)" if settings.auth or settings.users_file else ""))
    syncer = None
    if watch or (settings.pull_every and fetcher is not None):
        from .watch import Syncer

        syncer = Syncer(assistant, fetcher=fetcher)
        if watch:
            syncer.start_watching()
        if settings.pull_every and fetcher is not None:
            syncer.start_pulling(settings.pull_every)
    return launch(assistant, block=block, report=report, syncer=syncer)
