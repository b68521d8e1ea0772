"""The billing department: charges, refunds, fees, exchange, transfers, top-ups, subscriptions."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import Session

from orchestrator.backend import queries
from orchestrator.backend.models import Customer, Subscription, Transaction, money, utcnow
from plugins import hookimpl
from plugins.builtin._base import (
    KNOWLEDGE_ROOT,
    BuiltinDepartment,
    Run,
    fmt_date,
    fmt_money,
    mentions,
    transaction_ids,
)
from plugins.builtin._lookup import add_business_days, narrow, pointed_at
from plugins.builtin.actions_billing import ACTIONS, NAME
from plugins.builtin.cues import DUPLICATE_CHARGE
from plugins.builtin.intents_billing import INTENTS
from plugins.contracts import ActionRecord, DepartmentContext, DepartmentResult, Task

# published FX markup per plan: (weekdays, extra at weekends when markets are closed)
FX_MARKUP = {
    "standard": (Decimal("0.005"), Decimal("0.01")),
    "plus": (Decimal("0.0025"), Decimal("0.005")),
    "premium": (Decimal("0"), Decimal("0")),
}
# fee-free ATM withdrawals per calendar month, and the fee above that
ATM_ALLOWANCE = {"standard": ("200", "2%"), "plus": ("400", "2%"), "premium": ("800", "1%")}
REFUND_DAYS = "3-10 business days"
FEE_NAMES = {
    "plan": "your monthly plan fee",
    "overdraft": "an overdraft fee",
    "fx": "a currency exchange fee",
    "atm": "a cash withdrawal fee",
    "transfer": "an international transfer fee",
    "top_up": "a credit card top-up fee",
}
FAILURE_REASONS = {
    "beneficiary_details_mismatch": (
        "the recipient's bank rejected it, as the name or account number didn't match their records"
    ),
    "insufficient_funds": "there wasn't enough money in the account when it was due to leave",
    "limit_exceeded": "it was above your daily transfer limit",
    "recipient_bank_unreachable": "the recipient's bank did not accept payments at that moment",
}
RAIL_DAYS = {"FPS": 0, "SEPA_INSTANT": 0, "SEPA": 1, "ACH": 2, "SWIFT": 3, "FAST": 0}


# --- shared steps ----------------------------------------------------------------------------


def _refunded_on(run: Run, tx_id: str) -> str | None:
    """The date a charge was refunded, from the backend or from any department's case note."""
    refund = queries.refund_for(run.ctx.db, tx_id)
    if refund is not None:
        return fmt_date(refund.created_at)
    notes = run.ctx.notes.for_subject(tx_id, kind="refund")
    if notes:
        return fmt_date(notes[0].created_at) if notes[0].created_at else "earlier"
    return None


def _refund(
    run: Run, tx: Transaction, reason: str, *, amount: Decimal | None = None
) -> tuple[ActionRecord, bool]:
    """Refund through the action and record a case note. Returns (record, newly refunded)."""
    args: dict[str, Any] = {"transaction_id": tx.id, "reason": reason}
    if amount is not None:
        args["amount"] = str(amount)
    record = run.act("refund", **args)
    if not record.ok:
        return record, False
    created = bool(record.result.get("created"))
    if created:
        run.note(
            "refund",
            f"Refunded {fmt_money(Decimal(record.result['amount']), tx.currency)} of {tx.id} "
            f"({tx.merchant}): {reason}.",
            subject=tx.id,
            data={
                "refund_id": record.result["refund_id"],
                "amount": record.result["amount"],
                "currency": tx.currency,
            },
        )
    return record, created


def _describe(tx: Transaction) -> str:
    return (
        f"{fmt_money(tx.amount, tx.currency)} at {tx.merchant or 'the merchant'} on {fmt_date(tx.created_at)}"
    )


# --- handlers --------------------------------------------------------------------------------


def double_charge(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    pairs = queries.find_duplicate_charges(db, cid)
    ids = transaction_ids(run.task)
    if ids:
        pairs = [p for p in pairs if p[0].id in ids or p[1].id in ids]
    elif pairs:
        keep = {t.id for t in narrow(run, [t for p in pairs for t in p])}
        pairs = [p for p in pairs if p[0].id in keep or p[1].id in keep] or pairs
    kb = run.cite()
    if not pairs:
        checked = f" {ids[0]} was" if ids else " your card payments and subscriptions were"
        return run.needs_info(
            "Which payment do you see twice? The merchant, the amount and the date are enough.",
            f"I checked and{checked} not taken twice within a day.{kb}",
        )
    open_pairs = [p for p in pairs if not (_refunded_on(run, p[1].id) or _refunded_on(run, p[0].id))]
    if not open_pairs:
        first, dup = pairs[0]
        when = _refunded_on(run, dup.id) or _refunded_on(run, first.id)
        return run.resolved(
            f"The duplicate charge of {_describe(dup)} ({dup.id}) was already refunded on {when}, so there is "
            f"nothing more to refund. Refunds we send reach your balance straight away.{kb}"
        )
    if len(open_pairs) > 1:
        listing = "; ".join(f"{_describe(d)} ({d.id})" for _, d in open_pairs[:4])
        return run.needs_info(
            "Which of these payments was charged twice?",
            f"I found more than one repeated payment: {listing}.",
        )
    first, dup = open_pairs[0]
    if dup.status == "pending":
        return run.resolved(
            f"The second charge of {_describe(dup)} is still pending: it is an authorisation the merchant "
            f"did not complete, and it drops off by itself within 7 days without a refund.{kb}"
        )
    record, created = _refund(run, dup, f"duplicate of {first.id}")
    if not record.ok:
        return run.failed_action(record, "refund the duplicate charge")
    if not created:
        return run.resolved(
            f"The duplicate charge {dup.id} was already refunded on {fmt_date(utcnow())}; nothing more to do.{kb}"
        )
    return run.resolved(
        f"You were charged twice: {_describe(first)} ({first.id}) and again a moment later ({dup.id}). "
        f"I've refunded the second charge, {fmt_money(dup.amount, dup.currency)}; it is back in your "
        f"balance now.{kb}"
    )


# a charge taken twice, as the router's cues say it, and a couple of plainer ways
_DUPLICATE = re.compile("|".join((*DUPLICATE_CHARGE, r"(?:taken|paid) twice")), re.IGNORECASE)


def refund_request(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    since = utcnow() - timedelta(days=120)
    charges = queries.transactions(db, cid, kinds=("card_payment", "subscription", "fee"), since=since)
    charges = [t for t in charges if t.amount < 0]
    targets = pointed_at(run, charges)
    if not targets and _DUPLICATE.search(run.task.text):
        # "my money back for the double charge": the duplicate is ours to find, not the customer's to name
        return double_charge(run)
    kb = run.cite()
    if not targets or len(targets) > 3:
        return run.needs_info(
            "Which payment would you like refunded? The merchant, the amount and the date are enough.",
            "I can look into a refund for any charge on your account." + kb,
        )
    tx = targets[0]
    when = _refunded_on(run, tx.id)
    if when:
        return run.resolved(f"{_describe(tx)} ({tx.id}) was already refunded on {when}.{kb}")
    dup_ids = {d.id for _, d in queries.find_duplicate_charges(db, cid)}
    if tx.id in dup_ids:
        record, created = _refund(run, tx, "duplicate charge")
        if not record.ok:
            return run.failed_action(record, "refund the duplicate charge")
        return run.resolved(
            f"{_describe(tx)} was a duplicate, so I've refunded it; the money is back now.{kb}"
        )
    if tx.kind == "subscription":
        late = _charged_after_cancel(run, [tx])
        if late is not None:
            return late
    kind = "fee_review" if tx.kind == "fee" else "chargeback"
    record = run.act(
        "open_case",
        kind=kind,
        transaction_id=tx.id,
        summary=f"Customer asks for a refund of {_describe(tx)}: {run.task.text[:200]}",
    )
    if not record.ok:
        return run.failed_action(record, "open the refund request")
    if kind == "fee_review":
        return run.resolved(
            f"I've asked our billing team to review the fee of {_describe(tx)} (case {record.result['ticket_id']}); "
            f"you'll hear back within 5 business days.{kb}"
        )
    return run.resolved(
        f"For {_describe(tx)} the quickest route is a refund from the merchant. If they won't help, we can "
        f"claim it back through the card network: I've opened dispute case {record.result['ticket_id']} and "
        f"we'll ask you for any receipts or messages with the merchant.{kb}"
    )


def refund_not_showing(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    credits = queries.transactions(db, cid, kinds=("refund",), since=utcnow() - timedelta(days=60))
    ids = transaction_ids(run.task)
    if ids:
        matched = [t for t in credits if t.id in ids or t.data.get("refund_of") in ids]
        credits = matched
        if not matched:
            for tx_id in ids:
                when = _refunded_on(run, tx_id)
                if when:
                    return run.resolved(f"The refund for {tx_id} was made on {when}.{run.cite()}")
    elif credits:
        credits = narrow(run, credits)
    kb = run.cite()
    if not credits:
        return run.resolved(
            "I can't see a refund on your account yet. Once a merchant sends a refund it usually takes "
            f"{REFUND_DAYS} to reach us; if the merchant confirmed it more than 10 business days ago, send us "
            f"their confirmation and we'll trace it.{kb}"
        )
    tx = credits[0]
    if tx.status == "pending":
        return run.resolved(
            f"Your refund of {fmt_money(tx.amount, tx.currency)} from {tx.merchant} is on its way (pending "
            f"since {fmt_date(tx.created_at)}); merchant refunds take {REFUND_DAYS} to settle.{kb}"
        )
    origin = tx.data.get("refund_of")
    of = f" for {origin}" if origin else ""
    return run.resolved(
        f"Your refund of {fmt_money(tx.amount, tx.currency)}{of} from {tx.merchant} was credited on "
        f"{fmt_date(tx.created_at)} ({tx.id}), so it is already in your balance.{kb}"
    )


def unexpected_fee(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    fees = queries.transactions(
        db, cid, kinds=("fee",), statuses=("posted", "pending"), since=utcnow() - timedelta(days=60)
    )
    fees = narrow(run, fees) if fees else fees
    kb = run.cite()
    if not fees:
        return run.resolved(
            "I can't see any fee from us on your account in the last 60 days. An extra amount on a card "
            f"payment is usually the merchant's own surcharge or a currency conversion by the shop.{kb}"
        )
    lines = [
        f"{fmt_money(f.amount, f.currency)} on {fmt_date(f.created_at)} is "
        f"{FEE_NAMES.get(str(f.data.get('fee_type')), 'a service fee')} ({f.id})"
        for f in fees[:3]
    ]
    reply = "Here is what I found: " + "; ".join(lines) + "."
    if mentions(run.task.text, "waive", "refund", "back", "remove", "reverse"):
        fee = fees[0]
        record = run.act(
            "open_case",
            kind="fee_review",
            transaction_id=fee.id,
            summary=f"Customer asks to waive {fee.id}: {run.task.text[:200]}",
        )
        if not record.ok:
            return run.failed_action(record, "open a fee review")
        reply += f" I've asked for the fee to be reviewed (case {record.result['ticket_id']})."
    return run.resolved(reply + kb)


def exchange_rate(run: Run) -> DepartmentResult:
    kb = run.cite()
    answer = run.snippet() if not kb else ""
    base = (
        "Payments in another currency are converted at the mid-market rate when the payment settles, "
        "plus your plan's markup (Standard 0.5%, Plus 0.25%, Premium none, with an extra markup at "
        "weekends)."
    )
    if run.ctx.customer is None:
        return run.resolved(f"{base} {answer}{kb}")
    db, cid = run.ctx.db, run.customer_id
    foreign = [
        t
        for t in queries.transactions(db, cid, since=utcnow() - timedelta(days=60))
        if t.original_currency and t.fx_rate
    ]
    foreign = narrow(run, foreign) if foreign else foreign
    held = ", ".join(sorted({a.currency for a in queries.accounts(db, cid)}))
    extra = f" Your account holds {held}."
    if foreign:
        t = foreign[0]
        extra += (
            f" Your payment of {fmt_money(t.original_amount or 0, t.original_currency or '')} at "
            f"{t.merchant} on {fmt_date(t.created_at)} was converted at {t.fx_rate:.4f}, which came "
            f"to {fmt_money(t.amount, t.currency)}."
        )
    return run.resolved(f"{base}{extra} {answer}{kb}")


def fx_fee_dispute(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    fees = [
        f
        for f in queries.transactions(db, cid, kinds=("fee",), since=utcnow() - timedelta(days=90))
        if f.data.get("fee_type") == "fx"
    ]
    ids = transaction_ids(run.task)
    if ids:
        fees = [f for f in fees if f.id in ids or f.data.get("fx_of") in ids]
    elif fees:
        fees = narrow(run, fees)
    kb = run.cite()
    if not fees:
        return run.resolved(
            "I can't find a currency exchange fee on your recent payments. The markup depends on your plan "
            f"and the day, and the app shows it before you confirm an exchange.{kb}"
        )
    fee = fees[0]
    paid = db.get(Transaction, str(fee.data.get("fx_of"))) if fee.data.get("fx_of") else None
    if paid is None:
        return run.needs_human(
            f"fx fee {fee.id} is not linked to a payment", "A colleague will check this fee."
        )
    markup = _markup(run, paid)
    expected = money(-paid.amount * markup)
    charged = -fee.amount
    if charged <= expected:
        return run.resolved(
            f"The fee of {fmt_money(charged, fee.currency)} on {_describe(paid)} matches our published "
            f"markup of {markup * 100:.1f}% for that day, so it was charged correctly.{kb}"
        )
    when = _refunded_on(run, fee.id)
    if when:
        return run.resolved(f"We already refunded the overcharged part of fee {fee.id} on {when}.{kb}")
    excess = charged - expected
    record, _created = _refund(
        run, fee, f"fx fee above the published {markup * 100:.1f}% markup", amount=excess
    )
    if not record.ok:
        return run.failed_action(record, "refund the excess fee")
    return run.resolved(
        f"You're right: the exchange fee on {_describe(paid)} was {fmt_money(charged, fee.currency)}, but our "
        f"markup that day was {markup * 100:.1f}%, i.e. {fmt_money(expected, fee.currency)}. I've refunded "
        f"the difference of {fmt_money(excess, fee.currency)} to your account.{kb}"
    )


def _markup(run: Run, paid: Transaction) -> Decimal:
    customer = run.ctx.db.get(Customer, run.customer_id)
    weekday, weekend_extra = FX_MARKUP.get(customer.plan if customer else "standard", FX_MARKUP["standard"])
    return weekday + weekend_extra if paid.created_at.weekday() >= 5 else weekday


def failed_transfer(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    failed = queries.transactions(
        db, cid, kinds=("transfer",), statuses=("failed",), since=utcnow() - timedelta(days=30)
    )
    failed = narrow(run, failed) if failed else failed
    kb = run.cite()
    if not failed:
        return run.needs_info(
            "Which transfer do you mean? The amount, date and recipient are enough.",
            f"I can't see a failed transfer on your account in the last 30 days.{kb}",
        )
    tx = failed[0]
    code = str(tx.data.get("failure_reason", ""))
    if code in FAILURE_REASONS:
        why = f"it failed because {FAILURE_REASONS[code]}"
    else:
        # screening outcomes must not be disclosed to the customer
        why = "it could not be completed after our standard checks"
    fix = (
        " Please check the recipient's name and account details and send it again."
        if code == "beneficiary_details_mismatch"
        else ""
    )
    return run.resolved(
        f"Your transfer of {fmt_money(tx.amount, tx.currency)} to {tx.merchant} on {fmt_date(tx.created_at)} "
        f"didn't go through: {why}. The money never left your account, so your balance is unchanged.{fix}{kb}"
    )


def pending_transfer(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    pending = [
        t for t in queries.transactions(db, cid, kinds=("transfer",), statuses=("pending",)) if t.amount < 0
    ]
    pending = narrow(run, pending) if pending else pending
    kb = run.cite()
    today = utcnow().date()
    if pending:
        tx = pending[0]
        rail = str(tx.data.get("rail", "SEPA"))
        expected_raw = tx.data.get("expected_by")
        expected = (
            date.fromisoformat(expected_raw)
            if isinstance(expected_raw, str)
            else add_business_days(tx.created_at.date(), RAIL_DAYS.get(rail, 3))
        )
        head = (
            f"Your transfer of {fmt_money(tx.amount, tx.currency)} to {tx.merchant}, sent on "
            f"{fmt_date(tx.created_at)} by {rail}, is still being processed."
        )
        if today <= expected:
            return run.resolved(f"{head} It should arrive by {fmt_date(expected)}.{kb}")
        record = run.act(
            "open_case",
            kind="transfer_trace",
            transaction_id=tx.id,
            deadline_days=5,
            summary=f"{rail} transfer pending past {expected.isoformat()}",
        )
        if not record.ok:
            return run.failed_action(record, "start a trace on the transfer")
        return run.resolved(
            f"{head} It was due by {fmt_date(expected)}, so I've started a trace with the banks "
            f"(case {record.result['ticket_id']}); we'll update you within 5 days.{kb}"
        )
    recent_in = [
        t
        for t in queries.transactions(
            db, cid, kinds=("transfer", "top_up"), since=utcnow() - timedelta(days=3)
        )
        if t.amount > 0
    ]
    outgoing = [
        t
        for t in queries.transactions(
            db, cid, kinds=("transfer",), statuses=("posted",), since=utcnow() - timedelta(days=14)
        )
        if t.amount < 0
    ]
    sent = pointed_at(run, outgoing)
    if sent:
        tx = sent[0]
        record = run.act(
            "open_case",
            kind="transfer_trace",
            transaction_id=tx.id,
            deadline_days=5,
            summary=f"Recipient says {tx.id} did not arrive",
        )
        if not record.ok:
            return run.failed_action(record, "start a trace on the transfer")
        return run.resolved(
            f"Your transfer of {fmt_money(tx.amount, tx.currency)} to {tx.merchant} left us on "
            f"{fmt_date(tx.created_at)}. As the recipient can't see it, I've asked the receiving bank to "
            f"trace it (case {record.result['ticket_id']}). Reference for the recipient: {tx.id}.{kb}"
        )
    if recent_in:
        t = recent_in[0]
        return run.resolved(
            f"The latest money in was {fmt_money(t.amount, t.currency)} from {t.merchant or 'a bank transfer'} "
            f"on {fmt_date(t.created_at)}. Transfers from other banks usually arrive within 1 business day; "
            f"international ones within 1-5.{kb}"
        )
    return run.resolved(
        "You have no transfers waiting right now. Transfers within the same country usually arrive within "
        f"minutes, SEPA within 1 business day and international (SWIFT) within 1-5 business days.{kb}"
    )


def cancel_transfer(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    recent = [
        t
        for t in queries.transactions(
            db, cid, kinds=("transfer",), statuses=("pending", "posted"), since=utcnow() - timedelta(days=14)
        )
        if t.amount < 0
    ]
    pending = [t for t in recent if t.status == "pending"]
    pointed = pointed_at(run, recent)
    if not pointed and _names_a_subscription(run.ctx.db, run.customer_id, run.task.text):
        return subscription(run)  # "cancel MusicHub": one of the customer's subscriptions, not a transfer
    # nothing singled out: only an obvious single pending transfer qualifies
    chosen = pointed or (pending if len(pending) == 1 else [])
    kb = run.cite()
    if not chosen:
        return run.needs_info(
            "Which transfer should I stop? The amount, date and recipient are enough.",
            f"I can cancel a transfer while it is still pending.{kb}",
        )
    tx = chosen[0]
    if tx.status == "pending":
        record = run.act("cancel_transfer", transaction_id=tx.id)
        if not record.ok:
            return run.failed_action(record, "cancel the transfer")
        return run.resolved(
            f"Done: I've cancelled your pending transfer of {fmt_money(tx.amount, tx.currency)} to {tx.merchant}, "
            f"and the money is back in your balance.{kb}"
        )
    record = run.act(
        "open_case",
        kind="transfer_recall",
        transaction_id=tx.id,
        summary=f"Customer asks to recall {tx.id}: {run.task.text[:200]}",
    )
    if not record.ok:
        return run.failed_action(record, "request a recall")
    return run.resolved(
        f"Your transfer of {fmt_money(tx.amount, tx.currency)} to {tx.merchant} has already been paid out, so it "
        f"can't be cancelled. I've asked the recipient's bank to return it (recall case "
        f"{record.result['ticket_id']}); that needs the recipient's consent and isn't guaranteed.{kb}"
    )


def top_up_issue(run: Run) -> DepartmentResult:
    kb = run.cite()
    if run.ctx.customer is None:
        return run.resolved(
            (
                run.snippet()
                if not kb
                else "Top-ups by card arrive within minutes and by bank transfer within 1 business day."
            )
            + kb
        )
    db, cid = run.ctx.db, run.customer_id
    tops = queries.transactions(db, cid, kinds=("top_up",), since=utcnow() - timedelta(days=30))
    problems = [t for t in tops if t.status in ("pending", "failed", "reversed")]
    problems = narrow(run, problems) if problems else problems
    if not problems:
        return run.resolved(
            "All your top-ups in the last 30 days went through. Card top-ups arrive within minutes, bank "
            f"transfers by SEPA Instant, Faster Payments or FAST within minutes, ACH in 1-3 business days.{kb}"
        )
    t = problems[0]
    state = {
        "pending": "is still being processed; card top-ups normally complete within minutes and bank transfers "
        "within 1 business day",
        "failed": "failed, so no money was taken from your card",
        "reversed": "was reversed, so your bank releases the money back to your card within 5 business days",
    }[t.status]
    return run.resolved(
        f"Your top-up of {fmt_money(t.amount, t.currency)} on {fmt_date(t.created_at)} {state}.{kb}"
    )


def _charged_after_cancel(run: Run, candidates: list[Transaction] | None = None) -> DepartmentResult | None:
    """Refund subscription charges taken after the subscription was cancelled; None if there are none."""
    db, cid = run.ctx.db, run.customer_id
    cancelled = [s for s in queries.subscriptions(db, cid) if s.status == "cancelled" and s.cancelled_at]
    if not cancelled:
        return None
    charges = candidates or queries.transactions(db, cid, kinds=("subscription",), statuses=("posted",))
    late = [
        (s, t)
        for s in cancelled
        for t in charges
        if t.merchant == s.merchant and s.cancelled_at and t.created_at > s.cancelled_at
    ]
    if not late:
        return None
    kb = run.cite()
    done, already = [], []
    for sub, tx in late:
        when = _refunded_on(run, tx.id)
        if when:
            already.append(f"{_describe(tx)} (refunded on {when})")
            continue
        record, _created = _refund(
            run, tx, f"charged after {sub.merchant} was cancelled on {fmt_date(sub.cancelled_at)}"
        )
        if not record.ok:
            return run.failed_action(record, "refund the charge")
        done.append(_describe(tx))
    parts = []
    if done:
        parts.append(
            f"You cancelled {late[0][0].merchant} on {fmt_date(late[0][0].cancelled_at)}, so the later "
            f"charge of {'; '.join(done)} shouldn't have happened: I've refunded it and it's back in "
            "your balance."
        )
    if already:
        parts.append("Already refunded: " + "; ".join(already) + ".")
    return run.resolved(" ".join(parts) + kb)


def _named(subs: list[Subscription], text: str) -> list[Subscription]:
    """The subscriptions whose merchant `text` names (its first word is enough: "FitTrack")."""
    words = text.lower()
    return [s for s in subs if re.search(rf"(?<!\w){re.escape(s.merchant.lower().split()[0])}(?!\w)", words)]


def _names_a_subscription(db: Session, customer_id: str, text: str) -> bool:
    """`text` names one of the customer's active subscriptions."""
    return any(s.status == "active" for s in _named(queries.subscriptions(db, customer_id), text))


def subscription(run: Run) -> DepartmentResult:
    late = _charged_after_cancel(run)
    if late is not None:
        return late
    db, cid = run.ctx.db, run.customer_id
    subs = queries.subscriptions(db, cid)
    active = [s for s in subs if s.status == "active"]
    words = run.task.text.lower()
    named = _named(subs, words)
    kb = run.cite()
    wants_cancel = mentions(words, "cancel", "stop", "unsubscribe", "end ", "block", "get rid")
    if not wants_cancel:
        listing = ", ".join(f"{s.merchant} ({fmt_money(s.amount, s.currency)} {s.interval})" for s in active)
        return run.resolved(f"Your active subscriptions: {listing or 'none'}.{kb}")
    targets = [s for s in named if s.status == "active"] or (active if len(active) == 1 else [])
    if not targets:
        if named:
            s = named[0]
            return run.resolved(
                f"{s.merchant} is already cancelled (since {fmt_date(s.cancelled_at)}), and "
                f"there have been no charges after that.{kb}"
            )
        options = ", ".join(s.merchant for s in active)
        if not options:
            return run.resolved(f"You have no active subscriptions on your cards.{kb}")
        return run.needs_info(f"Which subscription should I cancel: {options}?")
    sub = targets[0]
    record = run.act("cancel_subscription", subscription_id=sub.id)
    if not record.ok:
        return run.failed_action(record, "cancel the subscription")
    return run.resolved(
        f"I've cancelled {sub.merchant} ({fmt_money(sub.amount, sub.currency)} {sub.interval}); we'll decline "
        f"any further charges from them on your card.{kb}"
    )


def invoice_statement(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    invs = queries.invoices(db, cid)
    kb = run.cite()
    wanted = [
        i for i in invs if i.id.lower() in run.task.text.lower() or i.id in run.task.entities.invoice_ids
    ]
    statement = mentions(run.task.text, "statement", "export", "history", "pdf", "csv", "excel")
    if statement and not wanted:
        return run.resolved(
            "You can download statements for any period as PDF or CSV in the app under Account > Statements; "
            f"they are accepted as official bank statements.{kb}"
        )
    inv = wanted[0] if wanted else (invs[0] if invs else None)
    if inv is None:
        return run.resolved(f"Your plan has no monthly fee, so there are no invoices on your account.{kb}")
    if mentions(run.task.text, "send", "email", "copy", "resend", "receive", "get"):
        record = run.act("resend_invoice", invoice_id=inv.id)
        if not record.ok:
            return run.failed_action(record, "send the invoice")
        return run.resolved(
            f"I've emailed invoice {inv.id} ({inv.period}, {fmt_money(inv.amount, inv.currency)}, "
            f"{inv.status}) to the address on your account.{kb}"
        )
    due = f", due {fmt_date(inv.due_date)}" if inv.due_date else ""
    return run.resolved(
        f"Invoice {inv.id} for {inv.period} is {fmt_money(inv.amount, inv.currency)} and "
        f"{inv.status}{due}.{kb}"
    )


def cash_withdrawal(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    atm = queries.transactions(db, cid, kinds=("atm",), since=utcnow() - timedelta(days=30))
    atm = narrow(run, atm) if atm else atm
    kb = run.cite()
    customer = db.get(Customer, cid)
    free, above = ATM_ALLOWANCE.get(customer.plan if customer else "standard", ATM_ALLOWANCE["standard"])
    allowance = (
        f"On your plan, withdrawals are free up to {free} a month, then {above}; the ATM operator may add "
        "its own fee, shown on the screen before you confirm, which we don't receive."
    )
    disputed = mentions(
        run.task.text, "less", "didn't give", "did not give", "only got", "wrong amount", "didn't get"
    )
    if not atm and disputed:
        # the customer says money left the account: "you haven't withdrawn cash" would contradict
        # them, and there is nothing to dispute yet, so ask for what finds it
        return run.needs_info(
            "When and where did you use the ATM, and how much was taken from your account?",
            "I can't see a cash withdrawal on your account in the last 30 days, so I have nothing to dispute "
            f"with the ATM operator yet.{kb}",
        )
    if not atm:
        return run.resolved(f"You haven't withdrawn cash in the last 30 days. {allowance}{kb}")
    t = atm[0]
    if disputed:
        record = run.act(
            "open_case",
            kind="cash_dispute",
            transaction_id=t.id,
            deadline_days=10,
            summary=f"Cash received differs from {t.id}: {run.task.text[:200]}",
        )
        if not record.ok:
            return run.failed_action(record, "open a cash dispute")
        return run.resolved(
            f"I've opened a dispute with the ATM operator for {_describe(t)} (case {record.result['ticket_id']}). "
            f"They check the machine's cash count, which usually takes up to 10 business days.{kb}"
        )
    if t.status == "pending":
        return run.resolved(
            f"Your withdrawal of {fmt_money(t.amount, t.currency)} is pending: the ATM operator "
            f"hasn't confirmed it yet, which usually takes 1-3 days.{kb}"
        )
    fee = f" with a fee of {fmt_money(t.fee, t.currency)}" if t.fee else " without a fee from us"
    return run.resolved(
        f"Your withdrawal of {fmt_money(t.amount, t.currency)} on {fmt_date(t.created_at)} was "
        f"posted{fee}. {allowance}{kb}"
    )


def pending_card_payment(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    pending = queries.transactions(db, cid, kinds=("card_payment",), statuses=("pending", "reversed"))
    pending = narrow(run, pending) if pending else pending
    kb = run.cite()
    if not pending:
        return run.resolved(
            "You have no pending card payments right now. A pending payment is an authorisation: the money is "
            f"held until the merchant completes it, or released after 7 days if they don't.{kb}"
        )
    t = pending[0]
    if t.status == "reversed":
        return run.resolved(
            f"The payment of {_describe(t)} was reversed by the merchant, so the money is back "
            f"in your balance and you won't be charged for it.{kb}"
        )
    release = fmt_date(t.created_at + timedelta(days=7))
    return run.resolved(
        f"{_describe(t)} is an authorisation the merchant hasn't completed yet. It settles once "
        f"they do, or is released by {release} if they don't.{kb}"
    )


# what tells a customer in financial difficulty from a payment question the router sent here
_HARDSHIP = re.compile(
    r"\b(?:can'?t|cannot|can\s+not|unable\s+to|not\s+able\s+to)\s+(?:\w+\s+)?(?:pay|afford|cover|keep\s+up)"
    r"|struggl|hardship|financial(?:ly)?\s+(?:difficult|trouble|problem)|\bin\s+debt\b|\bdebts\b"
    r"|behind\s+(?:on|with)\s+(?:my\s+)?(?:bills|payments|rent)|ends\s+meet|money\s+is\s+(?:really\s+|very\s+)?tight"
    r"|lost\s+my\s+job|\bno\s+money\s+(?:left\s+)?(?:for|to)\b|no\s+puedo\s+pagar|付不起|还不起|没钱",
    re.IGNORECASE,
)


def payment_difficulty(run: Run) -> DepartmentResult:
    if not _HARDSHIP.search(run.task.text):
        # a payment question the router filed here ("can I use my salary for this?"): no hardship
        # script for it, the articles answer (searched by its own words, not this topic) or we ask
        answer = run.snippet(run.task.text)
        if answer:
            return run.resolved(answer)
        return run.needs_info("Which payment is it about? The merchant, the amount and the date are enough.")
    if run.ctx.customer is not None:
        # every department (and the person who picks the case up) sees it: no fee chasing, no upsell
        run.note(
            "financial_difficulty",
            "The customer said they are struggling to pay. Offer the options in the financial "
            "difficulty article; no collections pressure, no product offers.",
            data={"said": run.task.text[:200]},
        )
    kb = run.cite("financial difficulty help pause fees free debt advice")
    return run.resolved(
        "I'm sorry things are hard right now. We can move you to the Standard plan so no monthly fee "
        "is taken, pause any fees we charge for up to 3 months, and agree an affordable plan for an "
        "overdraft; none of this affects your credit file. Free, confidential debt advice is "
        f"available too, and a colleague who handles financial difficulty can go through the options "
        f"with you: just say 'agent'.{kb}"
    )


HANDLERS = {
    "double_charge": double_charge,
    "refund_request": refund_request,
    "refund_not_showing": refund_not_showing,
    "unexpected_fee": unexpected_fee,
    "exchange_rate": exchange_rate,
    "fx_fee_dispute": fx_fee_dispute,
    "failed_transfer": failed_transfer,
    "pending_transfer": pending_transfer,
    "cancel_transfer": cancel_transfer,
    "top_up_issue": top_up_issue,
    "subscription": subscription,
    "invoice_statement": invoice_statement,
    "cash_withdrawal": cash_withdrawal,
    "pending_card_payment": pending_card_payment,
    "payment_difficulty": payment_difficulty,
}
# questions answered from the knowledge base alone need no signed-in customer
GENERAL_INTENTS = {"exchange_rate", "top_up_issue", "payment_difficulty"}

# a customer who says they don't know the payment is reporting it, whatever it is named
_DISOWNED = re.compile(
    r"\b(?:don'?t|do\s+not|didn'?t|never)\s+(?:recogni[sz]e|authori[sz]e|sign(?:ed)?\s+up|set\s+(?:it\s+)?up)"
    r"|\bnot\s+me\b|\bfraud|\bunauthori[sz]ed|\bscam",
    re.IGNORECASE,
)


def _claims(task: Task, ctx: DepartmentContext) -> bool:
    """The task names one of the customer's active subscriptions and does not disown it."""
    if ctx.customer is None or _DISOWNED.search(task.text):
        return False
    return _names_a_subscription(ctx.db, ctx.customer.id, task.text)


DEPARTMENT = BuiltinDepartment(
    name=NAME,
    description="Charges, refunds, fees, currency exchange, transfers, top-ups, subscriptions and invoices",
    intents=INTENTS,
    actions=ACTIONS,
    handlers=HANDLERS,
    account_intents=set(HANDLERS) - GENERAL_INTENTS,
    claims=_claims,
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
