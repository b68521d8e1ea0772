"""Route a sub-issue to (department, intent) with a calibrated probability.

Two views of the text are combined: a logistic regression on wordllama's
static embeddings (meaning) and a linear SVM on word and character n-grams
(exact wording, and Chinese, which the embedding tokenizer covers poorly). The
SVM replaced a naive Bayes model: as good with a plugin's dozen examples per
intent, and on Banking77's 10k labelled queries it lifts intent accuracy from
91.3% to 93.0% (docs/benchmarks.md). Their mix weight and a softmax temperature are fitted on
cross-validated predictions, so the top probability means what it says: of the
sub-issues routed with confidence 0.8, about 80% go to the right intent.

With CROSSDESK_ENCODER=minilm, a router fitted on the plugins' own examples also
keeps a second model whose logistic regression reads a sentence encoder's
embeddings next to wordllama's (encoder.py); it re-scores only the texts whose
department the first is unsure of, since each costs milliseconds.

numpy, scikit-learn and wordllama are imported inside functions so importing
this module costs nothing at CLI start-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.nlu import encoder
from orchestrator.nlu.fastscore import FAST_BATCH, LinearScorer
from orchestrator.nlu.pseudo import NLU_DEPARTMENT, pseudo_intents
from orchestrator.nlu.signals import guess_language
from plugins.contracts import Intent

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from wordllama.inference import WordLlamaInference

log = logging.getLogger(__name__)

# Bump when features, model or training change: cached routers are then refitted.
CODE_VERSION = "2"
MAX_CHARS = 1000  # a sub-issue longer than this is classified on its first part
_MAX_TOKENS = 256
_FOLDS = 4
_LR_C = 10.0
_SVM_C = 1.0
# SVM margins are about ten times smaller than the embedding model's logits
_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
_NO_CLASS = -30.0  # logit for a class a cross-validation fold never saw
_NO_CLASS_MARGIN = -3.0  # the same, as an SVM margin
_BIG = 3000  # above this many examples: fewer folds and a sample for the mix fit (training time)
# texts whose most likely department has less than this are re-scored by the second model (when
# there is one); on Banking77 that keeps all of its gain while re-scoring about a third of the spans
SECOND_VIEW_BELOW = 0.9
CACHE_KEEP = 8  # cached routers kept per folder (one per set of intents seen lately)


class RouterError(Exception):
    """The router cannot be trained or loaded; the message says why and what to do."""


Prediction = tuple[str, str, float]  # (department, intent, probability)

# --- text and embeddings -----------------------------------------------------------------------

_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# one token per CJK character, words elsewhere
TOKEN_PATTERN = r"(?u)[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def normalise(text: str) -> str:
    """What the models see: NFKC, lower case, digits collapsed ("€12" and "€40" look alike)."""
    text = unicodedata.normalize("NFKC", text[: MAX_CHARS * 2])
    text = _CONTROL_RE.sub(" ", text).lower()
    text = _DIGITS_RE.sub("0", text)
    return _SPACE_RE.sub(" ", text).strip()[:MAX_CHARS]


_embedder_lock = threading.Lock()
_embedder: WordLlamaInference | None = None


def _quiet_import_wordllama() -> Any:
    # wordllama calls logging.basicConfig(level=INFO) on import; keep the host's logging as it was
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return wordllama


def embedder() -> WordLlamaInference:
    """The wordllama model shipped inside the wordllama package (loaded once, never downloaded)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            wordllama = _quiet_import_wordllama()
            folder = Path(wordllama.__file__).parent
            try:
                model = wordllama.WordLlama.load(cache_dir=folder, disable_download=True)
            except FileNotFoundError as exc:
                raise RouterError(
                    f"the wordllama model files are missing from {folder} ({exc}); "
                    "reinstall with: pip install --force-reinstall wordllama==0.4.0.post1"
                ) from exc
            model.tokenizer.no_padding()
            model.tokenizer.no_truncation()
            _embedder = model
        return _embedder


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised mean token embeddings of already-normalised texts (no padding, so one long text
    does not inflate a whole batch)."""
    import numpy as np

    model = embedder()
    table = model.embedding
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    if not texts:
        return out
    encoded = model.tokenizer.encode_batch(list(texts), add_special_tokens=False)
    ids = [e.ids[:_MAX_TOKENS] for e in encoded]
    rows = [i for i, seq in enumerate(ids) if seq]
    if not rows:
        return out
    flat = np.fromiter((t for i in rows for t in ids[i]), dtype=np.int64)
    np.clip(flat, 0, table.shape[0] - 1, out=flat)
    lengths = np.array([len(ids[i]) for i in rows])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sums = np.add.reduceat(table[flat], starts, axis=0)
    means = sums / lengths[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    out[rows] = means / np.maximum(norms, 1e-9)
    return out


_controller: Any = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    # these matrices are small: BLAS threads cost far more than they save (10x on lbfgs)
    global _controller
    if _controller is None:
        import scipy.optimize  # noqa: F401  (load every BLAS the models use before looking)
        import sklearn.linear_model  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()  # inspecting the loaded libraries is the slow part
    with _controller.limit(limits=1, user_api="blas"):
        yield


# --- calibration -------------------------------------------------------------------------------


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and a per-bin table (mean confidence vs accuracy)."""
    import numpy as np

    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return {"ece": 0.0, "n": 0, "accuracy": 0.0, "mean_confidence": 0.0, "bins": []}
    which = np.minimum((conf * bins).astype(int), bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if not sel.any():
            continue
        gap = abs(conf[sel].mean() - ok[sel].mean())
        ece += sel.mean() * gap
        table.append(
            {
                "range": (b / bins, (b + 1) / bins),
                "n": int(sel.sum()),
                "confidence": round(float(conf[sel].mean()), 4),
                "accuracy": round(float(ok[sel].mean()), 4),
            }
        )
    return {
        "ece": round(float(ece), 4),
        "n": int(conf.size),
        "accuracy": round(float(ok.mean()), 4),
        "mean_confidence": round(float(conf.mean()), 4),
        "bins": table,
    }


def _log_softmax(z: np.ndarray) -> np.ndarray:
    import numpy as np

    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _fit_mix(lr_logits: np.ndarray, nb_logp: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mix weight of the n-gram model and softmax temperature minimising held-out log loss."""
    import numpy as np

    rows = np.arange(len(y))
    best = (np.inf, 1.0, 1.0)
    temperatures = np.exp(np.linspace(np.log(0.05), np.log(10.0), 70))
    for w in _WEIGHTS:
        z = lr_logits + w * nb_logp
        for t in temperatures:
            nll = -_log_softmax(z / t)[rows, y].mean()
            if nll < best[0] - 1e-9:
                best = (nll, w, float(t))
    return best[1], best[2]


# --- the model ---------------------------------------------------------------------------------


@dataclass
class _Model:
    """The fitted parts; pickled as a whole."""

    classes: list[tuple[str, str]]
    word: Any  # TfidfVectorizer
    char: Any  # TfidfVectorizer
    lr: Any  # LogisticRegression on embeddings
    svm: Any  # LinearSVC on n-grams
    weight: float
    temperature: float
    info: dict[str, Any] = field(default_factory=dict)
    # the same, with sentence-encoder features next to wordllama's (None: no encoder, or a
    # router trained on a labelled history, which has examples enough without it)
    second: _Model | None = None


def _ngrams(texts: Sequence[str], word: Any, char: Any) -> Any:
    from scipy import sparse
    from sklearn.preprocessing import normalize

    return normalize(sparse.hstack([word.transform(texts), char.transform(texts)]).tocsr())


def _vectorizers(texts: Sequence[str]) -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=TOKEN_PATTERN, lowercase=False
    )
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=False)
    return word.fit(texts), char.fit(texts)


def _fit_parts(emb: np.ndarray, grams: Any, y: np.ndarray) -> tuple[Any, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    lr = LogisticRegression(C=_LR_C, max_iter=3000)
    lr.fit(emb, y)
    svm = LinearSVC(C=_SVM_C, random_state=0)  # liblinear shuffles: fix it so training is repeatable
    svm.fit(grams, y)
    return lr, svm


def _columns(scores: np.ndarray, classes: np.ndarray, n_rows: int, n_classes: int, fill: float) -> np.ndarray:
    """Decision values with a column for every class index (a fold may miss some classes)."""
    import numpy as np

    out = np.full((n_rows, n_classes), fill)
    scores = scores.reshape(n_rows, -1)
    if len(classes) == 2:  # binary models return one column: the score of classes[1]
        out[:, classes[0]], out[:, classes[1]] = -scores[:, 0] / 2, scores[:, 0] / 2
    else:
        out[:, classes] = scores
    return out


def _scores(lr: Any, svm: Any, emb: np.ndarray, grams: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class LR logits and SVM margins, with columns for every class index."""
    n = emb.shape[0]
    a = _columns(lr.decision_function(emb), lr.classes_, n, n_classes, _NO_CLASS)
    b = _columns(svm.decision_function(grams), svm.classes_, n, n_classes, _NO_CLASS_MARGIN)
    return a, b


def encoded(texts: Sequence[str]) -> np.ndarray:
    """The second model's features: wordllama's and the sentence encoder's embeddings side by side."""
    import numpy as np

    try:
        with _one_blas_thread():  # a turn's few short texts: a second BLAS thread only spins (2x CPU)
            deep = encoder.encode(texts)
    except encoder.EncoderError as exc:
        raise RouterError(str(exc)) from exc
    return np.hstack([embed(texts), deep]) * np.float32(0.5**0.5)


def use_encoder() -> bool:
    """Whether plugins' routers get the second view (CROSSDESK_ENCODER); a bad setting is a RouterError."""
    try:
        return encoder.available()
    except encoder.EncoderError as exc:
        raise RouterError(str(exc)) from exc


def _train(
    texts: Sequence[str],
    y: Sequence[int],
    classes: list[tuple[str, str]],
    *,
    features: Callable[[Sequence[str]], np.ndarray] = embed,
) -> _Model:
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    started = time.perf_counter()
    if len(classes) < 2:
        raise RouterError("the router needs at least two classes to choose between")
    norm = [normalise(t) for t in texts]
    labels = np.asarray(y, dtype=int)
    with _one_blas_thread():
        emb = features(norm)
        word, char = _vectorizers(norm)
        grams = _ngrams(norm, word, char)
        lr, svm = _fit_parts(emb, grams, labels)
        # held-out scores for the mix weight and temperature: the training fit is overconfident
        counts = np.bincount(labels, minlength=len(classes))
        smallest = int(counts[counts > 0].min())
        folds = _FOLDS if len(norm) <= _BIG else _FOLDS - 1
        if smallest >= 2:
            splitter: Any = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=0)
        else:
            splitter = KFold(n_splits=folds, shuffle=True, random_state=0)
        oof_a = np.zeros((len(norm), len(classes)))
        oof_b = np.zeros_like(oof_a)
        for train_idx, test_idx in splitter.split(emb, labels):
            f_lr, f_svm = _fit_parts(emb[train_idx], grams[train_idx], labels[train_idx])
            oof_a[test_idx], oof_b[test_idx] = _scores(
                f_lr, f_svm, emb[test_idx], grams[test_idx], len(classes)
            )
        # two parameters need no more than a few thousand rows
        rows = np.random.default_rng(0).permutation(len(norm))[:_BIG]
        weight, temperature = _fit_mix(oof_a[rows], oof_b[rows], labels[rows])
    held_out = np.exp(_log_softmax((oof_a + weight * oof_b) / temperature))
    languages: dict[str, int] = {}
    for text in texts:
        lang = guess_language(text)
        languages[lang] = languages.get(lang, 0) + 1
    rel = reliability(held_out.max(axis=1), held_out.argmax(axis=1) == labels)
    info = {
        "examples": len(norm),
        "classes": len(classes),
        "weight": weight,
        "temperature": round(temperature, 4),
        "cv_accuracy": rel["accuracy"],
        "cv_ece": rel["ece"],
        "cv_reliability": rel["bins"],
        "languages": languages,  # examples per language: routing is only trusted where there are some
        "fit_seconds": round(time.perf_counter() - started, 3),
        "code_version": CODE_VERSION,
    }
    log.info(
        "router trained: %d examples, %d classes, held-out accuracy %.3f, ECE %.3f, %.2fs",
        len(norm),
        len(classes),
        rel["accuracy"],
        rel["ece"],
        info["fit_seconds"],
    )
    return _Model(classes, word, char, lr, svm, weight, temperature, info)


def _check_intents(intents: Sequence[tuple[str, Intent]]) -> None:
    if not intents:
        raise RouterError("no intents to learn from: load at least one department plugin")
    seen: set[tuple[str, str]] = set()
    for item in intents:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Intent)):
            raise RouterError(f"expected (department, Intent) pairs, got {item!r}")
        department, intent = item
        if department == NLU_DEPARTMENT:
            raise RouterError(f"department name {NLU_DEPARTMENT!r} is reserved for the router's own classes")
        if (department, intent.name) in seen:
            raise RouterError(f"intent {department}.{intent.name} is given twice")
        seen.add((department, intent.name))
        if not any(e.strip() for e in intent.examples):
            raise RouterError(f"intent {department}.{intent.name} has no examples to learn from")


def _examples(intents: Sequence[tuple[str, Intent]]) -> tuple[list[str], list[int], list[tuple[str, str]]]:
    texts: list[str] = []
    y: list[int] = []
    classes: list[tuple[str, str]] = []
    for department, intent in intents:
        classes.append((department, intent.name))
        for example in intent.examples:
            if example.strip():
                texts.append(example)
                y.append(len(classes) - 1)
    return texts, y, classes


def _source_digest() -> str:
    # a code change invalidates cached routers even when nobody remembered to bump CODE_VERSION
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"code": CODE_VERSION, "source": _source_digest()}
    out["encoder"] = encoder.version() if use_encoder() else "off"
    for pkg in ("scikit-learn", "wordllama", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "?"
    return out


def cache_key(intents: Sequence[tuple[str, Intent]], *, builtin: bool = True) -> str:
    """Hash of everything the trained router depends on: examples, pseudo-classes, code and versions."""
    payload = {
        "versions": _versions(),
        "builtin": builtin,
        "intents": [[d, i.name, list(i.examples)] for d, i in intents],
        "pseudo": [[d, i.name, list(i.examples)] for d, i in pseudo_intents()] if builtin else [],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _atomic_dump(obj: Any, path: Path) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            joblib.dump(obj, fh, compress=3)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # recently used files survive pruning
    except OSError:
        pass


def _prune(folder: Path, *, keep: int) -> None:
    """Delete all but the `keep` most recently used cached routers (they are rebuilt on demand)."""
    files = sorted(folder.glob("router-*.joblib"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


class Router:
    """Classifies texts into the departments' intents plus out_of_scope, greeting and human_request.

    Build with `Router.fit`, `Router.load_or_fit` (cached) or `Router.fit_labelled`.
    Cached routers are pickles: load only files this program wrote.

    A router trained on a labelled history names its classes by the history's labels;
    `aliases` maps (department, label) to the department's own intent, and
    `dispatching()` is the same model speaking the departments' intent names.
    """

    def __init__(
        self, model: _Model, *, key: str = "", aliases: Mapping[tuple[str, str], str] | None = None
    ) -> None:
        self._model = model
        self.key = key
        self.aliases: dict[tuple[str, str], str] = dict(aliases or {})
        self._names: list[tuple[str, str]] | None = None  # class names of a dispatching() view
        self._fast: dict[int, LinearScorer] = {}  # per model (by id), built on first use
        self._membership: np.ndarray | None = None  # class -> department, built on first use

    # -- building --

    @classmethod
    def fit(cls, intents: Sequence[tuple[str, Intent]], *, builtin: bool = True) -> Router:
        """Train on (department, Intent) pairs, e.g. `PluginSet.intents()`, plus the pseudo-classes."""
        intents = list(intents)
        _check_intents(intents)
        everything = intents + (pseudo_intents() if builtin else [])
        texts, y, classes = _examples(everything)
        key = cache_key(intents, builtin=builtin)
        model = _train(texts, y, classes)
        if use_encoder() and len(texts) <= _BIG:
            model.second = _train(texts, y, classes, features=encoded)
        return cls(model, key=key)

    @classmethod
    def load_or_fit(cls, intents: Sequence[tuple[str, Intent]], cache_dir: str | Path) -> Router:
        """The cached router for exactly these intents and this code, trained and saved on a miss."""
        intents = list(intents)
        _check_intents(intents)
        key = cache_key(intents)
        path = Path(cache_dir) / f"router-{key[:24]}.joblib"
        if path.exists():
            try:
                router = cls.load(path)
            except RouterError as exc:
                log.warning("router cache %s unusable, retraining: %s", path, exc)
            else:
                if router.key == key:
                    log.debug("router cache hit %s", path)
                    _touch(path)
                    return router
                log.warning("router cache %s belongs to other intents, retraining", path)
        router = cls.fit(intents)
        try:
            router.save(path)
            _prune(path.parent, keep=CACHE_KEEP)
        except OSError as exc:  # a read-only home should not stop the service
            log.warning("could not save router cache %s: %s", path, exc)
        return router

    @classmethod
    def fit_labelled(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        label_to_department: Mapping[str, str],
        *,
        builtin: bool = True,
        extra: Sequence[tuple[str, Intent]] = (),
    ) -> Router:
        """Train on a labelled history (text, intent label) with each label's department.

        `extra` intents (e.g. plugin intents of departments the history never mentions) are
        learnt as classes of their own next to the labels.
        """
        if len(texts) != len(labels):
            raise RouterError(f"{len(texts)} texts but {len(labels)} labels: give one label per text")
        missing = sorted({lab for lab in labels if lab not in label_to_department})
        if missing:
            raise RouterError(
                f"labels without a department: {', '.join(missing[:10])}; add them to the mapping"
            )
        by_class: dict[tuple[str, str], list[str]] = {}
        for text, label in zip(texts, labels, strict=True):
            if not isinstance(text, str):
                raise RouterError(f"texts must be strings, got {type(text).__name__}")
            department = label_to_department[label]
            if department == NLU_DEPARTMENT:
                raise RouterError(f"department name {NLU_DEPARTMENT!r} is reserved")
            if text.strip():
                by_class.setdefault((department, label), []).append(text)
        if not by_class:
            raise RouterError("no non-empty labelled texts to learn from")
        extra = list(extra)
        if extra:
            _check_intents(extra)
        for department, intent in extra:
            by_class.setdefault((department, intent.name), []).extend(e for e in intent.examples if e.strip())
        pseudo = {(d, i.name): list(i.examples) for d, i in pseudo_intents()} if builtin else {}
        all_texts: list[str] = []
        y: list[int] = []
        classes: list[tuple[str, str]] = []
        for cls_key, examples in [*by_class.items(), *pseudo.items()]:
            classes.append(cls_key)
            all_texts.extend(examples)
            y.extend([len(classes) - 1] * len(examples))
        digest = hashlib.sha256(
            json.dumps([_versions(), sorted(by_class.items()), builtin], ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        return cls(_train(all_texts, y, classes), key=digest)

    # -- persistence --

    def save(self, path: str | Path) -> Path:
        """Write atomically: a crash mid-write leaves the previous file intact."""
        path = Path(path)
        _atomic_dump(
            {
                "format": "crossdesk-router",
                "code": CODE_VERSION,
                "key": self.key,
                "model": self._model,
                "aliases": [[d, c, i] for (d, c), i in self.aliases.items()],
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Router:
        import joblib

        path = Path(path)
        if not path.is_file():
            raise RouterError(f"no router at {path}; train one first (crossdesk train) or check the path")
        try:
            blob = joblib.load(path)
        except Exception as exc:  # truncated, corrupt or from an incompatible library version
            raise RouterError(
                f"{path} is not a readable router ({type(exc).__name__}: {exc}); retrain it"
            ) from exc
        if not isinstance(blob, dict) or blob.get("format") != "crossdesk-router":
            raise RouterError(f"{path} is not a crossdesk router file")
        if blob.get("code") != CODE_VERSION:
            raise RouterError(
                f"{path} was trained by router code version {blob.get('code')}, this is {CODE_VERSION}; retrain it"
            )
        aliases = {(d, c): i for d, c, i in blob.get("aliases") or []}
        return cls(blob["model"], key=str(blob.get("key", "")), aliases=aliases)

    def dispatching(self) -> Router:
        """This router with every aliased class renamed to its department's own intent.

        Departments act on their own intent names; a history's labels mean nothing to them.
        """
        if not self.aliases:
            return self
        view = Router(self._model, key=self.key, aliases=self.aliases)
        view._names = [(d, self.aliases.get((d, c), c)) for d, c in self._model.classes]
        return view

    # -- inference --

    @property
    def classes(self) -> list[tuple[str, str]]:
        return list(self._names if self._names is not None else self._model.classes)

    @property
    def departments(self) -> list[str]:
        """Real departments (the router's own classes excluded), in training order."""
        return list(dict.fromkeys(d for d, _ in self._model.classes if d != NLU_DEPARTMENT))

    @property
    def info(self) -> dict[str, Any]:
        """Training facts: example count, held-out accuracy and calibration (ECE), fit time."""
        out = dict(self._model.info)
        second = self._model.second
        if second is not None:
            out["second_view"] = {
                k: second.info[k] for k in ("cv_accuracy", "cv_ece", "fit_seconds", "weight")
            }
            out["second_view"]["encoder"] = encoder.NAME
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(classes)); columns follow `classes`."""
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not a single string")
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"texts must be strings, got {type(t).__name__}")
        m = self._model
        if not texts:
            return np.zeros((0, len(m.classes)))
        norm = [normalise(t) for t in texts]
        probs = self._proba(m, norm, embed)
        second = m.second
        if second is not None:
            unsure = np.flatnonzero(self._department_confidence(probs) < SECOND_VIEW_BELOW)
            if len(unsure):
                # replaced, not averaged: a mean kept half of the gain on Banking77
                probs[unsure] = self._proba(second, [norm[i] for i in unsure], encoded)
        return probs

    def _department_confidence(self, probs: np.ndarray) -> np.ndarray:
        """Each row's probability summed over its most likely department's classes."""
        import numpy as np

        if self._membership is None:
            # each pseudo-class (out of scope, greeting, ...) is a "department" of its own here
            names = [d if d != NLU_DEPARTMENT else f"{d}:{i}" for d, i in self._model.classes]
            index = {n: k for k, n in enumerate(dict.fromkeys(names))}
            membership = np.zeros((len(names), len(index)))
            membership[np.arange(len(names)), [index[n] for n in names]] = 1.0
            self._membership = membership
        return np.asarray(probs @ self._membership).max(axis=1)

    def _proba(
        self, m: _Model, norm: list[str], features: Callable[[Sequence[str]], np.ndarray]
    ) -> np.ndarray:
        import numpy as np

        n = len(norm)
        if n <= FAST_BATCH:  # a turn's few spans: the same scores without sklearn's overhead
            fast = self._fast.get(id(m))
            if fast is None:
                fast = self._fast[id(m)] = LinearScorer(m.word, m.char, m.svm, m.lr)
            a = _columns(fast.logits(features(norm)), m.lr.classes_, n, len(m.classes), _NO_CLASS)
            b = _columns(fast.margins(norm), m.svm.classes_, n, len(m.classes), _NO_CLASS_MARGIN)
        else:
            with _one_blas_thread():
                emb = features(norm)
                grams = _ngrams(norm, m.word, m.char)
                a, b = _scores(m.lr, m.svm, emb, grams, len(m.classes))
        return np.exp(_log_softmax((a + m.weight * b) / m.temperature))

    def familiarity(self, texts: Sequence[str]) -> list[float]:
        """Share of each text's words that occur in the training examples (0 for gibberish).

        Probabilities of a text made of words the router never saw mean little, whatever
        their size; the decomposer asks about such spans instead of routing them.
        """
        vocab = self._model.word.vocabulary_
        out = []
        for text in texts:
            words = _TOKEN_RE.findall(normalise(text))
            out.append(sum(w in vocab for w in words) / len(words) if words else 0.0)
        return out

    def predict(self, texts: Sequence[str], k: int = 3) -> list[list[Prediction]]:
        """Top-k (department, intent, probability) per text, most likely first."""
        import numpy as np

        probs = self.predict_proba(texts)
        k = max(1, min(k, len(self._model.classes)))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        classes = self.classes
        return [
            [(classes[j][0], classes[j][1], float(row[j])) for j in idx]
            for row, idx in zip(probs, order, strict=True)
        ]
