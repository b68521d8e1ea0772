"""The Porter stemmer, with the conventions of SQLite FTS5's ``porter`` tokenizer.

The store stems query terms itself to look their document frequencies up in
the FTS5 vocabulary, so the stems must be the ones FTS5 indexed; a test checks
this against SQLite for every word of the starter knowledge base.
"""

from __future__ import annotations

import unicodedata

_MIN, _MAX = 3, 64  # FTS5 leaves shorter and (in UTF-8 bytes) longer tokens alone

# (suffix, replacement) per step; within a step the first suffix that ends the
# word decides, even when its condition then fails
_STEP2 = (
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("logi", "log"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
)
_STEP3 = (
    ("icate", "ic"),
    ("ative", ""),
    ("alize", "al"),
    ("iciti", "ic"),
    ("ical", "ic"),
    ("ful", ""),
    ("ness", ""),
)
_STEP4 = (
    "al",
    "ance",
    "ence",
    "er",
    "ic",
    "able",
    "ible",
    "ant",
    "ement",
    "ment",
    "ent",
    "ion",
    "ou",
    "ism",
    "ate",
    "iti",
    "ous",
    "ive",
    "ize",
)


def _group_by_penultimate(rules: tuple) -> dict[str, list]:
    # FTS5 dispatches on the word's second-to-last letter, then tries that group's suffixes in order
    groups: dict[str, list] = {}
    for rule in rules:
        suffix = rule[0] if isinstance(rule, tuple) else rule
        groups.setdefault(suffix[-2], []).append(rule)
    return groups


_STEP2_BY = _group_by_penultimate(_STEP2)
_STEP3_BY = _group_by_penultimate(_STEP3)
_STEP4_BY = _group_by_penultimate(_STEP4)


def _is_vowel(c: str, y_is_vowel: bool) -> bool:
    return c in "aeiou" or (y_is_vowel and c == "y")


def _vc_end(stem: str, prev_consonant: bool) -> int:
    """Index just past the first vowel-then-consonant run in `stem`, or 0 if there is none."""
    consonant = prev_consonant
    i = 0
    n = len(stem)
    while i < n:
        consonant = not _is_vowel(stem[i], consonant)
        if not consonant:
            break
        i += 1
    i += 1
    while i < n:
        consonant = not _is_vowel(stem[i], consonant)
        if consonant:
            return i + 1
        i += 1
    return 0


def _m_gt0(stem: str) -> bool:
    return _vc_end(stem, False) > 0


def _m_gt1(stem: str) -> bool:
    n = _vc_end(stem, False)
    return bool(n) and _vc_end(stem[n:], True) > 0


def _m_eq1(stem: str) -> bool:
    n = _vc_end(stem, False)
    return bool(n) and _vc_end(stem[n:], True) == 0


def _cvc(stem: str) -> bool:
    """*o: the stem ends consonant-vowel-consonant and the last letter is not w, x or y."""
    if not stem or stem[-1] in "wxy":
        return False
    mask = 0
    consonant = False
    for c in stem:
        consonant = not _is_vowel(c, consonant)
        mask = (mask << 1) | int(consonant)
    return mask & 0b111 == 0b101


def _has_vowel(stem: str) -> bool:
    return any(_is_vowel(c, i > 0) for i, c in enumerate(stem))


def _apply(word: str, groups: dict[str, list], condition) -> str:
    if len(word) < 2:
        return word
    for suffix, replacement in groups.get(word[-2], ()):
        if len(word) > len(suffix) and word.endswith(suffix):
            stem = word[: -len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


def _step4(word: str) -> str:
    if len(word) < 2:
        return word
    for suffix in _STEP4_BY.get(word[-2], ()):
        if len(word) > len(suffix) and word.endswith(suffix):
            stem = word[: -len(suffix)]
            if suffix == "ion":
                ok = bool(stem) and stem[-1] in "st" and _m_gt1(stem)
            else:
                ok = _m_gt1(stem)
            return stem if ok else word
    return word


def porter(token: str) -> str:
    """Stem one lower-case token the way FTS5's porter tokenizer does."""
    word = token
    if not _MIN <= len(word.encode("utf-8")) <= _MAX:
        return word
    # step 1a
    if word.endswith("s"):
        if word[-2] == "e":
            if (len(word) > 4 and word.endswith("sses")) or (len(word) > 3 and word.endswith("ies")):
                word = word[:-2]
            else:
                word = word[:-1]
        elif word[-2] != "s":
            word = word[:-1]
    # step 1b
    removed = False
    if len(word) > 3 and word.endswith("eed"):
        if _m_gt0(word[:-3]):
            word = word[:-1]
    elif len(word) > 2 and word.endswith("ed"):
        if _has_vowel(word[:-2]):
            word, removed = word[:-2], True
    elif len(word) > 3 and word.endswith("ing"):
        if _has_vowel(word[:-3]):
            word, removed = word[:-3], True
    if removed and len(word) >= 2:
        if word[-2:] in ("at", "bl", "iz") and len(word) > 2:
            word += "e"
        elif not _is_vowel(word[-1], False) and word[-1] not in "lsz" and word[-1] == word[-2]:
            word = word[:-1]
        elif _m_eq1(word) and _cvc(word):
            word += "e"
    # step 1c
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    word = _apply(word, _STEP2_BY, _m_gt0)
    word = _apply(word, _STEP3_BY, _m_gt0)
    word = _step4(word)
    # step 5a
    if word.endswith("e"):
        stem = word[:-1]
        if _m_gt1(stem) or (_m_eq1(stem) and not _cvc(stem)):
            word = stem
    # step 5b
    if len(word) > 1 and word.endswith("ll") and _m_gt1(word[:-1]):
        word = word[:-1]
    return word


def fold(token: str) -> str:
    """Lower-case and drop diacritics, as unicode61 with remove_diacritics does."""
    decomposed = unicodedata.normalize("NFD", token.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
