"""Word tokenization and folding (bot.core.text): what makes a rule term and a story word equal."""

from __future__ import annotations

import pytest

from bot.core.text import fold_word, fold_words, tokens

# -- folding of single words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "folded"),
    [
        pytest.param("Karabakh", "karabakh", id="ascii-title-case"),
        pytest.param("KARABAKH", "karabakh", id="ascii-upper"),
        pytest.param("İstanbul", "istanbul", id="turkish-dotted-capital-I"),
        pytest.param("ISTANBUL", "istanbul", id="turkish-plain-capital-I"),
        pytest.param("ılık", "ilik", id="turkish-dotless-i"),
        pytest.param("IŞIK", "isik", id="turkish-upper-with-cedilla"),
        pytest.param("Əliyev", "eliyev", id="azerbaijani-capital-schwa"),
        pytest.param("ərazi", "erazi", id="azerbaijani-small-schwa"),
        pytest.param("Straße", "strasse", id="german-sharp-s"),
        pytest.param("STRASSE", "strasse", id="german-ss-upper"),
        pytest.param("ẞ", "ss", id="german-capital-sharp-s"),
        pytest.param("café", "cafe", id="acute"),
        pytest.param("cafe\u0301", "cafe", id="decomposed-acute"),
        pytest.param("Niño", "nino", id="tilde"),
        pytest.param("Karabağ", "karabag", id="breve-g"),
        pytest.param("Şuşa", "susa", id="s-cedilla"),
        pytest.param("Çaykur", "caykur", id="c-cedilla"),
        pytest.param("Gödöllő", "godollo", id="umlaut-and-double-acute"),
        pytest.param("Über", "uber", id="u-umlaut"),
        pytest.param("Łódź", "lodz", id="polish-l-stroke"),
        pytest.param("Øresund", "oresund", id="o-stroke"),
        pytest.param("Карабах", "карабах", id="cyrillic-case"),
        pytest.param("КАРАБАХ", "карабах", id="cyrillic-upper"),
        pytest.param("Ёлка", "елка", id="cyrillic-yo-becomes-ye"),
        pytest.param("ёж", "еж", id="cyrillic-small-yo"),
        pytest.param("Йошкар", "йошкар", id="cyrillic-short-i-kept"),
        pytest.param("чай", "чай", id="cyrillic-short-i-kept-at-end"),
        pytest.param("и\u0306од", "йод", id="cyrillic-decomposed-short-i-composed"),
        pytest.param("ＫＡＲＡＢＡＫＨ", "karabakh", id="nfkc-full-width"),
        pytest.param("ﬁnance", "finance", id="nfkc-fi-ligature"),
        pytest.param("Kara\u00adbakh", "karabakh", id="soft-hyphen-dropped"),
        pytest.param("Kara\u200bbakh", "karabakh", id="zero-width-space-dropped"),
        pytest.param("Kara\u200cbakh", "karabakh", id="zero-width-non-joiner-dropped"),
        pytest.param("Kara\u200dbakh", "karabakh", id="zero-width-joiner-dropped"),
        pytest.param("Kara\u2060bakh", "karabakh", id="word-joiner-dropped"),
        pytest.param("Kara\ufeffbakh", "karabakh", id="bom-dropped"),
        pytest.param("Κόσμος", "κοσμοσ", id="greek-accent-and-final-sigma"),
    ],
)
def test_fold_word(word: str, folded: str) -> None:
    assert fold_word(word) == folded


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("İstanbul", "istanbul", id="turkish-I"),
        pytest.param("Akıncı", "AKINCI", id="dotless-i-vs-ascii-upper"),
        pytest.param("Əliyev", "ƏLİYEV", id="azerbaijani"),
        pytest.param("Straße", "STRASSE", id="sharp-s"),
        pytest.param("Карабах", "карабах", id="cyrillic"),
        pytest.param("ёлка", "ЕЛКА", id="yo-ye"),
        pytest.param("ＴＢ２", "tb2", id="full-width-with-digit"),
    ],
)
def test_spellings_fold_together(a: str, b: str) -> None:
    assert fold_words(a) == fold_words(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("йод", "иод", id="short-i-is-a-letter-of-its-own"),
        pytest.param("tb2", "tb20", id="digits-matter"),
        pytest.param("us", "use", id="prefix-is-different"),
    ],
)
def test_spellings_stay_apart(a: str, b: str) -> None:
    assert fold_words(a) != fold_words(b)


# -- tokenization ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("  \n\t ", (), id="only-whitespace"),
        pytest.param("Nagorno Karabakh", ("nagorno", "karabakh"), id="space"),
        pytest.param("Nagorno-Karabakh", ("nagorno", "karabakh"), id="hyphen-minus"),
        pytest.param("Nagorno\u2010Karabakh", ("nagorno", "karabakh"), id="hyphen-U+2010"),
        pytest.param("Nagorno\u2011Karabakh", ("nagorno", "karabakh"), id="non-breaking-hyphen"),
        pytest.param("Nagorno\u2012Karabakh", ("nagorno", "karabakh"), id="figure-dash"),
        pytest.param("Nagorno\u2013Karabakh", ("nagorno", "karabakh"), id="en-dash"),
        pytest.param("Nagorno\u2014Karabakh", ("nagorno", "karabakh"), id="em-dash"),
        pytest.param("Nagorno\u2212Karabakh", ("nagorno", "karabakh"), id="minus-sign"),
        pytest.param("Nagorno\ufe63Karabakh", ("nagorno", "karabakh"), id="small-hyphen-minus"),
        pytest.param("Nagorno\uff0dKarabakh", ("nagorno", "karabakh"), id="full-width-hyphen"),
        pytest.param("Karabağ'da", ("karabag", "da"), id="ascii-apostrophe"),
        pytest.param("KARABAĞ’ın", ("karabag", "in"), id="right-single-quote"),
        pytest.param("Akıncı'nın", ("akinci", "nin"), id="apostrophe-after-dotless-i"),
        pytest.param("Karabağʼda", ("karabag", "da"), id="modifier-letter-apostrophe"),
        pytest.param("⚠️Breaking news", ("breaking", "news"), id="emoji-variation-selector"),
        pytest.param("1️⃣ first", ("1", "first"), id="keycap-emoji"),
        pytest.param("TB2 drones, 2024", ("tb2", "drones", "2024"), id="digits"),
        pytest.param("COVID-19", ("covid", "19"), id="letters-dash-digits"),
        pytest.param("snake_case_word", ("snake", "case", "word"), id="underscore-splits"),
        pytest.param("Karabakh😀Baku", ("karabakh", "baku"), id="emoji-splits"),
        pytest.param("peace🕊talks", ("peace", "talks"), id="emoji-in-symbol-block"),
        pytest.param("a👍🏽b", ("a", "b"), id="emoji-with-skin-tone"),
        pytest.param("👨\u200d👩\u200d👧 Karabakh", ("karabakh",), id="zwj-sequence-alone"),
        pytest.param("(Karabakh).", ("karabakh",), id="punctuation"),
        pytest.param("«Карабах»", ("карабах",), id="guillemets"),
        pytest.param("Kara\u00adbakh", ("karabakh",), id="soft-hyphen-joins"),
        pytest.param("Kara\u200bbakh", ("karabakh",), id="zero-width-space-joins"),
        pytest.param("a \u00ad b", ("a", "b"), id="lone-soft-hyphen-is-no-word"),
        pytest.param("Йошкар-Ола", ("йошкар", "ола"), id="cyrillic-hyphenated"),
        pytest.param("½", ("1", "2"), id="nfkc-fraction-splits"),
    ],
)
def test_fold_words(text: str, words: tuple[str, ...]) -> None:
    assert fold_words(text) == words


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        pytest.param("हिन्दी", "\u094d", id="devanagari-virama"),
        pytest.param("हिंदी", "\u0902", id="devanagari-anusvara"),
        pytest.param("தமிழ்", "\u0bcd", id="tamil-pulli"),
        pytest.param("שָׁלוֹם", "\u05b8", id="hebrew-qamats"),
        pytest.param("שָׁלוֹם", "\u05c1", id="hebrew-shin-dot"),
        pytest.param("مُحَمَّد", "\u0651", id="arabic-shadda"),
        pytest.param("مُحَمَّد", "\u064f", id="arabic-damma"),
    ],
)
def test_script_marks_stay_inside_the_word(text: str, mark: str) -> None:
    words = fold_words(text)
    assert len(words) == 1
    assert mark in words[0]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Nagorno-Karabakh talks", id="ascii"),
        pytest.param("  İSTANBUL’da Əliyev  ", id="turkish-azerbaijani"),
        pytest.param("Straße ﬁnance ＡＢＣ", id="expanding-folds"),
        pytest.param("«Карабах» — Ёлка, йод", id="cyrillic"),
        pytest.param("Kara\u00adbakh and cafe\u0301", id="invisible-and-combining"),
        pytest.param("😀 Baku 🕊 Shusha 👍🏽 end", id="astral-emoji"),
        pytest.param("हिन्दी שָׁלוֹם مُحَمَّد", id="marks"),
        pytest.param("x\u2013y\u2014z\uff0dw", id="dashes"),
    ],
)
def test_offsets_point_into_the_original_text(text: str) -> None:
    toks = tokens(text)
    assert toks
    previous_end = 0
    for tok in toks:
        original = text[tok.start : tok.end]
        assert original, tok
        assert tok.start >= previous_end
        previous_end = tok.end
        # The span is the word as written: folding it again gives the token back.
        assert fold_words(original) == (tok.text,)


def test_offsets_of_a_mixed_sentence() -> None:
    text = "Breaking: KARABAĞ’ın İstanbul-talks (2024)"
    spans = [(t.text, text[t.start : t.end]) for t in tokens(text)]
    assert spans == [
        ("breaking", "Breaking"),
        ("karabag", "KARABAĞ"),
        ("in", "ın"),
        ("istanbul", "İstanbul"),
        ("talks", "talks"),
        ("2024", "2024"),
    ]


def test_expanding_fold_shares_the_original_span() -> None:
    text = "a ½ b"
    toks = tokens(text)
    assert [t.text for t in toks] == ["a", "1", "2", "b"]
    assert (toks[1].start, toks[1].end) == (toks[2].start, toks[2].end) == (2, 3)


def test_invisible_characters_stay_inside_the_span() -> None:
    text = "see Kara\u00adbakh now"
    (tok,) = [t for t in tokens(text) if t.text == "karabakh"]
    assert text[tok.start : tok.end] == "Kara\u00adbakh"


def test_fold_words_is_the_texts_of_tokens() -> None:
    text = "Nagorno–Karabakh: Akıncı'nın açıklaması"
    assert fold_words(text) == tuple(t.text for t in tokens(text))
