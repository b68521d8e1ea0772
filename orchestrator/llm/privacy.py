"""What leaves for a model provider: text masked as the policy asks, and quotes mapped back.

The policy engine's `check_destination` lists the personal-data kinds a jurisdiction
wants masked before data goes to an external provider (EU, UK, SG); `Masker` applies
that to every string of a prompt. A model quoting the masked message is mapped back to
the customer's own words with `locate`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

_SPACE = re.compile(r"\s+")
MIN_FUZZY_SHARE = 0.6  # of a quote's characters that must match the message to accept a fuzzy match


class Masker:
    """Masks the given personal-data kinds (none: leaves text unchanged)."""

    def __init__(self, kinds: Iterable[str] = ()) -> None:
        self.kinds = tuple(sorted(set(kinds)))

    def text(self, value: str) -> str:
        if not self.kinds or not value:
            return value
        from policies.pii import mask

        return mask(value, self.kinds)

    def data(self, value: Any) -> Any:
        if not self.kinds:
            return value
        from policies.pii import mask_data

        return mask_data(value, self.kinds)


def _offset_map(original: str, masked: str) -> list[int]:
    """For every position in `masked` (and its end), the matching position in `original`."""
    out = [0] * (len(masked) + 1)
    matcher = difflib.SequenceMatcher(None, original, masked, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(j1, j2):
            out[k] = i1 + (k - j1) if tag == "equal" else (i1 if k == j1 else i2)
        out[j2] = i2
    return out


def _find(quote: str, text: str) -> tuple[int, int] | None:
    quote = quote.strip().strip("\"'“”")
    if not quote:
        return None
    at = text.find(quote)
    if at < 0:
        at = text.casefold().find(quote.casefold())
    if at >= 0:
        return at, at + len(quote)
    # the same words with different spacing or line breaks
    pattern = r"\s+".join(re.escape(w) for w in _SPACE.split(quote) if w)
    m = re.search(pattern, text, re.IGNORECASE) if pattern else None
    if m:
        return m.start(), m.end()
    matcher = difflib.SequenceMatcher(None, text.casefold(), quote.casefold(), autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= 3]
    if blocks and sum(b.size for b in blocks) >= MIN_FUZZY_SHARE * len(quote):
        return blocks[0].a, blocks[-1].a + blocks[-1].size
    return None


def locate(quote: str, original: str, masked: str | None = None) -> tuple[int, int] | None:
    """Where `quote` (taken from `masked`, the text the model saw) sits in `original`."""
    if masked is None or masked == original:
        return _find(quote, original)
    found = _find(quote, masked)
    if found is None:
        return _find(quote, original)
    offsets = _offset_map(original, masked)
    start, end = offsets[found[0]], offsets[found[1]]
    return (start, end) if end > start else None
