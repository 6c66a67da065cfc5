"""Exceptions raised by the assistant.

    AssistantError                 base: every error the library raises on purpose
    ├── ConfigError                a setting has a bad value (names the value and the options)
    ├── QuestionError              empty, oversized or unusable question
    ├── CorpusError                the corpus folder is missing or holds no readable article
    ├── ArticleError               one article file cannot be read or parsed (it is skipped)
    ├── IndexMissingError          no index has been built yet (names the command to build it)
    ├── IndexBusyError             another `assistant index` holds the lock
    ├── UploadError                an uploaded file was refused (name, type or size)
    ├── FetchError                 a URL or feed was refused or could not be fetched (one-line reason)
    └── GeneratorError             an LLM backend failed (timeout, server error, bad output)
        └── MissingDependencyError an optional package is not installed (says what to install)
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of every error the assistant raises on purpose."""


class ConfigError(AssistantError):
    """A setting has a bad value."""


class QuestionError(AssistantError):
    """The question cannot be answered as asked (empty, too long, no words)."""


class CorpusError(AssistantError):
    """The corpus folder is missing or unusable."""


class ArticleError(AssistantError):
    """One article file cannot be read or parsed."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMissingError(AssistantError):
    """No index exists yet for these settings."""


class IndexBusyError(AssistantError):
    """Another indexing process holds the index lock."""


class UploadError(AssistantError):
    """An uploaded file was refused."""


class FetchError(AssistantError):
    """A URL, page or feed was refused or could not be fetched."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class GeneratorError(AssistantError):
    """An answer generator (LLM backend) failed."""


class MissingDependencyError(GeneratorError):
    """An optional dependency is not installed."""
