"""A small load run through real HTTP: 8 concurrent gradio_client clients × 3 questions."""

import shutil
import sys
from pathlib import Path

from tests.conftest import SEED, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def test_load_8_clients_3_questions_zero_errors(tmp_path, settings_factory):
    from load import run_load

    from assistant import Assistant
    from assistant.webapp import launch

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    assistant = Assistant(settings_factory(corpus, index_dir=tmp_path / "index"))
    assistant.build_index()
    demo = launch(assistant, host="127.0.0.1", port=free_port(), block=False)
    try:
        result = run_load(demo.local_url.rstrip("/"), clients=8, questions=3)
    finally:
        demo.close()
    assert result.errors == []
    assert len(result.latencies) == 24
    summary = result.summary()
    assert summary["p95_ms"] >= summary["p50_ms"] > 0
