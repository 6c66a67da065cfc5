"""Shared plumbing for the benchmarks in this folder (not a test module, not part of the library).

- paths: the datasets in ``../shared/datasets`` and the working folder ``benchmarks/.work``;
- the machine: cores, CPU model, SIMD width and clock, and an fp32 peak estimate;
- embedder seams: ``RecordingEmbedder`` (records the exact texts the pipeline embeds and the
  time spent encoding them) and ``ReplicaEmbedder`` (real vectors for base texts, cached on
  disk; perturbed copies for replicated articles, see ``make_replicas``);
- corpora: newsqa-mini as one file per article, Wikinews as MultiHop-RAG-style records, and
  Wikinews replicated with new ids and perturbed text for the scale tests;
- ``record``: append a dated markdown table under the benchmark's heading in README.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WORK = BENCH / ".work"
README = BENCH / "README.md"
SHARED = ROOT.parent / "shared" / "datasets"
NEWSQA = SHARED / "newsqa-mini"
WIKINEWS = SHARED / "wikinews-2000" / "wikinews.jsonl"
PYTHON = sys.executable
ASSISTANT_BIN = str(Path(sys.executable).with_name("assistant"))

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- datasets ------------------------------------------------------------------------------
def require_datasets(*paths: Path) -> None:
    """Exit 0 with a clear message when the shared datasets are not there."""
    missing = [p for p in (paths or (SHARED,)) if not Path(p).exists()]
    if missing:
        print(f"SKIP {Path(sys.argv[0]).name}: dataset not found: "
              + ", ".join(str(p) for p in missing)
              + " (the benchmarks need ../shared/datasets beside the project)")
        sys.exit(0)


def wikinews_records(limit: int | None = None) -> list[dict]:
    """Wikinews bodies as MultiHop-RAG records (the corpus loader reads ``body``)."""
    out = []
    with open(WIKINEWS, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                out.append({"title": "", "source": "Wikinews", "body": d["text"]})
                if limit and len(out) >= limit:
                    break
    return out


def write_records(folder: Path, name: str, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    payload = "".join(json.dumps({k: v for k, v in r.items() if v not in ("", None)},
                                 ensure_ascii=False) + "\n" for r in records)
    if not path.exists() or path.read_text(encoding="utf-8") != payload:
        path.write_text(payload, encoding="utf-8")
    return path


def newsqa_articles(limit: int | None = None) -> list[dict]:
    data = json.loads((NEWSQA / "corpus.json").read_text(encoding="utf-8"))
    return data[:limit] if limit else data


def write_newsqa_files(folder: Path, limit: int | None = None) -> int:
    """newsqa-mini as one JSON file per article (so one article can be added, changed or
    deleted the way news arrives); returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = newsqa_articles(limit)
    wanted = set()
    for n, article in enumerate(articles):
        name = f"a{n:05d}.json"
        wanted.add(name)
        path = folder / name
        text = json.dumps(article, ensure_ascii=False)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for path in folder.glob("*"):
        if path.name not in wanted:
            path.unlink()
    return len(articles)


def questions(n: int) -> list[str]:
    """The first n MultiHop-RAG questions of newsqa-mini, spread over the file."""
    data = json.loads((NEWSQA / "MultiHopRAG.json").read_text(encoding="utf-8"))
    step = max(1, len(data) // max(1, n))
    return [d["query"] for d in data[::step]][:n]


# -- replicas for the scale tests ------------------------------------------------------------
# Replica k replaces every plain space of an article with the k-th of these Unicode space
# characters: a length-preserving, recoverable perturbation. Python's \s and str.isspace, the
# model's tokenizer and BM25's tokenizer all read them as white space, so a replica chunks at
# the same boundaries as the original, its tokens are the same, and the embedder can strip the
# mark to look up the base text's real vector; but its content hash, ids and stored text differ.
SPACES = "".join(chr(c) for c in (*range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000, 0x00A0, 0x1680))
_UNMARK = str.maketrans({c: " " for c in SPACES})


def perturb(text: str, replica: int) -> str:
    """Replica number replica (1..16) of text."""
    if not 1 <= replica <= len(SPACES):
        raise ValueError(f"replica must be 1..{len(SPACES)}, got {replica}")
    return text.replace(" ", SPACES[replica - 1])


def strip_marks(text: str) -> tuple[str, int]:
    """(the base text, the replica number; 0 when unmarked)."""
    for ch in text:
        at = SPACES.find(ch)
        if at >= 0:
            return text.translate(_UNMARK), at + 1
    return text, 0


# -- embedder seams --------------------------------------------------------------------------
class RecordingEmbedder:
    """Wraps the assistant's embedder: records every text it is asked to embed (through
    ``embed`` or any other ``embed*`` method, e.g. ``embed_with_spans``) and the seconds spent
    inside. Everything else is delegated."""

    def __init__(self, inner, cache: "VectorCache | None" = None):
        self.inner = inner
        self.cache = cache  # when given, the real vectors computed are kept for later runs
        self.texts: list[str] = []
        self.seconds = 0.0
        self.calls = 0
        self.sizes: list[int] = []  # texts per call
        self.methods: dict[str, int] = {}

    def _wrap(self, name, method):
        def wrapped(texts, *args, **kwargs):
            t0 = time.perf_counter()
            out = method(texts, *args, **kwargs)
            self.seconds += time.perf_counter() - t0
            batch = [texts] if isinstance(texts, str) else list(texts)
            self.calls += 1
            self.sizes.append(len(batch))
            self.texts.extend(batch)
            self.methods[name] = self.methods.get(name, 0) + len(batch)
            if self.cache is not None:
                self._keep(name, batch, args, out)
            return out
        return wrapped

    def embed(self, texts):
        return self._wrap("embed", self.inner.embed)(texts)

    def _keep(self, name, texts, args, out) -> None:
        import numpy as np

        if name == "embed":
            for text, vec in zip(texts, out):
                self.cache.put(VectorCache.key("t", text), np.asarray(vec, dtype=np.float32))
        elif name == "embed_with_spans":
            vecs, svecs = out
            for text, sp, vec, sv in zip(texts, args[0], vecs, svecs):
                self.cache.put(VectorCache.key("t", text), np.asarray(vec, dtype=np.float32))
                self.cache.put(VectorCache.key("s", text, _spans(sp)),
                               np.asarray(sv, dtype=np.float32).reshape(len(sp), len(vec)))

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if callable(attr) and name.startswith("embed"):
            return self._wrap(name, attr)
        return attr


class VectorCache:
    """Real vectors (one or several rows per key) keyed by a hash of what was embedded,
    persisted as .npy under benchmarks/.work/vectors."""

    def __init__(self, tag: str):
        import numpy as np

        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)[-80:]
        self.keys_path = WORK / "vectors" / f"{safe}.keys.json"
        self.vecs_path = WORK / "vectors" / f"{safe}.npy"
        self.index: dict[str, tuple[int, int]] = {}  # key -> (first row, rows)
        self.matrix = None
        self.new: dict[int, object] = {}  # first row -> rows added in this run
        self.new_rows = 0
        if self.keys_path.exists() and self.vecs_path.exists():
            try:
                keys = json.loads(self.keys_path.read_text())
                matrix = np.load(self.vecs_path)
                if keys and keys[-1][1] + keys[-1][2] == len(matrix):
                    self.index = {k: (a, n) for k, a, n in keys}
                    self.matrix = matrix
            except (ValueError, TypeError, IndexError, OSError):
                pass

    @classmethod
    def for_embedder(cls, embedder) -> "VectorCache":
        return cls(embedder.name + "-" + str(getattr(embedder, "model_path", "")))

    @staticmethod
    def key(*parts) -> str:
        return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).hexdigest()

    def _base_rows(self) -> int:
        return 0 if self.matrix is None else len(self.matrix)

    def get(self, key: str):
        """The (rows, dim) array stored under key, or None."""
        import numpy as np

        hit = self.index.get(key)
        if hit is None:
            return None
        start, n = hit
        base = self._base_rows()
        if n == 0:
            return np.zeros((0, 384 if self.matrix is None else self.matrix.shape[1]), dtype=np.float32)
        if start < base:
            return self.matrix[start:start + n]
        return self.new.get(start)

    def put(self, key: str, rows) -> None:
        import numpy as np

        if key in self.index:
            return
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None, :]
        start = self._base_rows() + self.new_rows
        self.index[key] = (start, len(rows))
        if len(rows):
            self.new[start] = rows
        self.new_rows += len(rows)

    def save(self) -> None:
        import numpy as np

        if not self.new:
            return
        parts = ([self.matrix] if self.matrix is not None else []) + [self.new[k] for k in sorted(self.new)]
        self.matrix = np.concatenate(parts).astype(np.float32)
        self.new, self.new_rows = {}, 0
        self.keys_path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(([k, a, n] for k, (a, n) in self.index.items()), key=lambda r: (r[1], r[2]))
        tmp = self.vecs_path.with_suffix(".tmp.npy")
        np.save(tmp, self.matrix)
        os.replace(tmp, self.vecs_path)
        self.keys_path.write_text(json.dumps(keys))


def _spans(spans) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in spans]


class ReplicaEmbedder:
    """The embedding seam for scale tests: real vectors for base texts (computed once by the
    real embedder and cached on disk), and for replica k of a text the base vector plus small
    deterministic noise, renormalised. Unmarked texts get their exact real vectors.
    Serves ``embed``, ``embed_query`` and ``embed_with_spans`` (chunk vector plus in-context span vectors)."""

    def __init__(self, inner, sigma: float = 0.01):
        self.inner = inner
        self.sigma = sigma
        self.cache = VectorCache.for_embedder(inner)
        self.real_encoded = 0
        self.served = 0

    def __getattr__(self, name):
        if name.startswith("embed") and name not in ("embed_one",):
            raise NotImplementedError(
                f"the benchmark's ReplicaEmbedder does not serve {name!r}: teach "
                f"benchmarks/_common.py about the pipeline's new embedding method")
        return getattr(self.inner, name)

    def _noisy(self, rows, key: str, replica: int):
        import numpy as np

        if not replica:
            return rows
        seed = int(key[:8], 16) ^ (replica * 2654435761 % 2**32)
        noise = np.random.default_rng(seed).standard_normal(rows.shape).astype(np.float32)
        out = rows + self.sigma * noise
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def embed(self, texts):
        import numpy as np

        texts = list(texts)
        bases = [strip_marks(t) for t in texts]
        keys = [VectorCache.key("t", b) for b, _ in bases]
        missing: dict[str, str] = {}
        for key, (base, _) in zip(keys, bases):
            if self.cache.get(key) is None:
                missing.setdefault(key, base)
        if missing:
            vectors = self.inner.embed(list(missing.values()))
            for key, vec in zip(missing, vectors):
                self.cache.put(key, np.asarray(vec, dtype=np.float32)[None, :])
            self.real_encoded += len(missing)
        self.served += len(texts)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._noisy(self.cache.get(k), k, r)[0] for k, (_, r) in zip(keys, bases)])

    def embed_query(self, text):
        return self.embed([text])[0]

    def embed_with_spans(self, texts, spans):
        import numpy as np

        items = []
        for text, sp in zip(texts, spans):
            base, replica = strip_marks(text)  # length-preserving: the spans stay valid
            bspans = _spans(sp)
            items.append((base, replica, bspans, VectorCache.key("t", base),
                          VectorCache.key("s", base, bspans)))
        missing: dict[str, tuple] = {}
        for base, _, bspans, kt, ks in items:
            if self.cache.get(kt) is None or self.cache.get(ks) is None:
                missing.setdefault(ks, (base, bspans, kt))
        if missing:
            todo = list(missing.values())
            vecs, svecs = self.inner.embed_with_spans([b for b, _, _ in todo], [s for _, s, _ in todo])
            for (ks, (_, bspans, kt)), vec, sv in zip(missing.items(), vecs, svecs):
                self.cache.put(kt, np.asarray(vec, dtype=np.float32)[None, :])
                dim = len(vec)
                self.cache.put(ks, np.asarray(sv, dtype=np.float32).reshape(len(bspans), dim))
            self.real_encoded += len(missing)
        self.served += len(items)
        out_t, out_s = [], []
        for _, replica, _, kt, ks in items:
            out_t.append(self._noisy(self.cache.get(kt), kt, replica)[0])
            sv = self.cache.get(ks)
            out_s.append(self._noisy(sv, ks, replica) if len(sv) else sv)
        return np.asarray(out_t, dtype=np.float32), out_s


def real_embedder(settings):
    """The packaged model as the assistant would load it (loaded once per process)."""
    from assistant.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model_path(), settings.embed_batch_size)


def wrapped_assistant(settings, make_wrapper):
    """(Assistant, wrapper, inner): the assistant built over make_wrapper(real embedder),
    passed in through the Embedder seam (``Assistant(embedder=...)``)."""
    from assistant import Assistant

    inner = real_embedder(settings)
    wrapper = make_wrapper(inner)
    return Assistant(settings, embedder=wrapper), wrapper, inner


# -- indexes shared between benchmarks ----------------------------------------------------
def newsqa_index(limit: int | None = None, quiet: bool = False):
    """Settings of a newsqa-mini index (one file per article) with real vectors, built
    incrementally in benchmarks/.work/newsqa[-N] through the real pipeline (vectors cached)."""
    from assistant import Assistant, Settings

    name = "newsqa" if not limit else f"newsqa-{limit}"
    corpus, index = WORK / name / "corpus", WORK / name / "index"
    write_newsqa_files(corpus, limit)
    settings = Settings.from_env(corpus_dir=corpus, index_dir=index)
    assistant, emb, _ = wrapped_assistant(settings, ReplicaEmbedder)
    t0 = time.perf_counter()
    report = assistant.build_index()
    emb.cache.save()
    if not quiet:
        print(f"[{name}] {report.articles} articles, {report.chunks} chunks "
              f"({report.embedded} embedded by the pipeline, {emb.real_encoded} real encodes; "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return settings, report


def chunks_per_record(records: list[dict], settings) -> list[int]:
    """Chunks the pipeline makes of each record (marked like a replica)."""
    from assistant.chunking import split_article
    from assistant.corpus import Article, first_sentence

    out = []
    for r in records:
        text = perturb(r["body"].strip(), 1)
        title = perturb(r["title"], 1) if r.get("title") else first_sentence(text)
        art = Article(id="x", path="x", title=title, source=r["source"], date=None, url=None,
                      text=text)
        out.append(len(split_article(art, settings.chunk_chars, settings.chunk_overlap)))
    return out


def scale_index(target_chunks: int, quiet: bool = False):
    """Settings of an index of about target_chunks chunks: Wikinews replicated (replica k has
    new ids and its spaces replaced by the k-th Unicode space), vectors from ReplicaEmbedder.
    Build ``newsqa_index()`` first: its real vectors then serve every replica."""
    from assistant import Assistant, Settings

    # The base: newsqa-mini's 2,000 full Wikinews articles (1,725 of them also in
    # wikinews-2000), so the real vectors of the newsqa-mini index serve every replica.
    base = [{"title": a["title"], "source": a["source"], "body": a["body"].strip()}
            for a in newsqa_articles() if a["source"] == "Wikinews"]
    name = f"scale-{target_chunks}"
    corpus, index = WORK / name / "corpus", WORK / name / "index"
    settings = Settings.from_env(corpus_dir=corpus, index_dir=index)
    counts = chunks_per_record(base, settings)
    per_replica = sum(counts)
    files, total, replica = [], 0, 1
    while total < target_chunks:
        if replica > len(SPACES):
            raise SystemExit(f"{target_chunks} chunks need more than {len(SPACES)} replicas")
        take, size = [], 0
        for r, c in zip(base, counts):
            if total + size >= target_chunks:
                break
            take.append({"title": perturb(r["title"], replica), "source": r["source"],
                         "body": perturb(r["body"], replica)})
            size += c
        files.append(write_records(corpus, f"wikinews-r{replica:04d}.jsonl", take).name)
        total += size
        replica += 1
    for path in corpus.glob("*"):
        if path.name not in files:
            path.unlink()
    # Seed from the next smaller scale index when there is one (its corpus is a prefix).
    if not index.exists():
        smaller = sorted((p for p in WORK.glob("scale-*") if p.name[6:].isdigit() and
                          int(p.name[6:]) < target_chunks and (p / "index").exists()),
                         key=lambda p: int(p.name[6:]))
        if smaller:
            shutil.copytree(smaller[-1] / "index", index)
    assistant, emb, _ = wrapped_assistant(settings, ReplicaEmbedder)
    t0 = time.perf_counter()
    report = assistant.build_index()
    emb.cache.save()
    if not quiet:
        print(f"[{name}] {report.articles} articles, {report.chunks} chunks in {len(files)} "
              f"replicas of {per_replica} chunks ({report.added} added; {emb.real_encoded} real "
              f"encodes, {emb.served} vectors served; {time.perf_counter() - t0:.0f} s)", flush=True)
    return settings, report


# -- the machine ---------------------------------------------------------------------------
def cpu_info() -> dict:
    info = {"cores": os.cpu_count() or 1, "model": platform.processor() or "unknown",
            "flags": set(), "mhz": None, "max_mhz": None}
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if m:
            info["model"] = m.group(1).strip()
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
        if m:
            info["flags"] = set(m.group(1).split())
        mhz = [float(x) for x in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)]
        if mhz:
            info["mhz"] = max(mhz)
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"CPU max MHz:\s*([\d.]+)", out)
        if m:
            info["max_mhz"] = float(m.group(1))
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def fp32_peak() -> dict:
    """cores x fp32 FMA lanes x FMA units x 2 flops x clock, from /proc/cpuinfo."""
    info = cpu_info()
    flags = info["flags"]
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2+FMA"
    elif "avx" in flags:
        lanes, isa = 8, "AVX (no FMA)"
    else:
        lanes, isa = 4, "SSE"
    fma_units = 2
    flops_per_lane = 2 if "fma" in flags else 1
    mhz = info["max_mhz"] or info["mhz"] or 2000.0
    peak = info["cores"] * lanes * fma_units * flops_per_lane * mhz * 1e6
    return {"isa": isa, "lanes": lanes, "fma_units": fma_units, "mhz": mhz,
            "cores": info["cores"], "flops": peak}


def machine_line() -> str:
    info = cpu_info()
    peak = fp32_peak()
    return (f"{info['cores']} cores (nproc), {info['model']}, {peak['isa']}, "
            f"{peak['mhz']:.0f} MHz; Python {platform.python_version()}")


def load_line() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


# -- statistics and tables -----------------------------------------------------------------
def percentile(values, p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    pos = (len(values) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def fit_exponent(xs, ys) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else float("nan")


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table (also readable as plain text)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in cells])


README_INTRO = """# Benchmarks

Scripts, not timed tests: each measures the assistant against the best possible in the same
process or run (these machines are noisy, so only ratios measured side by side mean much),
prints a table and appends it, dated, with the machine, under its own heading below.
`make bench` runs them all (`.venv/bin/python benchmarks/run_all.py [--quick]`); each also runs
alone (`.venv/bin/python benchmarks/bench_index.py [--quick]`). They need `../shared/datasets`
and skip with a message without it. Working indexes live in `benchmarks/.work/` (not committed).
`--quick` runs small sizes in a minute or two and records nothing; `--no-record` skips the
README for a full run.

| script | measures |
| --- | --- |
| `bench_index.py` | index throughput (chunks/s, tokens/s) of the pipeline against bare `SentenceTransformer.encode` of the same texts, and against the CPU's fp32 peak |
| `bench_reindex.py` | re-index after no change, one article added, changed, deleted, metadata-only change |
| `bench_query.py` | p50/p95 of `answer()` against the naive LangChain chain at 2.3k articles, 20k and 100k chunks; growth exponent; `latency.png` |
| `bench_coldstart.py` | `assistant ask` from a new process, import costs, the app's time to first answer |
| `bench_memory.py` | peak RSS of the app serving the 100k-chunk index |

**Scale-test vectors are perturbed copies, not fresh encodes.** Encoding 100k chunks for real
takes over half an hour on a 2-core machine, so the 20k and 100k indexes are Wikinews replicated
(the 2,000 full Wikinews articles of newsqa-mini, 1,725 of which are also in wikinews-2000, so
that the real vectors of the newsqa-mini index serve them) with new ids and perturbed text (replica k replaces every space with the k-th of 16 Unicode
space characters: the text, its content hash and its ids differ, while its length, chunk
boundaries and tokens stay those of the original) and are built by the real pipeline
(`Assistant.build_index`: chunking, Chroma writes, BM25) behind the same embedder seam, with an
embedder that strips the mark, takes the real vectors of the original text (chunk vector and
in-context sentence vectors, computed once with the real model by the newsqa-mini build or
`bench_index.py`, and cached in `benchmarks/.work/vectors/`) and adds small deterministic noise (sigma 0.01 per
dimension, cosine about 0.98 to the original), renormalised. The vector store and BM25 therefore hold 100k distinct chunks with realistic
vector geometry; the query path (question embedding, Chroma, BM25, sentence rescoring, answer)
runs for real on them. The newsqa-mini index (2,326 articles) holds exact real vectors.
"""


NO_RUN = "_No run recorded yet: `make bench`._\n"
SECTIONS = ("Index throughput", "Re-index", "Query latency", "Cold start", "Memory")
PLACEHOLDERS = "".join(f"\n## {h}\n\n{NO_RUN}" for h in SECTIONS)


def record(heading: str, body: str, *, enabled: bool = True) -> None:
    """Append a dated block under '## heading' in benchmarks/README.md (created if missing)."""
    if not enabled:
        print("(not recorded in benchmarks/README.md)")
        return
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = f"### {stamp}\n\nMachine: {machine_line()}; {_START_LOAD} at the start.\n\n{body.strip()}\n"
    text = README.read_text(encoding="utf-8") if README.exists() else README_INTRO + PLACEHOLDERS
    if "Scale-test vectors are perturbed copies" not in text:  # someone else made the file
        if text.startswith("# "):
            title, _, rest = text.partition("\n")
            text = README_INTRO + "\n" + rest.lstrip("\n")
        else:
            text = README_INTRO + "\n" + text
    marker = f"## {heading}\n"
    if marker not in text:
        text = text.rstrip("\n") + f"\n\n{marker}\n{block}"
    else:
        start = text.index(marker) + len(marker)
        nxt = re.search(r"^## ", text[start:], re.MULTILINE)
        end = start + nxt.start() if nxt else len(text)
        section = text[start:end].replace(NO_RUN, "").rstrip("\n")
        text = text[:start] + (section + "\n\n" if section.strip() else "\n") + block \
            + ("\n" + text[end:] if nxt else "")
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, README)
    print(f"recorded under '## {heading}' in {README}")


_START_LOAD = load_line()


def fmt(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"
