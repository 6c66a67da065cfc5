import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED, SEED_QUESTION, SEED_SENTENCE, write

ROOT = Path(__file__).resolve().parent.parent
BIN = [sys.executable, "-m", "assistant"]  # this checkout's code, from any folder


def run(*args, env=None, check=True, cwd=None):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([*BIN, *args], capture_output=True, text=True, env=full_env, timeout=300,
                          cwd=cwd)
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


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
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


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
def test_cli_ask_prints_cited_answer_and_sources(cli_dirs):
    corpus, index = cli_dirs
    run("--corpus", str(corpus), "--index", str(index), "index")
    proc = run("--corpus", str(corpus), "--index", str(index), "ask", SEED_QUESTION)
    assert "[1]" in proc.stdout and "Sources:" in proc.stdout and SEED_SENTENCE in proc.stdout
    assert "Loading weights" not in proc.stderr and "it/s" not in proc.stderr  # no model-load bars


def test_cli_import_and_ask_help_load_no_gradio_or_model():
    # The CLI's import and `ask --help` must not pay for the web app or the model.
    code = ("import sys; from click.testing import CliRunner; import assistant.cli as c; "
            "r = CliRunner().invoke(c.main, ['ask', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('gradio', 'torch', 'sentence_transformers', 'chromadb', "
            "'spacy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
def test_cli_index_no_change_embedded_imports_no_chroma_or_model(cli_dirs):
    # A no-change run reads the manifest and the side store's generation: importing chromadb
    # alone took 4-5 s of it.
    corpus, index = cli_dirs
    run("--corpus", str(corpus), "--index", str(index), "index")
    code = ("import sys; from click.testing import CliRunner; import assistant.cli as c; "
            f"r = CliRunner().invoke(c.main, ['--corpus', {str(corpus)!r}, '--index', {str(index)!r}, "
            "'index']); assert r.exit_code == 0, r.output; print(r.output.strip()); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'chromadb') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    *output, modules = proc.stdout.strip().splitlines()
    assert "0 added, 0 updated, 0 removed, 1 unchanged" in output[0]
    assert any(line.startswith("skipped broken.json") for line in output)  # still reported
    assert modules == "[]"


def test_python_dash_m_assistant_same_cli(cli_dirs):
    corpus, index = cli_dirs
    proc = subprocess.run([sys.executable, "-m", "assistant", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "index" in proc.stdout and "serve" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["ask", ""], "the question is empty"),
    (["ask", "x" * 100_000], "the limit is 2,000"),
    (["ask", "--since", "soonish", "what happened?"], "unknown date 'soonish'"),
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


@pytest.mark.slow  # a subprocess or the local LLM: the integration tier
def test_cli_shared_options_after_the_subcommand(cli_dirs):
    corpus, index = cli_dirs
    out = run("index", "--corpus", str(corpus), "--index", str(index), "--json",
              "--log-level", "info")
    assert json.loads(out.stdout)["articles"] == 1
    data = json.loads(run("ask", SEED_QUESTION, "--json", "--index", str(index),
                          "--corpus", str(corpus)).stdout)
    assert SEED_SENTENCE in data["answer"]


def test_cli_from_another_folder_names_the_index_and_leaves_nothing(tmp_path):
    """Run from an unrelated folder: the default index is the project's, and asking with a
    missing --index names its absolute path and creates nothing."""
    missing = tmp_path / "none"
    proc = run("ask", "what?", "--index", "none", check=False, cwd=tmp_path)
    assert proc.returncode == 1 and f"no index at {missing}" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _deep(path):
    path.write_text("[" * 5000 + "]" * 5000)
    return str(path)


@pytest.mark.parametrize("make,message", [
    (lambda p: write(p / "h.json", "42") and str(p / "h.json"), "must be a list of [question, answer]"),
    (lambda p: _deep(p / "deep.json"), "nested more than 8 levels"),
    (lambda p: "/dev/zero", "over the 1,000,000-byte limit"),
    (lambda p: write(p / "big.json", json.dumps([["x" * 3000, ""]])) and str(p / "big.json"),
     "history item 1 is 3,000 characters long; the limit is 2,000"),
])
def test_cli_history_hostile_clear_error(cli_dirs, tmp_path, make, message):
    corpus, index = cli_dirs
    proc = run("ask", "--history", make(tmp_path), "what about x?", "--corpus", str(corpus),
               "--index", str(index), check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("env,message", [
    ({"ASSISTANT_RRF_K": "-20"}, "rrf_k must be between 0 and 10,000, got -20"),
    ({"ASSISTANT_EMBED_BATCH_SIZE": "0"}, "embed_batch_size must be between 1 and 4,096"),
    ({"ASSISTANT_INDEX_DIR": "/etc/passwd"}, "is a file, not a folder"),
    ({"ASSISTANT_PORT": "80000"}, "port must be between 1 and 65,535"),
    ({"ASSISTANT_HOST": "999.1.1.1"}, "host must be an IP address or a host name"),
])
def test_cli_bad_setting_one_line_error(env, message):
    proc = run("serve", "--no-index", env=env, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_serve_busy_port_one_line(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = run("serve", "--no-index", "--port", str(port), "--index", str(tmp_path / "i"),
                   "--corpus", str(tmp_path), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "--port or ASSISTANT_PORT" in proc.stderr
