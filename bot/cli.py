"""The ``newsbot`` command line (also ``python -m bot``).

    newsbot run [--once]                      poll and deliver until stopped (or one round)
    newsbot check                             validate the config and the rules
    newsbot feeds                             health of every feed (exit 1 if any is failing)
    newsbot feeds check URL|FILE              fetch and parse one feed; say what it holds
    newsbot feeds add URL [--pick N]          add a feed, or one a site's page advertises
    newsbot feeds import FILE.opml            add an OPML list's feeds to the config
    newsbot feeds export [-o FILE]            the config's feeds as OPML 2.0
    newsbot rules check                       validate the rules only
    newsbot rules test FILE --feed SRC        what a rule file would match in a feed
    newsbot rules test FILE --history DAYS    ... or in the stories stored recently
    newsbot rules explain RULE --story SRC    why stories did or did not match a rule
    newsbot rules schema                      the JSON Schema of rule files
    newsbot stories cluster FILE [--explain]  which stories of a JSON-lines file are the same

Every command takes ``--config PATH`` (default ./config.yaml). Exit codes: 0 success,
1 invalid configuration or rules, 2 a runtime failure (database, network, token).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bot import __version__, storyfile
from bot.app import (
    App,
    Options,
    feed_health,
    fetch_feed,
    fetch_page,
    fetch_stories,
    file_feed,
    file_stories,
    instances_status,
    parse_fetched,
    read_file,
    stored_stories,
    utc_now,
)
from bot.config import Config, load_config
from bot.core import opml
from bot.core.clustering import canonical_url
from bot.core.discovery import Advertised, advertised_feeds, decode_page, is_html
from bot.core.errors import ConfigError, FeedError, NewsbotError, Problem
from bot.core.feedcheck import feed_check
from bot.core.health import health_table, summary
from bot.core.models import Story
from bot.core.rules.explain import explain
from bot.feedlist import add_feeds
from bot.logs import setup_logging
from bot.rulefiles import RuleFileModel, load_rule_file, load_rules

log = logging.getLogger("bot")

DEFAULT_CONFIG = "config.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Watch news feeds and push matching stories to Telegram."
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        "-c",
        default=DEFAULT_CONFIG,
        type=Path,
        help=f"configuration file (default: ./{DEFAULT_CONFIG})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[config], help="poll and deliver until stopped")
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    commands.add_parser("check", parents=[config], help="validate the config and the rules")
    feeds = commands.add_parser("feeds", parents=[config], help="health of every feed")
    feeds_sub = feeds.add_subparsers(dest="feeds_command")
    check = feeds_sub.add_parser(
        "check", parents=[config], help="fetch and parse one feed, and say what it holds"
    )
    check.add_argument("url", help="the feed's URL, or a saved feed file")
    imp = feeds_sub.add_parser(
        "import", parents=[config], help="add the feeds of an OPML file to the config"
    )
    imp.add_argument("file", type=Path, help="an OPML export of a feed reader")
    add = feeds_sub.add_parser(
        "add",
        parents=[config],
        help="add a feed to the config: its URL, or a site's page that advertises feeds",
    )
    add.add_argument("url", help="a feed URL, or a web page linking its feeds")
    add.add_argument("--pick", type=int, metavar="N", help="which of the page's feeds to add")
    exp_feeds = feeds_sub.add_parser(
        "export", parents=[config], help="the config's feeds as OPML 2.0"
    )
    exp_feeds.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    commands.add_parser(
        "status", parents=[config], help="the instances sharing the database and their leases"
    )

    rules = commands.add_parser("rules", help="check, try and explain rules")
    sub = rules.add_subparsers(dest="rules_command", required=True)
    sub.add_parser("check", parents=[config], help="validate every rule file")
    test = sub.add_parser("test", parents=[config], help="what a rule file would match")
    test.add_argument("file", type=Path, help="a rule file (lexicons come from the rules dir)")
    source = test.add_mutually_exclusive_group(required=True)
    source.add_argument("--feed", help="a feed URL or file")
    source.add_argument("--history", type=float, metavar="DAYS", help="stories stored lately")
    test.add_argument("--explain", action="store_true", help="explain every match")
    exp = sub.add_parser("explain", parents=[config], help="why a story did or did not match")
    exp.add_argument("rule", help="the rule id")
    exp.add_argument("--story", required=True, help="a feed URL or file, or a text file")
    exp.add_argument("--item", type=int, help="only the Nth story of the feed (1-based)")
    sub.add_parser("schema", help="print the JSON Schema of rule files")

    stories = commands.add_parser("stories", help="work with stories")
    story_sub = stories.add_subparsers(dest="stories_command", required=True)
    cluster = story_sub.add_parser(
        "cluster", help="cluster a JSON-lines file of stories as the bot would"
    )
    cluster.add_argument("file", type=Path, help="JSON lines: id, title, summary, link, ...")
    cluster.add_argument("--explain", action="store_true", help="say why each joined or not")
    cluster.add_argument(
        "--no-semantic", action="store_true", help="ignore the semantic extra if installed"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "rules" and args.rules_command == "schema":
        print(json.dumps(rules_schema(), indent=2, ensure_ascii=False))
        return 0
    if args.command == "stories":
        return _cluster(args.file, explain=args.explain, use_semantic=not args.no_semantic)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    setup_logging(
        config.log_level,
        secrets=[
            config.telegram.token or "",
            config.telegram.webhook.secret_token if config.telegram.webhook else "",
        ],
        json_lines=config.log_format == "json",
    )
    try:
        if args.command == "check":
            return _check(config)
        if args.command == "rules":
            return _rules(config, args)
        if args.command == "feeds" and args.feeds_command == "check":
            return _check_feed(config, args.url)
        if args.command == "feeds" and args.feeds_command == "import":
            return _import_opml(config, args.file)
        if args.command == "feeds" and args.feeds_command == "add":
            return _add_feed(config, args.url, args.pick)
        if args.command == "feeds" and args.feeds_command == "export":
            return _export_opml(config, args.output)
        if args.command == "feeds":
            return _feeds(config)
        if args.command == "status":
            print("\n".join(asyncio.run(instances_status(config))))
            return 0
        return asyncio.run(_run(config, once=args.once))
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    except NewsbotError as exc:
        log.error("%s", exc)
        return 2


def rules_schema() -> dict[str, object]:
    """The JSON Schema of a rule file, generated from the models that validate it."""
    schema = RuleFileModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "newsbot rule file"
    return schema


def _cluster(path: Path, *, explain: bool, use_semantic: bool) -> int:
    try:
        lines = list(storyfile.cluster_file(path, explain=explain, use_semantic=use_semantic))
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    print(storyfile.mode(use_semantic), file=sys.stderr)
    for line in lines:
        print(line)
    return 0


def _print_problems(exc: ConfigError) -> None:
    print(f"newsbot: {len(exc.problems)} problem(s) found:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _feed_tags(config: Config) -> dict[str, tuple[str, ...]]:
    return {f.name: f.tags for f in config.feeds}


def _feeds(config: Config) -> int:
    """Print each feed's health; exit 1 if any feed is failing or disabled."""
    rows = asyncio.run(feed_health(config))
    print("\n".join(health_table(rows)))
    counts = summary(rows)
    return 1 if counts["failing"] or counts["disabled"] else 0


def _check_feed(config: Config, source: str) -> int:
    """``newsbot feeds check URL``: exit 1 when the feed cannot be read or holds no story."""
    fetched = None
    try:
        if source.startswith(("http://", "https://")):
            fetched, parsed = asyncio.run(fetch_feed(source, config))
        else:
            parsed = file_feed(Path(source))
    except FeedError as exc:
        print(f"feed: {source}\nproblem: {exc.reason}")
        return 1
    lines, usable = feed_check(source, fetched, parsed)
    print("\n".join(lines))
    return 0 if usable else 1


def _import_opml(config: Config, path: Path) -> int:
    """``newsbot feeds import FILE``: the list's new feeds appended to the config."""
    listed = opml.read(read_file(path), str(path))
    added = add_feeds(Path(config.source), listed.feeds)
    print(
        f"{path}: {len(listed.feeds)} feeds; {len(added.names)} added to {config.source}, "
        f"{added.known} listed already"
        + (f"; {listed.skipped} outlines without a feed URL left out" if listed.skipped else "")
        + ("; the file was not well-formed and was read after repairs" if listed.repaired else "")
    )
    for name in added.names:
        print(f"  + {name}")
    if added.names:
        print("A running bot polls them within seconds (it reloads the feed list).")
    return 0


def _add_feed(config: Config, url: str, pick: int | None) -> int:
    """``newsbot feeds add URL``: a feed's URL is added as is; a web page's advertised feeds
    are listed, and the one chosen (``--pick``, or the only one) is checked and added."""
    try:
        page = asyncio.run(fetch_page(url, config))
    except FeedError as exc:
        print(f"{url}: {exc.reason}")
        return 1
    if is_html(page.body, page.content_type):
        found = advertised_feeds(decode_page(page.body, page.content_type), page.url)
        if not found:
            print(f"{url}: a web page, and the page advertises no feed")
            return 1
    else:
        try:
            parsed = parse_fetched(page)
        except FeedError as exc:
            print(f"{url}: {exc.reason}")
            return 1
        found = [Advertised(page.url, "feed", parsed.title or "")]
    if pick is None and len(found) > 1:
        print(f"{url} advertises {len(found)} feeds:")
        for n, feed in enumerate(found, 1):
            print(f"  {n}. {feed.kind}: {feed.url}" + (f"  ({feed.title})" if feed.title else ""))
        print(f"Add one with: newsbot feeds add {url} --pick N")
        return 0
    index = (pick or 1) - 1
    if not 0 <= index < len(found):
        print(f"{url}: there is no feed {pick} (it advertises {len(found)})")
        return 1
    chosen = found[index]
    if chosen.kind != "feed":  # an advertised feed: check it is one before adding it
        try:
            _, parsed = asyncio.run(fetch_feed(chosen.url, config))
        except FeedError as exc:
            print(f"{chosen.url}: {exc.reason}; not added")
            return 1
        chosen = Advertised(chosen.url, chosen.kind, parsed.title or chosen.title)
    title = chosen.title or urlsplit(chosen.url).netloc
    added = add_feeds(Path(config.source), [opml.Subscription(chosen.url, title)])
    if not added.names:
        print(f"{chosen.url} is in {config.source} already")
        return 0
    print(f"{chosen.url} added to {config.source} as {added.names[0]}")
    print("A running bot polls it within seconds (it reloads the feed list).")
    return 0


def _export_opml(config: Config, output: Path | None) -> int:
    """``newsbot feeds export``: every feed of the config, its tags as folders and categories."""
    feeds = [(f.title or f.name, f.url, f.tags) for f in config.feeds]
    text = opml.write(feeds, f"newsbot feeds ({Path(config.source).name})", utc_now())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"{len(feeds)} feeds written to {output}")
    return 0


def _check(config: Config) -> int:
    rules = load_rules(config.rules_path, _feed_tags(config))
    mode = "Telegram" if config.telegram.token else "console (no TELEGRAM_BOT_TOKEN)"
    print(
        f"OK: {config.source}: {len(config.feeds)} feeds; {config.rules_path}: "
        f"{len(rules.rules)} rules, {len(rules.lexicon)} lexicons; delivery to {mode}"
    )
    return 0


def _rules(config: Config, args: argparse.Namespace) -> int:
    tags = _feed_tags(config)
    if args.rules_command == "check":
        rules = load_rules(config.rules_path, tags)
        print(
            f"OK: {len(rules.rules)} rules and {len(rules.lexicon)} lexicons in {config.rules_path}"
        )
        return 0
    if args.rules_command == "test":
        return _test(config, args, tags)
    return _explain(config, args, tags)


def _stories(config: Config, source: str | None, history: float | None) -> list[Story]:
    if history is not None:
        return asyncio.run(stored_stories(config, history))
    assert source is not None  # argparse requires one of the two
    if source.startswith(("http://", "https://")):
        return asyncio.run(fetch_stories(source, config))
    return file_stories(Path(source))


def _test(config: Config, args: argparse.Namespace, tags: dict[str, tuple[str, ...]]) -> int:
    rules = load_rule_file(args.file, config.rules_path, tags)
    book = rules.book(tags)
    stories = _stories(config, args.feed, args.history)
    counts = {r.id: 0 for r in book.rules}
    for story in stories:
        for match in book.matcher.match(story):
            counts[match.rule_id] += 1
            terms = ", ".join(match.terms)
            print(f"[{match.rule_id}] {story.title}\n    {story.link or ''}\n    matched: {terms}")
            if args.explain:
                print(
                    "\n".join(
                        "    " + line for line in explain(book.matcher, match.rule_id, story)[1:]
                    )
                )
    print(f"\n{len(stories)} stories checked:")
    for rule_id, count in counts.items():
        print(f"  {rule_id}: {count} match(es)")
    matched = [s for s in stories if book.matcher.match(s)]
    if matched:
        groups = storyfile.story_groups(matched)
        print(f"\n{len(matched)} matching stories are {len(groups)} stories (one message each):")
        for group in groups:
            also = ", ".join(_outlet(s) for s in group[1:])
            print(f"  {group[0].title}" + (f"\n    also: {also}" if also else ""))
    return 0


def _outlet(story: Story) -> str:
    """How ``rules test`` names another version's outlet: its link's host, else its feed."""
    host = (canonical_url(story.link) or "").split("/", 1)[0]
    return host or story.feed


def _explain(config: Config, args: argparse.Namespace, tags: dict[str, tuple[str, ...]]) -> int:
    book = load_rules(config.rules_path, tags).book(tags)
    if args.rule not in book.by_id:
        close = difflib.get_close_matches(args.rule, list(book.by_id), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError([Problem(str(config.rules_path), f"no rule {args.rule!r}{hint}")])
    stories = _stories(config, args.story, None)
    if args.item is not None:
        if not 1 <= args.item <= len(stories):
            raise ConfigError(
                [Problem(args.story, f"there is no item {args.item} ({len(stories)} stories)")]
            )
        stories = [stories[args.item - 1]]
    for story in stories:
        print("\n".join(explain(book.matcher, args.rule, story)))
        print()
    return 0


async def _run(config: Config, *, once: bool) -> int:
    app = await App.create(config, Options())
    try:
        if once:
            results = await app.run_once()
            failed = [r for r in results if r.outcome in ("failed", "gone")]
            pending = await app.store.pending_count()
            log.info(
                "polled %d feeds (%d failed); %d alerts sent; %d still queued",
                len(results),
                len(failed),
                app.sender.stats.sent,
                pending,
            )
            if results and len(failed) == len(results):
                log.error("every feed failed")
                return 1
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(app.reload_rules()))
        await app.run(stop)
        return 0
    finally:
        await app.close()
