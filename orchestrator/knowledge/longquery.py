"""Ranking for long queries: a pasted case description, a ticket, a customer's whole story.

A short query (a sub-issue of a few sentences) is served by plain BM25 over its
terms. A query with more distinct terms than one search may carry is a document
of its own: its 32 most repeated words lose the phrases and the sentence that
says what it is about. For those, three views of the candidates are fused:

- BM25 over the repeated words plus the repeated two-word phrases ("cash back",
  "savings account"), which single terms cannot tell apart from chance;
- each sentence searched on its own, fused by reciprocal rank, so an article
  that answers one focused sentence well is not drowned by the rest;
- the cosine between wordllama embeddings of the query and of each candidate.

Measured on the tau2 banking knowledge base (docs/benchmarks.md): MRR 0.63 -> 0.70.
Only the SQLite FTS5 index takes phrase queries; other back ends keep plain BM25.

A caller that knows which articles past cases needed (see `usage_prior`) can add that
prior for the searches it makes (`article_prior`): a case's text names its goal, not the
look-up procedures and product sheets the agent ends up needing, and those repeat.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# (id, title, department, body, score), as the store's search back ends return them
Found = tuple[str, str, str, str, float]
Search = Callable[[list[str], int], list[Found]]

CANDIDATES = 100  # articles the whole query brings in; the fusion re-orders these
PER_SENTENCE = 30
MIN_SENTENCE_WORDS = 4
MAX_SENTENCES = 80  # a pasted document: its start says enough
MAX_PHRASES = 32
RRF_K = 10  # small: the first few hits of a sentence count, its long tail does not
SENTENCE_WEIGHT = 0.5
EMBEDDING_WEIGHT = 0.5
PRIOR_WEIGHT = 0.7  # on the fused score rescaled to 0..1; chosen within the tuning half (docs/benchmarks.md)
EMBED_CHARS = 4000  # of an article; the embedding is a mean, more text only dilutes it
_CACHE_SIZE = 20_000  # article vectors kept (256 floats each: about 20 MB)

_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n+")

# set per caller (a request, an evaluation run), not per store: the store is shared
_prior: ContextVar[Mapping[str, float] | None] = ContextVar("crossdesk_article_prior", default=None)


def usage_prior(counts: Mapping[str, float]) -> dict[str, float]:
    """Article id -> prior in 0..1 from how many past cases needed each article.

    The square root keeps an article needed by a few cases in reach of one needed by most.
    """
    top = max(counts.values(), default=0)
    if top <= 0:
        return {}
    return {article: math.sqrt(n / top) for article, n in counts.items() if n > 0}


@contextmanager
def article_prior(prior: Mapping[str, float] | None) -> Iterator[None]:
    """Within the block, long-query searches add PRIOR_WEIGHT x prior[id] to their candidates' scores."""
    token = _prior.set(prior or None)
    try:
        yield
    finally:
        _prior.reset(token)


def distinct_terms(text: str) -> int:
    """How many distinct search terms `text` holds (before the store's cap)."""
    from orchestrator.knowledge.store import _WORD, MAX_QUERY_CHARS, MAX_TERM_CHARS, STOPWORDS, _stem

    seen = set()
    for match in _WORD.finditer(text[:MAX_QUERY_CHARS].lower()):
        word = match.group()
        if word in STOPWORDS or len(word) > MAX_TERM_CHARS or (len(word) < 2 and word.isascii()):
            continue
        seen.add(_stem(word))
    return len(seen)


def is_long(text: str, max_terms: int) -> bool:
    return distinct_terms(text) > max_terms


def phrases(text: str, limit: int = MAX_PHRASES) -> list[str]:
    """Two-word phrases (no stopword in them) that `text` uses at least twice, most repeated first."""
    from orchestrator.knowledge.store import _WORD, MAX_QUERY_CHARS, STOPWORDS, _stem

    words = _WORD.findall(text[:MAX_QUERY_CHARS].lower())
    counts: Counter[tuple[str, str]] = Counter()
    spelling: dict[tuple[str, str], str] = {}
    for a, b in zip(words, words[1:], strict=False):
        if a in STOPWORDS or b in STOPWORDS or len(a) < 2 or len(b) < 2:
            continue
        key = (_stem(a), _stem(b))
        counts[key] += 1
        spelling.setdefault(key, f"{a} {b}")
    return [spelling[key] for key, n in counts.most_common() if n >= 2][:limit]


def sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(text) if p and p.strip()]
    return [p for p in parts if len(p.split()) >= MIN_SENTENCE_WORDS][:MAX_SENTENCES]


def _minmax(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min()) if values.size else 0.0
    return (values - values.min()) / span if span > 0 else values * 0.0


class _VectorCache:
    """Article embeddings by content hash: an edited article gets a new vector, nothing goes stale."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        from orchestrator.nlu.router import embed, normalise

        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        with self._lock:
            found = {k: self._data[k] for k in keys if k in self._data}
            for k in found:
                self._data.move_to_end(k)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = embed([normalise(texts[i][:EMBED_CHARS]) for i in missing])
            with self._lock:
                for row, i in enumerate(missing):
                    found[keys[i]] = self._data[keys[i]] = fresh[row]
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 256), dtype=np.float32)


_vectors = _VectorCache(_CACHE_SIZE)
_embedding_failed = False


def _similarities(query: str, found: Sequence[Found]) -> np.ndarray | None:
    """Cosine of the query and each candidate, or None when the embedding model is unavailable."""
    global _embedding_failed
    if _embedding_failed:
        return None
    from orchestrator.nlu.router import RouterError, embed, normalise

    try:
        q = embed([normalise(query[:EMBED_CHARS])])[0]
        docs = _vectors.vectors([f"{title}\n{body}" for _, title, _, body, _ in found])
    except RouterError as exc:  # model files missing: rank without the embedding, say so once
        _embedding_failed = True
        log.warning("long-query ranking without embeddings: %s", exc)
        return None
    return docs @ q


def search_long(query: str, terms: list[str], search: Search, k: int) -> list[Found]:
    """The k best articles for a long query; `search(terms, n)` is the store's BM25 with its filters."""
    import numpy as np

    found = search(terms + phrases(query), max(CANDIDATES, k))
    if not found:
        return []
    from orchestrator.knowledge.store import query_terms

    position = {row[0]: i for i, row in enumerate(found)}
    fused = np.zeros(len(found))
    for sentence in sentences(query):
        sub = query_terms(sentence)
        if not sub:
            continue
        for rank, row in enumerate(search(sub, PER_SENTENCE)):
            i = position.get(row[0])
            if i is not None:
                fused[i] += 1.0 / (RRF_K + rank)
    bm25 = np.array([row[4] for row in found])
    score = _minmax(bm25) + SENTENCE_WEIGHT * _minmax(fused)
    sims = _similarities(query, found)
    if sims is not None:
        score = score + EMBEDDING_WEIGHT * _minmax(sims)
    prior = _prior.get()
    if prior:
        score = _minmax(score) + PRIOR_WEIGHT * np.array([prior.get(row[0], 0.0) for row in found])
    order = sorted(range(len(found)), key=lambda i: (-score[i], found[i][0]))[:k]
    return [(*found[i][:4], round(float(score[i]), 6)) for i in order]
