"""The stress run of ``load.py --index-while N`` (issue 13 part 6): clients ask over HTTP while
the serving app indexes new, deleted and changed articles. Not a test module.

    python benchmarks/load.py --clients 8 --seconds 60 --index-while 300
    python benchmarks/load.py --clients 32 --questions 10 --index-while 300

The corpus (benchmarks/.work/stress/corpus) is the seed article plus ``--base`` Wikinews
articles, one JSON file each, titled ``wn0042: <first words>`` so a citation's title names its
file. The base index is built once and copied for every run, so each run starts from the same
committed state S0. The churn thread then runs ``--batches`` steps; step j writes its share
of the N new articles (Wikinews bodies after the base ones), deletes its share of
``--deletes`` base articles and changes its share of ``--changes`` (a dated update sentence
put first, the last paragraph dropped), then calls the app's ``/rebuild`` over HTTP and waits
for it: state Sj is committed when that call returns. No file is written while a rebuild
runs, so the committed states are exactly S0..Sk.

Checks:
- errors: any failed or malformed ``/ask`` reply, any failed rebuild;
- (a) citations: every citation and retrieved passage names a known article (by title), its
  passage (white space removed) is in a version of that article, and one committed state
  holds every cited version of the answer (a consistent snapshot) and was current at some
  time during the request (give or take ``GRACE`` s: the app re-reads the store generation
  at most once a second);
- (b) answers to the fixed questions about untouched articles (the seed and base articles
  never deleted or changed): the corpus change itself changes some of them (BM25 statistics
  move, new articles enter the retrieved passages, the extractive answer picks another
  sentence), so each state has its reference answers: a quiet run at S0, the churn thread's
  own answers GRACE s after each commit S1..Sk-1 (asked before the next batch is written),
  and a quiet run after the load at Sk. Every answer under load must equal, field for field
  (passages included), the reference of a state current during its request; the count equal
  to the quiet S0 run is reported beside it, and the churn thread's answers at Sk must equal
  the quiet run's;
- the final index statistics count the articles the corpus holds.
Left out: ``--watch``, uploads, a Chroma server (embedded store only), a login.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import README, WIKINEWS, WORK, load_line, machine_line, require_datasets

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "000_db5d042bbc5024b2.txt"
GRACE = 2.0
SEED_QUESTIONS = [
    "What did Koshanov brief his colleagues on?",
    "Which index does Kazakhstan rank 24th in?",
    "What share of public services are available online in Kazakhstan?",
    "Who thanked the Kazakhstani side for a warm welcome?",
]
_WS = re.compile(r"\s+")
_SENT = re.compile(r"(?<=[.!?])\s+")


def _squash(text: str) -> str:
    return _WS.sub("", text)


def _words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def _wikinews(limit: int, max_chars: int = 0) -> list[str]:
    """The first limit Wikinews bodies; max_chars > 0 cuts each after the last whole
    sentence within that many characters (a shorter run: fewer chunks to encode)."""
    out = []
    with open(WIKINEWS, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                body = json.loads(line)["text"].strip()
                if max_chars and len(body) > max_chars:
                    cut = body[:max_chars]
                    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", cut)]
                    body = cut[:ends[-1]] if len(ends) >= 2 else cut
                out.append(body)
                if len(out) >= limit:
                    break
    return out


def _title(i: int, body: str) -> str:
    return f"wn{i:04d}: {_words(body, 8)}"


def _changed(body: str, step: int) -> str:
    """A real edit: a dated update sentence first, the last paragraph dropped (when there
    are several; else the last sentence)."""
    paras = [p for p in body.split("\n") if p.strip()]
    if len(paras) > 1:
        paras = paras[:-1]
    else:
        sents = _SENT.split(paras[0])
        paras = [" ".join(sents[:-1]) if len(sents) > 1 else paras[0]]
    return (f"Update 2026-11-29 (revision {step + 2}): this article was revised after "
            "publication.\n" + "\n".join(paras))


@dataclass
class Plan:
    """Which article is where in which state: versions[key] = list of (text, first, last)
    with states first..last inclusive (last None: still there at the end)."""

    base: int
    new: int
    deletes: int
    changes: int
    batches: int
    bodies: list[str]
    max_chars: int = 0
    versions: dict[str, list[tuple[str, int, int | None]]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # title -> key
    steps: list[dict] = field(default_factory=list)  # per batch: write/delete paths
    untouched: list[int] = field(default_factory=list)

    @classmethod
    def make(cls, *, base: int, new: int, deletes: int, changes: int, batches: int,
             max_chars: int = 0) -> "Plan":
        if deletes + changes > base // 2:
            raise SystemExit(f"--deletes + --changes must leave half of --base untouched "
                             f"({deletes} + {changes} > {base // 2})")
        bodies = _wikinews(base + new, max_chars)
        if len(bodies) < base + new:
            raise SystemExit(f"wikinews-2000 holds {len(bodies)} articles, need {base + new}")
        plan = cls(base, new, deletes, changes, batches, bodies, max_chars)
        seed_text = SEED.read_text(encoding="utf-8")
        plan.versions["seed"] = [(seed_text, 0, None)]
        rng = random.Random(13)
        touched = rng.sample(range(base), deletes + changes)
        deleted, changed = sorted(touched[:deletes]), sorted(touched[deletes:])
        plan.untouched = [i for i in range(base) if i not in set(touched)]

        def share(items: list, j: int) -> list:
            return items[j * len(items) // batches:(j + 1) * len(items) // batches]

        for i in range(base):
            plan.versions[f"wn{i:04d}"] = [(bodies[i], 0, None)]
        new_ids = list(range(base, base + new))
        for j in range(batches):
            state = j + 1
            step = {"write": {}, "delete": []}
            for i in share(new_ids, j):
                step["write"][i] = bodies[i]
                plan.versions[f"wn{i:04d}"] = [(bodies[i], state, None)]
            for i in share(deleted, j):
                step["delete"].append(i)
                text, first, _ = plan.versions[f"wn{i:04d}"][0]
                plan.versions[f"wn{i:04d}"] = [(text, first, state - 1)]
            for i in share(changed, j):
                text = _changed(bodies[i], j)
                step["write"][i] = text
                old, first, _ = plan.versions[f"wn{i:04d}"][0]
                plan.versions[f"wn{i:04d}"] = [(old, first, state - 1), (text, state, None)]
            plan.steps.append(step)
        for i in range(base + new):
            plan.titles[_title(i, bodies[i])] = f"wn{i:04d}"
        return plan

    @staticmethod
    def path(corpus: Path, i: int) -> Path:
        return corpus / f"wn{i:04d}.json"

    def write(self, corpus: Path, i: int, text: str) -> None:
        record = {"title": _title(i, self.bodies[i]), "source": "Wikinews", "body": text}
        tmp = self.path(corpus, i).with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path(corpus, i))  # never a half-written file in a scan

    def states_of(self, key: str, passage: str) -> set[int] | None:
        """The committed states holding a version of key that contains passage."""
        out: set[int] = set()
        found = False
        # A passage may join non-adjacent sentences of its chunk with "…": each piece must be
        # in the same version.
        needles = [_squash(piece) for piece in passage.split("…") if piece.strip()]
        last_state = self.batches
        for text, first, last in self.versions.get(key, []):
            squashed = _squash(text)
            if all(n in squashed for n in needles):
                found = True
                out.update(range(first, (last if last is not None else last_state) + 1))
        return out if found else None

    def fixed_questions(self, n_articles: int = 6) -> list[str]:
        """Questions about untouched articles: the seed's, and the opening words of a few
        untouched Wikinews articles' second sentences (plain look-up questions)."""
        qs = list(SEED_QUESTIONS)
        step = max(1, len(self.untouched) // n_articles)
        for i in self.untouched[::step][:n_articles]:
            sents = _SENT.split(self.bodies[i])
            about = _words(sents[1] if len(sents) > 1 else sents[0], 10).rstrip(".,;:")
            qs.append(f"What do the articles say about {about}?")
        return qs

    def churn_questions(self, n: int = 6) -> list[str]:
        """Questions about changed and new articles (their answers may change; checked by (a))."""
        qs = []
        for step in self.steps:
            for i in list(step["write"])[:1]:
                qs.append(f"What do the articles say about {_words(self.bodies[i], 10).rstrip('.,;:')}?")
        return qs[:n]


def _prepare(plan: Plan, folder: Path) -> tuple[Path, Path]:
    """Fresh corpus and index for this run, copied from the base pair (built once)."""
    from assistant import Assistant, Settings

    tag = f"base{plan.base}" + (f"-max{plan.max_chars}" if plan.max_chars else "")
    base_corpus, base_index = folder / f"{tag}-corpus", folder / f"{tag}-index"
    corpus, index = folder / "corpus", folder / "index"
    if not (base_index / ".stress-complete").exists():
        shutil.rmtree(base_corpus, ignore_errors=True)
        shutil.rmtree(base_index, ignore_errors=True)
        base_corpus.mkdir(parents=True)
        shutil.copy(SEED, base_corpus / SEED.name)
        for i in range(plan.base):
            plan.write(base_corpus, i, plan.bodies[i])
        t0 = time.perf_counter()
        Assistant(Settings.from_env(corpus_dir=base_corpus, index_dir=base_index)).build_index()
        (base_index / ".stress-complete").write_text("")
        print(f"base index built in {time.perf_counter() - t0:.0f} s")
    for src, dst in ((base_corpus, corpus), (base_index, index)):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return corpus, index


@dataclass
class Asked:
    client: int
    question: str
    t0: float
    t1: float
    answer: dict | None = None
    error: str = ""


def _comparable(answer: dict) -> str:
    return json.dumps(answer, sort_keys=True, ensure_ascii=False)


def _check_citations(plan: Plan, asked: Asked, commits: list[tuple[float, float]]) -> list[str]:
    """Problems with one answer's citations (empty: fine). commits[j] = (rebuild called,
    rebuild returned) for state j (state 0: (-inf, -inf))."""
    problems = []
    states: set[int] | None = None
    for kind in ("citations", "passages"):
        for c in asked.answer.get(kind) or []:
            if not isinstance(c, dict) or not isinstance(c.get("n"), int) or \
                    not isinstance(c.get("passage"), str) or not isinstance(c.get("title"), str):
                problems.append(f"{kind}: malformed entry {str(c)[:120]}")
                continue
            span = c.get("span")
            if not (isinstance(span, list) and len(span) == 2 and 0 <= span[0] <= span[1] <= len(c["passage"])):
                problems.append(f"{kind} [{c['n']}]: span {span} outside its passage")
            key = "seed" if c["title"] and c["title"] not in plan.titles and \
                c.get("source") != "Wikinews" else plan.titles.get(c["title"])
            if key is None:
                problems.append(f"{kind} [{c['n']}]: unknown article {c['title'][:80]!r}")
                continue
            held = plan.states_of(key, c["passage"])
            if held is None:
                problems.append(f"{kind} [{c['n']}]: passage not in any version of {key}: "
                                f"{c['passage'][:80]!r}")
                continue
            states = held if states is None else states & held
    for s in asked.answer.get("sentences") or []:
        n_cit = len(asked.answer.get("citations") or [])
        if any(not isinstance(n, int) or not 1 <= n <= n_cit for n in s.get("citations", [])):
            problems.append(f"sentence cites {s.get('citations')} of {n_cit} citations")
    if states is not None:
        if not states:
            problems.append("citations from no single committed state (mixed snapshot)")
        else:
            # State j is current from its rebuild's call to the next rebuild's return.
            def current(j: int) -> tuple[float, float]:
                start = commits[j][0]
                end = commits[j + 1][1] if j + 1 < len(commits) else float("inf")
                return start - GRACE, end + GRACE

            if not any(current(j)[0] <= asked.t1 and asked.t0 <= current(j)[1] for j in states):
                problems.append(f"citations from states {sorted(states)}, none current during "
                                "the request")
    return problems


def _record_after_load(block: str) -> None:
    """Put the block at the end of the load tables (before the heading that follows the
    first "### Load" heading), or at the end of benchmarks/README.md."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^### Load[ (]", text, re.MULTILINE)
    nxt = re.search(r"^## ", text[m.end():], re.MULTILINE) if m else None
    at = m.end() + nxt.start() if nxt else len(text)
    text = text[:at].rstrip("\n") + "\n" + block + ("\n" + text[at:] if nxt else "")
    README.write_text(text, encoding="utf-8")


def main(args) -> int:
    from gradio_client import Client

    from assistant import Assistant, Settings
    from assistant.webapp import launch

    from load import LoadResult

    require_datasets(WIKINEWS)
    if args.url:
        raise SystemExit("--index-while starts its own app (it writes into the app's corpus)")
    load_start = load_line()
    plan = Plan.make(base=args.base, new=args.index_while, deletes=args.deletes,
                     changes=args.changes, batches=args.batches, max_chars=args.max_chars)
    folder = Path(args.work) if args.work else WORK / "stress"
    corpus, index = _prepare(plan, folder)
    assistant = Assistant(Settings.from_env(corpus_dir=corpus, index_dir=index))
    assistant.build_index()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = launch(assistant, host="127.0.0.1", port=port, block=False)
    url = demo.local_url.rstrip("/")
    fixed, churn_qs = plan.fixed_questions(), plan.churn_questions()
    pool = fixed + churn_qs
    print(f"app at {url}; corpus {1 + plan.base} articles; {len(fixed)} fixed questions, "
          f"{len(churn_qs)} about churned articles")

    def quiet() -> dict[str, dict]:
        client = Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": 300})
        return {q: client.predict(q, None, api_name="/ask") for q in fixed}

    t0 = time.perf_counter()
    before = quiet()  # also loads the model
    print(f"quiet run before the changes: {time.perf_counter() - t0:.1f} s")

    asked: list[Asked] = []
    lock = threading.Lock()
    commits: list[tuple[float, float]] = [(float("-inf"), float("-inf"))]
    rebuilds: list[dict] = []
    refs: list[dict[str, dict]] = [before]  # refs[j]: the fixed questions' answers at Sj
    churn_errors: list[str] = []
    churn_done = threading.Event()
    ready = threading.Barrier(args.clients + 2)

    def churn() -> None:
        try:
            client = Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": 1800})
        except Exception as exc:
            churn_errors.append(f"connect: {exc}")
            churn_done.set()
            ready.wait()
            return
        ready.wait()
        try:
            for j, step in enumerate(plan.steps):
                for i, text in step["write"].items():
                    plan.write(corpus, i, text)
                for i in step["delete"]:
                    plan.path(corpus, i).unlink()
                called = time.perf_counter()
                try:
                    reply = client.predict(api_name="/rebuild")
                except Exception as exc:
                    churn_errors.append(f"rebuild {j + 1}: {type(exc).__name__}: {exc}")
                    return
                returned = time.perf_counter()
                commits.append((called, returned))
                rep = reply.get("report", {})
                rebuilds.append({"state": j + 1, "s": round(returned - called, 1),
                                 "added": rep.get("added"), "updated": rep.get("updated"),
                                 "removed": rep.get("removed"), "skipped": len(rep.get("skipped", [])),
                                 "articles": reply.get("stats", {}).get("articles")})
                print(f"state {j + 1} committed: {rebuilds[-1]}", flush=True)
                time.sleep(GRACE)  # readers re-read the generation at most once a second
                try:
                    refs.append({q: client.predict(q, None, api_name="/ask") for q in fixed})
                except Exception as exc:
                    churn_errors.append(f"reference answers at S{j + 1}: {type(exc).__name__}: {exc}")
                    return
        finally:
            churn_done.set()

    def worker(n: int) -> None:
        try:
            client = Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": 600})
        except Exception as exc:
            with lock:
                asked.append(Asked(n, "", 0, 0, error=f"connect: {exc}"))
            ready.wait()
            return
        ready.wait()
        i = 0
        while True:
            elapsed = time.perf_counter() - start[0]
            if i >= args.questions and elapsed >= args.seconds and churn_done.is_set():
                return
            question = pool[(n * 3 + i) % len(pool)]
            item = Asked(n, question, time.perf_counter(), 0.0)
            try:
                answer = client.predict(question, None, api_name="/ask")
                item.t1 = time.perf_counter()
                if not isinstance(answer, dict) or "answer" not in answer:
                    raise ValueError(f"unexpected reply: {str(answer)[:100]}")
                item.answer = answer
            except Exception as exc:
                item.t1 = time.perf_counter()
                item.error = f"{type(exc).__name__}: {exc}"
            with lock:
                asked.append(item)
            i += 1

    start = [0.0]
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.clients)]
    threads.append(threading.Thread(target=churn, daemon=True))
    start[0] = time.perf_counter()
    for t in threads:
        t.start()
    ready.wait()
    start[0] = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start[0]
    churn_end = commits[-1][1] - start[0] if len(commits) > 1 else float("nan")
    after = quiet()
    stats = assistant.stats().to_dict()
    demo.close()
    load_end = load_line()

    # -- checks ------------------------------------------------------------------------------
    result = LoadResult(args.clients, args.questions, seconds)
    cit_problems: list[str] = []
    same, differ_load = 0, []
    during = 0
    probe_vs_quiet = [q for q in fixed if len(refs) > 1 and
                      _comparable(refs[-1][q]) != _comparable(after[q])]
    refs[-1] = after  # the quiet run is the reference of the final state

    def current(j: int) -> tuple[float, float]:
        start_j = commits[j][0] if j < len(commits) else float("inf")
        end_j = commits[j + 1][1] if j + 1 < len(commits) else float("inf")
        return start_j - GRACE, end_j + GRACE
    for item in asked:
        if item.error:
            result.errors.append(f"client {item.client}: {item.question[:60]!r}: {item.error}")
            continue
        result.latencies.append(item.t1 - item.t0)
        if len(commits) > 1 and item.t0 <= commits[-1][1]:
            during += 1
        for p in _check_citations(plan, item, commits):
            cit_problems.append(f"client {item.client} {item.question[:50]!r}: {p}")
        if item.question in before:
            got = _comparable(item.answer)
            same += got == _comparable(before[item.question])
            if not any(current(j)[0] <= item.t1 and item.t0 <= current(j)[1]
                       and got == _comparable(ref[item.question]) for j, ref in enumerate(refs)):
                differ_load.append(item)
    (folder / "answers.json").write_text(json.dumps({
        "refs": refs, "after": after, "commits": commits[1:], "start": start[0],
        "asked": [vars(a) for a in asked]}, ensure_ascii=False, default=str), encoding="utf-8")
    quiet_changed = [q for q in fixed if _comparable(before[q]) != _comparable(after[q])]
    expected_articles = 1 + plan.base + plan.new - plan.deletes
    s = result.summary()
    fixed_total = sum(1 for a in asked if not a.error and a.question in before)
    ok_ref = fixed_total - len(differ_load)
    lines = [
        f"{args.clients} clients, {s['requests']} requests ({during} overlapping the indexing), "
        f"{s['errors']} errors, {s['throughput_rps']} answers/s, p50 {s['p50_ms']} ms, "
        f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms; asked for {seconds:.0f} s, indexing "
        f"ended at {churn_end:.0f} s",
        f"churn: {plan.new} new, {plan.deletes} deleted, {plan.changes} changed in "
        f"{len(rebuilds)}/{plan.batches} rebuilds: "
        + "; ".join(f"S{r['state']} {r['s']} s +{r['added']} ~{r['updated']} -{r['removed']} "
                    f"skipped {r['skipped']} = {r['articles']}" for r in rebuilds),
        f"final index: {stats.get('articles')} articles (expected {expected_articles})",
        f"(a) citation problems: {len(cit_problems)}",
        f"(b) fixed-question answers under load: {fixed_total}; equal to the reference of a "
        f"state current during the request: {ok_ref}; equal to neither: {len(differ_load)}; "
        f"identical to the quiet run before the changes: {same}; fixed questions whose quiet "
        f"answers changed from S0 to S{len(refs) - 1}: {len(quiet_changed)} of {len(fixed)}; "
        f"churn thread's answers at the final state differing from the quiet run: "
        f"{len(probe_vs_quiet)}",
        f"load average: {load_start} at the start, {load_end} at the end",
    ]
    for line in lines:
        print(line)
    for err in result.errors[:10]:
        print("error:", err)
    for err in churn_errors:
        print("churn error:", err)
    for p in cit_problems[:10]:
        print("citation:", p)
    for q in quiet_changed:
        print("quiet answer changed by the corpus change:", q)
    for item in differ_load[:5]:
        print(f"differs from both quiet runs: {item.question!r} at "
              f"{item.t0 - start[0]:.0f}-{item.t1 - start[0]:.0f} s: "
              f"{item.answer.get('answer', '')[:120]!r} vs before "
              f"{before[item.question].get('answer', '')[:120]!r}")
    for q in probe_vs_quiet:
        print("churn thread's answer at the final state differs from the quiet run:", q)
    ok = (not result.errors and not churn_errors and not cit_problems and not differ_load
          and not probe_vs_quiet
          and stats.get("articles") == expected_articles and len(rebuilds) == plan.batches)
    if args.record:
        cmd = (f"nice -n 15 python benchmarks/load.py --clients {args.clients} --questions "
               f"{args.questions}" + (f" --seconds {args.seconds:g}" if args.seconds else "")
               + f" --index-while {plan.new} --base {plan.base} --batches {plan.batches}"
               + (f" --max-chars {plan.max_chars}" if plan.max_chars else ""))
        block = (f"\n### Load while indexing ({time.strftime('%Y-%m-%d %H:%M')}, `{cmd}`)\n\n"
                 f"Machine: {machine_line()}.\n\n"
                 "| clients | requests | errors | answers/s | p50 ms | p95 ms | p99 ms | "
                 "citation problems | fixed answers = state's reference / = quiet S0 / of | result |\n"
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
                 f"| {s['clients']} | {s['requests']} | {s['errors']} | {s['throughput_rps']} | "
                 f"{s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {len(cit_problems)} | "
                 f"{ok_ref} / {same} / {fixed_total} | {'pass' if ok else 'FAIL'} |\n\n"
                 + "".join(f"- {line}\n" for line in lines))
        _record_after_load(block)
    if args.result:  # for tests/test_load.py: the figures behind PASS/FAIL
        Path(args.result).write_text(json.dumps({
            "ok": ok, "summary": s, "errors": result.errors[:20], "churn_errors": churn_errors,
            "citation_problems": cit_problems[:20], "fixed_answers": fixed_total,
            "fixed_equal_a_state_reference": ok_ref,
            "fixed_differing": [{"question": a.question, "t0": a.t0 - start[0], "t1": a.t1 - start[0]}
                                for a in differ_load[:20]],
            "final_state_probe_differs": probe_vs_quiet, "articles": stats.get("articles"),
            "expected_articles": expected_articles, "rebuilds": rebuilds,
            "during_indexing": during, "seconds": seconds, "lines": lines}, indent=1), encoding="utf-8")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1
