import json

import pytest

from assistant.evaluate import fact_metrics, format_table, run_eval
from tests.conftest import SEED_QUESTION, write


def test_fact_metrics_fact_split_across_two_chunks_is_a_miss():
    fact = "The council approved the budget on Monday."
    m = fact_metrics(["The council approved", "the budget on Monday."], [fact])
    assert m["hits@10"] == 0.0 and m["recall@10"] == 0.0


def test_fact_metrics_ignores_spaces_and_newlines():
    m = fact_metrics(["Intro. The  council\napproved the budget. Outro."], ["The council approved the budget."])
    assert m["hits@4"] == 1.0 and m["mrr@10"] == 1.0


def test_fact_metrics_first_hit_at_rank_3_gives_mrr_one_third():
    m = fact_metrics(["a", "b", "fact one here", "fact two here"], ["fact one here", "fact two here"])
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["hits@4"] == 1.0
    # Upstream MAP: (1/3 + 1/4) / min(2, 10)
    assert m["map@10"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert m["recall@10"] == 1.0 and m["all@10"] == 1.0


def test_fact_metrics_partial_evidence_recall_and_all():
    m = fact_metrics(["x", "fact one"] + ["y"] * 9 + ["fact two"], ["fact one", "fact two"])
    assert m["recall@10"] == 0.5 and m["all@10"] == 0.0  # the 12th passage does not count


def test_run_eval_small_dataset_with_baselines(tmp_path, settings_factory):
    data = tmp_path / "data"
    articles = [
        {"title": "Harbour reopens", "author": None, "source": "Coast News", "published_at": "2023-10-02T00:00:00+00:00",
         "category": None, "url": None, "body": "The harbour reopened on Monday after storm damage. Boats returned."},
        {"title": "Budget passes", "author": None, "source": "City Daily", "published_at": "2023-11-05T00:00:00+00:00",
         "category": None, "url": None, "body": "The council approved a budget for schools. Teachers welcomed it."},
    ]
    queries = [
        {"query": "When did the harbour reopen according to Coast News?", "answer": "Monday",
         "question_type": "inference_query",
         "evidence_list": [{"title": "Harbour reopens", "fact": "The harbour reopened on Monday after storm damage."}]},
        {"query": "Who won the 1966 football world cup final?", "answer": "Insufficient information.",
         "question_type": "null_query", "evidence_list": []},
    ]
    write(data / "corpus.json", json.dumps(articles))
    write(data / "MultiHopRAG.json", json.dumps(queries))
    settings = settings_factory(tmp_path, index_dir=tmp_path / "eval-index")
    results = run_eval(data, settings, baseline=True)
    assert results["ours"]["hits@4"] == 1.0 and results["ours"]["recall@10"] == 1.0
    assert set(results["baselines"]) == {"bm25", "naive"}
    assert results["baselines"]["naive"]["hits@10"] == 1.0
    assert results["ours"]["null_abstain"] == 1.0 and results["ours"]["false_abstain"] == 0.0
    assert set(results["by_type"]) == {"inference_query", "null_query"}
    assert "hits@4" in format_table(results)
    again = run_eval(data, settings)  # incremental: nothing embedded the second time
    assert again["index"]["embedded"] == 0


@pytest.mark.slow
def test_eval_smoke_newsqa_mini_limit_20(newsqa_index, newsqa_sample, tmp_path):
    from click.testing import CliRunner

    from assistant.cli import main

    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["--corpus", "unused", "eval", str(newsqa_sample), "--limit", "20",
                                       "--index", str(newsqa_index.settings.index_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["index"]["embedded"] == 0  # reused the session's index
    assert data["ours"]["queries"] == 20 and data["ours"]["hits@10"] >= 0.8
    assert "hits@10" in result.output


@pytest.mark.slow
def test_seed_question_at_scale_answered_from_seed_cited_first(newsqa_index):
    answer = newsqa_index.ask(SEED_QUESTION)
    assert not answer.abstained
    first = answer.citations[0]
    assert first.date == "2025-08-27" and first.title.startswith("Welcoming the Tajik")
    assert "artificial intelligence and the Digital Code" in answer.answer.split("[1]")[0]
