"""Keep the index in step with a growing corpus, inside a running process.

``Syncer`` owns the background work of one ``Assistant``: a watcher thread (``watchfiles``)
that notices files added, changed or deleted under the corpus folder, waits for
``watch_debounce`` seconds of quiet and indexes them; and a puller thread that pulls the
corpus's feeds every ``pull_every`` seconds and indexes what arrived. Builds go through
``Assistant.build_index()`` (incremental, crash-safe, the article record is the commit
point), so questions keep being answered from the current index while a build runs. One
build at a time per Syncer; a build held off by another process's lock is retried.
``last`` holds the last sync's time, trigger and report for the UI.

Left out: watching a Chroma server's corpus from several machines (one watcher per corpus).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AssistantError, IndexBusyError

__all__ = ["Syncer", "SyncStatus", "parse_interval"]

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 2.0


def parse_interval(text: str | float | int) -> float:
    """Seconds from "15m", "90s", "1h", "2h30m" or a plain number of seconds."""
    import re

    from .errors import ConfigError

    if isinstance(text, (int, float)):
        return float(text)
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", raw)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", raw):
        raise ConfigError(f"interval {text!r} is not like 15m, 90s or 1h")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


@dataclass
class SyncStatus:
    at: str  # ISO time the sync finished
    trigger: str  # "watch: 3 changes", "pull: 2 added", ...
    ok: bool
    summary: str  # the build report in one line, or the error
    pull: str = ""  # the pull report in one line, when a pull triggered it
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        mark = "✓" if self.ok else "⚠️"
        return f"{mark} Last sync {self.at} ({self.trigger}): {self.summary}"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Syncer:
    """Background pulls and folder watching for one Assistant (see the module docstring)."""

    def __init__(self, assistant, *, fetcher=None, on_sync=None):
        self.assistant = assistant
        self.on_sync = on_sync  # called with each SyncStatus
        self.settings = assistant.settings
        self.fetcher = fetcher
        self.last: SyncStatus | None = None  # the last pull or build
        self.last_build: SyncStatus | None = None  # the last build (a "nothing new" pull keeps it)
        self.builds = 0
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one step ---------------------------------------------------------------------------
    def sync(self, trigger: str, pull_line: str = "", problems: list[str] | None = None) -> SyncStatus:
        """Index the corpus now (waits for a build in progress in this process)."""
        with self._build_lock:
            for attempt in range(30):
                try:
                    report = self.assistant.build_index()  # also refreshes the story groups
                    summary = (f"{report.articles} articles: {report.added} added, "
                               f"{report.updated} updated, {report.removed} removed, "
                               f"{len(report.skipped)} skipped")
                    status = SyncStatus(_now(), trigger, True, summary, pull_line,
                                        list(problems or []) + [str(p) for p in report.skipped])
                    break
                except IndexBusyError as exc:
                    if self._stop.is_set() or attempt == 29:
                        status = SyncStatus(_now(), trigger, False, str(exc), pull_line, list(problems or []))
                        break
                    log.info("index busy, retrying in %.0f s: %s", BUSY_RETRY_SECONDS, exc)
                    self._stop.wait(BUSY_RETRY_SECONDS)
                except AssistantError as exc:
                    log.warning("sync (%s) failed: %s", trigger, exc)
                    status = SyncStatus(_now(), trigger, False, str(exc), pull_line, list(problems or []))
                    break
            self.builds += 1
            self.last = self.last_build = status
            log.info("%s", status.line())
            if self.on_sync:
                self.on_sync(status)
            return status

    def pull(self) -> SyncStatus | None:
        """Pull the corpus's feeds; index when something arrived (or the last sync failed)."""
        from .feeds import pull

        report = pull(self.settings.corpus_dir, fetcher=self.fetcher)
        problems = [str(p) for p in report.problems]
        if report.changed or (self.last is not None and not self.last.ok):
            return self.sync(f"pull: {len(report.added)} added, {len(report.updated)} updated, "
                             f"{len(report.removed)} removed", report.summary(), problems)
        self.last = SyncStatus(_now(), "pull", True, "nothing new", report.summary(), problems)
        return self.last

    # -- background -------------------------------------------------------------------------
    def start_pulling(self, every: float) -> None:
        """Pull every ``every`` seconds (the first pull after one interval)."""
        if every <= 0:
            return

        def loop():
            while not self._stop.wait(every):
                try:
                    self.pull()
                except Exception:  # a bug must not end the loop silently
                    log.exception("background pull failed")

        self._start(loop, "feed-puller")

    def start_watching(self, ready: threading.Event | None = None) -> None:
        """Index changes under the corpus folder after ``watch_debounce`` seconds of quiet."""
        import watchfiles

        corpus = Path(self.settings.corpus_dir)
        corpus.mkdir(parents=True, exist_ok=True)
        debounce_ms = max(50, int(self.settings.watch_debounce * 1000))

        def visible(_change, path: str) -> bool:
            rel = Path(path).relative_to(corpus.resolve()) if Path(path).is_absolute() else Path(path)
            return not any(part.startswith(".") for part in rel.parts)

        def loop():
            watcher = watchfiles.watch(corpus.resolve(), watch_filter=visible, debounce=debounce_ms,
                                       step=50, stop_event=self._stop, yield_on_timeout=True,
                                       rust_timeout=500, raise_interrupt=False)
            if ready is not None:
                ready.set()
            for changes in watcher:
                if self._stop.is_set():
                    break
                if not changes:
                    continue
                try:
                    self.sync(f"watch: {len(changes)} change{'s' if len(changes) != 1 else ''}")
                except Exception:
                    log.exception("watch-triggered build failed")

        self._start(loop, "corpus-watcher")

    def _start(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait(self) -> None:
        """Block until stopped (Ctrl-C in `assistant index --watch`)."""
        try:
            while any(t.is_alive() for t in self._threads):
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stop()


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
