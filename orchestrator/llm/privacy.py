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


def _offset_map(original: str, masked: str, kinds: Iterable[str]) -> list[int] | None:
    """For every position in `masked` (and its end), the matching position in `original`.

    Rebuilt from the personal-data matches `Masker` replaced; None when `masked` is not
    `original` masked with `kinds` (then quotes are looked up in `original` itself).
    """
    from policies.pii import find_pii

    wanted = set(kinds)
    out: list[int] = []
    pos_o = pos_m = 0
    for m in find_pii(original):
        if m.kind not in wanted:
            continue
        seg = original[pos_o : m.start]
        if masked[pos_m : pos_m + len(seg)] != seg:
            return None
        out.extend(range(pos_o, m.start))
        pos_m += len(seg)
        if m.kind in ("card_number", "iban"):  # masked as "****" and the last four
            token = "****" + "".join(c for c in original[m.start : m.end] if c.isalnum())[-4:]
        else:  # masked as a "[label]"
            close = masked.find("]", pos_m)
            token = masked[pos_m : close + 1] if masked.startswith("[", pos_m) and close > 0 else ""
        if not token or not masked.startswith(token, pos_m):
            return None
        out.extend([m.start] + [m.end] * (len(token) - 1))
        pos_m += len(token)
        pos_o = m.end
    if masked[pos_m:] != original[pos_o:]:
        return None
    out.extend(range(pos_o, len(original) + 1))
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


def locate(
    quote: str, original: str, masked: str | None = None, kinds: Iterable[str] = ()
) -> tuple[int, int] | None:
    """Where `quote` (taken from `masked`, the text the model saw: `original` with `kinds` masked)
    sits in `original`."""
    if masked is None or masked == original:
        return _find(quote, original)
    found = _find(quote, masked)
    offsets = _offset_map(original, masked, kinds) if found is not None else None
    if found is None or offsets is None:
        return _find(quote, original)
    start, end = offsets[found[0]], offsets[found[1]]
    return (start, end) if end > start else None
