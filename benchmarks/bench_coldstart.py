"""Cold start: `assistant ask` from a new process, import costs, and the app's first answer.

On an existing index (newsqa-mini, built once by ``_common.newsqa_index``):
- wall time of ``assistant ask "…"`` in a new process (3 runs), with a phase breakdown from a
  separate process (imports, Assistant(), model load, first answer);
- ``python -X importtime -c "import assistant.cli"``: which heavy modules (torch, chromadb,
  gradio, sentence_transformers, transformers, langchain) importing the CLI pulls in, and
  through which module; and which of them ``assistant --help`` and a no-change
  ``assistant index`` load (commands that need no model should not load it);
- the app: ``assistant serve`` in a new process on a free loopback port, time until the page
  answers HTTP and until the first ``/ask`` through gradio_client returns; then a second /ask.

Target: ``assistant ask`` <= 6 s from a new process (median of 3; issue 11).

Usage: .venv/bin/python benchmarks/bench_coldstart.py [--quick] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

from _common import (ASSISTANT_BIN, NEWSQA, PYTHON, ROOT, fmt, newsqa_index, record,
                     require_datasets, table)

HEAVY = ("torch", "chromadb", "gradio", "sentence_transformers", "transformers",
         "langchain_core", "langchain_chroma", "trafilatura", "scipy", "onnxruntime")
QUESTION = "What did the Speakers discuss about AI legislation?"


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def importtime(code: str) -> tuple[float, dict[str, list[str]], float]:
    """(wall s, {heavy module: import chain}, cumulative s of the top import)."""
    t0 = time.perf_counter()
    out = subprocess.run([PYTHON, "-X", "importtime", "-c", code], capture_output=True,
                         text=True, env=env(), cwd=ROOT, timeout=300)
    wall = time.perf_counter() - t0
    lines = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            lines.append((int(m.group(2)), len(m.group(3)), m.group(4)))
    chains: dict[str, list[str]] = {}
    for i, (_, depth, name) in enumerate(lines):
        top = name.split(".")[0]
        if top in HEAVY and top not in chains:
            chain, d = [name], depth
            for _, d2, n2 in lines[i + 1:]:
                if d2 < d:
                    chain.append(n2)
                    d = d2
            chains[top] = list(reversed(chain))
    top_cum = max((c for c, d, _ in lines if d <= 1), default=0) / 1e6
    return wall, chains, top_cum


def modules_after(argv: list[str]) -> tuple[float, list[str]]:
    """(wall s, heavy modules loaded) of running the CLI with argv in a new process."""
    code = ("import sys, json\nfrom assistant.cli import main\n"
            f"try:\n    main({argv!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)), file=sys.stderr)")
    t0 = time.perf_counter()
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env(),
                         cwd=ROOT, timeout=600)
    wall = time.perf_counter() - t0
    try:
        loaded = json.loads(out.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        loaded = [f"(failed: {out.stderr[-300:]})"]
    return wall, loaded


PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
import assistant.cli
t.append(time.perf_counter())
from assistant import Assistant, Settings
t.append(time.perf_counter())
a = Assistant(Settings.from_env(corpus_dir=sys.argv[1], index_dir=sys.argv[2]))
t.append(time.perf_counter())
a.embedder.embed_query("warm up")  # the question encoder (numpy BERT for the packaged model)
t.append(time.perf_counter())
a.searcher.snapshot()
t.append(time.perf_counter())
a.ask(sys.argv[3])
t.append(time.perf_counter())
a.ask(sys.argv[3] + " again")
t.append(time.perf_counter())
names = ["import assistant.cli", "import assistant.api", "Assistant()", "question encoder load",
         "BM25 load", "first ask", "second ask"]
print(json.dumps({n: t[i + 1] - t[i] for i, n in enumerate(names)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_first_answer(settings) -> dict:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([ASSISTANT_BIN, "--corpus", str(settings.corpus_dir), "--index",
                             str(settings.index_dir), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env(), cwd=ROOT)
    res: dict = {}
    try:
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the app exited: {proc.stdout.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        res["page_s"] = time.perf_counter() - t0
        client = Client(url, verbose=False)
        res["client_s"] = time.perf_counter() - t0
        answer = client.predict(QUESTION, api_name="/ask")
        res["first_answer_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        client.predict("Which company did TechCrunch report on?", api_name="/ask")
        res["second_answer_s"] = time.perf_counter() - t1
        res["answer_ok"] = bool(answer.get("answer"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200-article index, 1 run; records nothing")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    require_datasets(NEWSQA)
    runs = args.runs or (1 if args.quick else 3)
    settings, report = newsqa_index(200 if args.quick else None)
    where = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]

    # 1. imports
    imp_wall, chains, imp_cum = importtime("import assistant.cli")
    help_wall, help_mods = modules_after(["--help"])
    idx_wall, idx_mods = modules_after(where + ["index", "--json"])
    ask_wall_mods, ask_mods = modules_after(where + ["ask", "--json", QUESTION])
    print(f"import assistant.cli: {imp_wall:.2f} s wall, heavy modules: "
          + (", ".join(f"{k} via {' > '.join(v)}" for k, v in chains.items()) or "none"), flush=True)

    # 2. assistant ask from a new process
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([ASSISTANT_BIN, *where, "ask", QUESTION], capture_output=True,
                             text=True, cwd=ROOT, timeout=600)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"assistant ask failed: {out.stderr[-2000:]}")
    print(f"assistant ask: {', '.join(f'{w:.2f}' for w in walls)} s", flush=True)
    out = subprocess.run([PYTHON, "-c", PHASES, str(settings.corpus_dir), str(settings.index_dir),
                          QUESTION], capture_output=True, text=True, env=env(), cwd=ROOT, timeout=600)
    phases = json.loads(out.stdout.strip().splitlines()[-1])
    print("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()), flush=True)

    # 3. the app
    app = app_first_answer(settings)
    print(f"app: page {app['page_s']:.1f} s, first answer {app['first_answer_s']:.1f} s, "
          f"second answer {app['second_answer_s']:.2f} s", flush=True)

    median = sorted(walls)[len(walls) // 2]
    rows = [
        [f"`assistant ask` new process (median of {runs})", fmt(median, 2),
         ", ".join(fmt(w, 2) for w in walls), "<= 6 s", "met" if median <= 6 else "NOT met"],
        ["`python -c 'import assistant.cli'`", fmt(imp_wall, 2),
         "heavy: " + (", ".join(f"{k} (via {' > '.join(v[:3])})" for k, v in chains.items()) or "none"),
         "no torch/chromadb/gradio", "met" if not {"torch", "chromadb", "gradio"} & set(chains) else "NOT met"],
        ["`assistant --help`", fmt(help_wall, 2), "loads: " + (", ".join(help_mods) or "none"),
         "no model", "met" if "torch" not in help_mods else "NOT met"],
        ["`assistant index` (no change)", fmt(idx_wall, 2), "loads: " + (", ".join(idx_mods) or "none"),
         "no model", "met" if "torch" not in idx_mods and "sentence_transformers" not in idx_mods else "NOT met"],
        ["`assistant ask --json`", fmt(ask_wall_mods, 2), "loads: " + ", ".join(ask_mods), "-", "-"],
        ["app (`assistant serve`): page answers HTTP", fmt(app["page_s"], 1), "new process, index update included",
         "<= 8 s", "met" if app["page_s"] <= 8 else "NOT met"],
        ["app: first /ask answer returned", fmt(app["first_answer_s"], 1),
         f"gradio_client connected at {app['client_s']:.1f} s; {app['first_answer_s'] - app['page_s']:.1f} s after the page",
         "<= 2 s after the page", "met" if app["first_answer_s"] - app["page_s"] <= 2 else "NOT met"],
        ["app: second /ask", fmt(app["second_answer_s"], 2), "warm", "-", "-"],
    ]
    out_md = table(["what", "seconds", "detail", "target", "result"], rows)
    phase_line = "Phases of a cold `ask` (one process): " + ", ".join(
        f"{k} {v:.2f} s" for k, v in phases.items()) + "."
    print()
    print(out_md)
    print(phase_line)
    body = (f"`benchmarks/bench_coldstart.py{' --quick' if args.quick else ''}` on the newsqa-mini index "
            f"({report.articles} articles, {report.chunks} chunks).\n\n" + out_md + "\n\n" + phase_line)
    record("Cold start", body, enabled=not (args.quick or args.no_record))


if __name__ == "__main__":
    main()
