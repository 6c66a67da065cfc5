"""syndication.py: wire copies grouped into stories; retrieval cites one copy per story."""

from __future__ import annotations

import json

import pytest

from assistant.corpus import Article
from assistant.syndication import THRESHOLD, Stories, group, refresh_stories, signature, stories
from tests.conftest import needs_shared, write

BODY = ("The harbour board approved a new ferry terminal on Tuesday after two years of public "
        "hearings, clearing the way for construction to begin next spring. The terminal will "
        "replace the 1962 building on the north pier, which engineers said could no longer be "
        "repaired at a reasonable cost. Board chair Maria Okafor said the project would be paid "
        "for by port fees and a regional transport grant, not by local property taxes. "
        "Residents of the waterfront district raised concerns about traffic during the three "
        "years of building work, and the board promised a shuttle bus for commuters.")
OTHER = ("The city library will stay open until ten in the evening on weekdays from next month, "
         "the council announced on Monday. Librarians had asked for longer hours for years, "
         "pointing to queues of students at closing time during the exam season. The extension "
         "costs about 400,000 a year and is funded by cutting the budget for printed newspapers.")


def copy_of(body: str, outlet: str) -> str:
    return f"PORTVILLE ({outlet}) — " + body.replace("said", "told reporters") + \
        f"\nReporting by {outlet} staff."


def test_group_wire_copies_together_other_story_apart():
    texts = {"a": BODY, "b": copy_of(BODY, "Wire One"), "c": copy_of(BODY, "Daily Two"), "d": OTHER}
    groups = group({k: signature(v).hashvalues for k, v in texts.items()})
    assert groups["a"] == groups["b"] == groups["c"] == "a"
    assert groups["d"] == "d"


def _group_by_definition(signatures, threshold=THRESHOLD):
    """The banded relation written out pair by pair: two articles sharing all rows of one
    band, whose signatures agree on at least threshold of their values, are one story."""
    from assistant.syndication import BANDS, ROWS

    keys = sorted(signatures)
    story = {k: k for k in keys}
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            x, y = signatures[a], signatures[b]
            banded = any((x[k * ROWS:(k + 1) * ROWS] == y[k * ROWS:(k + 1) * ROWS]).all() for k in range(BANDS))
            if banded and (x == y).mean() >= threshold:
                old, new = max(story[a], story[b]), min(story[a], story[b])
                story = {k: (new if s == old else s) for k, s in story.items()}
    return story


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_equals_banded_relation_pair_by_pair(seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, size=(40, 128), dtype=np.uint64)
    signatures = {}
    for i in range(40):
        for copy in range(int(rng.integers(1, 5))):  # 1-4 copies, each with its own edits
            sig = base[i].copy()
            edited = rng.random(128) < rng.uniform(0.0, 0.9)
            sig[edited] = rng.integers(0, 2**63, size=int(edited.sum()), dtype=np.uint64)
            signatures[f"s{i:02d}-{copy}"] = sig
    got = group(signatures)
    assert got == _group_by_definition(signatures)
    assert 1 < len(set(got.values())) < len(got)  # some copies grouped, not all in one


def test_stories_others_lists_other_copies_oldest_first():
    articles = {"a": {"title": "T", "source": "A", "date": "2026-11-02", "url": "http://a/x"},
                "b": {"title": "T", "source": "B", "date": "2026-11-01", "url": None},
                "c": {"title": "U", "source": "C", "date": None, "url": None}}
    s = Stories(articles, {"a": "a", "b": "a", "c": "c"})
    assert [m.source for m in s.others("a")] == ["B"]
    assert s.others("b")[0].to_dict() == {"title": "T", "source": "A", "date": "2026-11-02", "url": "http://a/x"}
    assert s.others("c") == [] and s.story_of("zz") == "zz"


def test_refresh_stories_stores_groups_and_reuses_signatures(tmp_path, settings_factory):
    settings = settings_factory(tmp_path / "corpus")
    arts = [Article(id=k, path=f"{k}.md", title="t", source=k, date=None, url=None, text=t)
            for k, t in (("a", BODY), ("b", copy_of(BODY, "B")), ("d", OTHER))]
    first = refresh_stories(settings, arts)
    assert first.story_of("b") == "a" and first.story_of("d") == "d"
    assert stories(settings).story_of("b") == "a"  # read back from the file
    data = json.loads((settings.index_dir / f"stories-{settings.collection}.json").read_text())
    assert data["threshold"] == THRESHOLD and set(data["articles"]) == {"a", "b", "d"}
    again = refresh_stories(settings, arts[:1] + arts[2:])  # b deleted
    assert again.others("a") == [] and stories(settings).others("a") == []


def test_syndication_threshold_on_wikinews_copies_test_half_precision_recall():
    needs_shared("datasets", "wikinews-2000")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from syndication_eval import build_set, pair_scores

    docs, story, half = build_set(300)
    test = [k for k in docs if not half[story[k]]]
    g = group({k: signature(docs[k]).hashvalues for k in test})
    precision, recall = pair_scores(g, story, test)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_ask_cites_one_copy_per_story_with_also_in(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "courier.md", "---\ntitle: Harbour board approves ferry terminal\nsource: "
          "Coast Courier\ndate: 2026-11-20\nurl: https://courier.example/ferry\n---\n" + BODY)
    write(corpus / "wire.md", "---\ntitle: Ferry terminal approved\nsource: Wire One\ndate: "
          "2026-11-21\nurl: https://wire.example/ferry\n---\n" + copy_of(BODY, "Wire One"))
    write(corpus / "library.md", "---\ntitle: Library hours\nsource: Metro Daily\ndate: "
          "2026-11-19\n---\n" + OTHER)
    assistant = make_assistant(corpus)
    assistant.build_index()
    result = assistant.ask("Who will pay for the new ferry terminal?")
    cited = {c.article_id for c in result.citations}
    retrieved_sources = {p.chunk.source for p in assistant.retriever.retrieve(
        "Who will pay for the new ferry terminal?").passages}
    assert not {"Coast Courier", "Wire One"} <= retrieved_sources  # one copy of the story
    assert len(cited) == 1
    first = result.to_dict()["citations"][0]
    other = "Wire One" if first["source"] == "Coast Courier" else "Coast Courier"
    assert [m["source"] for m in first["also_in"]] == [other]
    assert set(first["also_in"][0]) == {"title", "source", "date", "url"}
    from assistant.webapp import render_sources

    assert f"Also reported by" in render_sources(result) and other in render_sources(result)


def test_build_index_every_build_path_refreshes_groups(make_assistant, tmp_path):
    from assistant.watch import Syncer

    corpus = tmp_path / "corpus"
    write(corpus / "courier.md", "---\ntitle: Harbour board approves ferry terminal\nsource: "
          "Coast Courier\ndate: 2026-11-20\n---\n" + BODY)
    write(corpus / "library.md", "---\ntitle: Library hours\nsource: Metro Daily\n---\n" + OTHER)
    assistant = make_assistant(corpus)
    assistant.build_index()  # the path the chat's upload and rebuild buttons take
    question = "Who will pay for the new ferry terminal?"
    assert assistant.ask(question).citations[0].also_in == []

    write(corpus / "wire.md", "---\ntitle: Ferry terminal approved\nsource: Wire One\n---\n"
          + copy_of(BODY, "Wire One"))
    assert Syncer(assistant).sync("watch: 1 change").ok  # what the watcher and the puller run
    ids = {r["path"]: aid for aid, r in assistant.store.article_records().items()}
    assert stories(assistant.settings).story_of(ids["wire.md"]) == stories(assistant.settings).story_of(ids["courier.md"])
    [cited] = {c.article_id: c for c in assistant.ask(question).citations}.values()
    assert [m["source"] for m in cited.also_in] == [
        "Wire One" if cited.source == "Coast Courier" else "Coast Courier"]

    (corpus / "wire.md").unlink()
    assistant.build_index()
    assert [c.also_in for c in assistant.ask(question).citations] == [[]]
    assert ids["wire.md"] not in stories(assistant.settings).articles

    # An index built before story groups existed gets them on its next (no-change) build.
    (assistant.settings.index_dir / f"stories-{assistant.settings.collection}.json").unlink()
    assert assistant.build_index().unchanged == 2
    assert set(stories(assistant.settings).articles) == {ids["courier.md"], ids["library.md"]}
