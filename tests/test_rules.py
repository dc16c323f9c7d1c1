"""Matcher semantics (bot.core.rules): any/all/none, whole words, phrases, folding, fields, hits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import text as text_module
from bot.core.models import Hit, Match, Story
from bot.core.rules import Matcher, Rule, RuleBook
from bot.core.rules import matcher as matcher_module
from bot.core.text import FieldTokens, fold_words


def story(title: str = "", summary: str = "", **kw: Any) -> Story:
    return Story(feed="feed", key="key", title=title, summary=summary, **kw)


def rule(rule_id: str = "r", **kw: Any) -> Rule:
    return Rule(id=rule_id, title=rule_id.upper(), **kw)


def matches(r: Rule, s: Story) -> bool:
    return [m.rule_id for m in Matcher([r]).match(s)] == [r.id]


def case(rule_kw: dict[str, Any], title: str, expected: bool, case_id: str, **story_kw: Any) -> Any:
    return pytest.param(rule_kw, dict(title=title, **story_kw), expected, id=case_id)


ANY = "any"
ALL = "all"
NONE = "none"

CASES = [
    # any / all / none
    case({ANY: ("Karabakh",)}, "Talks on Karabakh resume", True, "any-single-hit"),
    case({ANY: ("Karabakh",)}, "Talks on Crimea resume", False, "any-single-miss"),
    case({ANY: ("Baku", "Yerevan")}, "Minister flies to Yerevan", True, "any-second-term"),
    case({ANY: ("Baku", "Yerevan")}, "Minister flies to Tbilisi", False, "any-none-present"),
    case({ALL: ("Baku", "Yerevan")}, "Baku and Yerevan sign", True, "all-both-present"),
    case({ALL: ("Baku", "Yerevan")}, "Baku signs a deal", False, "all-one-missing"),
    case({ALL: ("Baku",), ANY: ("gas", "oil")}, "Baku oil exports", True, "all-and-any"),
    case({ALL: ("Baku",), ANY: ("gas", "oil")}, "Baku exports grain", False, "all-without-any"),
    case({ALL: ("Baku",), ANY: ("gas", "oil")}, "Gas prices rise", False, "any-without-all"),
    case({ANY: ("Karabakh",), NONE: ("football",)}, "Karabakh talks", True, "none-absent"),
    case(
        {ANY: ("Karabakh",), NONE: ("football",)}, "Qarabag football: Karabakh", False, "none-veto"
    ),
    case(
        {ANY: ("Karabakh",), NONE: ("FC Qarabag",)},
        "Karabakh: FC Qarabag wins",
        False,
        "none-phrase-veto",
    ),
    case(
        {ANY: ("Karabakh",), NONE: ("FC Qarabag",)},
        "Karabakh: FC wins, Qarabag",
        True,
        "none-phrase-split-no-veto",
    ),
    case(
        {ANY: ("Karabakh",), NONE: ("football",)},
        "Karabakh",
        False,
        "none-in-summary-vetoes",
        summary="football",
    ),
    # whole words only
    case({ANY: ("ass",)}, "The assassin was caught", False, "no-substring-inside"),
    case({ANY: ("ass",)}, "A wild ass was seen", True, "whole-word"),
    case({ANY: ("US",)}, "We use buses", False, "US-not-in-use-or-bus"),
    case({ANY: ("US",)}, "The US responds", True, "US-word"),
    case({ANY: ("US",)}, "Sanctions (U.S.)", False, "US-dotted-is-two-letters"),
    case({ANY: ("TB2",)}, "Bayraktar TB20 prototype", False, "TB2-not-TB20"),
    case({ANY: ("TB2",)}, "Bayraktar TB2 drones", True, "TB2-word"),
    case({ANY: ("TB2",)}, "Bayraktar TB2s", False, "TB2-not-plural"),
    case({ANY: ("Karabakh",)}, "Karabakhi refugees", False, "no-suffix-without-boundary"),
    case({ANY: ("Karabakh",)}, "NagornoKarabakh", False, "no-suffix-match"),
    # case
    case({ANY: ("karabakh",)}, "KARABAKH", True, "case-upper-text"),
    case({ANY: ("KARABAKH",)}, "karabakh", True, "case-upper-rule"),
    case({ANY: ("İstanbul",)}, "ISTANBUL talks", True, "case-turkish-I"),
    case({ANY: ("Straße",)}, "STRASSE closed", True, "case-sharp-s"),
    # phrases
    case({ANY: ("Nagorno-Karabakh",)}, "Nagorno Karabakh", True, "hyphen-rule-space-text"),
    case({ANY: ("Nagorno-Karabakh",)}, "Nagorno–Karabakh", True, "hyphen-rule-en-dash-text"),
    case({ANY: ("Nagorno-Karabakh",)}, "NAGORNO KARABAKH", True, "hyphen-rule-upper-text"),
    case({ANY: ("Nagorno Karabakh",)}, "Nagorno-Karabakh", True, "space-rule-hyphen-text"),
    case({ANY: ("Nagorno Karabakh",)}, "Nagorno—Karabakh", True, "space-rule-em-dash-text"),
    case({ANY: ("Nagorno Karabakh",)}, "Nagorno,\n  Karabakh", True, "phrase-across-punctuation"),
    case({ANY: ("Nagorno Karabakh",)}, "Karabakh Nagorno", False, "phrase-reversed"),
    case({ANY: ("Nagorno Karabakh",)}, "Nagorno region of Karabakh", False, "phrase-gap"),
    case({ANY: ("Nagorno Karabakh",)}, "Nagorno", False, "phrase-truncated-at-end"),
    case({ANY: ("New York",)}, "New New York", True, "phrase-after-false-start"),
    case({ANY: ("New York",)}, "New Yorker", False, "phrase-last-word-whole"),
    case(
        {ANY: ("Nagorno Karabakh",)},
        "Nagorno",
        False,
        "phrase-split-across-fields",
        summary="Karabakh",
    ),
    # apostrophe suffixes and folding
    case({ANY: ("Karabağ",)}, "Karabağ'da durum", True, "apostrophe-suffix"),
    case({ANY: ("Karabağ",)}, "KARABAĞ’ın geleceği", True, "curly-apostrophe-suffix-upper"),
    case({ANY: ("Akinci",)}, "Akıncı'nın açıklaması", True, "dotless-i-in-text"),
    case({ANY: ("Karabakh",)}, "Karabakh's future", True, "english-possessive"),
    case({ANY: ("Karabag",)}, "Karabağ", True, "ascii-rule-accented-text"),
    case({ANY: ("Karabağ",)}, "Karabag", True, "accented-rule-ascii-text"),
    case({ANY: ("Əliyev",)}, "President Aliyev", False, "schwa-is-e-not-a"),
    case({ANY: ("Əliyev",)}, "ELİYEV", True, "schwa-vs-upper-e"),
    case({ANY: ("Kara\u00adbakh",)}, "Karabakh", True, "soft-hyphen-in-rule"),
    case({ANY: ("Karabakh",)}, "Kara\u200bbakh", True, "zero-width-in-text"),
    case({ANY: ("ＴＢ２",)}, "tb2 drones", True, "full-width-rule"),
    # Cyrillic
    case(
        {ANY: ("Карабах",)}, "Переговоры по Карабаху", False, "cyrillic-inflected-is-another-word"
    ),
    case({ANY: ("Карабах",)}, "КАРАБАХ: переговоры", True, "cyrillic-upper"),
    case({ANY: ("Байрактар",)}, "Дроны «Байрактар» сбиты", True, "cyrillic-in-guillemets"),
    case({ANY: ("ёлка",)}, "Елка на площади", True, "cyrillic-yo"),
    case({ANY: ("йод",)}, "иод", False, "cyrillic-short-i"),
    # fields
    case(
        {ANY: ("Karabakh",), "fields": ("title",)},
        "Talks",
        False,
        "title-only-ignores-summary",
        summary="Karabakh",
    ),
    case(
        {ANY: ("Karabakh",), "fields": ("summary",)},
        "Karabakh",
        False,
        "summary-only-ignores-title",
    ),
    case({ANY: ("Karabakh",)}, "Talks", True, "default-fields-include-summary", summary="Karabakh"),
    case({ANY: ("Karabakh",)}, "Talks", True, "default-fields-include-content", content="Karabakh"),
    case({ANY: ("Karabakh",)}, "Talks", False, "default-fields-exclude-tags", tags=("Karabakh",)),
    case(
        {ANY: ("Karabakh",), "fields": ("tags",)},
        "Talks",
        True,
        "tags-field",
        tags=("Caucasus", "Karabakh"),
    ),
    case(
        {ANY: ("Smith",), "fields": ("author",)},
        "Talks",
        True,
        "author-field",
        authors=("Jane Smith",),
    ),
    case({ANY: ("Smith",)}, "Talks", False, "author-not-by-default", authors=("Jane Smith",)),
    case(
        {ANY: ("example",), "fields": ("link",)},
        "T",
        True,
        "link-field",
        link="https://example.org/a",
    ),
    case(
        {ANY: ("Karabakh",), NONE: ("sport",), "fields": ("title",)},
        "Karabakh",
        True,
        "none-outside-fields-ignored",
        summary="sport",
    ),
    case(
        {ALL: ("Baku", "gas"), "fields": ("title",)},
        "Baku",
        False,
        "all-needs-every-term-in-fields",
        summary="gas",
    ),
    case(
        {ALL: ("Baku", "gas"), "fields": ("title", "summary")},
        "Baku",
        True,
        "all-across-fields",
        summary="gas",
    ),
]


@pytest.mark.parametrize(("rule_kw", "story_kw", "expected"), CASES)
def test_matcher(rule_kw: dict[str, Any], story_kw: dict[str, Any], expected: bool) -> None:
    assert matches(rule(**rule_kw), story(**story_kw)) is expected


def test_modifier_letter_apostrophe_suffix_matches() -> None:
    assert matches(rule(any=("Karabağ",)), story("Karabağʼda durum"))


def test_word_right_after_an_emoji_with_variation_selector_matches() -> None:
    assert matches(rule(any=("breaking",)), story("⚠️Breaking: Karabakh"))


# -- results and hits -----------------------------------------------------------------------


def test_results_come_in_rule_order() -> None:
    rules = [
        rule("c", any=("gas",)),
        rule("a", any=("Baku",)),
        rule("z", any=("nothing",)),
        rule("b", any=("pipeline",)),
    ]
    result = Matcher(rules).match(story("Pipeline gas from Baku"))
    assert [m.rule_id for m in result] == ["c", "a", "b"]


def test_rules_sharing_a_term_each_keep_their_spelling() -> None:
    rules = [
        rule("one", any=("Nagorno-Karabakh",)),
        rule("two", any=("nagorno karabakh",)),
        rule("three", all=("NAGORNO KARABAKH",), none=("football",)),
    ]
    matcher = Matcher(rules)
    result = matcher.match(story("Nagorno–Karabakh talks"))
    assert [(m.rule_id, [h.term for h in m.hits]) for m in result] == [
        ("one", ["Nagorno-Karabakh"]),
        ("two", ["nagorno karabakh"]),
        ("three", ["NAGORNO KARABAKH"]),
    ]
    assert [m.rule_id for m in matcher.match(story("Nagorno Karabakh football"))] == ["one", "two"]


def test_rules_with_the_same_term_share_one_index_entry() -> None:
    matcher = Matcher(
        [
            rule("a", any=("Karabakh", "Nagorno-Karabakh")),
            rule("b", any=("KARABAKH", "Baku"), none=("nagorno karabakh",)),
            rule("c", all=("karabağ",)),
        ]
    )
    # karabakh / nagorno karabakh / baku / karabag: folding makes equal spellings one pattern.
    assert matcher.pattern_count == 4


def test_hits_carry_term_field_offsets_and_story_text() -> None:
    s = story(
        title="Breaking: Nagorno–Karabakh talks",
        summary="Officials in BAKU said Nagorno Karabakh and baku…",
    )
    (match,) = Matcher([rule(any=("Nagorno-Karabakh", "Baku"))]).match(s)
    assert match.rule_id == "r"
    assert match.hits == (
        Hit("Nagorno-Karabakh", "title", 10, 26, "Nagorno–Karabakh"),
        Hit("Baku", "summary", 13, 17, "BAKU"),
        Hit("Nagorno-Karabakh", "summary", 23, 39, "Nagorno Karabakh"),
        Hit("Baku", "summary", 44, 48, "baku"),
    )
    for hit in match.hits:
        assert s.field_text(hit.field)[hit.start : hit.end] == hit.text
    assert match.terms == ("Nagorno–Karabakh", "BAKU", "Nagorno Karabakh", "baku")


def test_hit_text_is_the_story_spelling_with_apostrophe_suffix_outside() -> None:
    s = story("KARABAĞ’ın geleceği ve Karabağ'da barış")
    (match,) = Matcher([rule(any=("Karabağ",))]).match(s)
    assert [(h.term, h.text) for h in match.hits] == [
        ("Karabağ", "KARABAĞ"),
        ("Karabağ", "Karabağ"),
    ]
    assert match.terms == ("KARABAĞ", "Karabağ")


def test_match_terms_are_deduplicated() -> None:
    s = story("Baku, BAKU and again Baku", summary="Baku")
    (match,) = Matcher([rule(any=("Baku", "Yerevan"), all=("Baku",))]).match(s)
    # One hit per occurrence even though the term is both an 'any' and an 'all' term.
    assert [(h.field, h.text) for h in match.hits] == [
        ("title", "Baku"),
        ("title", "BAKU"),
        ("title", "Baku"),
        ("summary", "Baku"),
    ]
    assert match.terms == ("Baku", "BAKU")


def test_hits_include_all_terms_and_only_present_any_terms() -> None:
    s = story("Baku gas deal")
    (match,) = Matcher([rule(all=("deal",), any=("gas", "oil"), none=("war",))]).match(s)
    assert sorted(h.term for h in match.hits) == ["deal", "gas"]


def test_hits_are_limited_to_the_rules_fields() -> None:
    s = story("Karabakh", summary="Karabakh", tags=("Karabakh",))
    (match,) = Matcher([rule(any=("Karabakh",), fields=("summary", "tags"))]).match(s)
    assert [h.field for h in match.hits] == ["summary", "tags"]


def test_story_without_any_term_matches_nothing() -> None:
    assert Matcher([rule(any=("Karabakh",))]).match(story("Nothing to see", "here")) == []


def test_empty_matcher_matches_nothing() -> None:
    assert Matcher([]).match(story("Karabakh")) == []


def test_rulebook_compiles_and_indexes_rules() -> None:
    book = RuleBook([rule("a", any=("Baku",)), rule("b", any=("Yerevan",))])
    assert book.by_id["b"].any == ("Yerevan",)
    assert {r.id: r.title for r in book.rules} == {"a": "A", "b": "B"}
    assert [m.rule_id for m in book.matcher.match(story("Yerevan"))] == ["b"]
    assert book.matcher.rules == book.rules


# -- invalid rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule_kw",
    [
        pytest.param({}, id="no-terms"),
        pytest.param({NONE: ("football",)}, id="only-none"),
    ],
)
def test_rule_without_positive_terms_is_rejected(rule_kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rule 'r'"):
        Matcher([rule(**rule_kw)])


@pytest.mark.parametrize(
    "term",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("---", id="dashes"),
        pytest.param("'’", id="apostrophes"),
        pytest.param("😀🚀", id="emoji"),
        pytest.param("\u00ad\u200b", id="invisible"),
    ],
)
@pytest.mark.parametrize("where", [ANY, ALL, NONE])
def test_term_without_letters_is_rejected(term: str, where: str) -> None:
    kw: dict[str, Any] = {where: (term,)}
    if where == NONE:
        kw[ANY] = ("Karabakh",)
    with pytest.raises(ValueError, match="no letters or digits"):
        Matcher([rule(**kw)])


# -- property: the indexed matcher agrees with a naive one ----------------------------------

VOCABULARY = [
    "Karabakh",
    "KARABAKH",
    "Karabağ",
    "Nagorno",
    "nagorno",
    "Baku",
    "Bakı",
    "Əliyev",
    "eliyev",
    "İstanbul",
    "istanbul",
    "Akıncı",
    "Карабах",
    "карабах",
    "ёлка",
    "елка",
    "Straße",
    "strasse",
    "TB2",
    "us",
    "US",
    "use",
    "da",
    "ın",
]
SEPARATORS = [" ", "  ", "-", "–", "—", "'", "’", ", ", "\n", ". ", " 😀 ", "_", "/"]

words = st.sampled_from(VOCABULARY)
terms = st.builds(
    lambda ws, sep: sep.join(ws),
    st.lists(words, min_size=1, max_size=3),
    st.sampled_from([" ", "-", "–"]),
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(words, max_size=12))
    out = []
    for part in parts:
        out.append(part)
        out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


@st.composite
def rules(draw: st.DrawFn, index: int) -> Rule:
    any_terms = draw(st.lists(terms, max_size=3))
    all_terms = draw(st.lists(terms, min_size=0 if any_terms else 1, max_size=2))
    none_terms = draw(st.lists(terms, max_size=2))
    fields = draw(st.sampled_from([("title",), ("summary",), ("title", "summary")]))
    return Rule(
        id=f"r{index}",
        title=f"R{index}",
        any=tuple(any_terms),
        all=tuple(all_terms),
        none=tuple(none_terms),
        fields=fields,
    )


@st.composite
def rule_lists(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(min_value=1, max_value=4))
    return [draw(rules(i)) for i in range(count)]


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def reference_match(rule_list: list[Rule], s: Story) -> list[str]:
    """The obviously correct, slow matcher."""
    result = []
    for r in rule_list:

        def present(term: str, r: Rule = r) -> bool:
            needle = fold_words(term)
            return any(_contains(fold_words(s.field_text(f)), needle) for f in r.fields)

        if any(present(t) for t in r.none):
            continue
        if not all(present(t) for t in r.all):
            continue
        if r.any and not any(present(t) for t in r.any):
            continue
        result.append(r.id)
    return result


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rule_list=rule_lists(), title=texts(), summary=texts())
def test_matcher_agrees_with_reference(rule_list: list[Rule], title: str, summary: str) -> None:
    s = story(title, summary)
    result = Matcher(rule_list).match(s)
    assert [m.rule_id for m in result] == reference_match(rule_list, s)
    for m in result:
        r = next(r for r in rule_list if r.id == m.rule_id)
        assert m.hits
        for hit in m.hits:
            assert hit.field in r.fields
            assert hit.term in (*r.any, *r.all)
            assert s.field_text(hit.field)[hit.start : hit.end] == hit.text
            assert fold_words(hit.text) == fold_words(hit.term)


def as_query(r: Rule) -> Rule:
    """The same rule written in the query language instead of lists."""

    def quoted(terms: tuple[str, ...]) -> str:
        return " OR ".join(f'"{t}"' for t in terms)

    parts = []
    if r.any:
        parts.append(f"({quoted(r.any)})")
    parts.extend(f'"{t}"' for t in r.all)
    query = " AND ".join(parts)
    if r.none:
        query += f" NOT ({quoted(r.none)})"
    return Rule(id=r.id, title=r.title, query=query, fields=r.fields)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rule_list=rule_lists(), title=texts(), summary=texts())
def test_query_form_agrees_with_list_form(rule_list: list[Rule], title: str, summary: str) -> None:
    s = story(title, summary)
    by_lists = [m.rule_id for m in Matcher(rule_list).match(s)]
    by_query = [m.rule_id for m in Matcher([as_query(r) for r in rule_list]).match(s)]
    assert by_query == by_lists


# -- fast paths: the same words, spellings and decisions as the general path ---------------
# Most stories have ASCII words (with curly quotes and dashes around them); they take a path
# that never looks at the characters one by one in Python. These tests hold it to the general
# path, which every text could take.


def _general(text: str) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """Words, spans and written forms as the general path finds them."""
    scan = text_module._NOT_WORD_RE.sub(" ", text).replace("_", " ")
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    written: list[str] = []
    for m in text_module._TOKEN_RE.finditer(scan):
        written.append(text_module._as_written(m.group()))
        for part in text_module.fold_parts(m.group()):
            words.append(part)
            spans.append(m.span())
    return words, spans, written


def _non_ascii(step: int) -> list[str]:
    """Every character of the BMP beyond ASCII, and one in ``step`` beyond it."""
    return [chr(c) for c in range(0x80, 0x10000)] + [chr(c) for c in range(0x10000, 0x110000, step)]


def test_ascii_path_is_taken_exactly_when_every_non_ascii_character_separates_words() -> None:
    for char in _non_ascii(97):
        separates = text_module._NOT_WORD_RE.fullmatch(char) is not None
        assert text_module._words_are_ascii(f"a{char}b") is separates, hex(ord(char))


def test_a_character_reference_written_in_the_text_is_only_a_detour() -> None:
    # The encoder writes non-ASCII characters as "&#...;": one written in the text itself
    # sends it down the general path, which finds the same words.
    assert not text_module._words_are_ascii("see &#65; and &#1114112; here")
    assert FieldTokens("see &#65; here").words == ["see", "65", "here"]


SAMPLES = [
    "Officials in BAKU said “Nagorno–Karabakh” talks… resume",
    "US_army’s drone: ⚠️Breaking — 2024’s “TB2” deal",
    "Karabağʼda durum 😀 and naïve cafe\u0301 Kara\u00adbakh",
    "Mbappé’s ½ goal at İstanbul, Ærø",
    "see &#65; and &#x41; — “quotes” «guillemets»\u00a0nbsp",
    "",
    "…—",
]
FAST_PATH_CHARS = [
    *"aZ09 _-'.,\n?&#;",
    *"\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u00ab\u00bb\u02bc\ufe0f\u20ac",
    *["😀", "é", "e\u0301", "\u00ad", "\u200b", "Ж", "ı", "İ", "½", "ﬁ", "&#65;", "US", "us"],
]


def _agrees_with_the_general_path(text: str, spellings: list[str]) -> None:
    tok = FieldTokens(text)
    words, spans, written = _general(text)
    assert tok.words == words
    assert [tok.span(i) for i in range(len(words))] == spans
    assert tok.originals() == written
    assert tok.written(spellings) == [s for s in spellings if s in written]


@pytest.mark.parametrize("text", SAMPLES)
def test_field_tokens_agree_with_the_general_path(text: str) -> None:
    spellings = ["US", "us", "BAKU", "Baku", "TB2", "Karabağ", "Kara", "İstanbul", "Mbappé"]
    _agrees_with_the_general_path(text, spellings)


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(st.sampled_from(FAST_PATH_CHARS), max_size=30).map("".join))
def test_field_tokens_agree_with_the_general_path_on_random_text(text: str) -> None:
    _agrees_with_the_general_path(text, ["US", "us", "aZ09", "Z09", "a", "09", "é", "Ж", "İ"])


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("US", True),
        ("the US’s plan", True),
        ("“US” and ‘US’", True),
        ("US_army", True),
        ("2024-US", True),
        ("Ünited US", True),  # the general path (non-ASCII word)
        ("U\u00adS talks", True),  # invisible character inside the word
        ("us", False),
        ("Us", False),
        ("USA", False),
        ("BUS", False),
        ("xUS", False),
        ("US2", False),
        ("U.S.", False),
    ],
)
def test_exact_one_word_term_on_both_paths(title: str, expected: bool) -> None:
    rules = [rule("exact", any=("=US",)), rule("other", any=("Karabakh",))]
    found = [m.rule_id for m in Matcher(rules).match(story(title, "Karabakh"))]
    assert found == (["exact", "other"] if expected else ["other"])


def test_explanations_survive_the_word_cache_being_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Matches explain themselves later, after other stories have emptied the bounded cache of
    words the scan went through."""
    monkeypatch.setattr(matcher_module, "_CACHE_LIMIT", 8)
    matcher = Matcher(
        [
            rule("any", any=("Baku", "gas pipeline")),
            rule("all", all=("Baku", "=US"), none=("football",), fields=("summary",)),
            rule("prefix", any=("pipe*",)),
        ]
    )
    first = matcher.match(story("Baku gas pipeline", "the US and Baku, pipelines"))
    assert [m.rule_id for m in first] == ["any", "all", "prefix"]
    for k in range(20):
        matcher.match(story(f"word{k} other{k} more{k} Baku", f"filler{k} text{k}"))
    assert [(h.term, h.field, h.text) for h in first[1].hits] == [
        ("=US", "summary", "US"),
        ("Baku", "summary", "Baku"),
    ]
    assert [h.text for h in first[0].hits] == ["Baku", "gas pipeline", "Baku"]
    assert [h.text for h in first[2].hits] == ["pipeline", "pipelines"]


def test_match_with_hits_given_or_explained() -> None:
    hit = Hit("Baku", "title", 0, 4, "Baku")
    assert Match("r", (hit,)).hits == (hit,)
    assert Match("r", (hit,)) == Match("r", (hit,))
    with pytest.raises(ValueError, match="hits or a way"):
        Match("r").hits  # noqa: B018
