"""Split a customer message into candidate sub-issue spans.

Spans index into the original text, so a task can point back at what the
customer wrote. Sentences are split first; a sentence is then cut at a
coordinating marker ("also", "plus", "还有", "además", ...) only when both
sides are long enough to be requests of their own. Short fragments stay
attached to a neighbour so "Thanks!" or "Help please" never become sub-issues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SPANS = 12
MIN_WORDS = 3  # a sentence shorter than this is attached to a neighbour
# a plain "and"/"y" joins clauses of one request far more often than it starts a new one
MIN_WORDS_WEAK = 3
# "freeze my card and send me a new one" is one request; "delete my personal data and cancel my
# subscription" two: an imperative after "and" cuts only after a longer first request
MIN_WORDS_VERB = 4
_WINDOW = 400  # enough characters to count a handful of words without scanning 100 KB


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    text: str  # original[start:end]
    soft: bool = False  # begins after a weak cut (bare comma, plain "and"): merge back unless a new problem
    comma: bool = False  # the weak cut was a bare comma: only a different department makes it a new problem
    # a new sentence on the same line with no marker of a new problem: "I am 17. Can I open an account?"
    sentence: bool = False


_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+(?:['’][^\W{_CJK}]+)*")
_CJK_RE = re.compile(rf"[{_CJK}]")

# A sentence ends at . ! ? (followed by space or end), at CJK terminators, or at a line break.
_END_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+[”’」』）)]*|\n+")
_TOKEN_BEFORE_RE = re.compile(r"(\S+)$")
_NEXT_CHAR_RE = re.compile(r"\s*(\S)")
# "e.g." and friends never end a sentence
_ABBREV = {
    "e.g", "eg", "i.e", "ie", "mr", "mrs", "ms", "dr", "vs", "approx", "appr", "cf", "st", "jr",
    "sr", "sra", "srta", "ud", "uds", "p.ej", "aprox", "min", "max", "est", "dept",
}  # fmt: skip
# these end a sentence only when the next word is capitalised ("... in the U.S. My card ...")
_ABBREV_FINAL = {"etc", "u.s", "u.k", "u.s.a", "inc", "ltd", "co", "corp", "a.m", "p.m", "jan", "feb"}
# these are abbreviations only before a number: "invoice no. 123" vs "No. I did not."
_ABBREV_NUMERIC = {"no", "nr", "nº", "núm", "num", "ref", "acct", "tel", "ext", "inv", "tx", "art"}

_SUBJECT_EN = (
    r"i|i'm|i’m|i've|i’ve|i'd|my|we|we're|our|the|you|your|there's|there|also|can|could|"
    r"how|why|what|when|where|please|someone|somebody"
)
# "delete my data and cancel my subscription": an imperative after "and" starts a new request
_REQUEST_VERBS_EN = (
    r"cancel|delete|erase|close|refund|block|freeze|unblock|send|resend|reset|change|update|"
    r"fix|check|tell|explain|remove|stop|activate|order|replace|waive|reverse|return"
)
# "... and is there a fee?": a question word after "and" may open a question of its own
_QUESTION_EN = r"is|are|am|do|does|did|will|would|should|has|have|which|who|whose|may|might|must"
# after "and" these go on with the same subject ("I paid and was charged a fee"): no new request
_CONTINUES_EN = (
    r"it|it's|its|they|them|was|were|got|get|never|again|then|now|still|yet|even|think|thought|noticed|"
    r"saw|want|wanted|need|needed|tried|didn't|doesn't|don't|can't|couldn't|won't|wasn't|haven't|hasn't|had|"
    r"withdrew|took|made|went|paid|sent|bought|gave|came|did|\w+ed"
)
_SUBJECT_ES = r"mi|mis|me|yo|el|la|los|las|no|también|quiero|necesito|tengo|hay|ahora|cómo|como|qué|por"
# cut points inside one sentence; group "strong" marks a marker that signals a new problem by itself
_CLAUSE_RE = re.compile(
    r"(?P<strong>"
    r"\s*[;；]\s*"
    # an inline list: "1) refund the duplicate Uber charge 2) reset my password"
    r"|\s+\(?\d{1,2}\)\s+"
    # "also" starts a new problem after a comma or "and"/"but", not inside a clause ("was also declined")
    r"|(?<!\bi)(?<!\bwe)(?:,\s*(?:and\s+|but\s+)?|\s+(?:and|but)\s+)also\b[,:]?\s*"
    r"|(?:,\s*|\s+)(?:and\s+|but\s+)?(?=(?:i|we)\s+also\b)"
    r"|,?\s+(?:and\s+)?(?:plus|besides|additionally|furthermore|moreover|separately|as\s+well\s+as"
    r"|on\s+top\s+of\s+(?:that|this)|another\s+thing|one\s+more\s+thing|oh\s+and|oh\s+also"
    r"|apart\s+from\s+(?:that|this)|in\s+addition|while\s+i'?m\s+at\s+it)\b[,:]?\s*"
    r"|,?\s+(?:y\s+)?(?:también|además|aparte|por\s+otro\s+lado|otra\s+cosa)\b[,:]?\s*"
    r"|[，,、]?\s*(?:还有|另外|此外|并且|同时|再就是|顺便问一下|顺便)[，,：:]?\s*"
    r")"
    r"|(?P<weak>"
    rf",?\s+and\s+(?=(?:{_SUBJECT_EN})\b)"
    # "..., and now the machine has kept my card", "..., then my card stopped working": what happened
    # next may be another problem
    rf"|,\s*(?:and\s+)?(?:now|then)\s+(?=(?:{_SUBJECT_EN})\b)"
    rf"|,?\s+y\s+(?=(?:{_SUBJECT_ES})\b)"
    r")"
    # a bare comma before a new subject ("charged twice, the app won't open") may start a new
    # problem or may not; the decomposer merges such a cut back when both sides mean the same
    r"|(?P<soft>"
    rf",\s+(?=(?:{_SUBJECT_EN}|it|it's|this|that|app|card)\b)"
    r")"
    r"|(?P<verb>"
    rf",?\s+and\s+(?=(?:{_REQUEST_VERBS_EN})\b)"
    r")"
    r"|(?P<question>"
    rf",?\s+and\s+(?=(?:{_QUESTION_EN})\b)"
    r")"
    # any other "and" may join two problems ("... and contactless isn't working"); like a weak cut it
    # is merged back unless the other side is another department's problem
    r"|(?P<anyand>"
    rf",?\s+and\s+(?!(?:{_CONTINUES_EN})\b)"
    r")",
    re.IGNORECASE,
)

# a clause opening with one of these before its first comma is the condition or the scene of
# what follows, not a request of its own
_SUBORDINATE_RE = re.compile(
    r"\s*(?:if|when|whenever|since|because|as|although|though|even\s+though|while|whilst|once|after"
    r"|before|unless|until|in\s+case|in\s+terms\s+of)\b[^,;]*$",
    re.IGNORECASE,
)


def word_count(text: str, start: int = 0, end: int | None = None, *, limit: int | None = None) -> float:
    """Words in text[start:end]; a CJK character counts as 0.75 of a word. Stops early at `limit`."""
    end = len(text) if end is None else end
    n = 0.0
    for m in _WORD_RE.finditer(text, start, end):
        n += 0.75 if _CJK_RE.fullmatch(m.group()) else 1.0
        if limit is not None and n >= limit:
            break
    return n


def _enough_words(text: str, start: int, end: int, n: int) -> bool:
    return word_count(text, start, min(end, start + _WINDOW), limit=n) >= n


def _enough_words_before(text: str, start: int, end: int, n: int) -> bool:
    return word_count(text, max(start, end - _WINDOW), end, limit=n) >= n


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and (text[start].isspace() or not text[start].isprintable()):
        start += 1
    while end > start and (text[end - 1].isspace() or not text[end - 1].isprintable()):
        end -= 1
    return (start, end) if start < end else None


def _is_boundary(text: str, m: re.Match[str]) -> bool:
    mark = m.group()
    if not mark.startswith("."):
        return True
    before = _TOKEN_BEFORE_RE.search(text, max(0, m.start() - 24), m.start())
    nxt = _NEXT_CHAR_RE.match(text, m.end())
    next_char = nxt.group(1) if nxt else ""
    if mark.startswith("..") and next_char.islower():
        return False  # "I tried... nothing works" is one thought
    if before is None:
        return True
    token = before.group(1).lower().lstrip("(\"'")
    if token in _ABBREV:
        return False
    if token in _ABBREV_NUMERIC:
        return not (next_char.isdigit() or next_char == "#")
    if token in _ABBREV_FINAL or re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):
        return next_char.isupper()
    return not (len(token) == 1 and token.isalpha() and token != "i" and next_char.isupper())


def sentences(text: str, after_line_break: set[int] | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trimmed of surrounding space."""
    out: list[tuple[int, int]] = []
    start = 0
    line_break = False
    for m in _END_RE.finditer(text):
        if not _is_boundary(text, m):
            continue
        end = m.end() if not m.group().startswith("\n") else m.start()
        span = _trim(text, start, end)
        if span:
            out.append(span)
            if line_break and after_line_break is not None:
                after_line_break.add(span[0])
        start = m.end()
        line_break = "\n" in m.group() or "\n" in text[m.end() : m.end() + 3]
    span = _trim(text, start, len(text))
    if span:
        out.append(span)
        if line_break and after_line_break is not None:
            after_line_break.add(span[0])
    return out


def _clauses(
    text: str,
    start: int,
    end: int,
    min_words: int,
    soft_starts: set[int] | None = None,
    comma_starts: set[int] | None = None,
    strong_starts: set[int] | None = None,
    bare_comma_starts: set[int] | None = None,
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    seg_start = start
    for m in _CLAUSE_RE.finditer(text, start, end):
        if m.start() <= seg_start:
            continue
        if m.group("strong") is not None:
            need = min_words
        elif m.group("verb") is not None:
            need = max(min_words, MIN_WORDS_VERB)
        else:
            need = max(min_words, MIN_WORDS_WEAK)
        need_after = max(min_words, MIN_WORDS_WEAK) if m.group("verb") is not None else need
        if m.group("verb") is not None and _ANAPHORA_RE.search(text, seg_start, m.start()):
            continue  # "block it and send me a new card" acts on one thing: one request
        if m.group("soft") is not None and _SUBORDINATE_RE.match(text, seg_start, m.start()):
            continue  # "if I am abroad, how do I ...?": the clause sets the scene for the question after it
        if not (
            _enough_words_before(text, seg_start, m.start(), need)
            and _enough_words(text, m.end(), end, need_after)
        ):
            continue
        left = _trim(text, seg_start, m.start())
        if left:
            out.append(left)
        seg_start = m.end()
        if m.group("strong") is None and soft_starts is not None:
            soft_starts.add(seg_start)
        if m.group("strong") is not None and strong_starts is not None:
            strong_starts.add(seg_start)
        if m.group("soft") is not None and bare_comma_starts is not None:
            bare_comma_starts.add(seg_start)
        # a bare comma or an imperative after "and" stays cut only for an unmistakable new problem;
        # after "and" a question word or another word is a weak cut (merged back unless another department's)
        if (m.group("soft") is not None or m.group("verb") is not None) and comma_starts is not None:
            comma_starts.add(seg_start)
    last = _trim(text, seg_start, end)
    if last:
        out.append(last)
    return out


def _attach_short(
    text: str, spans: list[tuple[int, int]], min_words: int, line_starts: frozenset[int] = frozenset()
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    carry: tuple[int, float] | None = None  # leading short fragments waiting for a span: (start, words)
    for k, (s, e) in enumerate(spans):
        n = word_count(text, s, min(e, s + _WINDOW), limit=min_words)
        if carry is not None:
            s, n = carry[0], n + carry[1]
        if n < min_words:
            # "Help me." opening a line belongs to the rest of its line, not to the line before
            opens_line = s in line_starts and k + 1 < len(spans) and spans[k + 1][0] not in line_starts
            if out and not opens_line:
                out[-1] = (out[-1][0], e)
            else:
                carry = (s, n)
            continue
        carry = None
        out.append((s, e))
    if carry is not None:
        out.append((carry[0], spans[-1][1]))
    return out


# "when will it arrive?" after a sentence about a transfer is about that transfer
_ANAPHORA_RE = re.compile(
    r"\b(?:it|that|this|they|them|those|these|él|ella|eso|esto)\b|它|那个|这个", re.IGNORECASE
)
MAX_ANAPHORA_WORDS = 10
# ...unless it opens with a marker of a new problem ("On top of that, Apple Pay won't add my card")
_NEW_PROBLEM_RE = re.compile(
    r"\s*(?:also|plus|on\s+top\s+of|besides|another|apart\s+from|in\s+addition|separately|additionally"
    r"|oh\s+and|and\s+also|before\s+that|after\s+that|además|también|aparte|还有|另外|此外)",
    re.IGNORECASE,
)


def _points_back(text: str, s: int, e: int, after_marker: set[int]) -> bool:
    return (
        word_count(text, s, min(e, s + _WINDOW), limit=MAX_ANAPHORA_WORDS + 1) <= MAX_ANAPHORA_WORDS
        and _ANAPHORA_RE.search(text, s, e) is not None
        # the cut already consumed "plus"/"also": "..., plus is it possible to ..." is a new problem
        and s not in after_marker
        and not _NEW_PROBLEM_RE.match(text, s)
    )


def _attach_anaphora(
    text: str,
    spans: list[tuple[int, int]],
    after_marker: set[int],
    marked: set[int] | None,
    after_bare_comma: set[int],
    same_line_sentences: set[int],
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and _points_back(text, s, e, after_marker):
            # "..., when will it arrive?" or a sentence after it is the same request; a new line or an
            # "and is it ...?" may be another one, which only its department can tell
            if marked is not None and s not in after_bare_comma and s not in same_line_sentences:
                marked.add(s)  # the caller decides once it knows what each side is about
                out.append((s, e))
                continue
            out[-1] = (out[-1][0], e)
            continue
        out.append((s, e))
    return out


def split(
    text: str, *, max_spans: int = MAX_SPANS, min_words: int = MIN_WORDS, attach_pointing_back: bool = True
) -> list[Span]:
    """Candidate sub-issue spans of `text`, at most `max_spans` (the tail is merged into the last).

    A short span pointing back ("when will it arrive?") is attached to the span before it;
    with `attach_pointing_back=False` it stays a soft bare-comma-like cut instead, for a
    caller that can see whether it names a problem of another department.
    """
    if max_spans < 1:
        raise ValueError(f"max_spans must be at least 1, got {max_spans}")
    if not text or text.isspace():
        return []
    parts: list[tuple[int, int]] = []
    soft_starts: set[int] = set()
    comma_starts: set[int] = set()
    strong_starts: set[int] = set()
    bare_comma_starts: set[int] = set()
    line_starts: set[int] = set()
    sentence_starts: list[int] = []
    for s, e in sentences(text, line_starts):
        sentence_starts.append(s)
        if len(parts) >= max_spans * 2:
            parts.append((s, e))  # past the cap nothing is split further; keep it cheap
            continue
        parts.extend(
            _clauses(text, s, e, min_words, soft_starts, comma_starts, strong_starts, bare_comma_starts)
        )
    marked: set[int] | None = None if attach_pointing_back else set()
    # sentences after the first on the same line
    same_line = {s for s in sentence_starts[1:] if s not in line_starts}
    parts = _attach_anaphora(
        text,
        _attach_short(text, parts, min_words, frozenset(line_starts)),
        strong_starts,
        marked,
        bare_comma_starts,
        same_line,
    )
    if marked:
        soft_starts |= marked
        # a new line is a stronger cut than a comma: another department's problem there stays split
        comma_starts |= marked - line_starts
    if len(parts) > max_spans:
        parts = parts[: max_spans - 1] + [(parts[max_spans - 1][0], parts[-1][1])]
    # sentences after the first on the same line that open with no marker of a new problem
    plain = {s for s in same_line if not _NEW_PROBLEM_RE.match(text, s)}
    return [
        Span(s, e, text[s:e], soft=s in soft_starts, comma=s in comma_starts, sentence=s in plain)
        for s, e in parts
    ]
