"""Backend look-ups several built-in departments need."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from orchestrator.backend import queries
from orchestrator.backend.models import Account, Customer, Transaction
from orchestrator.backend.operations import BackendError
from plugins.builtin._base import Run, amounts, transaction_ids
from plugins.contracts import CaseNote, DepartmentContext

# merchant words too common to identify a merchant on their own
_GENERIC_WORDS = frozenset(
    {"online", "payroll", "store", "shop", "bank", "crossdesk", "withdrawal", "friend"}
)


def merchant_words(merchant: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", merchant.lower()) if len(w) >= 4 and w not in _GENERIC_WORDS}


def pointed_at(run: Run, txs: Sequence[Transaction]) -> list[Transaction]:
    """The transactions the customer singled out by id, amount or merchant; [] if none were.

    An id that matches nothing gives []; amounts or merchants that match nothing
    are ignored, since customers misremember them.
    """
    ids = transaction_ids(run.task)
    if ids:
        return [t for t in txs if t.id in ids]
    out, narrowed = list(txs), False
    wanted = amounts(run.task)
    if wanted:
        by_amount = [t for t in out if abs(t.amount) in wanted or (t.original_amount or -1) in wanted]
        if by_amount:
            out, narrowed = by_amount, True
    text_words = set(re.findall(r"[a-z0-9']+", run.task.text.lower()))
    by_merchant = [t for t in out if merchant_words(t.merchant) & text_words]
    if by_merchant:
        out, narrowed = by_merchant, True
    return out if narrowed else []


def narrow(run: Run, txs: Sequence[Transaction]) -> list[Transaction]:
    """Like pointed_at, but keeps every transaction when the customer singled none out."""
    if transaction_ids(run.task):
        return pointed_at(run, txs)
    return pointed_at(run, txs) or list(txs)


def own_transaction(ctx: DepartmentContext, transaction_id: str) -> Transaction:
    """The signed-in customer's transaction, or a BackendError saying why not."""
    if ctx.customer is None:
        raise BackendError("no signed-in customer; ask the customer to sign in first")
    tx = ctx.db.get(Transaction, transaction_id)
    if tx is None or tx.customer_id != ctx.customer.id:
        raise BackendError(f"transaction {transaction_id} is not on this customer's account")
    return tx


@dataclass(frozen=True)
class KycState:
    held: bool
    status: str  # the customer's kyc_status
    note: CaseNote | None  # the newest compliance note about the hold
    accounts_on_hold: tuple[Account, ...]


def kyc_state(run: Run) -> KycState:
    """Whether a KYC hold blocks the customer, from the case notes and the backend alike."""
    cid = run.customer_id
    notes = run.ctx.notes.for_customer(cid, kind="kyc_hold")
    active = [n for n in notes if not n.data.get("lifted")]
    customer = run.ctx.db.get(Customer, cid)
    held_accounts = tuple(a for a in queries.accounts(run.ctx.db, cid) if a.status == "kyc_hold")
    status = customer.kyc_status if customer is not None else "unknown"
    held = bool(active) or bool(held_accounts) or status == "hold"
    return KycState(
        held=held, status=status, note=active[0] if active else None, accounts_on_hold=held_accounts
    )


def add_business_days(start: date, days: int) -> date:
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


HOLD_DOCUMENTS = {
    "proof_of_address": "a proof of address dated within the last 3 months",
    "payslip": "a recent payslip",
    "passport": "a valid passport or national ID",
    "bank_statement": "a statement from your other bank",
}
HOLD_BLOCKS = {
    "sign_in": "signing in to the app",
    "card_payments": "card payments",
    "transfers": "transfers",
    "withdrawals": "cash withdrawals",
}
DEFAULT_BLOCKS = ("card_payments", "transfers", "withdrawals")


def hold_explanation(state: KycState, *, about_access: bool = False) -> str:
    """What the customer may be told about a KYC hold: what is paused and what to send.

    Never the internal reason for the review: that may not be shared.
    """
    data = state.note.data if state.note is not None else {}
    blocks = [HOLD_BLOCKS.get(b, b.replace("_", " ")) for b in data.get("blocks", DEFAULT_BLOCKS)]
    docs = [HOLD_DOCUMENTS.get(d, d.replace("_", " ")) for d in data.get("documents", [])]
    paused = ", ".join(blocks[:-1]) + f" and {blocks[-1]}" if len(blocks) > 1 else "".join(blocks)
    if docs:
        need = f" To finish it, please upload {' and '.join(docs)} in the app's Verification section."
    else:
        need = " The app's Verification section shows what is still needed."
    reset = "; a password reset or a new card won't change that" if about_access else ""
    return (
        f"Your account is on hold while we complete an identity (KYC) review, so {paused} are paused "
        f"until it is finished{reset}.{need} Reviews take up to 2 business "
        "days once we have everything, and the hold can't be lifted before the review is complete."
    )
