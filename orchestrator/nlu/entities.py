"""Extract money, dates, card/account references, ids and countries from a sub-issue.

Card numbers and IBANs are masked before anything else runs, so no other
extractor (invoice ids, amounts) can echo the raw digits back.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from plugins.contracts import Entities, Money

# --- money -------------------------------------------------------------------------------------

_SYMBOLS = {
    "us$": "USD", "s$": "SGD", "sg$": "SGD", "hk$": "HKD", "a$": "AUD", "au$": "AUD", "c$": "CAD",
    "ca$": "CAD", "nz$": "NZD", "r$": "BRL", "mx$": "MXN", "$": "USD", "€": "EUR", "£": "GBP",
    # our customers are in CN, not JP: a bare yen/yuan sign means renminbi
    "¥": "CNY", "￥": "CNY", "₹": "INR", "₩": "KRW", "₣": "CHF",
}  # fmt: skip
_WORDS = {
    "eur": "EUR", "euro": "EUR", "euros": "EUR", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "bucks": "USD", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP",
    "cny": "CNY", "rmb": "CNY", "yuan": "CNY", "renminbi": "CNY", "元": "CNY", "块": "CNY",
    "块钱": "CNY", "人民币": "CNY", "sgd": "SGD", "hkd": "HKD", "jpy": "JPY", "yen": "JPY",
    "chf": "CHF", "cad": "CAD", "aud": "AUD", "inr": "INR", "mxn": "MXN", "pesos": "MXN",
    "美元": "USD", "欧元": "EUR", "英镑": "GBP", "新元": "SGD", "新加坡元": "SGD", "港币": "HKD",
    "dólares": "USD", "dolares": "USD", "libras": "GBP",
    # a symbol after the number, as in "12,50 €"
    "€": "EUR", "£": "GBP", "$": "USD", "¥": "CNY", "￥": "CNY",
}  # fmt: skip
_ISO_PREFIX = ("EUR", "USD", "GBP", "CNY", "RMB", "SGD", "HKD", "JPY", "CHF", "CAD", "AUD", "INR")

_NUM = r"\d{1,3}(?:[,.\u00a0 ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYM = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_WORD = "|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True))
_MONEY_RE = re.compile(
    rf"(?<![A-Za-z0-9_.,])(?:(?P<iso>{'|'.join(_ISO_PREFIX)})\s?|(?P<sym>{_SYM})\s?)?"
    rf"(?P<num>{_NUM})(?![\d])\s?(?P<mult>k|K|m|M|mil|万|千)?(?![A-Za-z])"
    rf"(?:\s?(?P<word>{_WORD})(?![A-Za-z]))?",
    re.IGNORECASE,
)
_MULT = {"k": 1_000, "m": 1_000_000, "mil": 1_000, "千": 1_000, "万": 10_000}


def _parse_number(raw: str) -> float | None:
    s = raw.replace("\u00a0", " ").replace(" ", ",")
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        dec = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        tail = s.rsplit(sep, 1)[1]
        # "12,50" and "1.5" are decimals; "1,200" and "12.500" group thousands
        dec = sep if s.count(sep) == 1 and len(tail) != 3 else ""
    else:
        dec = ""
    digits = "".join(c for c in s if c.isdigit() or c == dec)
    try:
        return float(digits.replace(",", ".")) if digits else None
    except ValueError:
        return None


def amounts(text: str) -> list[Money]:
    out: list[Money] = []
    for m in _MONEY_RE.finditer(text):
        iso, sym, word, mult = m.group("iso"), m.group("sym"), m.group("word"), m.group("mult")
        if mult and mult.lower() == "m" and not (iso or sym or word):
            continue  # "5 m" is a distance far more often than five million
        if not (iso or sym or word or (mult and mult.lower() == "k")):
            continue  # a bare number is not money
        value = _parse_number(m.group("num"))
        if value is None:
            continue
        if mult:
            value *= _MULT[mult.lower()]
        currency = None
        if iso:
            currency = "CNY" if iso.upper() == "RMB" else iso.upper()
        elif sym:
            currency = _SYMBOLS[sym.lower()]
        elif word:
            currency = _WORDS[word.lower()]
        out.append(Money(amount=round(value, 2), currency=currency, text=m.group().strip()))
    return out


# --- dates -------------------------------------------------------------------------------------

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}  # fmt: skip
_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6, "lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3,
    "viernes": 4, "sábado": 5, "sabado": 5, "domingo": 6,
}  # fmt: skip
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_RELATIVE = {
    "today": 0, "tonight": 0, "this morning": 0, "hoy": 0, "今天": 0, "今日": 0,
    "yesterday": -1, "ayer": -1, "昨天": -1, "昨日": -1, "day before yesterday": -2, "anteayer": -2,
    "antier": -2, "前天": -2, "tomorrow": 1, "明天": 1, "pasado mañana": 2, "后天": 2,
}  # fmt: skip

_DATE_RE = re.compile(
    r"(?P<iso>\b(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})\b)"
    r"|(?P<ymd>\b(?P<yy>\d{4})/(?P<ym>\d{1,2})/(?P<yd>\d{1,2})\b)"
    r"|(?P<num>\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<c>\d{4}|\d{2})\b)"
    r"|(?P<zh>(?:(?P<zy>\d{4})\s*年\s*)?(?P<zm>\d{1,2})\s*月\s*(?P<zd>\d{1,2})\s*[日号])"
    rf"|(?P<dm>\b(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?(?:\s+de)?\s+(?P<m1>{_MONTH})\b\.?"
    r"(?:,?\s+(?:de\s+|del\s+)?(?P<y1>\d{4}))?)"
    rf"|(?P<md>\b(?P<m2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y2>\d{{4}}))?)"
    rf"|(?P<last>\b(?:last|this\s+past|past)\s+(?P<wd1>{_WEEKDAY})\b"
    rf"|\b(?:el\s+)?(?P<wd2>{_WEEKDAY})\s+pasado\b)"
    r"|(?P<zhwk>上(?:个)?(?:周|星期|礼拜)(?P<zw>[一二三四五六日天]))"
    r"|(?P<ago>\b(?P<n>\d{1,3}|a|one|two|three|four|five|six|seven)\s+days?\s+ago\b"
    r"|\bhace\s+(?P<n2>\d{1,3}|un|dos|tres|cuatro|cinco)\s+d[ií]as?\b|(?P<n3>\d{1,3})\s*天前)"
    r"|(?P<rel>\b(?:the\s+)?day\s+before\s+yesterday\b|\bpasado\s+mañana\b"
    r"|\b(?:today|tonight|this\s+morning|yesterday|tomorrow|hoy|ayer|anteayer|antier)\b"
    r"|今天|今日|昨天|昨日|前天|明天|后天)",
    re.IGNORECASE,
)
_SMALL = {"a": 1, "one": 1, "un": 1, "two": 2, "dos": 2, "three": 3, "tres": 3, "four": 4, "cuatro": 4}
_SMALL |= {"five": 5, "cinco": 5, "six": 6, "seven": 7}


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _year(raw: str | None, today: date) -> int:
    if not raw:
        return today.year
    y = int(raw)
    return y + 2000 if y < 100 else y


def _as_date(now: datetime | date | None) -> date:
    if now is None:
        return date.today()
    return now.date() if isinstance(now, datetime) else now


def dates(text: str, *, now: datetime | date | None = None, day_first: bool = True) -> list[str]:
    """ISO dates mentioned in `text`; relative ones resolve against `now`.

    `day_first` settles 03/04/2026 (UK/EU/SG read 3 April; US customers mean 4 March).
    """
    today = _as_date(now)
    out: list[str] = []
    for m in _DATE_RE.finditer(text):
        g = m.groupdict()
        d: date | None = None
        if g["iso"]:
            d = _safe_date(int(g["iy"]), int(g["im"]), int(g["id"]))
        elif g["ymd"]:
            d = _safe_date(int(g["yy"]), int(g["ym"]), int(g["yd"]))
        elif g["num"]:
            a, b, y = int(g["a"]), int(g["b"]), _year(g["c"], today)
            day, month = (a, b) if day_first else (b, a)
            if month > 12 and day <= 12:
                day, month = month, day  # the order the customer must have meant
            d = _safe_date(y, month, day)
        elif g["zh"]:
            d = _safe_date(_year(g["zy"], today), int(g["zm"]), int(g["zd"]))
        elif g["dm"]:
            d = _safe_date(_year(g["y1"], today), _MONTHS[g["m1"].lower()], int(g["d1"]))
        elif g["md"]:
            d = _safe_date(_year(g["y2"], today), _MONTHS[g["m2"].lower()], int(g["d2"]))
        elif g["last"]:
            wd = _WEEKDAYS[(g["wd1"] or g["wd2"]).lower()]
            back = (today.weekday() - wd) % 7 or 7  # the most recent one before today
            d = today - timedelta(days=back)
        elif g["zhwk"]:
            monday = today - timedelta(days=today.weekday())
            d = monday - timedelta(days=7) + timedelta(days=_ZH_WEEKDAYS[g["zw"]])
        elif g["ago"]:
            raw = (g["n"] or g["n2"] or g["n3"] or "1").lower()
            days = int(raw) if raw.isdigit() else _SMALL.get(raw, 1)
            d = today - timedelta(days=days)
        elif g["rel"]:
            key = re.sub(r"\s+", " ", g["rel"].lower()).removeprefix("the ")
            d = today + timedelta(days=_RELATIVE[key])
        if d is not None:
            iso = d.isoformat()
            if iso not in out:
                out.append(iso)
    return out


# --- cards and accounts ------------------------------------------------------------------------

_PAN_RE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_END_RE = re.compile(
    r"(?:card|tarjeta|卡)[^\n.?!]{0,30}?(?:ending|ends|ending\s+in|last\s+(?:4|four)(?:\s+digits)?"
    r"|terminada\s+en|que\s+termina\s+en|termina\s+en|尾号|末四位|后四位)\D{0,12}?(?P<d>\d{4})\b"
    r"|(?:尾号|末四位|后四位)\s*(?:是|为)?\s*(?P<d2>\d{4})\b"
    r"|\b(?:ending|ends)\s+(?:in|with)\s+(?P<d3>\d{4})\b",
    re.IGNORECASE,
)
# upper case only, as IBANs are written: case-insensitive groups would swallow the next word
_IBAN_RE = re.compile(r"\b(?P<iban>[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?)\b")
_ACCOUNT_RE = re.compile(
    r"(?:account|acct|a/c|cuenta|账户|账号|帐号|帐户)\s*(?:number|no\.?|nr\.?|num\.?|#|número|号码|号)?"
    r"\s*[:#]?\s*(?:is|es|是|为)?\s*(?P<acc>\d[\d -]{4,22}\d)(?![\d])",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _mask(digits: str) -> str:
    return "****" + digits[-4:]


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _sensitive(text: str) -> tuple[list[str], list[str], str]:
    """Card refs, account refs, and `text` with every PAN, IBAN and account number blanked out."""
    cards: list[str] = []
    accounts: list[str] = []
    for m in list(_IBAN_RE.finditer(text)):
        raw = m.group("iban")
        # a mistyped IBAN is still an IBAN when the customer says so
        said_iban = sum(c.isdigit() for c in raw) >= 10 and re.search(r"iban", text, re.IGNORECASE)
        if _iban_ok(raw) or said_iban:
            accounts.append("IBAN " + _mask(re.sub(r"\W", "", raw)))
            text = _blank(text, m.start(), m.end())
    for m in list(_PAN_RE.finditer(text)):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            cards.append(_mask(digits))
            text = _blank(text, m.start(), m.end())
    for m in list(_ACCOUNT_RE.finditer(text)):
        digits = re.sub(r"\D", "", m.group("acc"))
        if len(digits) >= 6:
            accounts.append("account " + _mask(digits))
            text = _blank(text, m.start("acc"), m.end("acc"))
    for m in list(_PAN_RE.finditer(text)):
        # a long digit run right after "card" is a card even when a digit was mistyped
        digits = re.sub(r"\D", "", m.group())
        if re.search(r"(?:card|tarjeta|卡)\D{0,20}$", text[max(0, m.start() - 30) : m.start()], re.I):
            cards.append(_mask(digits))
            text = _blank(text, m.start(), m.end())
    for m in _CARD_END_RE.finditer(text):
        cards.append("****" + (m.group("d") or m.group("d2") or m.group("d3")))
    return _unique(cards), _unique(accounts), text


# --- ids ---------------------------------------------------------------------------------------

_INVOICE_RE = re.compile(
    r"\b(?P<pref>INV[-_]?[A-Z0-9][A-Z0-9-]*[0-9][A-Z0-9-]*)\b"
    r"|(?:\b(?:invoice|factura|bill)|发票)\s*(?:number|no\.?|nr\.?|num\.?|id|número|号码|号)?\s*[:#]?\s*"
    r"(?P<num>#?[A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*)\b",
    re.IGNORECASE,
)
_TX_RE = re.compile(
    r"\b(?P<pref>(?:TXN?|TRX|TRN)[-_]?[A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*)\b"
    r"|(?:\b(?:transaction|transfer|payment|txn|transacción|transferencia)|交易|转账)"
    r"(?:\s*(?:id|reference|ref\.?|number|no\.?|num\.?|#|código|referencia|号|编号|单号|流水号))+\s*[:#]?\s*"
    r"(?P<num>#?[A-Z0-9][A-Z0-9-]{2,}\d[A-Z0-9-]*|\d{3,})\b",
    re.IGNORECASE,
)


def _ids(regex: re.Pattern[str], text: str) -> list[str]:
    out = []
    for m in regex.finditer(text):
        if m.group("pref"):
            out.append(m.group("pref").upper())
        else:
            out.append(m.group("num").lstrip("#"))
    return _unique(out)


# --- countries ---------------------------------------------------------------------------------

_COUNTRY_NAMES = {
    "china": "CN", "mainland china": "CN", "prc": "CN", "中国": "CN", "中国大陆": "CN", "大陆": "CN",
    "spain": "ES", "españa": "ES", "espana": "ES", "西班牙": "ES",
    "singapore": "SG", "singapur": "SG", "新加坡": "SG",
    "united kingdom": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "reino unido": "GB", "inglaterra": "GB", "英国": "GB",
    "united states": "US", "united states of america": "US", "america": "US", "estados unidos": "US",
    "美国": "US", "california": "US",
    "germany": "DE", "alemania": "DE", "德国": "DE", "france": "FR", "francia": "FR", "法国": "FR",
    "italy": "IT", "italia": "IT", "意大利": "IT", "portugal": "PT", "葡萄牙": "PT",
    "netherlands": "NL", "holland": "NL", "países bajos": "NL", "荷兰": "NL", "ireland": "IE",
    "irlanda": "IE", "belgium": "BE", "bélgica": "BE", "austria": "AT", "switzerland": "CH",
    "suiza": "CH", "瑞士": "CH", "poland": "PL", "sweden": "SE", "norway": "NO", "denmark": "DK",
    "finland": "FI", "greece": "GR", "canada": "CA", "canadá": "CA", "加拿大": "CA",
    "mexico": "MX", "méxico": "MX", "墨西哥": "MX", "brazil": "BR", "brasil": "BR", "argentina": "AR",
    "colombia": "CO", "chile": "CL", "peru": "PE", "perú": "PE", "japan": "JP", "japón": "JP",
    "日本": "JP", "hong kong": "HK", "香港": "HK", "taiwan": "TW", "台湾": "TW", "south korea": "KR",
    "korea": "KR", "韩国": "KR", "india": "IN", "印度": "IN", "malaysia": "MY", "马来西亚": "MY",
    "indonesia": "ID", "thailand": "TH", "泰国": "TH", "vietnam": "VN", "越南": "VN",
    "philippines": "PH", "australia": "AU", "澳大利亚": "AU", "澳洲": "AU", "new zealand": "NZ",
    "russia": "RU", "俄罗斯": "RU", "turkey": "TR", "türkiye": "TR", "united arab emirates": "AE",
    "uae": "AE", "dubai": "AE", "nigeria": "NG", "south africa": "ZA", "egypt": "EG",
    "israel": "IL", "ukraine": "UA", "romania": "RO", "czech republic": "CZ", "czechia": "CZ",
    "hungary": "HU", "luxembourg": "LU", "malta": "MT", "cyprus": "CY", "iceland": "IS",
}  # fmt: skip
# Upper-case codes only, and only ones that are not also common words ("IT", "IN", "ME", "NO").
_COUNTRY_CODES = {
    "UK": "GB", "GB": "GB", "US": "US", "USA": "US", "U.S.": "US", "U.S.A.": "US", "U.K.": "GB",
    "CN": "CN", "PRC": "CN", "ES": "ES", "SG": "SG", "DE": "DE", "FR": "FR", "HK": "HK", "NL": "NL",
    "IE": "IE", "PT": "PT", "MX": "MX", "JP": "JP", "AU": "AU", "CH": "CH", "UAE": "AE", "EEUU": "US",
    "EE.UU.": "US",
}  # fmt: skip
_HAN_RE = re.compile("[\u4e00-\u9fff]")
_NAME_RE = re.compile(
    r"(?<!\w)(?:"
    + "|".join(re.escape(n) for n in sorted(_COUNTRY_NAMES, key=len, reverse=True) if not _HAN_RE.search(n))
    + r")(?!\w)|"
    + "|".join(re.escape(n) for n in sorted(_COUNTRY_NAMES, key=len, reverse=True) if _HAN_RE.search(n)),
    re.IGNORECASE,
)
_CODE_RE = re.compile(
    r"(?<![\w.])(?:" + "|".join(re.escape(c) for c in sorted(_COUNTRY_CODES, key=len, reverse=True))
    + r")(?![\w$])"
)  # fmt: skip


def countries(text: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for m in _NAME_RE.finditer(text):
        found.append((m.start(), _COUNTRY_NAMES[m.group().lower()]))
    codes = [(m.start(), _COUNTRY_CODES[m.group()]) for m in _CODE_RE.finditer(text)]
    if codes:
        letters = [c for c in text if c.isalpha() and c.isascii()]
        shouting = len(letters) > 12 and sum(c.isupper() for c in letters) > 0.6 * len(letters)
        if not shouting:  # in an all-caps message "US" is just "us"
            found.extend(codes)
    return _unique([code for _, code in sorted(found)])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def extract(text: str, *, now: datetime | date | None = None, day_first: bool = True) -> Entities:
    """All entities in `text`; card and account references come back masked."""
    cards, accounts, safe = _sensitive(text)
    return Entities(
        amounts=tuple(amounts(safe)),
        dates=tuple(dates(safe, now=now, day_first=day_first)),
        card_refs=tuple(cards),
        account_refs=tuple(accounts),
        invoice_ids=tuple(_ids(_INVOICE_RE, safe)),
        transaction_ids=tuple(_ids(_TX_RE, safe)),
        countries=tuple(countries(safe)),
    )
