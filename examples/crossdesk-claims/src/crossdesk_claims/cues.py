"""Reading a message: is it about insurance claims at all, which product and which kind of incident."""

from __future__ import annotations

import re
from typing import Literal

Product = Literal["travel", "purchase_protection"]

# any one of these makes a message ours
_STRONG = re.compile(
    r"\bclaim(s|ed|ing)?\b(?!\s+(it\s+|them\s+|that\s+)?back\b)"  # "claim back a payment" is a refund
    r"|\binsur(ance|ed|er|ers)\b|\bcover(ed|age)?\b|\bpolicy (number|terms)\b|\btravel policy\b"
    r"|purchase protection|(?<!data )\bprotected\b"
    r"|\b(luggage|baggage|suitcases?|carousel)\b"
    r"|\bexcess\b|\bdeductible\b|\bpay ?out\b|\bsettlement\b|\bassessor\b|\bdepreciation\b"
    r"|\bpre-existing\b|property irregularity|\bCLM-[A-Z0-9]{6}\b",
    re.IGNORECASE,
)
# a bag that went missing on a journey, or a purchase that was stolen or broke: ours without the word "claim"
_TRAVEL_BAG = re.compile(
    r"\bbags?\b.{0,60}\b(flight|airline|airport|trip|holiday)\b|\b(flight|airline|airport|trip|holiday)\b.{0,60}\bbags?\b",
    re.IGNORECASE | re.DOTALL,
)
_BROKEN_PURCHASE = re.compile(
    r"\b(bought|purchased)\b.{0,50}\b(stolen|broke|broken|smashed|damaged|cracked)\b"
    r"|\b(stolen|broke|broken|smashed|damaged|cracked)\b.{0,50}\b(bought|purchased)\b",
    re.IGNORECASE | re.DOTALL,
)
CLAIM_ID = re.compile(r"\bCLM-[A-Z0-9]{6}\b", re.IGNORECASE)

_PURCHASE = re.compile(
    r"purchase protection|\b(bought|purchased|purchase|receipt|laptop|phone|tv|camera|watch|headphones|bike)\b",
    re.IGNORECASE,
)
_TRAVEL = re.compile(
    r"\b(travel|trip|flight|airline|airport|holiday|hotel|luggage|baggage|suitcase|bag|abroad|ski)\b",
    re.IGNORECASE,
)
INCIDENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "baggage_damaged",
        re.compile(
            r"\b(luggage|baggage|suitcase|bag)\b.{0,60}\b(broken|damaged|torn|smashed)\b"
            r"|\b(broken|damaged|torn)\b.{0,30}\b(luggage|baggage|suitcase|bag)\b",
            re.I | re.S,
        ),
    ),
    (
        "baggage_lost",
        re.compile(
            r"\b(lost|missing|never (showed|arrived|came)|delayed|still not)\b.{0,60}"
            r"\b(luggage|baggage|suitcase|bag)\b|\b(luggage|baggage|suitcase|bag)\b.{0,60}"
            r"\b(lost|missing|never|delayed|didn'?t arrive)\b",
            re.I | re.S,
        ),
    ),
    ("trip_cancelled", re.compile(r"\b(cancel\w*|cut .{0,20}short|called off)\b", re.I)),
    ("medical", re.compile(r"\b(hospital\w*|doctor|medical|sick|ill|injur\w*)\b", re.I)),
    ("travel_delay", re.compile(r"\bdelay(ed)?\b", re.I)),
    ("theft", re.compile(r"\b(stolen|stole|theft|robbed|pickpocket\w*)\b", re.I)),
    ("damage", re.compile(r"\b(broke|broken|smashed|damaged|cracked|stopped working)\b", re.I)),
)
INCIDENT_TEXT = {
    "baggage_lost": "lost or delayed baggage",
    "baggage_damaged": "damaged baggage",
    "trip_cancelled": "cancelled trip",
    "medical": "medical costs abroad",
    "travel_delay": "travel delay",
    "theft": "stolen purchase",
    "damage": "damaged purchase",
    "other": "incident",
}
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "baggage_lost": (
        "boarding pass",
        "property irregularity report (PIR) from the airline",
        "receipts for essentials you had to buy",
    ),
    "baggage_damaged": (
        "boarding pass",
        "property irregularity report (PIR) from the airline",
        "photos of the damage",
    ),
    "trip_cancelled": (
        "booking confirmation",
        "proof of why the trip was cancelled",
        "cancellation invoice showing what was not refunded",
    ),
    "medical": ("medical report", "itemised bills and receipts"),
    "travel_delay": ("written confirmation of the delay from the carrier", "receipts for extra costs"),
    "theft": ("proof of purchase", "police report (within 48 hours of the theft)"),
    "damage": ("proof of purchase", "photos of the damage"),
    "other": ("proof of purchase or booking", "a short description of what happened"),
}


def is_claims_text(text: str) -> bool:
    """True when the message is about insurance claims or cover; False hands it back to the router."""
    return bool(_STRONG.search(text) or _TRAVEL_BAG.search(text) or _BROKEN_PURCHASE.search(text))


def product_of(text: str) -> Product:
    travel = len(_TRAVEL.findall(text))
    purchase = len(_PURCHASE.findall(text))
    return "purchase_protection" if purchase > travel else "travel"


def incident_of(text: str) -> str:
    return next((name for name, pattern in INCIDENTS if pattern.search(text)), "other")


def claim_ids(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).upper() for m in CLAIM_ID.finditer(text)))
