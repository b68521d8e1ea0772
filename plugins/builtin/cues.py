"""Phrases that tie a message to one built-in department, used to spot misrouted tasks.

Strong cues are unambiguous ("charged twice", "password", "delete my data"): one of
another department's in a text with none of ours means the router got it wrong.
Weak cues only count as evidence that a text is ours, so a department does not
bounce a message that merely mentions another's subject in passing.
"""

from __future__ import annotations

import re

# a charge taken twice, in the customer's words
DUPLICATE_CHARGE = (r"charged (me )?twice", r"double[- ]?charg", r"duplicate (charge|payment|transaction)")

STRONG: dict[str, tuple[str, ...]] = {
    "billing": (
        *DUPLICATE_CHARGE,
        r"\brefund",
        r"exchange rate",
        r"\binvoice",
        r"subscription",
    ),
    "compliance": (
        r"\bkyc\b",
        r"\bgdpr\b",
        r"(delete|erase|remove) (all )?(my|of my) (personal )?(data|information|details)",
        r"right to be forgotten",
        r"subject access",
        r"source of (funds|wealth)",
        r"complain",
        r"\bfraud",
        r"(not|isn'?t) (be )?reported",
        r"under the (reporting )?(limit|threshold)",
        r"age limit",
    ),
    "technical": (
        r"password",
        r"passcode",
        r"\blog ?in\b",
        r"\bsign ?in\b",
        r"\b2fa\b",
        r"two[- ]?(factor|step)",
        r"\botp\b",
        r"(apple|google|samsung) (pay|wallet)",
        r"contactless",
        r"\bpin\b",
        r"\boutage",
        r"\bapp\b.*(crash|freez|won'?t open)",
    ),
}

WEAK: dict[str, tuple[str, ...]] = {
    "billing": (
        r"\bfees?\b",
        r"\bfx\b",
        r"top[- ]?up",
        r"statement",
        r"\btransfer",
        r"\bdebited\b",
        r"\bcharged?\b",
        r"\bcash\b",
        r"\bwithdr[ae]w",
        r"\bpending\b",
        r"\bamount\b",
        r"\brates?\b",
        r"\bpayments?\b",
        r"\bcurrenc",
        r"\bmoney\b",
        r"\bbalance\b",
    ),
    "compliance": (
        r"verif(y|ied|ication)",
        r"authenticat",
        r"identity",
        r"my data",
        r"stolen",
        r"\blost\b",
        r"never (been|made|bought|authori[sz]ed)",
        r"(company|merchant|shop|site|business) I (don'?t|do not) know",
        r"unfamiliar",
        r"\bnot mine\b",
        r"wasn'?t me\b",
        r"(don'?t|do not) (recogni[sz]e|remember)",
        r"(unrecogni[sz]ed|unauthori[sz]ed)",
        r"(you want|do you need|asking me for|asked (me )?for)",
        r"(close|deactivate|delete|cancel|terminate|shut down) (my |the )?account",
        r"split",
        r"beneficiary|payee|recipient",
        r"(change|update|edit) my (name|address|surname|details)",
        r"how old",
        r"which countr",
    ),
    "technical": (
        r"auto(matic)?[- ]?top[- ]?up",
        r"(add|link) (an? |my )?(external |new |other )?card",
        r"(one[- ]time|verification|sms) code",
        r"\bapp\b",
        r"\bactivat",
        r"\bwallet\b",
        r"\batm\b",
        r"cash machine",
        r"virtual card",
        r"card",
        r"(site|app|service|system) (is )?down",
    ),
}

_STRONG = {dep: [re.compile(p, re.IGNORECASE) for p in pats] for dep, pats in STRONG.items()}
_ALL = {dep: _STRONG[dep] + [re.compile(p, re.IGNORECASE) for p in WEAK[dep]] for dep in STRONG}


def cue_scores(text: str, *, strong_only: bool = False) -> dict[str, int]:
    table = _STRONG if strong_only else _ALL
    return {dep: sum(1 for p in pats if p.search(text)) for dep, pats in table.items()}


def clearly_foreign(own: str, text: str) -> str | None:
    """The department whose strong cues the text has, when it has no cue of ours at all."""
    if cue_scores(text).get(own, 0) > 0:
        return None
    strong = cue_scores(text, strong_only=True)
    others = sorted(((n, d) for d, n in strong.items() if d != own and n > 0), reverse=True)
    if not others or (len(others) > 1 and others[0][0] == others[1][0]):
        return None
    return others[0][1]
