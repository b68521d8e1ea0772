"""The router's linear scores for a few texts, without scikit-learn's per-call overhead.

A turn classifies one to a handful of spans. scikit-learn's `transform` and
`decision_function` spend about a millisecond per call validating input and building
sparse matrices for what is a few hundred dictionary look-ups and a small dot product.
This computes the same numbers (TF-IDF with sublinear tf and l2 norm per vectorizer, the
two blocks stacked and normalised again, then the linear models) from the fitted parts;
`tests/test_nlu_router.py` checks it against scikit-learn. Large batches (evaluation,
training folds) keep scikit-learn's vectorised path.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FAST_BATCH = 16  # up to this many texts per call take this path


class _Block:
    """One fitted TfidfVectorizer: its analyzer, vocabulary and idf weights."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        self.analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf: np.ndarray = vectorizer.idf_
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.offset = offset

    def features(self, text: str) -> tuple[list[int], list[float]]:
        counts = Counter(t for t in self.analyze(text) if t in self.vocabulary)
        idx = [self.vocabulary[t] for t in counts]
        tf = [1.0 + math.log(c) if self.sublinear else float(c) for c in counts.values()]
        values = [v * float(self.idf[i]) for v, i in zip(tf, idx, strict=True)]
        norm = math.sqrt(sum(v * v for v in values))
        if norm > 0:
            values = [v / norm for v in values]
        return [i + self.offset for i in idx], values


class LinearScorer:
    """`margins(texts)` = svm.decision_function(n-gram TF-IDF); `logits(emb)` = lr.decision_function."""

    def __init__(self, word: Any, char: Any, svm: Any, lr: Any) -> None:
        import numpy as np

        self.blocks = (_Block(word, 0), _Block(char, len(word.vocabulary_)))
        # one row per feature: the per-class weights a feature adds, read by fancy indexing
        self.svm_coef_t = np.ascontiguousarray(np.asarray(svm.coef_, dtype=np.float64).T)
        self.svm_intercept = np.asarray(svm.intercept_, dtype=np.float64)
        self.lr_coef_t = np.ascontiguousarray(np.asarray(lr.coef_, dtype=np.float64).T)
        self.lr_intercept = np.asarray(lr.intercept_, dtype=np.float64)

    def margins(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        out = np.empty((len(texts), self.svm_coef_t.shape[1]))
        for row, text in enumerate(texts):
            idx: list[int] = []
            values: list[float] = []
            for block in self.blocks:
                i, v = block.features(text)
                idx += i
                values += v
            norm = math.sqrt(sum(v * v for v in values))
            if norm > 0:
                out[row] = np.asarray(values) @ self.svm_coef_t[idx] / norm + self.svm_intercept
            else:
                out[row] = self.svm_intercept
        return out if out.shape[1] > 1 else out[:, 0]

    def logits(self, emb: np.ndarray) -> np.ndarray:
        # in the embeddings' precision, as scikit-learn computes it (float32 for wordllama's)
        out = emb @ self.lr_coef_t.astype(emb.dtype, copy=False) + self.lr_intercept.astype(
            emb.dtype, copy=False
        )
        return out if out.shape[1] > 1 else out[:, 0]
