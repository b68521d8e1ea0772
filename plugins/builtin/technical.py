"""The technical department: sign-in, passwords, 2FA, the app, cards, wallets and ATMs."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.backend import queries
from orchestrator.backend.models import Card, Customer, utcnow
from plugins import hookimpl
from plugins.builtin._base import (
    KNOWLEDGE_ROOT,
    BuiltinDepartment,
    Run,
    amounts,
    card_last4,
    fmt_date,
    mentions,
)
from plugins.builtin._lookup import add_business_days, hold_explanation, kyc_state
from plugins.builtin.actions_technical import ACTIONS, NAME, RESET_MINUTES, compliance_stopped
from plugins.builtin.intents_technical import INTENTS
from plugins.contracts import DepartmentResult

# business days from order to the customer's door, by jurisdiction
DELIVERY_DAYS = {"EU": (3, 7), "UK": (3, 7), "US": (3, 7), "US-CA": (3, 7), "CN": (3, 10), "SG": (3, 7)}
POSTING_DAYS = 2  # business days from order to posting
LOST_IN_POST_DAYS = 10  # business days after posting before we send another card


# --- shared steps ----------------------------------------------------------------------------


def _access_blocked(run: Run) -> DepartmentResult | None:
    """A KYC hold or closed account explains a sign-in or card problem better than any reset."""
    state = kyc_state(run)
    if state.held:
        run.note(
            "observation",
            "Customer could not use the account; explained the KYC hold, no reset issued.",
            data={"kyc_hold_note": state.note.id if state.note else None},
        )
        return run.resolved(
            hold_explanation(state, about_access=True)
            + run.cite("account on hold verification", department="compliance")
        )
    accounts = queries.accounts(run.ctx.db, run.customer_id)
    if accounts and all(a.status == "closed" for a in accounts):
        return run.resolved("Your account is closed, so it can't be signed in to or used any more.")
    return None


# which card a customer most likely means: a usable card with a problem before a healthy one,
# and cards already replaced (blocked, expired) last
_TROUBLE_FIRST = {"frozen": 0, "active": 1, "blocked": 2, "inactive": 3, "expired": 4}
_USABLE_FIRST = {"active": 0, "inactive": 1, "frozen": 2, "blocked": 3, "expired": 4}


_NEW_CARD = re.compile(
    r"\b(?:new|replacement)\s+(?:\w+\s+)?card\b|\bcard\s+(?:that\s+|which\s+)?(?:just\s+)?(?:arrived|came)\b"
    r"|\b(?:just|has|have)\s+arrived\b|\bcame\s+(?:today|in\s+the\s+post|yesterday)\b",
    re.IGNORECASE,
)


def _pick_card(run: Run, cards: list[Card], *, trouble_first: bool = False) -> Card | None:
    wanted = card_last4(run.task)
    if wanted:
        named = [c for c in cards if c.last4 in wanted]
        if named:
            return named[0]
    virtual = mentions(run.task.text, "virtual", "disposable", "single-use", "one time")
    same_kind = [c for c in cards if (c.kind == "virtual") == virtual] or cards
    if not same_kind:
        return None
    if _NEW_CARD.search(run.task.text):
        # "my new card, the one that just arrived": the newest, whatever state the others are in
        return max(same_kind, key=lambda c: c.created_at)
    order = _TROUBLE_FIRST if trouble_first else _USABLE_FIRST

    def rank(c: Card) -> tuple[int, int, float]:
        pin = 0 if (trouble_first and c.pin_blocked and c.status == "active") else 1
        return (order.get(c.status, 9), pin, -c.created_at.timestamp())

    return min(same_kind, key=rank)


def _replacement_of(cards: list[Card], card: Card) -> Card | None:
    """A newer usable card of the same kind: what replaced a blocked or expired one."""
    newer = [
        c
        for c in cards
        if c.kind == card.kind
        and c.created_at >= card.created_at
        and c.id != card.id
        and c.status in ("active", "inactive")
    ]
    return max(newer, key=lambda c: c.created_at) if newer else None


# --- handlers --------------------------------------------------------------------------------


def password_reset(run: Run) -> DepartmentResult:
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    customer = run.ctx.db.get(Customer, run.customer_id)
    locked = customer is not None and customer.login_locked
    record = run.act("issue_password_reset")
    if not record.ok:
        return run.failed_action(record, "send a reset link")
    kb = run.cite()
    unlock = " Your login was locked after too many attempts; the reset unlocks it." if locked else ""
    return run.resolved(
        f"I've sent a password reset link to {record.result['sent_to']}. It works once, for the next "
        f"{RESET_MINUTES} minutes.{unlock}{kb}"
    )


def two_factor(run: Run) -> DepartmentResult:
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    customer = run.ctx.db.get(Customer, run.customer_id)
    record = run.act("reset_two_factor")
    if not record.ok:
        return run.failed_action(record, "reset two-factor authentication")
    kb = run.cite()
    sms = ""
    if customer is not None and customer.two_factor == "sms":
        sms = (
            " Codes by SMS can be delayed abroad or after a number change; an authenticator app avoids "
            "that, and you can switch to one while re-registering."
        )
    return run.resolved(
        f"I've sent a link to {record.result['sent_to']} to set up two-factor authentication again; it works "
        f"once, for {RESET_MINUTES} minutes.{sms}{kb}"
    )


def app_error(run: Run) -> DepartmentResult:
    kb = run.cite()
    steps = (
        "Please update the app to the latest version, restart your phone and try again; if it still "
        "fails, reinstalling is safe, since nothing is stored only on the phone."
    )
    if run.ctx.customer is None:
        return run.resolved(steps + kb)
    record = run.act("open_ticket", kind="app_bug", summary=run.task.text[:500])
    if not record.ok:
        return run.failed_action(record, "report the problem")
    return run.resolved(
        f"{steps} I've also reported it to our app team (ticket {record.result['ticket_id']}).{kb}"
    )


def outage(run: Run) -> DepartmentResult:
    kb = run.cite()
    answer = run.snippet() if not kb else ""
    return run.resolved(
        "When a service is disrupted we post it on our status page and in the app's notifications, with "
        f"updates until it's fixed; card payments usually keep working during app problems. {answer}{kb}"
    )


def app_features(run: Run) -> DepartmentResult:
    kb = run.cite()
    answer = run.snippet() if not kb else ""
    return run.resolved(
        "You'll find it in the app under Settings or on the Cards and Accounts screens. "
        f"{answer or 'Tell me which feature you are looking for and I will walk you through it.'}{kb}"
    )


def card_not_working(run: Run) -> DepartmentResult:
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    cards = queries.cards(run.ctx.db, run.customer_id)
    card = _pick_card(run, cards, trouble_first=True)
    kb = run.cite()
    if card is None:
        return run.resolved(f"You don't have a card yet; you can order one in the app under Cards.{kb}")
    if card.status == "frozen":
        if compliance_stopped(run.ctx, card):
            return run.resolved(
                f"Your card ending {card.last4} was frozen by our fraud team while a reported payment is "
                f"investigated, so it can't be unfrozen here; they will release it or send a new card.{kb}"
            )
        record = run.act("unfreeze_card", card_id=card.id)
        if not record.ok:
            return run.failed_action(record, "unfreeze the card")
        return run.resolved(
            f"Your card ending {card.last4} was frozen in the app; I've unfrozen it, so it "
            f"works again now.{kb}"
        )
    if card.status in ("blocked", "expired"):
        newer = _replacement_of(cards, card)
        if newer is not None:
            ready = "is active" if newer.status == "active" else "needs activating in the app once it arrives"
            why = " after it was reported" if compliance_stopped(run.ctx, card) else ""
            return run.resolved(
                f"Your card ending {card.last4} was {card.status}{why} and can't be used any more; its "
                f"replacement, ending {newer.last4}, {ready}.{kb}"
            )
        record = run.act("order_card", kind=card.kind, replaces=card.id, reason=f"card {card.status}")
        if not record.ok:
            return run.failed_action(record, "order a replacement")
        lo, hi = DELIVERY_DAYS.get(run.ctx.jurisdiction, (5, 10))
        return run.resolved(
            f"Your card ending {card.last4} is {card.status}, so it can't be used. I've ordered a replacement "
            f"(ending {record.result['last4']}); it should arrive within {lo}-{hi} business days.{kb}"
        )
    if card.status == "inactive":
        record = run.act("activate_card", card_id=card.id)
        if not record.ok:
            return run.failed_action(record, "activate the card")
        return run.resolved(
            f"Your card ending {card.last4} hadn't been activated yet; I've activated it. Your "
            f"first payment needs chip and PIN; contactless works after that.{kb}"
        )
    if card.pin_blocked:
        record = run.act("unblock_pin", card_id=card.id)
        if not record.ok:
            return run.failed_action(record, "unblock the PIN")
        return run.resolved(
            f"The PIN of your card ending {card.last4} was blocked after wrong attempts; I've "
            f"unblocked it. Use the correct PIN at your next payment.{kb}"
        )
    balance = queries.balance_of(run.ctx.db, run.customer_id)
    asked = max(amounts(run.task), default=None)
    if asked is not None and asked > balance:
        return run.resolved(
            f"Your card ending {card.last4} is fine, but the payment was more than your balance; "
            f"top up and try again.{kb}"
        )
    tip = (
        " For contactless, the first payment with a new card and every few payments after need chip and PIN."
        if mentions(run.task.text, "contactless", "tap")
        else " Some merchants (car rental, petrol pumps) don't accept debit cards or prepaid holds."
    )
    return run.resolved(
        f"Your card ending {card.last4} is active and nothing is blocking it on our side.{tip}{kb}"
    )


def pin_issue(run: Run) -> DepartmentResult:
    cards = queries.cards(run.ctx.db, run.customer_id)
    blocked_pins = [c for c in cards if c.pin_blocked and c.status in ("active", "inactive")]
    kb = run.cite()
    if blocked_pins:
        card = _pick_card(run, blocked_pins) or blocked_pins[0]
        record = run.act("unblock_pin", card_id=card.id)
        if not record.ok:
            return run.failed_action(record, "unblock the PIN")
        return run.resolved(
            f"I've unblocked the PIN of your card ending {card.last4}. If you don't remember it, "
            f"you can view it in the app under Cards > Show PIN.{kb}"
        )
    return run.resolved(
        "Your PIN isn't blocked. You can see it in the app under Cards > Show PIN, and change it at most ATMs "
        f"under PIN services.{kb}"
    )


def card_activation(run: Run) -> DepartmentResult:
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    inactive = [c for c in queries.cards(run.ctx.db, run.customer_id) if c.status == "inactive"]
    kb = run.cite()
    if not inactive:
        return run.resolved(f"All your cards are already active; there's nothing to activate.{kb}")
    card = _pick_card(run, inactive) or inactive[0]
    record = run.act("activate_card", card_id=card.id)
    if not record.ok:
        return run.failed_action(record, "activate the card")
    return run.resolved(
        f"I've activated your card ending {card.last4}; it works right away. Your first payment "
        f"needs chip and PIN.{kb}"
    )


def card_delivery(run: Run) -> DepartmentResult:
    db = run.ctx.db
    waiting = [
        c for c in queries.cards(db, run.customer_id) if c.status == "inactive" and c.kind == "physical"
    ]
    lo, hi = DELIVERY_DAYS.get(run.ctx.jurisdiction, (3, 10))
    kb = run.cite()
    if not waiting:
        return run.resolved(
            f"You have no card on its way at the moment. Cards are posted within {POSTING_DAYS} business days "
            f"of ordering and arrive {lo}-{hi} business days later.{kb}"
        )
    card = waiting[-1]
    posted = add_business_days(card.created_at.date(), POSTING_DAYS)
    latest = add_business_days(posted, hi)
    if utcnow().date() <= add_business_days(posted, LOST_IN_POST_DAYS):
        return run.resolved(
            f"Your card ending {card.last4} was posted around {fmt_date(posted)} and should arrive by "
            f"{fmt_date(latest)}. If it hasn't come {LOST_IN_POST_DAYS} business days after posting, we'll "
            f"cancel it and send another free of charge.{kb}"
        )
    record = run.act("order_card", kind="physical", replaces=card.id, reason="not delivered")
    if not record.ok:
        return run.failed_action(record, "send a new card")
    return run.resolved(
        f"Your card ending {card.last4} should have arrived by {fmt_date(latest)}, so I've cancelled it and sent "
        f"a new one free of charge (ending {record.result['last4']}); it is posted within {POSTING_DAYS} "
        f"business days and arrives {lo}-{hi} business days later.{kb}"
    )


def card_order(run: Run) -> DepartmentResult:
    cards = queries.cards(run.ctx.db, run.customer_id)
    kb = run.cite()
    if mentions(run.task.text, "visa", "mastercard") and not mentions(run.task.text, "order", "send", "want"):
        networks = sorted({c.network.title() for c in cards}) or ["Visa"]
        return run.resolved(
            f"Your cards are {' and '.join(networks)} debit cards, accepted wherever that network is.{kb}"
        )
    if not mentions(
        run.task.text,
        "order",
        "need",
        "want",
        "get",
        "send",
        "replace",
        "new",
        "spare",
        "second",
        "expire",
        "damaged",
        "cracked",
    ):
        answer = run.snippet() if not kb else ""
        return run.resolved(f"You can order physical cards in the app under Cards. {answer}{kb}")
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    replace = mentions(run.task.text, "replace", "expire", "damaged", "cracked", "broken")
    current = [c for c in cards if c.kind == "physical" and c.status in ("active", "inactive")]
    old = current[-1] if replace and current else None
    record = run.act(
        "order_card",
        kind="physical",
        replaces=old.id if old else None,
        reason="replacement" if old else "additional card",
    )
    if not record.ok:
        return run.failed_action(record, "order the card")
    lo, hi = DELIVERY_DAYS.get(run.ctx.jurisdiction, (5, 10))
    swap = f" It replaces your card ending {old.last4}, which I've cancelled." if old else ""
    return run.resolved(
        f"I've ordered a new card ending {record.result['last4']}; it arrives within {lo}-{hi} "
        f"business days and you activate it in the app.{swap}{kb}"
    )


def virtual_card(run: Run) -> DepartmentResult:
    virtual = [c for c in queries.cards(run.ctx.db, run.customer_id) if c.kind == "virtual"]
    kb = run.cite()
    broken = mentions(
        run.task.text, "not work", "doesn't work", "declined", "not accepted", "stopped", "isn't"
    )
    if broken and virtual:
        card = _pick_card(run, virtual) or virtual[-1]
        if card.status == "active":
            return run.resolved(
                f"Your virtual card ending {card.last4} is active. Some merchants (hotels, car "
                f"rental) refuse virtual cards; disposable cards stop after one payment.{kb}"
            )
        return run.resolved(
            f"Your virtual card ending {card.last4} is {card.status}; create a new one in the "
            f"app under Cards > Virtual.{kb}"
        )
    if not mentions(run.task.text, "get", "create", "make", "want", "need", "new", "one time", "how do i"):
        answer = run.snippet() if not kb else ""
        return run.resolved(f"Virtual cards work online and in phone wallets straight away. {answer}{kb}")
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    record = run.act("order_card", kind="virtual", reason="virtual card requested")
    if not record.ok:
        return run.failed_action(record, "create the virtual card")
    return run.resolved(
        f"I've created a virtual card ending {record.result['last4']}; it's ready to use now, "
        f"and you can see its details in the app under Cards.{kb}"
    )


def mobile_wallet(run: Run) -> DepartmentResult:
    kb = run.cite()
    answer = run.snippet() if not kb else ""
    base = (
        "Add your card from the app (Cards > Add to Apple Wallet / Google Pay) or from the wallet app; "
        "we send a code to confirm it."
    )
    if run.ctx.customer is None:
        return run.resolved(f"{base} {answer}{kb}")
    cards = queries.cards(run.ctx.db, run.customer_id)
    card = _pick_card(run, cards)
    if card is not None and card.status != "active":
        return run.resolved(
            f"Your card ending {card.last4} is {card.status}; only active cards can be added to "
            f"a phone wallet. {base}{kb}"
        )
    return run.resolved(f"{base} {answer}{kb}")


def atm_problem(run: Run) -> DepartmentResult:
    blocked = _access_blocked(run)
    if blocked is not None:
        return blocked
    cards = [c for c in queries.cards(run.ctx.db, run.customer_id) if c.kind == "physical"]
    card = _pick_card(run, cards)
    kb = run.cite()
    if card is None:
        return run.resolved(f"You don't have a physical card to use at ATMs; order one in the app.{kb}")
    if mentions(run.task.text, "swallow", "kept", "ate", "retain", "stuck", "inside"):
        record = run.act("order_card", kind="physical", replaces=card.id, reason="retained by ATM")
        if not record.ok:
            return run.failed_action(record, "replace the card")
        return run.resolved(
            f"A card kept by an ATM is destroyed by the operator, so I've cancelled your card ending {card.last4} "
            f"and ordered a new one (ending {record.result['last4']}).{kb}"
        )
    if card.pin_blocked:
        record = run.act("unblock_pin", card_id=card.id)
        if not record.ok:
            return run.failed_action(record, "unblock the PIN")
        return run.resolved(f"The ATM refused your card because its PIN was blocked; I've unblocked it.{kb}")
    if card.status != "active":
        return run.resolved(
            f"Your card ending {card.last4} is {card.status}, which is why the ATM refused it.{kb}"
        )
    return run.resolved(
        f"Your card ending {card.last4} is active and can withdraw up to 500 a day. If an ATM refuses it, try "
        f"another machine: some don't accept foreign cards.{kb}"
    )


HANDLERS = {
    "login_problem": password_reset,
    "password_reset": password_reset,
    "two_factor": two_factor,
    "app_error": app_error,
    "outage": outage,
    "app_features": app_features,
    "card_not_working": card_not_working,
    "pin_issue": pin_issue,
    "card_activation": card_activation,
    "card_delivery": card_delivery,
    "card_order": card_order,
    "virtual_card": virtual_card,
    "mobile_wallet": mobile_wallet,
    "atm_problem": atm_problem,
}
GENERAL_INTENTS = {"app_error", "outage", "app_features", "mobile_wallet"}

DEPARTMENT = BuiltinDepartment(
    name=NAME,
    description="Sign-in, passwords and 2FA, the app, card activation and delivery, PINs, wallets and ATMs",
    intents=INTENTS,
    actions=ACTIONS,
    handlers=HANDLERS,
    account_intents=set(HANDLERS) - GENERAL_INTENTS,
)


@hookimpl
def crossdesk_departments() -> list[BuiltinDepartment]:
    return [DEPARTMENT]


@hookimpl
def crossdesk_knowledge_paths() -> list[Path]:
    return [KNOWLEDGE_ROOT / NAME]


@hookimpl
def crossdesk_policy_paths() -> list[Path]:
    return []
