import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED, SEED_QUESTION, SEED_SENTENCE, write

BIN = Path(sys.executable).parent / "assistant"


def run(*args, env=None, check=True):
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=full_env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cli_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    write(corpus / SEED.name, SEED.read_text(encoding="utf-8"))
    write(corpus / "broken.json", "[{")
    return corpus, root / "index"


def test_cli_index_json_summary_then_ask_json(cli_dirs):
    corpus, index = cli_dirs
    out = run("--corpus", str(corpus), "--index", str(index), "index", "--json")
    summary = json.loads(out.stdout)
    assert {"articles", "chunks", "added", "updated", "removed", "unchanged", "skipped", "seconds"} <= set(summary)
    assert summary["articles"] == 1 and summary["skipped"][0]["path"] == "broken.json"
    again = json.loads(run("--corpus", str(corpus), "--index", str(index), "index", "--json").stdout)
    assert again["unchanged"] == 1 and again["embedded"] == 0

    # Settings from the environment work the same as flags.
    env = {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index)}
    data = json.loads(run("ask", "--json", SEED_QUESTION, env=env).stdout)
    assert data["question"] == SEED_QUESTION and not data["abstained"]
    assert SEED_SENTENCE in data["answer"]
    assert data["citations"][0]["n"] == 1 and data["citations"][0]["date"] == "2025-08-27"


def test_cli_ask_prints_cited_answer_and_sources(cli_dirs):
    corpus, index = cli_dirs
    run("--corpus", str(corpus), "--index", str(index), "index")
    out = run("--corpus", str(corpus), "--index", str(index), "ask", SEED_QUESTION).stdout
    assert "[1]" in out and "Sources:" in out and SEED_SENTENCE in out


def test_python_dash_m_assistant_same_cli(cli_dirs):
    corpus, index = cli_dirs
    proc = subprocess.run([sys.executable, "-m", "assistant", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "index" in proc.stdout and "serve" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["ask", ""], "the question is empty"),
    (["ask", "x" * 100_000], "the limit is 2,000"),
    (["ask", "--since", "yesterday", "what happened?"], "unknown date 'yesterday'"),
    (["--generator", "gpt9", "ask", "hi"], "Invalid value for '--generator'"),
])
def test_cli_bad_input_clear_error_exit_1_or_2(cli_dirs, args, message):
    corpus, index = cli_dirs
    proc = run("--corpus", str(corpus), "--index", str(index), *args, check=False)
    assert proc.returncode in (1, 2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_missing_index_names_command(tmp_path):
    proc = run("--corpus", str(tmp_path), "--index", str(tmp_path / "none"), "ask", "what?", check=False)
    assert proc.returncode == 1 and "assistant index" in proc.stderr


def test_cli_missing_corpus_clear_error(tmp_path):
    proc = run("--corpus", str(tmp_path / "nothing"), "--index", str(tmp_path / "i"), "index", check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
