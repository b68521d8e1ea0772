"""Is a task really ours? A second opinion after the router, so a misrouted task goes back.

Three signals, cheapest first: unambiguous phrases of another department
(plugins.builtin.cues); word overlap with the example messages of the three
built-in departments (TF-IDF, nearest examples); and, for a text that looks like
none of them, the department whose knowledge articles match it best, which is
how third-party departments (insurance claims, say) are recognised.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from plugins.builtin.cues import clearly_foreign, cue_scores
from plugins.contracts import KnowledgeAPI

BUILTIN = ("billing", "compliance", "technical")
GENERAL = "general"
NEAREST = 3  # a department's score: mean similarity of its 3 nearest examples
# another department is clearly closer: it scores at least this, and this many times ours
CLOSER_FLOOR = 0.3
CLOSER_RATIO = 1.5
# ... or, when the text has none of our cue words, a weaker lead will do
CLOSER_FLOOR_NO_CUE = 0.2
CLOSER_RATIO_NO_CUE = 2.0
# a third-party department's best article outscoring ours this many times makes the text theirs
KB_RATIO = 2.0
# a text this unlike our examples, with none of our cue words, is about something else
UNLIKE = 0.08
# below this, a third-party department's articles matching best means the text is theirs
KB_CHECK_BELOW = 0.3
MIN_WORDS = 3  # shorter texts ("yes, do it") lean on context the router saw; never bounce them

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a about after again all also am an and any are as at be been before being but by can could did do
    does doing done for from get got had has have having he her hi hello hey him his how i if im in into is
    it its ive just me my myself no not now of on once only or our out over please pls so some than thank
    thanks that the their them then there these they this those to too up us very was we were what when
    where which while who why will with would yes you your like going want wants wanted id dont cant
    really still every some""".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower().replace("'", "")) if w not in _STOP]


def _terms(text: str) -> list[str]:
    ws = words(text)
    return ws + [f"{a}_{b}" for a, b in zip(ws, ws[1:], strict=False)]


@dataclass(frozen=True)
class _Index:
    idf: dict[str, float]
    unknown_idf: float
    departments: tuple[str, ...]  # the department of each example
    # term -> ((example number, weight), ...): a text's similarity touches only the examples
    # that share a term with it, not all of them
    postings: dict[str, tuple[tuple[int, float], ...]]

    def vector(self, text: str) -> dict[str, float]:
        tf = Counter(_terms(text))
        v = {t: (1 + math.log(c)) * self.idf.get(t, self.unknown_idf) for t, c in tf.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}


@lru_cache(maxsize=1)
def _index() -> _Index:
    from plugins.builtin import intents_billing, intents_compliance, intents_technical

    docs = [
        (dep, _terms(example))
        for dep, intents in (
            ("billing", intents_billing.INTENTS),
            ("compliance", intents_compliance.INTENTS),
            ("technical", intents_technical.INTENTS),
        )
        for intent in intents
        for example in intent.examples
    ]
    df = Counter(t for _, ts in docs for t in set(ts))
    n = len(docs)
    idf = {t: math.log((n + 1) / (c + 1)) + 1 for t, c in df.items()}
    index = _Index(idf=idf, unknown_idf=math.log(n + 1) + 1, departments=(), postings={})
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, (_dep, ts) in enumerate(docs):
        for t, x in index.vector(" ".join(ts)).items():
            postings.setdefault(t, []).append((i, x))
    return _Index(
        idf=idf,
        unknown_idf=index.unknown_idf,
        departments=tuple(dep for dep, _ in docs),
        postings={t: tuple(p) for t, p in postings.items()},
    )


def similarity(text: str) -> dict[str, float]:
    """How much `text` reads like each built-in department's examples, 0 to 1."""
    index = _index()
    dots: dict[int, float] = {}
    for t, x in index.vector(text).items():
        for i, y in index.postings.get(t, ()):
            dots[i] = dots.get(i, 0.0) + x * y
    sims: dict[str, list[float]] = {dep: [] for dep in BUILTIN}
    for i, dot in dots.items():
        sims[index.departments[i]].append(dot)
    # examples sharing no term score 0, which only matters when fewer than NEAREST share one
    return {dep: sum(heapq.nlargest(NEAREST, s)) / NEAREST for dep, s in sims.items()}


FOREIGN_PHRASE = "another department's phrase"


@dataclass(frozen=True)
class Verdict:
    ours: bool
    owner: str | None = None  # the likely owner when it is not ours
    why: str = ""
    strong: bool = False  # another department's phrase or examples, not just "unlike ours"


def _article_owner(knowledge: KnowledgeAPI, text: str, own: str) -> str | None:
    """A non-built-in department whose articles match far better than ours, if any."""
    hits = [h for h in knowledge.search(text, k=3) if h.department != GENERAL]
    if not hits or hits[0].department in BUILTIN:
        return None
    ours = max((h.score for h in hits if h.department == own), default=0.0)
    return hits[0].department if hits[0].score >= KB_RATIO * ours else None


def judge(own: str, text: str, knowledge: KnowledgeAPI | None = None) -> Verdict:
    """Whether a task routed to `own` is really its, and if not whose."""
    cue = clearly_foreign(own, text)
    if cue is not None:
        return Verdict(False, cue, FOREIGN_PHRASE, strong=True)
    scores = similarity(text)
    mine = scores.get(own, 0.0)
    best = max((d for d in scores if d != own), key=scores.__getitem__)
    if scores[best] >= CLOSER_FLOOR and scores[best] > CLOSER_RATIO * mine:
        return Verdict(False, best, "reads like another department's examples", strong=True)
    no_cue = cue_scores(text).get(own, 0) == 0
    if no_cue and scores[best] >= CLOSER_FLOOR_NO_CUE and scores[best] > CLOSER_RATIO_NO_CUE * mine:
        return Verdict(False, best, "reads like another department's examples", strong=True)
    if len(words(text)) < MIN_WORDS:
        return Verdict(True)
    if mine < UNLIKE and no_cue:
        theirs = _article_owner(knowledge, text, own) if knowledge is not None else None
        return Verdict(
            False, theirs or (best if scores[best] >= UNLIKE else None), "unlike anything we handle"
        )
    # another department's articles only decide when our examples do not: a text clearly closer
    # to ours than to any other built-in department's stays ours (the router, which knows every
    # department's examples, chose us), however well a third party's article matches its words
    clearly_ours = mine >= CLOSER_RATIO * scores[best]
    if mine < KB_CHECK_BELOW and knowledge is not None and not clearly_ours:
        theirs = _article_owner(knowledge, text, own)
        if theirs is not None:
            return Verdict(False, theirs, "another department's articles match it best")
    return Verdict(True)
