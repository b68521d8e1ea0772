"""The compliance department: identity checks, data-protection rights, fraud, complaints, AML."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.backend import operations as ops
from orchestrator.backend import queries
from orchestrator.backend.models import Card, Ticket, utcnow
from plugins import hookimpl
from plugins.builtin._base import (
    KNOWLEDGE_ROOT,
    BuiltinDepartment,
    Run,
    card_last4,
    fmt_date,
    fmt_money,
    mentions,
)
from plugins.builtin._lookup import hold_explanation, kyc_state, own_transaction, pointed_at
from plugins.builtin.intents_compliance import INTENTS
from plugins.contracts import ActionSpec, DepartmentContext, DepartmentResult

NAME = "compliance"
# statutory response time for data-subject requests; the policy layer adjusts it per jurisdiction
DATA_REQUEST_DAYS = 30
COMPLAINT_DAYS = 15
FRAUD_CASE_DAYS = 10
MIN_AGE = 18
SUPPORTED_COUNTRIES = {
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "GB",
    "US",
    "CN",
    "SG",
}
COUNTRY_NAMES = {
    "brazil": "BR",
    "canada": "CA",
    "china": "CN",
    "singapore": "SG",
    "germany": "DE",
    "france": "FR",
    "spain": "ES",
    "italy": "IT",
    "india": "IN",
    "japan": "JP",
    "australia": "AU",
    "mexico": "MX",
    "united states": "US",
    "usa": "US",
    "uk": "GB",
    "united kingdom": "GB",
    "ireland": "IE",
    "netherlands": "NL",
    "russia": "RU",
    "iran": "IR",
    "nigeria": "NG",
    "switzerland": "CH",
}
DATA_REQUESTS = {
    # action name -> (ticket kind, case note kind, what the customer gets)
    "open_data_access_request": ("data_access", "data_access_request", "a copy of the personal data we hold"),
    "open_erasure_request": ("erasure_request", "erasure_request", "erasure of your personal data"),
    "open_portability_request": ("data_portability", "portability_request", "your data in a portable format"),
}


# --- actions ---------------------------------------------------------------------------------


class DataRequestArgs(BaseModel):
    deadline_days: int = Field(default=DATA_REQUEST_DAYS, ge=1, le=90)


def _data_request(action: str) -> Any:
    kind, _note, _what = DATA_REQUESTS[action]

    def run(ctx: DepartmentContext, args: DataRequestArgs) -> dict[str, Any]:
        if ctx.customer is None:
            raise ops.BackendError("a data request needs a verified customer; ask them to sign in")
        ticket, created = ops.open_ticket(
            ctx.db,
            customer_id=ctx.customer.id,
            conversation_id=ctx.conversation_id,
            department=NAME,
            kind=kind,
            deadline_days=args.deadline_days,
            data={"jurisdiction": ctx.jurisdiction},
        )
        return _ticket_result(ticket, created)

    return run


def _ticket_result(ticket: Ticket, created: bool) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "kind": ticket.kind,
        "created": created,
        "deadline": ticket.deadline.isoformat() if ticket.deadline else None,
        "opened_at": ticket.created_at.isoformat(timespec="seconds"),
    }


class CaseArgs(BaseModel):
    kind: Literal["complaint", "account_closure", "details_change", "source_of_funds", "beneficiary_review"]
    summary: str = Field(min_length=3, max_length=500)
    deadline_days: int | None = Field(default=None, ge=1, le=120)
    data: dict[str, Any] = Field(default_factory=dict)


def run_open_case(ctx: DepartmentContext, args: CaseArgs) -> dict[str, Any]:
    if ctx.customer is None:
        raise ops.BackendError("a compliance case needs a verified customer; ask them to sign in")
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=ctx.customer.id,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind=args.kind,
        deadline_days=args.deadline_days,
        data={"summary": args.summary, "jurisdiction": ctx.jurisdiction, **args.data},
    )
    if not created:  # the customer wrote again about an open case: keep what they said with it
        ticket.data = {**ticket.data, "updates": [*ticket.data.get("updates", []), args.summary]}
        ctx.db.add(ticket)
    return _ticket_result(ticket, created)


class FraudArgs(BaseModel):
    transaction_id: str = Field(min_length=3)
    summary: str = Field(min_length=3, max_length=500)
    deadline_days: int = Field(default=FRAUD_CASE_DAYS, ge=1, le=60)


def run_open_fraud_case(ctx: DepartmentContext, args: FraudArgs) -> dict[str, Any]:
    tx = own_transaction(ctx, args.transaction_id)
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=tx.customer_id,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind="fraud_claim",
        deadline_days=args.deadline_days,
        data={
            "transaction_id": tx.id,
            "amount": str(tx.amount),
            "currency": tx.currency,
            "summary": args.summary,
        },
        reuse_open=False,
    )
    return _ticket_result(ticket, created)


class CardArgs(BaseModel):
    card_id: str = Field(min_length=3)
    reason: Literal["lost", "stolen", "compromised", "fraud_claim", "lost_phone"]


def run_block_card(ctx: DepartmentContext, args: CardArgs) -> dict[str, Any]:
    card = ctx.db.get(Card, args.card_id)
    if card is None or ctx.customer is None or card.customer_id != ctx.customer.id:
        raise ops.BackendError(f"card {args.card_id} is not this customer's")
    # a lost or leaked card never comes back; a disputed payment or a lost phone only pauses it
    status = "blocked" if args.reason in ("lost", "stolen", "compromised") else "frozen"
    before = card.status
    if before not in ("blocked", "expired"):
        ops.set_card_status(ctx.db, card, status)
    return {"card_id": card.id, "last4": card.last4, "before": before, "status": card.status}


ACTIONS = (
    ActionSpec(
        name="open_data_access_request",
        description="Open a data subject access request",
        args=DataRequestArgs,
        run=_data_request("open_data_access_request"),
    ),
    ActionSpec(
        name="open_erasure_request",
        description="Open a request to erase the customer's personal data",
        args=DataRequestArgs,
        run=_data_request("open_erasure_request"),
    ),
    ActionSpec(
        name="open_portability_request",
        description="Open a data portability request",
        args=DataRequestArgs,
        run=_data_request("open_portability_request"),
    ),
    ActionSpec(
        name="open_case",
        description="Open a compliance case: complaint, closure, details change, source of funds",
        args=CaseArgs,
        run=run_open_case,
    ),
    ActionSpec(
        name="open_fraud_case",
        description="Open a fraud claim for an unrecognised transaction",
        args=FraudArgs,
        run=run_open_fraud_case,
    ),
    ActionSpec(
        name="block_card",
        description="Block a lost, stolen or compromised card, or freeze one during a fraud claim",
        args=CardArgs,
        run=run_block_card,
    ),
)


# --- handlers --------------------------------------------------------------------------------


def identity_verification(run: Run) -> DepartmentResult:
    kb = run.cite()
    if run.ctx.customer is None:
        answer = run.snippet() if not kb else ""
        return run.resolved(
            "We verify every customer's identity before opening an account, as the law requires of all "
            f"payment firms: a photo of an ID document and a selfie, checked within 1 business day. {answer}{kb}"
        )
    state = kyc_state(run)
    if state.held:
        if state.note is None:
            subject = state.accounts_on_hold[0].id if state.accounts_on_hold else ""
            run.note(
                "kyc_hold",
                "Customer asked about verification while the account is on KYC hold; no "
                "earlier note said why, so the hold needs a compliance review.",
                subject=subject,
                data={"documents": [], "raised_by": "customer_question"},
            )
        return run.resolved(hold_explanation(state) + kb)
    if state.status == "pending":
        return run.resolved(
            "We have your documents and are checking them now; this usually takes up to 1 business day and "
            f"you'll get a notification as soon as it's done. There is nothing more to upload for now.{kb}"
        )
    return run.resolved(
        "Your identity is already verified, so there's nothing to do. We may occasionally ask you to "
        f"refresh a document when it expires; the app will tell you if so.{kb}"
    )


def source_of_funds(run: Run) -> DepartmentResult:
    kb = run.cite()
    base = (
        "For larger or unusual payments the law requires us to understand where the money comes from. "
        "Payslips, a sale contract, an inheritance letter or statements from your other bank all work."
    )
    if run.ctx.customer is None:
        return run.resolved(base + kb)
    state = kyc_state(run)
    if not state.held and run.ctx.customer.risk_profile != "high":
        return run.resolved(f"{base} Nothing is outstanding on your account right now.{kb}")
    record = run.act(
        "open_case",
        kind="source_of_funds",
        deadline_days=30,
        summary=f"Source-of-funds documents requested: {run.task.text[:200]}",
    )
    if not record.ok:
        return run.failed_action(record, "open the document request")
    return run.resolved(
        f"{base} Please upload them in the app's Verification section; our team reviews them under case "
        f"{record.result['ticket_id']}.{kb}"
    )


def _data_request_handler(action: str) -> Any:
    _kind, note_kind, what = DATA_REQUESTS[action]

    def handle(run: Run) -> DepartmentResult:
        kb = run.cite()
        record = run.act(action)
        if not record.ok:
            return run.failed_action(record, "register your request")
        ticket, deadline = record.result["ticket_id"], record.result.get("deadline")
        due = f" by {fmt_date(_as_date(deadline))}" if deadline else ""
        if not record.result.get("created"):
            return run.resolved(
                f"You already have an open request for {what} (reference {ticket}); we'll complete it{due}.{kb}"
            )
        run.note(
            note_kind,
            f"Customer requested {what}; ticket {ticket}, due {deadline}.",
            subject=ticket,
            data={"ticket_id": ticket, "deadline": deadline},
        )
        extra = ""
        if action == "open_erasure_request":
            extra = (
                " We'll delete everything the law doesn't oblige us to keep; records of transactions "
                "must be kept for 5 years after the account closes under anti-money-laundering rules."
            )
        return run.resolved(
            f"I've registered your request for {what} (reference {ticket}). We'll complete it{due} and "
            f"confirm by email.{extra}{kb}"
        )

    return handle


def _as_date(value: str) -> Any:
    from datetime import date

    return date.fromisoformat(value)


def complaint(run: Run) -> DepartmentResult:
    kb = run.cite()
    record = run.act(
        "open_case",
        kind="complaint",
        deadline_days=COMPLAINT_DAYS,
        summary=run.task.text[:500] or "complaint",
    )
    if not record.ok:
        return run.failed_action(record, "log your complaint")
    ticket, deadline = record.result["ticket_id"], record.result.get("deadline")
    due = f" by {fmt_date(_as_date(deadline))}" if deadline else ""
    if record.result.get("created"):
        run.note(
            "complaint",
            f"Formal complaint logged as {ticket}: {run.task.text[:300]}",
            subject=ticket,
            data={"ticket_id": ticket, "deadline": deadline},
        )
        return run.resolved(
            f"I'm sorry about this. I've logged your formal complaint (reference {ticket}); a complaints "
            f"specialist will reply in writing{due}. If you're unhappy with our final answer you can refer "
            f"it to the ombudsman.{kb}"
        )
    return run.resolved(
        f"Your complaint is already open (reference {ticket}) and I've added this message to it; you'll "
        f"get our written answer{due}.{kb}"
    )


def unrecognised_transaction(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    debits = [
        t
        for t in queries.transactions(db, cid, since=utcnow() - timedelta(days=90))
        if t.amount < 0 and t.kind in ("card_payment", "atm", "subscription", "transfer")
    ]
    targets = pointed_at(run, debits)
    kb = run.cite()
    if not targets:
        return run.needs_info(
            "Which payment don't you recognise? The merchant, amount and date are enough.",
            "If you think your card details were stolen, you can freeze the card in the app right away.",
        )
    tx = targets[0]
    earlier = run.ctx.notes.for_subject(tx.id, kind="fraud_claim")
    if earlier:
        return run.resolved(
            f"You already reported {fmt_money(tx.amount, tx.currency)} at {tx.merchant} on "
            f"{fmt_date(earlier[0].created_at or utcnow())}; the fraud case "
            f"{earlier[0].data.get('ticket_id', '')} is in progress.{kb}"
        )
    frozen = ""
    if tx.card_id:
        card = db.get(Card, tx.card_id)
        if card is not None and card.status in ("active", "inactive"):
            record = run.act("block_card", card_id=card.id, reason="fraud_claim")
            if not record.ok:
                return run.failed_action(record, "freeze your card")
            run.note(
                "card_blocked",
                f"Card ****{card.last4} frozen during fraud claim on {tx.id}.",
                subject=card.id,
                data={"reason": "fraud_claim", "transaction_id": tx.id},
            )
            frozen = f"I've frozen your card ending {card.last4} so nothing else can be charged, and "
    record = run.act("open_fraud_case", transaction_id=tx.id, summary=run.task.text[:500])
    if not record.ok:
        return run.failed_action(record, "open the fraud claim")
    ticket = record.result["ticket_id"]
    run.note(
        "fraud_claim",
        f"Customer does not recognise {tx.id} ({fmt_money(tx.amount, tx.currency)} at "
        f"{tx.merchant}); fraud case {ticket}.",
        subject=tx.id,
        data={"ticket_id": ticket, "card_id": tx.card_id},
    )
    opened = "I've" if not frozen else "I've also"
    return run.resolved(
        f"{frozen}{opened} opened fraud case {ticket} for {fmt_money(tx.amount, tx.currency)} at {tx.merchant} "
        f"on {fmt_date(tx.created_at)}. You won't be held responsible for payments you didn't make; we'll "
        f"update you within {FRAUD_CASE_DAYS} business days.{kb}"
    )


def lost_or_compromised(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    cards = [c for c in queries.cards(db, cid) if c.status in ("active", "inactive", "frozen")]
    wanted = card_last4(run.task)
    if wanted:
        cards = [c for c in cards if c.last4 in wanted] or cards
    phone = mentions(run.task.text, "phone", "mobile", "iphone", "android")
    card_words = mentions(run.task.text, "card", "wallet", "purse", "bag", "pin", "details")
    kb = run.cite()
    if not cards:
        return run.resolved(f"None of your cards can be used right now, so nothing more can be charged.{kb}")
    if phone and not card_words:
        reason, verb = "lost_phone", "frozen"
    else:
        reason = (
            "stolen"
            if mentions(run.task.text, "stole", "theft", "pickpocket")
            else (
                "compromised"
                if mentions(run.task.text, "compromis", "leak", "phish", "skim", "fake", "breach")
                else "lost"
            )
        )
        verb = "blocked"
        if not wanted:
            cards = [c for c in cards if c.kind == "physical"] or cards
    done = []
    for card in cards:
        record = run.act("block_card", card_id=card.id, reason=reason)
        if not record.ok:
            return run.failed_action(record, "block your card")
        run.note(
            "card_blocked",
            f"Card ****{card.last4} {verb}: reported {reason.replace('_', ' ')}.",
            subject=card.id,
            data={"reason": reason},
        )
        done.append(card.last4)
    ending = ", ".join(done)
    if reason == "lost_phone":
        return run.resolved(
            f"I've frozen your cards ending {ending} so nobody can pay with them from your phone. Sign in on a "
            f"new device to unfreeze them, and change your email password if it was saved on the phone.{kb}"
        )
    return run.resolved(
        f"I've permanently blocked your card ending {ending}, so it can't be used any more. You can order a "
        f"replacement in the app under Cards; if you see payments you didn't make, tell us and we'll open a "
        f"fraud claim.{kb}"
    )


def account_closure(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    state = kyc_state(run)
    balances = [a for a in queries.accounts(db, cid) if a.status != "closed" and a.balance != 0]
    kb = run.cite()
    record = run.act(
        "open_case",
        kind="account_closure",
        deadline_days=30,
        summary=f"Customer asks to close the account: {run.task.text[:200]}",
        data={"kyc_hold": state.held},
    )
    if not record.ok:
        return run.failed_action(record, "start the closure")
    ticket = record.result["ticket_id"]
    if record.result.get("created"):
        run.note(
            "account_closure", f"Closure requested ({ticket}).", subject=ticket, data={"ticket_id": ticket}
        )
    parts = [f"I've started closing your account (reference {ticket})."]
    if balances:
        left = ", ".join(fmt_money(a.balance, a.currency) for a in balances)
        parts.append(
            f"You still have {left}; move it to another account of yours first, or tell us where to send it."
        )
    if state.held:
        parts.append(
            "Because a verification review is still open, we can only complete the closure and pay "
            "out your balance once the review is finished."
        )
    return run.resolved(" ".join(parts) + kb)


def structuring(run: Run) -> DepartmentResult:
    run.note(
        "aml_flag",
        f"Customer asked how to split or time payments to avoid reporting: {run.task.text[:300]}",
        data={"source": "chat", "excerpt": run.task.text[:300]},
    )
    # neutral on purpose: no thresholds, no hints, and no mention of any internal review
    return run.resolved(
        "I can't give advice on splitting or timing payments. The same checks and reporting obligations apply "
        "to every transfer and deposit, whatever its size or how it is split. If you tell us what the payment "
        "is for, we can tell you which documents we may ask for."
    )


def edit_personal_details(run: Run) -> DepartmentResult:
    text = run.task.text.lower()
    kb = run.cite()
    needs_proof = [f for f in ("name", "surname", "address", "date of birth", "nationality") if f in text]
    contact = [f for f in ("email", "phone", "number") if f in text]
    if not needs_proof and not contact:
        return run.needs_info("Which detail would you like to change: name, address, email or phone number?")
    fields = needs_proof + [c for c in contact if c != "number" or "phone" not in contact]
    record = run.act(
        "open_case",
        kind="details_change",
        deadline_days=5,
        summary=f"Change of {', '.join(fields)}: {run.task.text[:200]}",
        data={"fields": fields, "needs_document": bool(needs_proof)},
    )
    if not record.ok:
        return run.failed_action(record, "start the change")
    ticket = record.result["ticket_id"]
    if needs_proof:
        return run.resolved(
            f"To change your {' and '.join(needs_proof)}, please upload a document showing the new details (ID, "
            f"marriage certificate or a recent proof of address) in the app under Profile; we'll update it "
            f"within 5 days (reference {ticket}).{kb}"
        )
    return run.resolved(
        f"You can change your {' and '.join(contact)} in the app under Profile > Personal details; we confirm "
        f"the change with a code sent to the old and the new contact. I've noted the request (reference "
        f"{ticket}) in case the app doesn't let you.{kb}"
    )


def eligibility(run: Run) -> DepartmentResult:
    text = run.task.text.lower()
    codes = {c.upper() for c in run.task.entities.countries}
    codes |= {code for name, code in COUNTRY_NAMES.items() if name in text}
    kb = run.cite()
    parts = []
    if mentions(text, "age", "old", "year", "teen", "child", "kid", "minor", "pension"):
        parts.append(f"You need to be at least {MIN_AGE} to open an account; there is no upper age limit.")
    if codes or mentions(text, "countr", "live", "resident", "moving", "available", "operate"):
        yes = sorted(c for c in codes if c in SUPPORTED_COUNTRIES)
        no = sorted(c for c in codes if c not in SUPPORTED_COUNTRIES)
        line = "We serve residents of the EU and EEA, the UK, the US, mainland China and Singapore."
        if yes:
            line += f" {', '.join(yes)}: supported."
        if no:
            line += f" {', '.join(no)}: not supported at the moment."
        parts.append(line)
    if not parts:
        parts.append(
            f"You can open an account from age {MIN_AGE} if you live in the EU/EEA, the UK, the US, "
            "mainland China or Singapore."
        )
    return run.resolved(" ".join(parts) + kb)


def beneficiary_not_allowed(run: Run) -> DepartmentResult:
    kb = run.cite()
    base = (
        "Some recipients can't be paid from your account: accounts in countries under international "
        "sanctions, and recipients our checks don't allow. For legal reasons we can't share the details "
        "of a specific check."
    )
    if run.ctx.customer is None:
        return run.resolved(base + kb)
    record = run.act(
        "open_case",
        kind="beneficiary_review",
        deadline_days=5,
        summary=f"Customer asks why a beneficiary is not allowed: {run.task.text[:200]}",
    )
    if not record.ok:
        return run.failed_action(record, "ask for a review")
    return run.resolved(
        f"{base} I've asked our team to review this recipient (reference {record.result['ticket_id']}); "
        f"if it can be allowed, we'll tell you within 5 days.{kb}"
    )


HANDLERS = {
    "identity_verification": identity_verification,
    "source_of_funds": source_of_funds,
    "data_access": _data_request_handler("open_data_access_request"),
    "data_erasure": _data_request_handler("open_erasure_request"),
    "data_portability": _data_request_handler("open_portability_request"),
    "complaint": complaint,
    "unrecognised_transaction": unrecognised_transaction,
    "lost_or_compromised": lost_or_compromised,
    "account_closure": account_closure,
    "structuring": structuring,
    "edit_personal_details": edit_personal_details,
    "eligibility": eligibility,
    "beneficiary_not_allowed": beneficiary_not_allowed,
}
GENERAL_INTENTS = {
    "identity_verification",
    "source_of_funds",
    "structuring",
    "eligibility",
    "beneficiary_not_allowed",
}

DEPARTMENT = BuiltinDepartment(
    name=NAME,
    description="Identity checks, data-protection requests, fraud and lost cards, complaints, account closure, AML",
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
