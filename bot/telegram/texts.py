"""Everything the bot says to people, in one place, ready for translation.

Texts are Telegram HTML; values interpolated into them must be escaped by the caller
(:func:`bot.telegram.commands.esc`)."""

from __future__ import annotations

COMMANDS: list[tuple[str, str]] = [
    ("start", "Welcome and what this bot does"),
    ("rules", "Topics you can subscribe to: /rules [search words]"),
    ("rule", "What a topic covers, and its link: /rule <id>"),
    ("latest", "A topic's latest stories: /latest <id> [n]"),
    ("search", "Search the last days' stories: /search <query>"),
    ("watch", "Alerts for your own query: /watch <query>"),
    ("watches", "Your watches: list, edit, pause, delete"),
    ("subscribe", "Subscribe to a topic: /subscribe <rule>"),
    ("unsubscribe", "Stop a topic: /unsubscribe <rule>"),
    ("mine", "Your subscriptions"),
    ("mute", "Pause alerts: /mute <rule|all> [24h]"),
    ("unmute", "Resume alerts: /unmute <rule|all>"),
    ("digest", "Bundle alerts: /digest <rule|all> off|hourly|daily [HH:MM]"),
    ("quiet", "No alerts at night: /quiet 23:00-07:00 or off"),
    ("timezone", "Your time zone: /timezone Europe/Istanbul"),
    ("grouping", "One message per story: /grouping on|off"),
    ("language", "The bot's language: /language [en|ru|tr|az|auto]"),
    ("settings", "Everything set for this chat"),
    ("help", "How to use this bot"),
]
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("status", "Admin: feeds, rules and the queue at a glance"),
    ("feeds", "Admin: each feed's health"),
    ("stats", "Admin: alerts sent, held and parked"),
    ("reload", "Admin: reload the rules now"),
]
"""Shown in the menu of the admins' own chats only."""

WELCOME = (
    "👋 <b>Hello!</b> I watch news feeds and send you stories about the topics you follow.\n\n"
    "Send /rules to see the topics, then /subscribe followed by a topic id."
)
HELP = (
    "<b>Commands</b>\n"
    "/rules [<i>words</i>]: the topics you can follow, or those matching the words\n"
    "/rule <i>id</i>: what a topic covers, and a link to share it\n"
    "/latest <i>id</i> [<i>n</i>]: a topic's latest stories\n"
    "/search <i>query</i>: the last days' stories matching a query "
    '(<code>Shusha OR Şuşa</code>, <code>"Zangezur corridor"</code>)\n'
    "/watch <i>query</i>: alerts for your own query, after a preview of what it finds\n"
    "/watches: your watches, to edit, pause or delete\n"
    "/subscribe <i>rule</i> [<i>rule</i> ...]: get alerts for topics\n"
    "/subscribe <i>rule</i> @<i>channel</i>: send them to a channel you administer\n"
    "/unsubscribe <i>rule</i> [<i>rule</i> ...]: stop them\n"
    "/mine: what you follow\n"
    "/mute <i>rule</i>|all [<i>24h</i>]: pause alerts for a while (e.g. 2h, 3d)\n"
    "/unmute <i>rule</i>|all: resume them\n"
    "/digest <i>rule</i>|all off|hourly|daily [<i>HH:MM</i>]: one message per hour or day "
    "instead of one per story\n"
    "/quiet <i>23:00-07:00</i>|off: hold alerts at night; they arrive as one digest when the "
    "quiet hours end\n"
    "/timezone <i>Europe/Istanbul</i>: the time zone for quiet hours and digests\n"
    "/language [<i>en|ru|tr|az|auto</i>]: the language I write in here\n"
    "/grouping on|off: one message per story, listing the other outlets that report it, or "
    "each outlet's version apart\n"
    "/settings: everything set for this chat\n"
    "/help: this message\n\n"
    "Alerts come with buttons to mute a topic for 24 hours or to unsubscribe."
)
RULES_HEADER = "<b>Topics</b> (✅ = you follow it)\n"
RULE_LINE = "{mark} <code>{id}</code>: {title}"
NO_RULES = "There are no topics to subscribe to yet."
LATEST_USAGE = "Which topic? Send <code>/latest rule-id</code> or <code>/latest rule-id 20</code>."
LATEST_HEADER = "<b>Latest on {title}</b> (last {days} days)\n"
SEARCH_USAGE = (
    "Search what? Send <code>/search</code> and a query, e.g. "
    '<code>/search Shusha OR Şuşa</code> or <code>/search "Zangezur corridor"</code>.'
)
SEARCH_HEADER = "<b>Stories matching</b> <code>{query}</code> (last {days} days)\n"
SEARCH_INVALID = "I can't read that query: {error}."
SEARCH_AT_COLUMN = " (at column {column})"
HISTORY_NONE = "Nothing found."
RULES_CATEGORY = "<b>{category}</b>"
RULES_FOUND = "<b>Topics matching “{wanted}”</b> ({count}; /rule <i>id</i> tells more)\n"
RULES_MORE_FOUND = "… and {more} more: add a word to narrow the search."
RULES_NONE_FOUND = "No topic matches “{wanted}”."
RULE_USAGE = "Which topic? Send <code>/rule rule-id</code>; /rules lists them."
RULE_CARD = (
    "<b>{title}</b> (<code>{id}</code>)\n{description}\n{examples}\n{state}\n"
    "Share it: {link} (whoever opens it follows the topic)"
)
RULE_EXAMPLES = "<i>Lately (last {days} days):</i>\n"
RULE_EXAMPLE = "• {title}\n"
RULE_NO_DESCRIPTION = "<i>No description.</i>"
RULE_FOLLOWED = "✅ This chat follows it."
RULE_NOT_FOLLOWED = "▫️ This chat does not follow it."
BUTTON_SHARE = "📤 Share"
SUBSCRIBE_USAGE = (
    "Which topic? Send <code>/subscribe rule-id</code> (several ids are fine); /rules lists them."
)
UNSUBSCRIBE_USAGE = (
    "Which topic? Send <code>/unsubscribe rule-id</code> (several ids are fine); /mine lists yours."
)
ONE_CHANNEL = "Name one channel at a time, e.g. <code>/subscribe rule-id @channel</code>."
TOO_MANY_TOPICS = "That is a lot at once: name at most {most} topics in one command."
CHANNEL_HINT = (
    "To send alerts to a channel you administer, name it with @: "
    "<code>/subscribe rule-id @channel</code>."
)
UNKNOWN_COMMAND = "I don't have a command {command}."
SEE_HELP = " Send /help to see what I can do."
PLAIN_TEXT = (
    "I only understand commands. Send /rules to see the topics I watch, "
    "<code>/subscribe rule-id</code> to get alerts, or /help for everything."
)
SUBSCRIBED = "✅ Subscribed to <b>{title}</b>. New matching stories will arrive here."
ALREADY_SUBSCRIBED = "You already follow <b>{title}</b>."
UNSUBSCRIBED = "🔕 Unsubscribed from <b>{title}</b>."
NOT_SUBSCRIBED = "You were not subscribed to <code>{id}</code>."
UNKNOWN_RULE = "I don't know a topic <code>{id}</code>."
DID_YOU_MEAN = " Did you mean {options}?"
SEE_RULES = " Send /rules to see them all."
NOT_SUBSCRIBABLE = "The topic <code>{id}</code> is not open for subscriptions."
MINE_HEADER = "<b>You follow</b>\n"
MINE_CHANNELS = "\n<b>Channels and groups you manage</b>"
MINE_CHANNEL = "📣 {channel}: {topics}"
MINE_CHANNEL_NOTHING = "📣 {channel}: nothing yet"
MINE_EMPTY = "You don't follow any topic yet. Send /rules to see them."
CHANNEL_SUBSCRIBED = "✅ {channel} now receives <b>{title}</b>."
CHANNEL_ALREADY_SUBSCRIBED = "{channel} already receives <b>{title}</b>."
CHANNEL_UNSUBSCRIBED = "🔕 {channel} no longer receives <b>{title}</b>."
CHANNEL_UNKNOWN = "I can't see the channel {channel}. Is the name right, and am I in it?"
CHANNEL_ADMINS_ONLY = "Only an admin of {channel} can change what it receives."
CHANNEL_BOT_NOT_ADMIN = (
    "Make me an admin of {channel} first: Telegram lets only admins post in a channel."
)
ADMINS_ONLY = "Sorry, only the bot's administrators can do that."
GROUP_ADMINS_ONLY = "Only the group's admins can change its subscriptions and settings."
RULES_PAGE = "<b>Topics</b>, page {page} of {pages}. Tap one to follow or stop it.\n"
BUTTON_MUTE_24H = "🔕 Mute this rule 24h"
BUTTON_UNSUBSCRIBE = "✖ Unsubscribe"
BUTTON_MUTE_RULE_24H = "🔕 {rule} 24h"
BUTTON_UNSUBSCRIBE_RULE = "✖ {rule}"
BUTTON_UNMUTE = "🔔 Unmute"
BUTTON_UNMUTE_RULE = "🔔 Unmute {rule}"
BUTTON_RESUBSCRIBE = "↩ Subscribe again"
BUTTON_RESUBSCRIBE_RULE = "↩ {rule}: subscribe again"
BUTTON_PREVIOUS = "◀"
BUTTON_NEXT = "▶"
BUTTON_FOLLOWING = "✅ {title}"
BUTTON_NOT_FOLLOWING = "➕ {title}"
BUTTON_GONE = "This topic no longer exists."
MUTE_USAGE = "Send <code>/mute rule-id 24h</code> or <code>/mute all 2h</code>."
UNMUTE_USAGE = "Send <code>/unmute rule-id</code> or <code>/unmute all</code>."
BAD_DURATION = "I can't read {value} as a duration: write it like 30m, 24h or 3d."
MUTED = "🔕 <b>{title}</b> is muted until {until}."
MUTED_ALL = "🔕 All alerts are muted until {until}."
UNMUTED = "🔔 <b>{title}</b> is back on."
UNMUTED_ALL = "🔔 Alerts are back on."
MUTED_UNTIL = " (🔕 muted until {until})"
MINE_ALL_MUTED = "🔕 Everything is muted until {until}.\n"
STATS_HEADER = "<b>Alerts sent in the last {days} days</b>\n"
STATS_NONE = "No alerts were sent in the last {days} days."
REMOVED_FROM_CHAT = (
    "The bot was removed from {chat}; its alerts there are held until it is added back."
)
NOT_CHANNEL_ADMIN = (
    "The bot is not an admin of channel {chat} (Telegram requires it to post); "
    "alerts there are held."
)
DIGEST_USAGE = (
    "Send <code>/digest rule-id daily 08:00</code>, <code>/digest all hourly</code> or "
    "<code>/digest all off</code>."
)
BAD_PERIOD = "I know <code>off</code>, <code>hourly</code> and <code>daily</code>, not {value}."
BAD_TIME = "I can't read {value} as a time of day: write it like 08:00 or 18:30."
DIGEST_SET = "📰 <b>{title}</b>: {digest}."
DIGEST_SET_ALL = "📰 All topics: {digest}."
DIGEST_OFF = "alerts arrive one by one"
DIGEST_HOURLY = "one digest at the start of every hour"
DIGEST_DAILY = "one digest a day at {at} ({tz})"
QUIET_USAGE = (
    "Send <code>/quiet 23:00-07:00</code> to hold alerts at night (in your time zone, "
    "{tz}), or <code>/quiet off</code>."
)
BAD_QUIET = "I can't read {value} as quiet hours: write them like 23:00-07:00."
QUIET_SET = (
    "🌙 Quiet hours {window} ({tz}): alerts then wait and arrive as one digest at {end}. "
    "Urgent topics still come through."
)
QUIET_OFF = "🔔 No quiet hours: alerts arrive as they come."
TIMEZONE_USAGE = (
    "Your time zone is <b>{tz}</b> (it is {local} there). To change it, send e.g. "
    "<code>/timezone Europe/Istanbul</code>."
)
UNKNOWN_TIMEZONE = "I don't know a time zone {value}."
TIMEZONE_SET = "🕒 Time zone set to <b>{tz}</b>: it is {local} there."
SETTINGS_HEADER = "⚙️ <b>Settings for this chat</b>\n"
SETTINGS_TIMEZONE = "🕒 Time zone: <b>{tz}</b> (now {local})"
SETTINGS_QUIET = "🌙 Quiet hours: <b>{window}</b>, alerts held until {end} (urgent ones excepted)"
SETTINGS_NO_QUIET = "🌙 Quiet hours: none"
SETTINGS_DIGEST = "📰 Digest for all topics: <b>{digest}</b>"
SETTINGS_MUTED = "🔕 Everything muted until {until}"
SETTINGS_TOPICS = "\n<b>Topics</b>"
SETTINGS_TOPIC = "{mark} <code>{id}</code>: {title}{extra}"
SETTINGS_NO_TOPICS = "No topics yet: send /rules to pick some."
SETTINGS_FOOTER = "\nChange with /timezone, /quiet, /digest, /mute and /unsubscribe."
SETTINGS_BY_CONFIG = " (set by the bot's configuration)"
SLOW_DOWN = (
    "🐢 That is a lot of commands at once. I'll answer again in a minute; alerts are not affected."
)
WATCH_USAGE = (
    "Watch what? Send <code>/watch</code> and a query, e.g. "
    '<code>/watch Shusha OR Şuşa</code> or <code>/watch "Zangezur corridor"</code>.'
)
WATCH_PREVIEW = (
    "<b>Watch</b> <code>{query}</code>\n"
    "In the last {days} days it found {count} stories, the latest:\n"
)
WATCH_PREVIEW_NONE = (
    "<b>Watch</b> <code>{query}</code>\n"
    "Nothing in the last {days} days matches it yet; new stories that do will reach you."
)
WATCH_CONFIRM = "Alert this chat to new stories like these?"
BUTTON_WATCH_CONFIRM = "✅ Watch it"
BUTTON_WATCH_CANCEL = "✖ Cancel"
WATCH_CREATED = "👁 Watching <code>{query}</code> as watch {number}. /watches lists yours."
WATCH_CANCELLED = "Fine, nothing is watched."
WATCH_EXPIRED = "That preview has expired: send the /watch command again."
WATCH_DUPLICATE = "This chat already watches <code>{query}</code> (watch {number})."
WATCH_LIMIT = (
    "This chat has {count} watches, the most this bot allows; delete one in /watches first."
)
WATCHES_OFF = "Personal watches are turned off on this bot; /rules lists the shared topics."
WATCHES_HEADER = "<b>Watches of this chat</b> ({count} of at most {limit})\n"
WATCH_LINE = "{mark} <b>{number}</b> <code>{query}</code>"
WATCHES_EMPTY = (
    "This chat watches nothing yet. Send <code>/watch</code> and a query, e.g. "
    "<code>/watch Shusha OR Şuşa</code>."
)
WATCHES_FOOTER = (
    "\nChange one with <code>/watches edit N new query</code>, "
    "<code>/watches pause N</code>, <code>/watches resume N</code> or "
    "<code>/watches delete N</code>, or tap below."
)
WATCHES_USAGE = (
    "Send <code>/watches</code> for the list, or <code>/watches edit N new query</code>, "
    "<code>/watches pause N</code>, <code>/watches resume N</code>, "
    "<code>/watches delete N</code>."
)
WATCH_UNKNOWN = "This chat has no watch {number}; /watches lists them."
WATCH_UPDATED = "✏️ Watch {number} now looks for <code>{query}</code>."
WATCH_PAUSED = "⏸ Watch {number} is paused."
WATCH_RESUMED = "▶️ Watch {number} is back on."
WATCH_DELETED = "🗑 Watch {number} is deleted."
WATCH_EXPORT = (
    "Watch {number} as a shared rule, for a file in <code>rules/</code>:\n<pre>{yaml}</pre>"
)
BUTTON_WATCH_PAUSE = "⏸ {number}"
BUTTON_WATCH_RESUME = "▶️ {number}"
BUTTON_WATCH_DELETE = "🗑 {number}"
BUTTON_WATCH_RESTORE = "↩ Restore watch {number}"
LANGUAGE_CURRENT = "🌐 I write to this chat in <b>{name}</b>{how}. Choose:"
LANGUAGE_FROM_TELEGRAM = " (your Telegram language)"
LANGUAGE_SET = "🌐 From now on I write to this chat in <b>{name}</b>."
LANGUAGE_AUTO = "🌐 From now on I follow each person's Telegram language here."
BUTTON_LANGUAGE_AUTO = "🔄 Automatic"
UNKNOWN_LANGUAGE = "I don't write {value}; I know {known}, or <code>auto</code>."
SETTINGS_LANGUAGE = "🌐 Language: <b>{name}</b>{how}"
SETTINGS_GROUPING = "🗞 Other outlets' versions of a story: <b>{state}</b> (/grouping)"
GROUPING_STATE_ON = "added to its first message"
GROUPING_STATE_OFF = "each sent on its own"
GROUPING_USAGE = (
    "🗞 Other outlets' versions of a story: <b>{state}</b>. Send <code>/grouping off</code> to "
    "get each outlet's version as an alert of its own, or <code>/grouping on</code> for one "
    "message per story."
)
GROUPING_ON = "🗞 One message per story: other outlets' versions are added to it."
GROUPING_OFF = "🗞 From now on each outlet's version of a story is an alert of its own."
BAD_GROUPING = "Send <code>/grouping on</code> or <code>/grouping off</code>."
MORE_RULES = "🔎 … and {more} more rules"
ONE_MORE_RULE = "🔎 … and 1 more rule"
UNTITLED = "(untitled)"
CONTINUED = "(continued)"
DIGEST_HEADING = "Digest"
DIGEST_TITLE = "{heading}: {count} stories{counter}, times in {tz}"
DIGEST_TITLE_ONE = "{heading}: 1 story{counter}, times in {tz}"
DIGEST_MORE = "… and {count} more stories"
DIGEST_ALSO = "also {rules}"
ALSO_REPORTED = "📰 Also reported by {outlets}"
OUTLETS_MORE = "{outlets} and {more} more"
DIGEST_OUTLETS = "also in {outlets}"
RULE_REMOVED = (
    "🗑 The topic <b>{title}</b> (<code>{id}</code>) is no longer offered: its alerts have "
    "stopped. /rules lists the topics there are."
)
ADMIN_NOTICE = "⚠️ <b>newsbot</b>: {text}"
