"""Wire copies and syndication: group near-duplicate articles into stories.

Two articles are copies of one story when the Jaccard similarity of their word shingles
(``SHINGLE`` consecutive words, lower-cased) is at least ``THRESHOLD``, estimated with
MinHash (``datasketch``, ``NUM_PERM`` permutations; candidates from LSH banding, each then
checked against the threshold). Groups are the connected components of that relation.
The threshold was chosen on synthetic wire copies of Wikinews bodies (several outlets'
copies with small edits: datelines, bylines, word changes, cut paragraphs), on a dev half,
and measured on the test half (benchmarks/syndication_eval.py, benchmarks/README.md).

``refresh_stories`` recomputes the groups of the corpus's articles (signatures are cached by
article hash, so only new and changed articles are hashed) and stores them in
``<index_dir>/stories-<collection>.json``; ``Indexer.build`` calls it on every build that
loads the corpus, before the new articles are committed, so every build path (``assistant
index``, feed pulls, the watched folder, the chat's uploads and rebuilds) leaves the groups in
step with the index. ``stories()`` gives readers a ``Stories`` view
(reloaded when that file changes): per article id, its story and the other members.

Left out: cross-language copies, and stories that merely share a topic (follow-ups with new
text are separate stories).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ArticleError

__all__ = ["THRESHOLD", "Stories", "group", "signature", "refresh_stories", "stories", "is_current"]

log = logging.getLogger(__name__)

SHINGLE = 4
NUM_PERM = 128
# Chosen on the dev half of the synthetic wire-copy set (benchmarks/syndication_eval.py).
THRESHOLD = 0.3
_WORD = re.compile(r"\w+", re.UNICODE)
_SEED = 1
_SCHEME = "affine32"  # datasketch 2 hashing; stored signatures depend on it
_HASH = "crc32"  # the shingle hash; stored signatures made with another are recomputed


# LSH banding for candidate pairs: 42 bands of 3 rows, what datasketch's MinHashLSH picks
# for num_perm=128 at 0.8 x THRESHOLD (0.24); every candidate is then checked exactly.
BANDS, ROWS = 42, 3
_PERMUTATIONS = None  # computed once: datasketch derives them from the seed on every MinHash


def signature(text: str):
    """The MinHash of the text's word shingles."""
    global _PERMUTATIONS
    from datasketch import MinHash

    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i:i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    if _PERMUTATIONS is None:
        _PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations
    # CRC-32 of each shingle (C speed; datasketch's default SHA-1 costs ~9 us a shingle in
    # Python), mixed by datasketch's murmur finaliser before the permutations.
    m = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME, permutations=_PERMUTATIONS,
                hashfunc=zlib.crc32)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m



def group(signatures: dict[str, np.ndarray], threshold: float = THRESHOLD) -> dict[str, str]:
    """article id -> story id (the smallest member id) for MinHash hash values."""
    keys = sorted(signatures)
    parent = list(range(len(keys)))  # by position in keys: the smallest position is the root

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if keys:
        matrix = np.stack([np.asarray(signatures[k], dtype=np.uint64) for k in keys])
        # Articles sharing one band of rows are candidates (numpy finds the shared bands of
        # all articles at once); each candidate pair is then checked against the threshold
        # on the whole signature.
        n = len(keys)
        bands = matrix[:, :BANDS * ROWS].reshape(n, BANDS, ROWS)
        # One number per (article, band): a band's rows mixed (wrapping multiplication); two
        # bands that differ may share it, which only adds a candidate the check rejects.
        mixed = np.zeros((n, BANDS), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for r in range(ROWS):
                mixed = mixed * np.uint64(0x9E3779B97F4A7C15) ^ bands[:, :, r]
        band_of = np.broadcast_to(np.arange(BANDS), (n, BANDS)).ravel()
        article_of = np.broadcast_to(np.arange(n)[:, None], (n, BANDS)).ravel()
        order = np.lexsort((article_of, mixed.ravel(), band_of))
        value, band, article = mixed.ravel()[order], band_of[order], article_of[order]
        same = (value[1:] == value[:-1]) & (band[1:] == band[:-1])
        # Runs of equal (band, value): the articles of one bucket; every pair inside a run is
        # a candidate, coded x * n + y (x < y) so that a pair found in several bands counts once.
        # An article has one value per band, so a run holds each article once, in order.
        edges = np.diff(np.concatenate(([False], same, [False])).astype(np.int8))
        starts = np.flatnonzero(edges == 1)
        lengths = np.flatnonzero(edges == -1) - starts + 1
        codes = []
        for length in np.unique(lengths).tolist():  # runs of one length at once
            members = article[starts[lengths == length][:, None] + np.arange(length)].astype(np.int64)
            i, j = np.triu_indices(length, 1)
            codes.append((members[:, i] * n + members[:, j]).ravel())
        if codes:
            code = np.unique(np.concatenate(codes))
            for start in range(0, len(code), 65536):  # the check in slices: bounded memory
                x, y = np.divmod(code[start:start + 65536], n)
                alike = np.count_nonzero(matrix[x] == matrix[y], axis=1) >= threshold * matrix.shape[1]
                for a, b in zip(x[alike].tolist(), y[alike].tolist()):
                    ra, rb = find(a), find(b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
    return {k: keys[find(i)] for i, k in enumerate(keys)}


@dataclass
class Member:
    id: str
    title: str
    source: str
    date: str | None
    url: str | None

    def to_dict(self) -> dict:
        return {"title": self.title, "source": self.source, "date": self.date, "url": self.url}


class Stories:
    """Per article id: its story id and the story's other members (a read-only view)."""

    def __init__(self, articles: dict[str, dict] | None = None, groups: dict[str, str] | None = None):
        self.articles = articles or {}
        self.groups = groups or {}
        self._members: dict[str, list[str]] = {}
        for aid, sid in sorted(self.groups.items()):
            self._members.setdefault(sid, []).append(aid)

    def story_of(self, article_id: str) -> str:
        return self.groups.get(article_id, article_id)

    def others(self, article_id: str) -> list[Member]:
        """The other copies of this article's story, oldest first (none for a lone article)."""
        ids = [a for a in self._members.get(self.story_of(article_id), []) if a != article_id]
        members = [self._member(a) for a in ids if a in self.articles]
        return sorted(members, key=lambda m: (m.date or "9999", m.source, m.id))

    def _member(self, aid: str) -> Member:
        a = self.articles[aid]
        return Member(aid, a.get("title", ""), a.get("source", ""), a.get("date") or None,
                      a.get("url") or None)

    def story_count(self) -> int:
        return len(self._members)


def _path(settings) -> Path:
    return Path(settings.index_dir) / f"stories-{settings.collection}.json"


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype=np.uint64).tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint64).copy()


def refresh_stories(settings, articles=None) -> Stories:
    """Group the corpus's articles (or the given ``corpus.Article`` list) and store the
    groups; signatures of unchanged articles are reused."""
    from .corpus import load_articles
    from .parseworker import ParseLimits

    if articles is None:
        articles = load_articles(settings.corpus_dir,
                                 limits=ParseLimits.from_settings(settings)).articles
    path = _path(settings)
    old = _load(path)
    same = (old.get("hash"), old.get("shingle"), old.get("num_perm")) == (_HASH, SHINGLE, NUM_PERM)
    cached = {a["hash"]: a.get("sig") for a in old.get("articles", {}).values()
              if a.get("sig")} if same else {}
    records: dict[str, dict] = {}
    signatures: dict[str, np.ndarray] = {}
    for a in articles:
        packed = cached.get(a.hash)
        if packed is None:
            try:
                full = a.full()  # an unchanged file's article comes without its text
            except ArticleError as exc:
                log.warning("%s: not grouped: %s", exc.path, exc.reason)
                continue
            packed = _pack(signature(f"{full.title}\n{full.text}").hashvalues)
        records[a.id] = {"hash": a.hash, "sig": packed, "title": a.title, "source": a.source,
                         "date": a.date, "url": a.url}
        signatures[a.id] = _unpack(packed)
    groups = group(signatures)
    data = {"threshold": THRESHOLD, "shingle": SHINGLE, "num_perm": NUM_PERM, "hash": _HASH,
            "articles": records, "groups": groups}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-stories-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data))  # one C-encoded string: json.dump's chunks were 5x slower
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    result = Stories(records, groups)
    log.info("%d articles in %d stories", len(records), result.story_count())
    return result


def is_current(settings) -> bool:
    """True when the stored groups exist and were made with today's parameters."""
    data = _load(_path(settings))
    return bool(data) and (data.get("threshold"), data.get("shingle"), data.get("num_perm"),
                           data.get("hash")) == (THRESHOLD, SHINGLE, NUM_PERM, _HASH)


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable story groups %s: %s", path, exc)
        return {}


_CACHE: dict[str, tuple[float, Stories]] = {}
_CACHE_LOCK = threading.Lock()


def stories(settings) -> Stories:
    """The stored story groups for these settings (empty before the first refresh);
    reloaded when the file changes."""
    path = _path(settings)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return Stories()
    with _CACHE_LOCK:
        hit = _CACHE.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1]
    data = _load(path)
    result = Stories(data.get("articles"), data.get("groups"))
    with _CACHE_LOCK:
        _CACHE[str(path)] = (mtime, result)
    return result
