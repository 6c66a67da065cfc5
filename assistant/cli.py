"""The `assistant` command: index | ask | digest | serve | eval. It parses, calls the library, and
turns library errors into click errors; nothing else lives here.

The shared options (``SHARED_OPTIONS``: --corpus, --index, --chroma-url, --generator,
--log-level) work before or after the subcommand: every command added to the group gets
them, and a value given after the subcommand wins.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from .config import GENERATORS, LOG_LEVELS, Settings, configure_logging
from .errors import AssistantError

log = logging.getLogger(__name__)


def _settings(ctx: click.Context, **overrides) -> Settings:
    try:
        settings = Settings.from_env(**{**(ctx.obj or {}),
                                        **{k: v for k, v in overrides.items() if v is not None}})
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    return settings


# (flags, settings name, click keyword arguments): one place to add an option every command takes.
SHARED_OPTIONS: list[tuple[tuple[str, ...], str, dict]] = [
    (("--corpus",), "corpus_dir", dict(
        type=click.Path(), help="Folder of articles [env ASSISTANT_CORPUS_DIR; default corpus/ "
        "of the project].")),
    (("--index",), "index_dir", dict(
        type=click.Path(), help="Folder of the persisted index [env ASSISTANT_INDEX_DIR; default "
        "index/ of the project].")),
    (("--chroma-url",), "chroma_url", dict(
        help="Use a Chroma server instead of the embedded store [env ASSISTANT_CHROMA_URL].")),
    (("--generator",), "generator", dict(
        type=click.Choice(GENERATORS),
        help="Who writes the answer [env ASSISTANT_GENERATOR; default extractive].")),
    (("--as-of",), "as_of", dict(
        metavar="YYYY-MM-DD|today", help="'Now' for relative dates such as 'last week' "
        "[env ASSISTANT_AS_OF; default: the newest article date].")),
    (("--log-level",), "log_level", dict(
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        help="Log detail on stderr [env ASSISTANT_LOG_LEVEL; default WARNING].")),
]


def _remember(ctx: click.Context, param: click.Parameter, value):
    """Store a shared option's value in ctx.obj (shared by the group and its subcommand)."""
    obj = ctx.ensure_object(dict)
    if value is not None:
        obj[param.name] = value
    return value


def _shared_params() -> list[click.Option]:
    return [click.Option([*flags, name], default=None, expose_value=False, callback=_remember,
                         **kwargs) for flags, name, kwargs in SHARED_OPTIONS]


class _Group(click.Group):
    """A group whose subcommands all accept the shared options (unless they define the flag)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        taken = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        cmd.params.extend(p for p in _shared_params() if not set(p.opts) & taken)
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             params=_shared_params())
@click.version_option(package_name="news-assistant")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Ask questions of a folder of news articles; every answer sentence is cited."""
    ctx.ensure_object(dict)


def _assistant(settings: Settings):
    from .api import Assistant

    return Assistant(settings)


@main.command("index")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--watch", is_flag=True,
              help="Then keep watching the corpus folder and index changes (Ctrl-C stops).")
@click.pass_context
def index_cmd(ctx: click.Context, as_json: bool, watch: bool) -> None:
    """Build or update the index from the corpus folder (incremental)."""
    settings = _settings(ctx)
    if watch:
        return _index_watch(settings)
    from tqdm import tqdm

    bar = tqdm(total=0, unit="chunk", desc="embedding", disable=as_json or not sys.stderr.isatty(),
               file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = _assistant(settings).build_index(progress=progress)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    if report.rebuilt:
        click.echo(report.rebuilt)
    click.echo(
        f"{report.articles} articles, {report.chunks} chunks: {report.added} added, "
        f"{report.updated} updated, {report.removed} removed, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped; {report.embedded} chunks embedded in {report.seconds:.1f} s"
    )
    for problem in report.skipped:
        click.echo(f"skipped {problem.path}: {problem.reason}")
    for problem in report.warnings:
        click.echo(f"warning {problem.path}: {problem.reason}")


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the structured answer as JSON.")
@click.option("-k", "--passages", "k", type=click.IntRange(1, 50), default=None,
              help="Number of passages to retrieve.")
@click.option("--history", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON file with the chat so far: [[question, answer], ...].")
@click.option("--since", default=None,
              help="Only articles dated on or after YYYY-MM-DD (or words: 'last week', 'March').")
@click.option("--until", default=None,
              help="Only articles dated on or before YYYY-MM-DD (or words: 'yesterday').")
@click.option("--outlet", "outlets", multiple=True, help="Only these outlets (repeatable).")
@click.pass_context
def ask(ctx: click.Context, question: str, as_json: bool, k, history, since, until, outlets) -> None:
    """Answer QUESTION from the indexed articles, with numbered sources."""
    from .retrieval import Filters

    import datetime as dt

    from .conversation import check_question
    from .timeframe import parse_bound

    settings = _settings(ctx)
    turns = _read_history(history, settings) if history else None
    try:  # bad input is refused before the index is looked for (or the model loaded)
        check_question(question, settings.max_question_chars)
        for bound, label in ((since, "from"), (until, "to")):  # readable dates? (words are
            parse_bound(bound, dt.date.today(), end=label == "to", label=label)  # resolved below)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    if not settings.chroma_url and not settings.index_dir.is_dir():
        # Checked here so that asking never creates an empty index folder.
        raise click.ClickException(f"no index at {settings.index_dir}: build it with "
                                   f"`assistant index` (corpus: {settings.corpus_dir})")
    try:
        assistant = _assistant(settings)
        assistant.preload()  # the model loads while the index is opened and the question parsed
        filters = Filters.parse(since, until, list(outlets) or None,
                                reference=assistant.retriever.reference().date if since or until else None)
        stream = not as_json and sys.stdout.isatty() and settings.generator != "extractive"
        result = assistant.ask(question, turns, k=k, filters=filters,
                               on_text=(lambda t: click.echo(t, nl=False)) if stream else None)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        if stream:
            click.echo("\n")
        if result.searched_for and result.searched_for != result.question:
            click.echo(f"(searched for: {result.searched_for})")
        if result.fallback:
            click.echo(f"(fallback to the extractive answer: {result.fallback_reason})")
        click.echo(str(result))


def _read_history(path: str, settings: Settings) -> list:
    """The --history file's turns: read with a byte bound (it may be /dev/zero), nesting
    bounded before parsing, shape and turn lengths checked."""
    from . import safejson
    from .conversation import check_history

    limit = settings.max_history_bytes
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read history file {path}: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        raise click.ClickException(f"history file {path} is over the {limit:,}-byte limit "
                                   "(ASSISTANT_MAX_HISTORY_BYTES)")
    try:
        data = safejson.loads(raw.decode("utf-8"), max_depth=8)
        return check_history(data, max_chars=settings.max_question_chars,
                             max_turns=settings.max_history_turns)
    except (ValueError, AssistantError) as exc:  # UnicodeDecodeError and JSON errors included
        raise click.ClickException(f"cannot read history file {path}: {exc}") from exc


@main.command()
@click.option("--since", default=None,
              help="First day: YYYY-MM-DD or words ('last week') [default: 6 days before --until].")
@click.option("--until", default=None, help="Last day [default: the reference date, see --as-of].")
@click.option("--topic", default=None, help="Only stories about this.")
@click.option("--stories", "max_stories", type=click.IntRange(1, 50), default=10,
              help="At most this many stories.")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as one JSON object.")
@click.pass_context
def digest(ctx: click.Context, since, until, topic, max_stories, as_json) -> None:
    """The main stories of a period, each cited; stories several outlets carried come first."""
    settings = _settings(ctx)
    try:
        result = _assistant(settings).digest(since=since, until=until, topic=topic,
                                             max_stories=max_stories)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else str(result))


@main.command()
@click.option("--host", default=None, help="Address to bind [env ASSISTANT_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env ASSISTANT_PORT; default 7860].")
@click.option("--no-index", is_flag=True, help="Do not build or update the index before serving.")
@click.option("--allow-anonymous-writes", is_flag=True, default=None,
              help="Allow uploads and rebuilds without a login on a non-loopback address "
              "[env ASSISTANT_ALLOW_ANONYMOUS_WRITES].")
@click.option("--watch", is_flag=True, help="Index files added, changed or deleted in the corpus folder.")
@click.option("--pull-every", default=None,
              help="Pull the corpus's feeds this often, e.g. 15m [env ASSISTANT_PULL_EVERY, seconds].")
@click.option("--allow-private", is_flag=True,
              help="Let feed pulls reach private-network and loopback addresses.")
@click.pass_context
def serve(ctx: click.Context, host, port, no_index: bool, allow_anonymous_writes, watch: bool,
          pull_every, allow_private: bool) -> None:
    """Serve the web chat (builds or updates the index first)."""
    from .watch import parse_interval

    try:
        every = parse_interval(pull_every) if pull_every else None
    except AssistantError as exc:
        raise click.BadParameter(str(exc), param_hint="--pull-every") from exc
    settings = _settings(ctx, host=host, port=port, pull_every=every,
                         allow_anonymous_writes=allow_anonymous_writes or None)
    from .webapp import serve as run_app

    try:
        run_app(settings, build=not no_index, watch=watch,
                fetcher=_fetcher(settings, allow_private) if settings.pull_every else None)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N queries.")
@click.option("--baseline", is_flag=True, help="Also run BM25 alone and the naive LangChain chain.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write the results to this JSON file.")
@click.option("--index", "eval_index", type=click.Path(), default=None,
              help="Where the eval's own index lives [default .eval-index/<dataset name>].")
@click.option("--split", default=None,
              help="Only this split: dev|test for a question set, tune|test for newsqa-mini "
                   "(benchmarks/questions/newsqa-split.json) [default: all].")
@click.option("--details", "details_path", type=click.Path(dir_okay=False), default=None,
              help="Write one JSON line per question (answer, scores) to this file.")
@click.pass_context
def eval_cmd(ctx: click.Context, dataset_dir, limit, baseline, json_path, eval_index, split,
             details_path) -> None:
    """Measure answers, retrieval and abstention on DATASET_DIR: a question set of the
    project's own (dataset.json + questions*.jsonl) or a MultiHop-RAG-schema folder."""
    from pathlib import Path

    from tqdm import tqdm

    from .evaluate import (format_answer_table, format_table, is_question_set, run_eval,
                           run_question_set_eval)

    index_dir = eval_index or (ctx.obj or {}).get("index_dir") or str(
        Path(".eval-index") / Path(dataset_dir).resolve().name)
    settings = _settings(ctx, index_dir=index_dir)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    details: list | None = [] if details_path else None
    question_set = is_question_set(Path(dataset_dir))
    try:
        if question_set:
            results = run_question_set_eval(dataset_dir, settings, split=split, limit=limit,
                                            baseline=baseline, progress=progress, details=details)
        else:
            results = run_eval(dataset_dir, settings, limit=limit, baseline=baseline,
                               progress=progress, split=split, details=details)
    except AssistantError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(format_answer_table(results) if question_set else format_table(results))
    if details_path:
        with open(details_path, "w", encoding="utf-8") as fh:
            for row in details or []:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        click.echo(f"results written to {json_path}")


# ---------------------------------------------------------------------------------------
# Feeds, fetched pages and the watched folder (feeds.py, fetch.py, watch.py)
# ---------------------------------------------------------------------------------------

_ALLOW_PRIVATE = click.option(
    "--allow-private", is_flag=True,
    help="Allow private-network, loopback and link-local addresses (local test servers).")
_NO_INDEX = click.option("--no-index", is_flag=True, help="Write the articles; do not index them.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")


def _fetcher(settings: Settings, allow_private: bool):
    from .fetch import Fetcher, FetchPolicy

    hosts = frozenset(h.strip() for h in settings.fetch_allow_hosts.split(",") if h.strip())
    return Fetcher(FetchPolicy(timeout=settings.fetch_timeout, max_bytes=settings.fetch_max_bytes,
                               host_delay=settings.fetch_host_delay, allow_private=allow_private,
                               allow_hosts=hosts))


def _finish_pull(settings: Settings, report, no_index: bool, as_json: bool) -> None:
    """Index what a pull or an add wrote, then print both reports."""
    built = None
    if report.changed and not no_index:
        try:
            built = _assistant(settings).build_index()
        except AssistantError as exc:
            raise click.ClickException(f"articles written but not indexed: {exc}") from exc
    if as_json:
        out = report.to_dict()
        out["index"] = built.to_dict() if built else None
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(report.summary())
        for path in report.added:
            click.echo(f"added {path}")
        for path in report.updated:
            click.echo(f"updated {path}")
        for path in report.removed:
            click.echo(f"removed {path}")
        for problem in report.problems:
            click.echo(f"refused {problem}")
        if built:
            click.echo(f"index: {built.articles} articles ({built.added} added, {built.updated} "
                       f"updated, {built.removed} removed)")
    if report.problems and not report.changed and not report.unchanged and not report.not_modified:
        sys.exit(1)  # nothing usable came back: say so to scripts


@main.command("add")
@click.argument("urls", nargs=-1, required=True)
@_ALLOW_PRIVATE
@_NO_INDEX
@_JSON
@click.pass_context
def add_cmd(ctx: click.Context, urls, allow_private: bool, no_index: bool, as_json: bool) -> None:
    """Fetch article pages or RSS/Atom feeds at URLS into the corpus, then index them."""
    from .feeds import add_urls

    settings = _settings(ctx)
    report = add_urls(settings.corpus_dir, list(urls), fetcher=_fetcher(settings, allow_private))
    _finish_pull(settings, report, no_index, as_json)


@main.group("feeds")
def feeds_cmd() -> None:
    """The RSS/Atom feeds kept in the corpus folder (<corpus>/.feeds/)."""


@feeds_cmd.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_add(ctx: click.Context, urls) -> None:
    """Add feed URLS to the list (`assistant feeds pull` fetches them)."""
    from .feeds import FeedList

    settings = _settings(ctx.parent)
    feeds = FeedList(settings.corpus_dir)
    for url in urls:
        try:
            added = feeds.add(url)
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{'added' if added else 'already listed'}: {url}")


@feeds_cmd.command("remove")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_remove(ctx: click.Context, urls) -> None:
    """Remove feed URLS from the list (their articles stay in the corpus)."""
    from .feeds import FeedList

    feeds = FeedList(_settings(ctx.parent).corpus_dir)
    for url in urls:
        click.echo(f"{'removed' if feeds.remove(url) else 'not listed'}: {url}")


@feeds_cmd.command("list")
@_JSON
@click.pass_context
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """The listed feeds, with their last pull and last error."""
    from .feeds import FeedList

    feeds = FeedList(_settings(ctx.parent).corpus_dir)
    if as_json:
        click.echo(json.dumps(feeds.feeds, ensure_ascii=False))
        return
    if not feeds.feeds:
        click.echo("no feeds; add one with `assistant feeds add URL`")
    for url, state in feeds.feeds.items():
        error = f"; last error: {state['last_error']}" if state.get("last_error") else ""
        click.echo(f"{url}  (last pull: {state.get('last_pull') or 'never'}{error})")


@feeds_cmd.command("pull")
@_ALLOW_PRIVATE
@_NO_INDEX
@_JSON
@click.pass_context
def feeds_pull(ctx: click.Context, allow_private: bool, no_index: bool, as_json: bool) -> None:
    """Fetch new and changed articles of the listed feeds, then index them."""
    from .feeds import FeedList, pull

    settings = _settings(ctx.parent)
    if not FeedList(settings.corpus_dir).feeds:
        raise click.ClickException("no feeds to pull; add one with `assistant feeds add URL`")
    report = pull(settings.corpus_dir, fetcher=_fetcher(settings, allow_private))
    _finish_pull(settings, report, no_index, as_json)


def _index_watch(settings: Settings) -> None:
    """`assistant index --watch`: build, then index every change until Ctrl-C."""
    from .watch import Syncer

    syncer = Syncer(_assistant(settings), on_sync=lambda status: click.echo(status.line()))
    syncer.sync("start")
    syncer.start_watching()
    click.echo(f"watching {settings.corpus_dir} (Ctrl-C stops)")
    syncer.wait()
