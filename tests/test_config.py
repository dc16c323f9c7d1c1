"""Config and rule files: valid files load; every mistake is reported with file, line, column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config, resolve_database_url
from bot.core.errors import ConfigError
from bot.rulefiles import load_rules
from bot.yamlfile import interpolate, loads

GOOD_RULES = {"r.yaml": "rules:\n  - id: r\n    title: R\n    any: [drone]\n"}


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_minimal_config_gets_defaults(write_config: Callable[..., Path]) -> None:
    path = write_config("feeds:\n  - name: a\n    url: https://example.invalid/rss\n", GOOD_RULES)
    config = load_config(path, env={})
    assert config.telegram.token is None
    assert config.polling.interval == timedelta(minutes=10)
    assert config.database_url() == f"sqlite+aiosqlite:///{path.parent / 'data' / 'newsbot.db'}"
    assert config.rules_path == path.parent / "rules"
    (spec,) = config.feed_specs()
    assert spec.interval == timedelta(minutes=10)


def test_environment_interpolation(write_config: Callable[..., Path]) -> None:
    path = write_config(
        "telegram:\n  token: ${TOKEN}\n  api_url: ${API:-http://127.0.0.1:8081/bot}\nfeeds: []\n"
    )
    config = load_config(path, env={"TOKEN": "42:abc"})
    assert config.telegram.token == "42:abc"
    assert config.telegram.api_url == "http://127.0.0.1:8081/bot"
    assert "42:abc" not in repr(config.telegram)
    assert load_config(path, env={}).telegram.token is None, "unset token: console mode"


def test_bad_token_is_reported_without_echoing_it(write_config: Callable[..., Path]) -> None:
    path = write_config("telegram:\n  token: ${TOKEN}\nfeeds: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"TOKEN": "secret value without colon"})
    assert "secret value" not in str(info.value)
    assert f"{path}:2:10: [telegram.token]" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "polling:\n  interval: soon\n",
            ":2:13: [polling.interval] 'soon' is not a duration",
            id="duration",
        ),
        pytest.param(
            "polling:\n  jitter: 2\n",
            ":2:11: [polling.jitter] Input should be less than or equal to 0.5",
            id="range",
        ),
        pytest.param(
            "polling:\n  max_body: lots\n",
            ":2:13: [polling.max_body] 'lots' is not a size",
            id="size",
        ),
        pytest.param(
            "pollng: {}\n",
            ":1:9: [pollng] unknown key 'pollng'; did you mean 'polling'?",
            id="typo-top",
        ),
        pytest.param(
            "feeds:\n  - name: a\n    url: https://x.invalid/\n    intervall: 5m\n",
            ":4:16: [feeds.0.intervall] unknown key 'intervall'; did you mean 'interval'?",
            id="typo-feed",
        ),
        pytest.param(
            "feeds:\n  - url: https://x.invalid/\n",
            ":2:5: [feeds.0] missing required key 'name'",
            id="missing",
        ),
        pytest.param(
            "feeds:\n  - name: a\n    url: x.invalid/rss\n",
            ":3:10: [feeds.0.url] 'x.invalid/rss' is not an http(s) URL",
            id="url",
        ),
        pytest.param(
            "observability:\n  listen: nope\n",
            ":2:11: [observability.listen] 'nope' is not host:port (e.g. 127.0.0.1:9108, or :9108)",
            id="listen",
        ),
        pytest.param(
            "telegram:\n  webhook: {url: 'ftp://x', listen: ':8443', secret_token: s}\n",
            ":2:18: [telegram.webhook.url] must be an http(s) URL",
            id="webhook-url",
        ),
        pytest.param(
            "telegram:\n  webhook: {url: 'https://x/', listen: ':99999', secret_token: t}\n",
            "[telegram.webhook.listen] ':99999' is not host:port",
            id="webhook-listen",
        ),
        pytest.param(
            "feeds:\n  - {name: a, url: 'https://x.invalid/1'}\n  - {name: a, url: 'https://x.invalid/2'}\n",
            ":3:12: [feeds.1.name] duplicate feed name 'a' (first used on line 2)",
            id="duplicate",
        ),
        pytest.param("feeds: [\n", ":2:1: invalid YAML", id="syntax"),
        pytest.param("a: 1\na: 2\n", ":2:1: duplicate key 'a'", id="duplicate-key"),
        pytest.param("- 1\n", ":1:1: the file must hold a mapping of settings", id="not-a-mapping"),
        pytest.param(
            "x: !!python/object/apply:os.system ['true']\n",
            "invalid YAML: unsupported tag",
            id="unsafe-yaml",
        ),
        pytest.param(
            "x: !!python/object:os.system 1\n",
            "invalid YAML: could not determine a constructor",
            id="unsafe-scalar",
        ),
    ],
)
def test_config_errors_name_file_line_and_key(
    write_config: Callable[..., Path], text: str, expected: str
) -> None:
    path = write_config(text)
    reported = problems(path)
    assert any(f"{path}{expected}" in p or expected in p for p in reported), reported
    assert all(p.startswith(str(path)) for p in reported)


def test_all_config_problems_are_reported_together(write_config: Callable[..., Path]) -> None:
    path = write_config("polling:\n  interval: x\n  timeout: y\nfeeds:\n  - name: b\n")
    assert len(problems(path)) == 3


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(
            "  - id: Bad Id\n    title: t\n    any: [x]\n",
            ":2:9: [rules.0.id] rule 'Bad Id': String should match pattern",
            id="id",
        ),
        pytest.param(
            "  - id: a\n    title: t\n",
            ":2:5: [rules.0.query] rule 'a': query: the rule needs a query or terms in 'any'",
            id="no-terms",
        ),
        pytest.param(
            "  - id: a\n    title: t\n    any: ['---']\n",
            ":4:11: [rules.0.any.0] rule 'a': any.0: '---' has no letters",
            id="empty-term",
        ),
        pytest.param(
            "  - id: a\n    title: t\n    any: [x]\n    fields: [body]\n",
            "[rules.0.fields] rule 'a': unknown field 'body'",
            id="field",
        ),
        pytest.param(
            "  - id: a\n    title: t\n    any: [x]\n    notify: [somechannel]\n",
            "[rules.0.notify] rule 'a': 'somechannel' is not a chat",
            id="notify",
        ),
        pytest.param(
            "  - id: a\n    title: t\n    anyy: [x]\n",
            ":4:11: [rules.0.anyy] rule 'a': unknown key 'anyy'; did you mean 'any'?",
            id="typo",
        ),
        pytest.param(
            "  - id: a\n    any: [x]\n",
            ":2:5: [rules.0] rule 'a': missing required key 'title'",
            id="missing-title",
        ),
    ],
)
def test_rule_errors_name_file_line_and_rule(tmp_path: Path, rule: str, expected: str) -> None:
    (tmp_path / "bad.yaml").write_text("rules:\n" + rule, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path)
    reported = [str(p) for p in info.value.problems]
    assert any(expected in p for p in reported), reported
    assert all(p.startswith(str(tmp_path / "bad.yaml")) for p in reported)


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("rules:\n  - {id: x, title: X, any: [a]}\n")
    (tmp_path / "b.yaml").write_text(
        "rules:\n  - {id: y, title: Y, any: [b]}\n  - {id: x, title: X, any: [c]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{tmp_path / 'b.yaml'}:3")
    assert f"duplicate rule id 'x' (first defined at {tmp_path / 'a.yaml'}:2)" in str(problem)


def test_a_single_rule_file_and_string_terms(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("id: solo\ntitle: Solo\nany: Bayraktar\nnotify: -100123\n")
    (rule,) = load_rules(tmp_path).rules
    assert (rule.id, rule.any, rule.notify) == ("solo", ("Bayraktar",), ("-100123",))
    assert rule.source == f"{tmp_path / 'one.yml'}:1"


def test_the_shipped_rules_load() -> None:
    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "config.yaml", env={})
    rules = load_rules(root / "rules", {f.name: f.tags for f in config.feeds}).rules
    ids = {r.id for r in rules}
    assert {"turkish-drones", "ucav", "karabakh", "armenia-azerbaijan-border"} <= ids


def test_interpolation_and_database_urls(tmp_path: Path) -> None:
    assert interpolate("${A}-${B:-b}-${C}", {"A": "a"}) == "a-b-"
    assert resolve_database_url("postgresql://u@h/db", tmp_path) == "postgresql+asyncpg://u@h/db"
    assert resolve_database_url("sqlite:////abs/x.db", tmp_path) == "sqlite+aiosqlite:////abs/x.db"
    assert (
        resolve_database_url("sqlite:///rel.db", tmp_path)
        == f"sqlite+aiosqlite:///{tmp_path}/rel.db"
    )
    located = loads("a:\n  - b: 1\n", "f.yaml", env={})
    assert located.where(("a", 0, "b")) == (2, 8)
    assert located.where(("a", 0, "missing")) == (2, 5)
