"""Per-rule delivery options in rule files: notify targets (chats, channels, forum topics) and
priority, with precise errors naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.chats import base_chat, split_target, with_topic
from bot.core.errors import ConfigError
from bot.core.rules import Rule
from bot.rulefiles import load_rules


def load(tmp_path: Path, body: str) -> dict[str, Rule]:
    (tmp_path / "r.yaml").write_text(body, encoding="utf-8")
    rules = load_rules(tmp_path).rules
    return {r.id: r for r in rules}


def test_notify_accepts_chats_channels_and_forum_topics(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        "rules:\n"
        "  - id: a\n    title: A\n    any: [x]\n"
        "    notify: ['@channel_x', -1001234, '-1005678/42', {chat: -1009, topic: 7},"
        " {chat: '@forum_y'}]\n",
    )
    rule = rules["a"]
    assert rule.notify == ("@channel_x", "-1001234", "-1005678/42", "-1009/7", "@forum_y")
    assert rule.priority == "normal"


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ("[somechannel]", "is not a chat"),
        ("['-100/abc']", "is not a chat"),
        ("[{chat: -100, topic: 0}]", "not a forum topic id"),
        ("[{chat: -100, topic: seven}]", "not a forum topic id"),
        ("[{chat: -100, thread: 7}]", "is not a chat"),
    ],
)
def test_bad_notify_targets_are_named_with_file_and_line(
    tmp_path: Path, notify: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"rules:\n  - id: a\n    title: A\n    any: [x]\n    notify: {notify}\n")
    text = str(caught.value)
    assert "r.yaml:5" in text and "rule 'a'" in text and message in text


def test_priority_is_one_of_four(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        "rules:\n  - {id: u, title: U, any: [x], priority: urgent}\n"
        "  - {id: l, title: L, any: [y], priority: low}\n",
    )
    assert rules["u"].priority == "urgent"
    assert rules["l"].priority == "low"
    with pytest.raises(ConfigError, match=r"r\.yaml:2.*priority"):
        load(tmp_path, "rules:\n  - {id: u, title: U, any: [x], priority: asap}\n")


def test_targets_split_into_chat_and_topic() -> None:
    assert split_target("-1005678/42") == ("-1005678", 42)
    assert split_target("@forum_y") == ("@forum_y", None)
    assert split_target("1001") == ("1001", None)
    assert split_target("console") == ("console", None)
    assert base_chat("-1005678/42") == "-1005678"
    assert with_topic("-1005678", 42) == "-1005678/42"
    assert with_topic("-1005678", None) == "-1005678"
