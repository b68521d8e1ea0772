"""Find and mask personal data in free text.

Detectors run in a fixed priority order and a later detector never claims
characters an earlier one matched, so a card number is never also a phone
number. Numbers with a checksum (card PANs: Luhn; IBANs: mod 97; CN resident
ids: ISO 7064; SG NRIC) are only reported when the checksum holds, which keeps
order numbers and amounts from being masked. Text without a digit or an "@"
returns at once: most chat messages never reach a regular expression.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

KINDS: tuple[str, ...] = (
    "card_number",
    "iban",
    "email",
    "phone",
    "ssn",
    "uk_nino",
    "cn_resident_id",
    "sg_nric",
    "date_of_birth",
    "address",
)

_LABELS = {
    "email": "[email]",
    "phone": "[phone]",
    "ssn": "[ssn]",
    "uk_nino": "[ni_number]",
    "cn_resident_id": "[id_number]",
    "sg_nric": "[nric]",
    "date_of_birth": "[date_of_birth]",
    "address": "[address]",
}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int


# ---------------------------------------------------------------- checksums


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(d: str) -> bool:
    # issuer prefixes and their lengths: keeps Luhn-valid reference numbers out
    n = len(d)
    first = d[0]
    if first == "4":
        return n in (13, 16, 19)
    if first == "5":
        return "51" <= d[:2] <= "55" and n == 16
    if first == "2":
        return "2221" <= d[:4] <= "2720" and n == 16
    if first == "3":
        if d[:2] in ("34", "37"):
            return n == 15
        if d[:2] in ("30", "36", "38"):
            return n in (14, 16)
        return "3528" <= d[:4] <= "3589" and 16 <= n <= 19
    if first == "6":
        return (d[:4] == "6011" or d[:2] in ("62", "65") or "644" <= d[:3] <= "649") and 16 <= n <= 19
    return False


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_id_ok(value: str) -> bool:
    total = sum(int(c) * w for c, w in zip(value[:17], _CN_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


_NRIC_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)


def nric_ok(value: str) -> bool:
    prefix, digits, check = value[0], value[1:8], value[8]
    total = sum(int(c) * w for c, w in zip(digits, _NRIC_WEIGHTS, strict=True))
    total += {"S": 0, "T": 4, "F": 0, "G": 4, "M": 3}[prefix]
    table = {
        "S": "JZIHGFEDCBA",
        "T": "JZIHGFEDCBA",
        "F": "XWUTRQPNMLK",
        "G": "XWUTRQPNMLK",
        "M": "XWUTRQPNJLK",
    }
    return table[prefix][total % 11] == check


# ---------------------------------------------------------------- detectors

_Span = tuple[int, int]

_HAS_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_CN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_NRIC = re.compile(r"(?<![0-9A-Za-z])[STFGM]\d{7}[A-Z](?![0-9A-Za-z])")
_DIGIT_RUN = re.compile(r"(?<![\d.,])\d+(?:[ -]\d+)*(?!\d|[.,]\d)")
_DIGIT_GROUP = re.compile(r"\d+")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"(?i:\b(?:ssn|social security(?: number| no\.?)?|ss#))\W{0,3}(?:is\s+|was\s+)?((?!000|666|9\d\d)\d{9})(?!\d)"
)
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_PHONES = (
    # international: +country code, then 2-5 groups
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\d)"),
    # 00-prefixed international
    re.compile(r"(?<![\w-])00[1-9]\d{0,2}(?:[ .-]?\d{2,5}){2,5}(?!\d)"),
    # North America: (415) 555-0132, 415-555-0132, 415.555.0132
    re.compile(r"(?<![\w-])(?<!\d )\(\d{3}\)[ ]?\d{3}[-. ]\d{4}(?![-. ]?\d)"),
    re.compile(r"(?<![\w-])(?<!\d[ .])\d{3}([-.])\d{3}\1\d{4}(?![-. ]?\d)"),
    # trunk-prefixed national numbers (UK, EU): 07700 900123, 020 7946 0958, 030-1234567
    re.compile(r"(?<![\w-])(?<!\d )0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}(?![- ]?\d)"),
    # CN mobile: 11 digits starting 13-19
    re.compile(r"(?<![\w-])(?<!\d )1[3-9]\d{9}(?![- ]?\d)"),
    # SG: 8 digits starting 6, 8 or 9, written in two groups of four
    re.compile(r"(?<![\w-])(?<!\d )[689]\d{3}[ -]\d{4}(?![- ]?\d)"),
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DOB = re.compile(
    r"(?i:\b(?:date of birth|birth ?date|d\.?o\.?b\.?|born(?: on| in)?|birthday(?: is)?)(?![a-z]))[\s:,-]*(?:is\s+|was\s+)?"
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})",
    re.IGNORECASE,
)
_STREET = re.compile(
    r"(?<![\w-])\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'.-]+\s+){1,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
    r"Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy)\b\.?"
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|platz|gasse|allee)\s+\d{1,4}[a-z]?\b"
)
_UK_POSTCODE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])")


def _emails(text: str) -> Iterator[_Span]:
    for m in _EMAIL.finditer(text):
        yield m.span()


def _ibans(text: str) -> Iterator[_Span]:
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        want = _IBAN_LENGTHS.get(raw[:2])
        if want is None:
            continue
        positions = [i for i, c in enumerate(raw) if c != " "]
        if len(positions) < want:
            continue
        end = m.start() + positions[want - 1] + 1
        compact = "".join(raw[i] for i in positions[:want])
        # the IBAN must not run on into a longer token
        if end < len(text) and text[end].isalnum():
            continue
        if iban_ok(compact):
            yield m.start(), end


def _cn_ids(text: str) -> Iterator[_Span]:
    for m in _CN_ID.finditer(text):
        if cn_id_ok(m.group(0)):
            yield m.span()


def _nrics(text: str) -> Iterator[_Span]:
    for m in _NRIC.finditer(text):
        if nric_ok(m.group(0)):
            yield m.span()


def _cards(text: str) -> Iterator[_Span]:
    for run in _DIGIT_RUN.finditer(text):
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(run.group(0))]
        if sum(e - s for s, e in groups) < 13:
            continue
        base = run.start()
        i = 0
        while i < len(groups):
            found = False
            for j in range(len(groups) - 1, i - 1, -1):
                digits = "".join(run.group(0)[s:e] for s, e in groups[i : j + 1])
                if 13 <= len(digits) <= 19 and _card_brand_ok(digits) and luhn_ok(digits):
                    yield base + groups[i][0], base + groups[j][1]
                    i = j + 1
                    found = True
                    break
            if not found:
                i += 1


def _ssns(text: str) -> Iterator[_Span]:
    for m in _SSN.finditer(text):
        yield m.span()
    for m in _SSN_CONTEXT.finditer(text):
        yield m.span(1)


def _ninos(text: str) -> Iterator[_Span]:
    for m in _NINO.finditer(text):
        yield m.span()


def _phones(text: str) -> Iterator[_Span]:
    for pattern in _PHONES:
        for m in pattern.finditer(text):
            digits = sum(c.isdigit() for c in m.group(0))
            if 8 <= digits <= 15:
                yield m.span()


def _dobs(text: str) -> Iterator[_Span]:
    for m in _DOB.finditer(text):
        yield m.span("date")


def _addresses(text: str) -> Iterator[_Span]:
    for m in _STREET.finditer(text):
        yield m.span()
    for m in _UK_POSTCODE.finditer(text):
        yield m.span()


# priority order: checksummed and unambiguous formats first
_DETECTORS: tuple[tuple[str, Callable[[str], Iterator[_Span]], bool], ...] = (
    # (kind, detector, needs a digit)
    ("email", _emails, False),
    ("iban", _ibans, True),
    ("cn_resident_id", _cn_ids, True),
    ("sg_nric", _nrics, True),
    ("card_number", _cards, True),
    ("ssn", _ssns, True),
    ("uk_nino", _ninos, True),
    ("date_of_birth", _dobs, True),
    ("address", _addresses, True),
    ("phone", _phones, True),
)


def find_pii(text: str) -> list[PiiMatch]:
    """Every personal-data match in `text`, in order, never overlapping."""
    if len(text) <= _CACHED_CHARS:
        return list(_find_short(text))
    return _find(text)


# Every turn masks many short strings that repeat (ids, amounts, rule texts): their matches are
# kept, in this process only and for a bounded number of strings.
_CACHED_CHARS = 160


@functools.lru_cache(maxsize=4096)
def _find_short(text: str) -> tuple[PiiMatch, ...]:
    return tuple(_find(text))


def _find(text: str) -> list[PiiMatch]:
    has_at = "@" in text
    has_digit = _HAS_DIGIT.search(text) is not None
    if not has_at and not has_digit:
        return []
    taken: list[_Span] = []
    found: list[PiiMatch] = []
    for kind, detect, needs_digit in _DETECTORS:
        if (needs_digit and not has_digit) or (kind == "email" and not has_at):
            continue
        for start, end in detect(text):
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append(PiiMatch(kind, start, end))
    found.sort(key=lambda m: m.start)
    return found


def categories(text: str) -> set[str]:
    """The kinds of personal data in `text`."""
    return {m.kind for m in find_pii(text)}


def _check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown personal-data kind(s) {sorted(unknown)}; known kinds: {', '.join(KINDS)}")
    return wanted


def _token(kind: str, value: str) -> str:
    if kind in ("card_number", "iban"):
        tail = "".join(c for c in value if c.isalnum())[-4:]
        return f"****{tail}"
    return _LABELS[kind]


def mask(text: str, kinds: Iterable[str] | None = None) -> str:
    """`text` with personal data replaced: cards and IBANs keep their last four ("****4242"),
    everything else becomes a label ("[email]"). `kinds` limits which kinds are masked."""
    wanted = None if kinds is None else _check_kinds(kinds)
    matches = find_pii(text)
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        if wanted is not None and m.kind not in wanted:
            continue
        out.append(text[pos : m.start])
        out.append(_token(m.kind, text[m.start : m.end]))
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def mask_data(value: Any, kinds: Iterable[str] | None = None) -> Any:
    """`value` with every string inside it (dicts, lists, tuples) masked; other values unchanged."""
    if isinstance(value, str):
        return mask(value, kinds)
    if isinstance(value, dict):
        return {k: mask_data(v, kinds) for k, v in value.items()}
    if isinstance(value, list | tuple):
        masked = [mask_data(v, kinds) for v in value]
        return masked if isinstance(value, list) else tuple(masked)
    return value
