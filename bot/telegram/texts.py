"""Everything the bot says to people, in one place, ready for translation.

Texts are Telegram HTML; values interpolated into them must be escaped by the caller
(:func:`bot.telegram.commands.esc`)."""

from __future__ import annotations

COMMANDS: list[tuple[str, str]] = [
    ("start", "Welcome and what this bot does"),
    ("rules", "Topics you can subscribe to"),
    ("subscribe", "Subscribe to a topic: /subscribe <rule>"),
    ("unsubscribe", "Stop a topic: /unsubscribe <rule>"),
    ("mine", "Your subscriptions"),
    ("help", "How to use this bot"),
]

WELCOME = (
    "👋 <b>Hello!</b> I watch news feeds and send you stories about the topics you follow.\n\n"
    "Send /rules to see the topics, then /subscribe followed by a topic id."
)
HELP = (
    "<b>Commands</b>\n"
    "/rules: the topics you can follow\n"
    "/subscribe <i>rule</i>: get alerts for a topic\n"
    "/unsubscribe <i>rule</i>: stop them\n"
    "/mine: what you follow\n"
    "/help: this message"
)
RULES_HEADER = "<b>Topics</b> (✅ = you follow it)\n"
RULE_LINE = "{mark} <code>{id}</code>: {title}"
NO_RULES = "There are no topics to subscribe to yet."
SUBSCRIBE_USAGE = "Which topic? Send <code>/subscribe rule-id</code>; /rules lists them."
UNSUBSCRIBE_USAGE = "Which topic? Send <code>/unsubscribe rule-id</code>; /mine lists yours."
SUBSCRIBED = "✅ Subscribed to <b>{title}</b>. New matching stories will arrive here."
ALREADY_SUBSCRIBED = "You already follow <b>{title}</b>."
UNSUBSCRIBED = "🔕 Unsubscribed from <b>{title}</b>."
NOT_SUBSCRIBED = "You were not subscribed to <code>{id}</code>."
UNKNOWN_RULE = "I don't know a topic <code>{id}</code>."
DID_YOU_MEAN = " Did you mean {options}?"
SEE_RULES = " Send /rules to see them all."
NOT_SUBSCRIBABLE = "The topic <code>{id}</code> is not open for subscriptions."
MINE_HEADER = "<b>You follow</b>\n"
MINE_EMPTY = "You don't follow any topic yet. Send /rules to see them."
ADMINS_ONLY = "Sorry, only the bot's administrators can do that."
GROUP_ADMINS_ONLY = "Only the group's admins can change its subscriptions."
ADMIN_NOTICE = "⚠️ <b>newsbot</b>: {text}"
