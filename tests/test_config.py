"""Settings: every bad value refused with a one-line message naming the setting and its range;
default paths belong to the project, not the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings, find_config_file, project_root
from assistant.errors import ConfigError
from tests.conftest import ROOT

BAD = [
    ("RRF_K", "-20", "rrf_k must be between 0 and 10,000, got -20"),
    ("EMBED_BATCH_SIZE", "0", "embed_batch_size must be between 1 and 4,096, got 0"),
    ("PORT", "80000", "port must be between 1 and 65,535, got 80000"),
    ("HOST", "999.1.1.1", "host must be an IP address or a host name"),
    ("HOST", "bad host", "host must be an IP address or a host name"),
    ("CONCURRENCY", "0", "concurrency must be between 1 and 256, got 0"),
    ("MAX_UPLOAD_BYTES", "-1", "max_upload_bytes must be between 1 and"),
    ("ABSTAIN_THRESHOLD", "nan", "abstain_threshold must be a finite number"),
    ("ABSTAIN_THRESHOLD", "inf", "abstain_threshold must be a finite number"),
    ("PER_ARTICLE_CAP", "0", "per_article_cap must be between 1 and 50, got 0"),
    ("K", "100000", "k must be between 1 and 50"),
    ("LLM_TIMEOUT", "0", "llm_timeout must be between 0.1 and"),
    ("CHUNK_CHARS", "10", "chunk_chars must be between 100 and 4,000"),
    ("MAX_UPLOADS", "-5", "max_uploads must be between 0 and"),
    ("MAX_HISTORY_TURNS", "5000", "max_history_turns must be between 0 and 1,000"),
    ("LOG_LEVEL", "loud", "log_level must be one of DEBUG"),
    ("COLLECTION", "a", "collection must be 3-63 letters"),
    ("CRASH_POINT", "later", "crash_point must be 'written' or 'committed'"),
    ("GENERATOR", "gpt9", "unknown generator 'gpt9'"),
    ("CHROMA_URL", "ftp://x", "chroma_url must start with http://"),
    ("PORT", "abc", "ASSISTANT_PORT='abc' is not a valid int"),
    ("ALLOW_ANONYMOUS_WRITES", "maybe", "is not a valid bool"),
    ("INDEX_DIR", __file__, "is a file, not a folder"),
]


@pytest.mark.parametrize("name,value,message", BAD, ids=[f"{n}={v}"[:40] for n, v, _ in BAD])
def test_settings_bad_value_one_line_error(name, value, message):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env={f"ASSISTANT_{name}": value})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_settings_good_values_accepted():
    s = Settings.from_env(env={"ASSISTANT_HOST": "0.0.0.0", "ASSISTANT_RRF_K": "0",
                               "ASSISTANT_ALLOW_ANONYMOUS_WRITES": "yes",
                               "ASSISTANT_LOG_LEVEL": "debug"})
    assert s.host == "0.0.0.0" and s.rrf_k == 0 and s.allow_anonymous_writes


def test_default_paths_belong_to_the_project_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(env={})
    assert s.corpus_dir == ROOT / "corpus" and s.index_dir == ROOT / "index"
    # A path given relative is relative to the working folder, made absolute.
    assert Settings.from_env(env={"ASSISTANT_INDEX_DIR": "idx"}).index_dir == tmp_path / "idx"
    assert list(tmp_path.iterdir()) == []


def test_config_file_found_upward_sets_the_project(tmp_path, monkeypatch):
    (tmp_path / "assistant.toml").write_text('index_dir = "data/index"\nk = 7\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_config_file() == tmp_path / "assistant.toml"
    s = Settings.from_env(env={})
    assert s.index_dir == tmp_path / "data" / "index" and s.corpus_dir == tmp_path / "corpus"
    assert s.k == 7 and Settings.from_env(env={"ASSISTANT_K": "3"}).k == 3  # env wins
    assert project_root(find_config_file()) == tmp_path


def test_config_file_bad_setting_names_the_file(tmp_path, monkeypatch):
    (tmp_path / "assistant.toml").write_text('rrf_k = -1\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="rrf_k must be between 0"):
        Settings.from_env(env={})
    (tmp_path / "assistant.toml").write_text('rrf_k = \n')
    with pytest.raises(ConfigError, match=f"cannot read {tmp_path / 'assistant.toml'}"):
        Settings.from_env(env={})
