"""The public entry points: ``Assistant`` (configured pipeline) and ``answer()`` (one call).

The pipeline is a LangChain Runnable chain: condense the question with the chat history,
retrieve passages, generate a cited answer. Front-ends (CLI, Gradio app, scripts) call
``Assistant.ask`` or ``Assistant.stream`` and hold no retrieval or prompt logic.
The parts are passed in or built from settings: an ``Embedder`` (embedding.py), a ``Store``
(store.py); the ``Indexer`` and ``Searcher`` are built over them. The model is loaded once
per process and reused across questions.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Callable, Iterator

from .answering import Answer, ExtractiveGenerator, Generator, check_question, condense_question
from .config import Settings
from .conversation import check_history
from .embedding import Embedder, SentenceTransformerEmbedder
from .indexer import Annotator, Indexer, IndexReport, crash_hook
from .retrieval import Filters, Retriever
from .search import Searcher
from .store import IndexStats, Store
from .timeframe import Reference, TimeFrame, has_topic, temporal_intent


def _has_window(question: str) -> bool:
    import datetime as dt

    from .timeframe import find_timeframe

    frame = find_timeframe(question, dt.date.today())
    return bool(frame and (frame.hard or frame.recent))


def time_note(reference: Reference, frame: TimeFrame | None) -> str:
    """"As of 2025-08-27, the newest article; last week = 2025-08-18 to 2025-08-24"."""
    note = reference.describe()
    note = note[0].upper() + note[1:]
    if frame is not None and frame.relative and (frame.start or frame.end):
        span = (frame.date_from if frame.start == frame.end else
                f"{frame.date_from or '…'} to {frame.date_to or '…'}")
        note += f"; {frame.phrase} = {span}"
    return note


class Assistant:
    """A question-answering assistant over one corpus and index."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 store: Store | None = None, generator: Generator | None = None,
                 annotator: Annotator | None = None, **overrides):
        self.settings = (settings or Settings.from_env()).replace(**overrides)
        # Question analysis needs spaCy's pipeline (a few seconds to load): start it now, in
        # the background, so it is ready by the first question.
        from .nlp import preload

        preload()
        self.embedder = embedder or SentenceTransformerEmbedder(self.settings.model_path(),
                                                                self.settings.embed_batch_size)
        self.store = store or Store(self.settings, embedder_name=self.embedder.name)
        if annotator is None:
            from .annotators import default_annotator

            annotator = default_annotator()
        self.indexer = Indexer(self.store, self.embedder, self.settings, annotator=annotator,
                               crash=crash_hook(self.settings))
        self.searcher = Searcher(self.store)
        self.retriever = Retriever(self.searcher, self.embedder, self.settings)
        self._generator = generator
        self._generators: dict[str, Generator] = {}
        self._chain = None

    def preload(self) -> None:
        """Start loading what answering needs (the embedding model; spaCy is already loading)
        in the background and return at once: a front-end calls it before its other start-up
        work. Commands that need no model (a no-change index run, --help) do not call it."""
        start = getattr(self.embedder, "preload", None)
        if start is not None:  # an Embedder passed in need not have it
            start()

    # -- indexing -------------------------------------------------------------------------
    def build_index(self, corpus_dir: str | Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Index the corpus folder incrementally (see ``Indexer.build``) and refresh its
        wire-copy groups (syndication.py): every front-end's build goes through here."""
        return self.indexer.build(corpus_dir, progress=progress)

    @property
    def index(self) -> Store:
        """The store (the name front-ends used before the split)."""
        return self.store

    def stats(self) -> IndexStats:
        return self.searcher.snapshot().stats

    # -- answering ------------------------------------------------------------------------
    def generator(self, name: str | None = None) -> Generator:
        """The answer generator by name (None: the configured one)."""
        if self._generator is not None and name is None:
            return self._generator
        name = name or self.settings.generator
        if name not in self._generators:
            if name == "extractive":
                self._generators[name] = self._extractive()
            else:
                from .generation import make_generator

                self._generators[name] = make_generator(name, self.settings, self.embedder,
                                                        fallback=self._extractive())
        return self._generators[name]

    def _extractive(self) -> ExtractiveGenerator:
        return ExtractiveGenerator(self.settings.answer_sentences, self.settings.abstain_threshold)

    @property
    def chain(self):
        """The pipeline as a LangChain Runnable: {question, history, ...} -> Answer."""
        if self._chain is None:
            from langchain_core.runnables import RunnableLambda

            self._chain = (RunnableLambda(self._condense_step, name="condense")
                           | RunnableLambda(self._retrieve_step, name="retrieve")
                           | RunnableLambda(self._generate_step, name="generate"))
        return self._chain

    def ask(self, question: str, history=None, *, k: int | None = None,
            filters: Filters | None = None, generator: str | None = None,
            on_text: Callable[[str], None] | None = None,
            on_searched: Callable[[str], None] | None = None,
            as_of: str | None = None) -> Answer:
        """Answer one question (with optional chat history) with citations. as_of
        (YYYY-MM-DD or "today") is "now" for relative dates; default: settings.as_of, else the
        newest article date."""
        return self.chain.invoke({"question": question, "history": history, "k": k,
                                  "filters": filters, "generator": generator,
                                  "on_text": on_text, "on_searched": on_searched, "as_of": as_of})

    def digest(self, *, since: str | None = None, until: str | None = None,
               topic: str | None = None, as_of: str | None = None, max_stories: int = 10):
        """The main stories of a period (digest.py): since/until as YYYY-MM-DD or words."""
        from .digest import build_digest

        return build_digest(self.retriever, self.embedder, reference=self.retriever.reference(as_of),
                            since=since, until=until, topic=topic, max_stories=max_stories)

    def stream(self, question: str, history=None, **kwargs) -> Iterator[tuple[str, object]]:
        """Events while answering: ("searched", str), ("text", str) pieces, ("answer", Answer)."""
        events: queue.Queue = queue.Queue()
        done = object()

        def run():
            try:
                answer = self.ask(question, history, on_text=lambda t: events.put(("text", t)),
                                  on_searched=lambda q: events.put(("searched", q)), **kwargs)
                events.put(("answer", answer))
            except BaseException as exc:  # re-raised in the consumer's thread
                events.put(("error", exc))
            finally:
                events.put(done)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        while True:
            item = events.get()
            if item is done:
                break
            if item[0] == "error":
                raise item[1]
            yield item
        thread.join()

    def condense(self, question: str, history=None, generator: str | None = None) -> str:
        """The standalone question that will be searched for."""
        question = check_question(question, self.settings.max_question_chars)
        gen = self.generator(generator)
        condense = getattr(gen, "condense", None)
        return condense(question, history) if condense and history else condense_question(question, history)

    # Chain steps (each takes and returns a dict, except the last).
    def _condense_step(self, state: dict) -> dict:
        question = check_question(state["question"], self.settings.max_question_chars)
        history = check_history(state.get("history"), max_chars=self.settings.max_question_chars,
                                max_turns=self.settings.max_history_turns)
        searched = self.condense(question, history, state.get("generator"))
        if state.get("on_searched"):
            state["on_searched"](searched)
        return {**state, "question": question, "history": history, "searched_for": searched}

    def _retrieve_step(self, state: dict) -> dict:
        k = state.get("k")
        intent = temporal_intent(state["searched_for"])
        if intent is None and not has_topic(state["searched_for"]) and _has_window(state["searched_for"]):
            intent = "latest"  # "what happened last week?": the newest articles in the window
        if intent and not k:  # a dated list draws on more articles than one answer
            k = min(2 * self.settings.k, 50)
        retrieval = self.retriever.retrieve(state["searched_for"], k=k,
                                            filters=state.get("filters"), as_of=state.get("as_of"))
        return {**state, "retrieval": retrieval, "intent": intent}

    def _generate_step(self, state: dict) -> Answer:
        retrieval = state["retrieval"]
        # Timelines and "latest" questions get dated lists (timeline.py) whoever is configured.
        generator = self._temporal_generator(state.get("intent")) or self.generator(state.get("generator"))
        answer = generator.generate(state["question"], retrieval, on_text=state.get("on_text"))
        answer.searched_for = state["searched_for"]
        frame = retrieval.analysis.timeframe
        if retrieval.reference and (state.get("intent") or (frame and (frame.relative or frame.recent))):
            answer.as_of = retrieval.reference.date.isoformat()
            answer.time_note = time_note(retrieval.reference, frame)
        return answer

    def _temporal_generator(self, intent: str | None) -> Generator | None:
        if intent not in ("latest", "timeline"):
            return None
        from .timeline import LatestGenerator, TimelineGenerator

        s = self.settings
        if intent == "latest":
            return LatestGenerator(s.abstain_threshold, s.recency_margin, s.answer_sentences,
                                   ratio=s.relevance_ratio)
        return TimelineGenerator(s.abstain_threshold, s.recency_margin, per_article=s.timeline_per_article,
                                 max_events=s.timeline_events, ratio=s.timeline_ratio)


_DEFAULT: Assistant | None = None
_DEFAULT_LOCK = threading.Lock()


def answer(question: str, history=None, **kwargs) -> Answer:
    """Answer a question from the default index (settings from the environment)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Assistant()
    return _DEFAULT.ask(question, history, **kwargs)
