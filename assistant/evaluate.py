"""`assistant eval`: retrieval and abstention measured on a MultiHop-RAG-schema dataset.

A dataset folder holds ``corpus.json`` (articles ``{title, author, source, published_at,
category, url, body}``) and ``MultiHopRAG.json`` (queries ``{query, answer, question_type,
evidence_list: [{title, fact, ...}]}``). The corpus is indexed incrementally into its own
index folder, every query is answered, and the 10 passages the answer step receives are
scored. Figures, overall and per question type:

- fact-level Hits@4, Hits@10, MRR@10, MAP@10, exactly as the benchmark's own scorer
  (yixuantt/MultiHop-RAG ``retrieval_evaluate.py``): a passage is a hit when a gold fact is a
  substring of it after all spaces and newlines are removed; null queries are excluded;
- recall@10 (share of a query's gold facts found in the top 10) and all@10 (all found);
- doc_hits@10: an evidence article's title is among the retrieved passages' titles;
- null_abstain (null queries the assistant declined) and false_abstain (answerable ones it
  declined); p50/p95 latency per query; mean_chars of the scored passages.

Baselines in the same run (``--baseline``): the naive LangChain pipeline
(RecursiveCharacterTextSplitter 1000/200 over the article text, the same embedder, Chroma
top-10 similarity) and BM25 alone (k1=1.2, b=0.75) over those same 1000/200 chunks.
With ``--generator`` (``assistant --generator local eval …``) the answers come from that
generator and three more figures are reported: answer accuracy with a strict scorer
(normalised exact match for yes/no and entity answers) and with the benchmark's lenient
word-overlap scorer (``citations.strict_match`` / ``lenient_match``; a null query counts as
correct when the assistant declines), and the share of answer sentences that passed the
citation check.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import Settings
from .errors import CorpusError

METRICS = ("hits@4", "hits@10", "mrr@10", "map@10", "recall@10", "all@10", "doc_hits@10",
           "null_abstain", "false_abstain", "answer_strict", "answer_lenient", "citation_pass",
           "p50_ms", "p95_ms", "mean_chars")


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def fact_metrics(retrieved: list[str], gold: list[str]) -> dict[str, float]:
    """One query's upstream metrics (hits@4, hits@10, mrr@10, map@10) plus recall and all@10."""
    gold = [_squash(g) for g in gold]
    retrieved = [_squash(r) for r in retrieved]
    hits4 = hits10 = False
    first = None
    ap_sum = 0.0
    found: list[str] = []
    for rank, item in enumerate(retrieved[:10], start=1):
        if any(g in item for g in gold):
            hits10 = True
            hits4 = hits4 or rank <= 4
            first = first or rank
            count = 0
            for g in gold:
                if g in item and g not in found:
                    count += 1
                    found.append(g)
            ap_sum += count / rank
    distinct = len(set(gold))
    return {
        "hits@4": float(hits4), "hits@10": float(hits10),
        "mrr@10": 1.0 / first if first else 0.0,
        "map@10": ap_sum / min(len(gold), 10) if gold else 0.0,
        "recall@10": len(set(found)) / distinct if distinct else 0.0,
        "all@10": float(len(set(found)) == distinct) if distinct else 0.0,
    }


@dataclass
class Query:
    query: str
    answer: str
    question_type: str
    facts: list[str]
    titles: list[str]

    @property
    def is_null(self) -> bool:
        return self.question_type == "null_query" or not self.facts


SPLIT_FILES = {"newsqa-mini": Path(__file__).resolve().parent.parent / "benchmarks" / "questions" / "newsqa-split.json"}


def load_queries(dataset_dir: Path, limit: int | None = None, split: str | None = None) -> list[Query]:
    path = Path(dataset_dir) / "MultiHopRAG.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read queries {path}: {exc}") from exc
    queries = [Query(d["query"], str(d.get("answer", "")), d.get("question_type", "unknown"),
                     [e["fact"] for e in d.get("evidence_list", [])],
                     [e.get("title", "") for e in d.get("evidence_list", [])]) for d in data]
    if split and split != "all":
        queries = [queries[i] for i in _split_indexes(Path(dataset_dir), split)]
    return queries[:limit] if limit else queries


def _split_indexes(dataset_dir: Path, split: str) -> list[int]:
    """Query indexes of a split: <dataset>/split.json, else the project's own split file."""
    path = dataset_dir / "split.json"
    if not path.exists():
        path = SPLIT_FILES.get(dataset_dir.resolve().name, path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"no split file for {dataset_dir} ({path}: {exc})") from exc
    if split not in spec or not isinstance(spec[split], list):
        names = ", ".join(k for k, v in spec.items() if isinstance(v, list))
        raise CorpusError(f"unknown split {split!r} for {dataset_dir}; choose one of: {names}")
    return spec[split]


class _Result:
    """Per-system accumulator of per-query figures."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict]] = []

    def add(self, qtype: str, row: dict) -> None:
        self.rows.append((qtype, row))

    def summary(self, qtype: str | None = None) -> dict[str, float]:
        rows = [r for t, r in self.rows if qtype is None or t == qtype]
        answerable = [r for r in rows if not r["null"]]
        nulls = [r for r in rows if r["null"]]
        out: dict[str, float] = {}
        for key in ("hits@4", "hits@10", "mrr@10", "map@10", "recall@10", "all@10", "doc_hits@10"):
            out[key] = _mean([r[key] for r in answerable])
        if any("abstained" in r for r in rows):
            out["null_abstain"] = _mean([float(r["abstained"]) for r in nulls])
            out["false_abstain"] = _mean([float(r["abstained"]) for r in answerable])
        if any("strict" in r for r in rows):
            out["answer_strict"] = _mean([r["strict"] for r in rows])
            out["answer_lenient"] = _mean([r["lenient"] for r in rows])
            cited = [r["cited_ok"] for r in rows if r.get("cited_ok") is not None]
            out["citation_pass"] = _mean(cited)
        lat = sorted(r["ms"] for r in rows)
        out["p50_ms"] = _percentile(lat, 50)
        out["p95_ms"] = _percentile(lat, 95)
        out["mean_chars"] = _mean([r["chars"] for r in rows])
        out["queries"] = len(rows)
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _mean(values) -> float:
    values = list(values)
    return float(statistics.fmean(values)) if values else 0.0


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    idx = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return float(values[idx])


def _score(query: Query, texts: list[str], titles: list[str], ms: float) -> dict:
    row = {"null": query.is_null, "ms": ms, "chars": _mean(len(t) for t in texts)}
    if not query.is_null:
        row.update(fact_metrics(texts, query.facts))
        row["doc_hits@10"] = float(bool(set(query.titles) & set(titles[:10])))
    return row


def _answer_scores(query: Query, answer) -> dict:
    """Answer accuracy (strict and the benchmark's lenient word overlap) and the share of
    answer sentences that passed the citation check."""
    from .citations import lenient_match, strict_match

    text = answer.answer
    if query.is_null:
        correct = answer.abstained
        return {"strict": float(correct), "lenient": float(correct),
                "cited_ok": _mean(float(s.supported) for s in answer.sentences) if answer.sentences else None}
    return {"strict": float(strict_match(text, query.answer)) if not answer.abstained else 0.0,
            "lenient": float(lenient_match(text, query.answer)) if not answer.abstained else 0.0,
            "cited_ok": _mean(float(s.supported) for s in answer.sentences) if answer.sentences else None}


def prepare_index(dataset_dir: Path, settings: Settings, progress=None):
    """An Assistant over the dataset's corpus in its own index folder (built incrementally)."""
    from .api import Assistant

    corpus_file = Path(dataset_dir) / "corpus.json"
    if not corpus_file.exists():
        raise CorpusError(f"{corpus_file} not found: a dataset folder holds corpus.json and MultiHopRAG.json")
    corpus_dir = Path(settings.index_dir) / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / "corpus.json"
    if not target.exists() or target.stat().st_size != corpus_file.stat().st_size:
        shutil.copyfile(corpus_file, target)
    assistant = Assistant(settings.replace(corpus_dir=corpus_dir))
    report = assistant.build_index(progress=progress)
    return assistant, report


def run_eval(dataset_dir: str | Path, settings: Settings, *, limit: int | None = None,
             baseline: bool = False, progress: Callable[[str, int, int], None] | None = None,
             split: str | None = None, details: list | None = None) -> dict:
    """Evaluate on a dataset; returns {"ours", "baselines", "by_type", "index"}."""
    dataset_dir = Path(dataset_dir)
    queries = load_queries(dataset_dir, limit, split)
    assistant, report = prepare_index(
        dataset_dir, settings, progress=(lambda d, t: progress("index", d, t)) if progress else None)
    generator = assistant.generator(settings.generator)
    systems: dict[str, _Result] = {"ours": _Result()}
    naive = None
    if baseline:
        systems["bm25"] = _Result()
        systems["naive"] = _Result()
        naive = NaiveBaseline(assistant, Path(settings.index_dir) / "naive")
        naive.build(progress=(lambda d, t: progress("naive index", d, t)) if progress else None)
    assistant.retriever.retrieve("warm up the caches")
    for n, q in enumerate(queries, start=1):
        t0 = time.perf_counter()
        retrieval = assistant.retriever.retrieve(q.query, k=10)
        answer = generator.generate(q.query, retrieval)
        ms = (time.perf_counter() - t0) * 1000
        row = _score(q, [p.text for p in retrieval.passages], [p.chunk.title for p in retrieval.passages], ms)
        row["abstained"] = answer.abstained
        row.update(_answer_scores(q, answer))
        systems["ours"].add(q.question_type, row)
        if details is not None:
            details.append({"query": q.query, "type": q.question_type, "answer": answer.answer,
                            "gold": q.answer, **{k: v for k, v in row.items() if k != "chars"}})
        if baseline:
            t0 = time.perf_counter()
            docs = naive.search_bm25(q.query, 10)
            ms = (time.perf_counter() - t0) * 1000
            systems["bm25"].add(q.question_type, _score(
                q, [d.page_content for d in docs], [d.metadata.get("title", "") for d in docs], ms))
            t0 = time.perf_counter()
            docs = naive.search(q.query, 10)
            ms = (time.perf_counter() - t0) * 1000
            systems["naive"].add(q.question_type, _score(
                q, [d.page_content for d in docs], [d.metadata.get("title", "") for d in docs], ms))
        if progress:
            progress("queries", n, len(queries))
    types = sorted({q.question_type for q in queries})
    return {
        "generator": generator.name,
        "ours": systems["ours"].summary(),
        "baselines": {name: r.summary() for name, r in systems.items() if name != "ours"},
        "by_type": {t: {name: r.summary(t) for name, r in systems.items()} for t in types},
        "split": split or "all",
        "index": report.to_dict() | {"skipped": len(report.skipped), "warnings": len(report.warnings)},
    }


class NaiveBaseline:
    """The naive LangChain pipeline: RecursiveCharacterTextSplitter(1000, 200), the same
    embedder, a Chroma vector store, top-k similarity. Built once per folder (idempotent)."""

    def __init__(self, assistant, folder: Path):
        self.assistant = assistant
        self.folder = folder
        self._store = None

    def _documents(self):
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from .corpus import load_articles
        from .parseworker import ParseLimits

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        settings = self.assistant.settings
        articles = load_articles(settings.corpus_dir,
                                 limits=ParseLimits.from_settings(settings)).articles
        docs = [Document(a.text, metadata={"title": a.title, "source": a.source, "path": a.path})
                for a in articles]
        return splitter.split_documents(docs)

    def build(self, progress=None) -> None:
        from langchain_chroma import Chroma

        from .lexical import MemoryBM25

        docs = self._documents()
        self._docs = docs
        self._bm25 = MemoryBM25()
        self._bm25.add((str(i), d.page_content) for i, d in enumerate(docs))
        self._store = Chroma(collection_name="naive", persist_directory=str(self.folder),
                             embedding_function=self.assistant.embedder.as_langchain(),
                             collection_metadata={"hnsw:space": "cosine"})
        # Ids are content hashes, so an interrupted build resumes and a rerun embeds nothing.
        ids = [hashlib.sha1(f"{d.metadata['title']}\x1f{d.page_content}".encode()).hexdigest()
               for d in docs]
        have = set(self._store._collection.get(include=[])["ids"])
        unique = dict(zip(ids, docs))  # an identical chunk twice is stored once
        todo = [(i, d) for i, d in unique.items() if i not in have]
        stale = list(have - set(unique))
        if stale:
            self._store.delete(stale)
        step = 512
        for start in range(0, len(todo), step):
            batch = todo[start:start + step]
            self._store.add_documents([d for _, d in batch], ids=[i for i, _ in batch])
            if progress:
                progress(min(start + step, len(todo)), len(todo))

    def search(self, query: str, k: int = 10):
        return self._store.similarity_search(query, k=k)

    def answer(self, query: str, k: int = 10) -> tuple[str, str | None]:
        """The naive chain's answer: the best two sentences of the top-k chunks by cosine
        similarity to the question (sentences embedded at question time). Returns the answer
        text and the file stem of the first sentence's article."""
        from .chunking import split_sentences

        docs = self.search(query, k)
        sentences = [(doc.page_content[a:b], doc) for doc in docs
                     for a, b in split_sentences(doc.page_content) if b - a >= 20]
        if not sentences:
            return "", None
        embedder = self.assistant.embedder
        qvec = embedder.embed([query])[0]
        scores = embedder.embed([s for s, _ in sentences]) @ qvec
        best = sorted(range(len(sentences)), key=lambda i: -scores[i])[:2]
        text = " ".join(sentences[i][0] for i in best)
        path = sentences[best[0]][1].metadata.get("path") or ""
        return text, Path(path).stem or None

    def search_bm25(self, query: str, k: int = 10):
        """BM25 alone (k1=1.2, b=0.75) over the same 1000/200 chunks, text only."""
        return [self._docs[int(i)] for i, _ in self._bm25.search(query, k)]


def format_table(results: dict) -> str:
    """A plain-text table: ours vs baselines overall, then per question type."""
    systems = {"ours": results["ours"], **results.get("baselines", {})}
    names = list(systems)
    lines = [f"{'metric':<14}" + "".join(f"{n:>10}" for n in names)]
    for metric in METRICS:
        if any(metric in s for s in systems.values()):
            lines.append(f"{metric:<14}" + "".join(
                f"{systems[n].get(metric, float('nan')):>10.3f}" if metric in systems[n] else f"{'-':>10}"
                for n in names))
    for qtype, per in results.get("by_type", {}).items():
        lines.append(f"\n{qtype} ({per['ours'].get('queries', 0)} queries)")
        for metric in ("hits@4", "hits@10", "mrr@10", "recall@10", "all@10", "null_abstain", "false_abstain"):
            if metric in per["ours"]:
                lines.append(f"  {metric:<12}" + "".join(
                    f"{per[n].get(metric, float('nan')):>10.3f}" if metric in per[n] else f"{'-':>10}"
                    for n in names))
    return "\n".join(lines)


# -- question sets of the project's own (benchmarks/questions/*/) ---------------------------
# A question-set folder holds dataset.json (the corpus: Wikinews JSONL and plain text files)
# and questions*.jsonl ({id, question, answers, article, style, kind, split}); see
# benchmarks/questions/check_questions.py for the rules they were written to. The corpus is
# written out as one plain .txt article per record, named by its article id, so a citation's
# article path names the gold article.

ANSWER_METRICS = ("answer_contains", "direct_answer_exact", "first_citation_gold",
                  "declined_unanswerable", "declined_answerable", "p50_ms", "p95_ms")


@dataclass
class SetQuestion:
    id: str
    question: str
    answers: list[str]
    article: str | None
    style: str
    kind: str
    split: str

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def is_question_set(dataset_dir: Path) -> bool:
    return (Path(dataset_dir) / "dataset.json").exists() and any(Path(dataset_dir).glob("questions*.jsonl"))


def load_question_set(dataset_dir: Path, split: str | None = None) -> list[SetQuestion]:
    rows = []
    for path in sorted(Path(dataset_dir).glob("questions*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                rows.append(SetQuestion(d["id"], d["question"], list(d.get("answers") or []),
                                        d.get("article"), d.get("style", "other"), d["kind"],
                                        d.get("split", "test")))
            except (ValueError, KeyError) as exc:
                raise CorpusError(f"{path}:{n}: not a question record ({exc})") from exc
    if split and split != "all":
        rows = [r for r in rows if r.split == split]
    return rows


def write_question_set_corpus(dataset_dir: Path, corpus_dir: Path) -> int:
    """The dataset's articles as plain .txt files named by article id (unchanged files are
    left alone, so re-indexing is incremental). Returns the number of articles."""
    spec = json.loads((Path(dataset_dir) / "dataset.json").read_text(encoding="utf-8"))
    corpus_dir.mkdir(parents=True, exist_ok=True)
    count = 0

    def put(name: str, text: str) -> None:
        nonlocal count
        target = corpus_dir / f"{name}.txt"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        count += 1

    for entry in spec["corpus"]:
        path = (Path(dataset_dir) / entry["path"]).resolve()
        if not path.exists():
            raise CorpusError(f"{path} (named by {dataset_dir}/dataset.json) is absent")
        if entry["format"] == "wikinews-jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                # Wikinews bodies carry no title or date: the title is the first sentence.
                put(f"wikinews-{row['id']}", f"source: Wikinews\n{row['text']}")
        elif entry["format"] == "text":
            put(entry["id"], path.read_text(encoding="utf-8"))
        else:
            raise CorpusError(f"unknown corpus format {entry['format']!r} in {dataset_dir}/dataset.json")
    return count


def _norm_answer(text: str) -> str:
    text = text.replace("**", "").lower()
    text = re.sub(r"[’‘`]", "'", text)
    text = re.sub(r"[“”]", '"', text)
    text = re.sub(r"[‐‑‒–—]", "-", text)
    return re.sub(r"\s+", " ", text).strip()


def _norm_exact(text: str) -> str:
    text = _norm_answer(text).strip(" .,;:!?\"'()[]")
    return re.sub(r"^(?:the|a|an)\s+", "", text)


def answer_contains(answer_text: str, golds: list[str]) -> bool:
    """A gold answer string appears in the answer text (case, quotes and spacing normalised)."""
    text = _norm_answer(answer_text)
    return any(_norm_answer(g) and _norm_answer(g) in text for g in golds)


def direct_answer_exact(direct: str | None, golds: list[str]) -> bool:
    """The direct answer equals a gold string, normalised (case, outer punctuation, articles)."""
    return bool(direct) and any(_norm_exact(direct) == _norm_exact(g) for g in golds)


class _AnswerResult:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict]] = []

    def add(self, style: str, row: dict) -> None:
        self.rows.append((style, row))

    def summary(self, style: str | None = None) -> dict:
        rows = [r for s, r in self.rows if style is None or s == style]
        answerable = [r for r in rows if r["answerable"]]
        negatives = [r for r in rows if not r["answerable"]]
        out = {
            "answer_contains": _mean(r["contains"] for r in answerable),
            "direct_answer_exact": _mean(r["exact"] for r in answerable),
            "first_citation_gold": _mean(r["first_gold"] for r in answerable),
            "declined_unanswerable": _mean(r["declined"] for r in negatives),
            "declined_answerable": _mean(r["declined"] for r in answerable),
        }
        lat = sorted(r["ms"] for r in rows)
        out.update(p50_ms=_percentile(lat, 50), p95_ms=_percentile(lat, 95),
                   answerable=len(answerable), unanswerable=len(negatives))
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def run_question_set_eval(dataset_dir: str | Path, settings: Settings, *, split: str | None = None,
                          limit: int | None = None, baseline: bool = False,
                          progress: Callable[[str, int, int], None] | None = None,
                          details: list | None = None) -> dict:
    """Answer every question of a question set; answer-level figures for ours (and naive)."""
    from .api import Assistant

    dataset_dir = Path(dataset_dir)
    questions = load_question_set(dataset_dir, split)[:limit] if limit else load_question_set(dataset_dir, split)
    corpus_dir = Path(settings.index_dir) / "corpus"
    write_question_set_corpus(dataset_dir, corpus_dir)
    assistant = Assistant(settings.replace(corpus_dir=corpus_dir))
    report = assistant.build_index(progress=(lambda d, t: progress("index", d, t)) if progress else None)
    paths = {aid: Path(rec.get("path", "")).stem for aid, rec in assistant.store.committed().items()}
    systems = {"ours": _AnswerResult()}
    naive = None
    if baseline:
        systems["naive"] = _AnswerResult()
        naive = NaiveBaseline(assistant, Path(settings.index_dir) / "naive")
        naive.build(progress=(lambda d, t: progress("naive index", d, t)) if progress else None)
    assistant.ask("warm up the caches")
    for n, q in enumerate(questions, start=1):
        t0 = time.perf_counter()
        answer = assistant.ask(q.question)
        ms = (time.perf_counter() - t0) * 1000
        direct = answer.direct_answer.text if getattr(answer, "direct_answer", None) else None
        first = paths.get(answer.citations[0].article_id) if answer.citations else None
        row = {"answerable": q.answerable, "ms": ms, "declined": float(answer.abstained),
               "contains": float(not answer.abstained and answer_contains(answer.answer, q.answers)),
               "exact": float(not answer.abstained and direct_answer_exact(direct, q.answers)),
               "first_gold": float(first is not None and first == q.article)}
        systems["ours"].add(q.style, row)
        if details is not None:
            details.append({"id": q.id, "question": q.question, "answers": q.answers, "article": q.article,
                            "kind": q.kind, "style": q.style, "answer": answer.answer, "direct": direct,
                            "first_article": first, **row})
        if naive is not None:
            t0 = time.perf_counter()
            text, first_title = naive.answer(q.question)
            ms = (time.perf_counter() - t0) * 1000
            first = first_title
            systems["naive"].add(q.style, {
                "answerable": q.answerable, "ms": ms, "declined": 0.0, "exact": 0.0,
                "contains": float(answer_contains(text, q.answers)),
                "first_gold": float(first is not None and first == q.article)})
        if progress:
            progress("questions", n, len(questions))
    styles = sorted({q.style for q in questions})
    return {
        "schema": "question-set", "split": split or "all",
        "ours": systems["ours"].summary(),
        "baselines": {name: r.summary() for name, r in systems.items() if name != "ours"},
        "by_style": {s: {name: r.summary(s) for name, r in systems.items()} for s in styles},
        "index": report.to_dict() | {"skipped": len(report.skipped), "warnings": len(report.warnings)},
    }


def format_answer_table(results: dict) -> str:
    systems = {"ours": results["ours"], **results.get("baselines", {})}
    names = list(systems)
    lines = [f"{'metric':<24}" + "".join(f"{n:>10}" for n in names)]
    for metric in ANSWER_METRICS:
        lines.append(f"{metric:<24}" + "".join(f"{systems[n].get(metric, float('nan')):>10.3f}" for n in names))
    ours = results["ours"]
    lines.append(f"({ours['answerable']} answerable, {ours['unanswerable']} unanswerable or near-miss; "
                 f"split {results.get('split')})")
    for style, per in results.get("by_style", {}).items():
        lines.append(f"\n{style} ({per['ours']['answerable']} answerable, {per['ours']['unanswerable']} not)")
        for metric in ("answer_contains", "direct_answer_exact", "first_citation_gold",
                       "declined_unanswerable", "declined_answerable"):
            lines.append(f"  {metric:<22}" + "".join(f"{per[n].get(metric, float('nan')):>10.3f}" for n in names))
    return "\n".join(lines)
