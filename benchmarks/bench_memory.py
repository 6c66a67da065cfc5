"""Memory: peak RSS of the app serving the 100k-chunk index.

Starts ``assistant serve`` in a new process on a free loopback port over the 100k-chunk scale
index (Wikinews replicated, built once by ``_common.scale_index``), asks N questions through
gradio_client, and reads the app's RSS and peak RSS (VmHWM in /proc/<pid>/status, children
included) after start-up, after the first answer and after N answers. Run twice: with
``--no-index`` (serving only) and as ``make run`` starts it (the index is brought up to date
first, here with nothing to do).

Target (issue #11): peak RSS <= 1.0 GB serving 100k chunks over 20 answers.

Usage: .venv/bin/python benchmarks/bench_memory.py [--quick] [--size 100000] [--questions 20]
       [--no-record]
"""

from __future__ import annotations

import argparse
import subprocess
import time
import urllib.request
from pathlib import Path

from _common import (ASSISTANT_BIN, NEWSQA, ROOT, WIKINEWS, fmt, questions, record,
                     require_datasets, scale_index, table)
from bench_coldstart import env, free_port


def proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except OSError:
            pass
    return out


def memory(pid: int) -> tuple[float, float]:
    """(RSS MB, peak RSS MB) summed over the process and its children."""
    rss = hwm = 0.0
    for p in proc_tree(pid):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1]) / 1024
    return rss, hwm


def serve_and_ask(settings, qs: list[str], no_index: bool) -> dict:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [ASSISTANT_BIN, "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir),
           "serve", "--port", str(port)] + (["--no-index"] if no_index else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT)
    res: dict = {}
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the app exited with {proc.returncode}: {' '.join(cmd)}")
            if time.perf_counter() - t0 > 900:
                raise SystemExit("the app did not start within 900 s")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        res["start_s"] = time.perf_counter() - t0
        res["after_start"] = memory(proc.pid)
        client = Client(url, verbose=False)
        client.predict(qs[0], api_name="/ask")
        res["after_first"] = memory(proc.pid)
        lat = []
        for q in qs[1:]:
            t1 = time.perf_counter()
            client.predict(q, api_name="/ask")
            lat.append(time.perf_counter() - t1)
        res["after_all"] = memory(proc.pid)
        res["mean_s"] = sum(lat) / len(lat) if lat else float("nan")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k chunks, 5 questions; records nothing")
    parser.add_argument("--size", type=int, default=None, help="chunks in the index")
    parser.add_argument("--questions", type=int, default=None)
    parser.add_argument("--serve-only", action="store_true", help="skip the run with the index update")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    require_datasets(NEWSQA, WIKINEWS)
    size = args.size or (5000 if args.quick else 100_000)
    nq = args.questions or (5 if args.quick else 20)
    settings, report = scale_index(size)
    qs = questions(nq)
    rows = []
    for no_index in ([True] if args.serve_only else [True, False]):
        res = serve_and_ask(settings, qs, no_index)
        label = "`assistant serve --no-index`" if no_index else "`assistant serve` (index update first)"
        peak = res["after_all"][1]
        rows.append([label, f"{report.chunks:,}", fmt(res["start_s"], 1),
                     fmt(res["after_start"][0], 0), fmt(res["after_first"][0], 0),
                     fmt(res["after_all"][0], 0), fmt(peak, 0), fmt(res["mean_s"], 2),
                     "<= 1,024 MB", "met" if peak <= 1024 else "NOT met"])
        print(f"{label}: peak RSS {peak:.0f} MB (start {res['start_s']:.1f} s)", flush=True)
    out = table(["app", "chunks", "start s", "RSS after start MB", "RSS after 1st answer MB",
                 f"RSS after {nq} answers MB", "peak RSS MB", "s per answer", "target", "result"], rows)
    print()
    print(out)
    body = (f"`benchmarks/bench_memory.py{' --quick' if args.quick else ''}`: the app over the "
            f"{report.chunks:,}-chunk scale index ({report.articles:,} articles), {nq} questions "
            f"through gradio_client; RSS from /proc (VmRSS, VmHWM), children included.\n\n" + out)
    record("Memory", body, enabled=not (args.quick or args.no_record))


if __name__ == "__main__":
    main()
