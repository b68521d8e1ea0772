"""The compliance department: identity checks, data-protection rights, fraud, complaints, AML."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.backend import queries
from orchestrator.backend.models import Card, utcnow
from plugins import hookimpl
from plugins.builtin._base import (
    GENERAL,
    KNOWLEDGE_ROOT,
    BuiltinDepartment,
    Run,
    card_last4,
    fmt_date,
    fmt_money,
    mentions,
)
from plugins.builtin._lookup import add_business_days, hold_explanation, kyc_state, pointed_at
from plugins.builtin.actions_compliance import ACTIONS, DATA_REQUEST_DAYS, DATA_REQUESTS, NAME
from plugins.builtin.intents_compliance import INTENTS
from plugins.contracts import DepartmentResult, policy_of

COMPLAINT_DAYS = 15
# days until a fraud claim must be answered; EU and UK refund unauthorised payments by the next business day
FRAUD_CASE_DAYS = {"EU": 1, "UK": 1, "US": 10, "US-CA": 10, "SG": 10, "CN": 15}
FRAUD_PROTECTION = {
    "EU": "An unauthorised payment is refunded by the end of the next business day after you report it, "
    "unless there are grounds to suspect it was made by you.",
    "UK": "An unauthorised payment is refunded by the end of the next business day after you report it, "
    "unless there are grounds to suspect it was made by you.",
    "US": "We investigate under the error-resolution rules and tell you the result within 10 business days.",
    "US-CA": "We investigate under the error-resolution rules and tell you the result within 10 business days.",
    "SG": "We investigate right away; you are not liable for losses you did not cause.",
    "CN": "We investigate and reply within 15 days.",
}
MIN_AGE = 18
MIN_AGE_STANDARD_EU_UK = 16
_AGE = re.compile(r"\b(?:i'?m|i am|aged?|is)\s+(\d{1,2})\b|\b(\d{1,2})[- ]?(?:years?|yrs?|yo)\b")
SUPPORTED_REGIONS = "the European Union, the United Kingdom, the United States, Singapore or mainland China"
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


def policy_deadline(run: Run, default: int) -> tuple[int, str | None]:
    """(calendar days, rule id) of the statutory deadline the customer's law sets for this task;
    `default` and None when the run has no policy view or no rule set one."""
    view = policy_of(run.ctx)
    found = (view.get("deadlines") or {}).get(run.task.id) or (view.get("deadlines_by_intent") or {}).get(
        run.task.intent
    )
    if not found:
        return default, None
    days = int(found["days"])
    if found.get("business"):
        today = utcnow().date()
        days = (add_business_days(today, days) - today).days
    return days, found.get("rule_id")


def _years(value: float) -> str:
    return f"{value:g} year" + ("" if value == 1 else "s")


def erasure_retention(run: Run) -> str:
    """What an erasure leaves in place, with the retention period of the customer's law: frozen
    where the law says retain-but-freeze (CN), kept restricted elsewhere."""
    view = policy_of(run.ctx)
    retention = view.get("retention")
    if not retention:
        return (
            " We'll delete everything the law doesn't oblige us to keep; records we must keep by law, "
            "such as transaction records, are kept restricted until their retention period ends."
        )
    period = _years(float(retention["years"]))
    if "retain_but_freeze" in (view.get("flags") or ()):
        return (
            " We'll delete everything the law doesn't oblige us to keep. Your financial records must be "
            f"kept for {period}, so they are retained but frozen: stored, used for nothing else, and "
            "deleted when that period ends."
        )
    return (
        " We'll delete everything the law doesn't oblige us to keep; records of your transactions must "
        f"be kept for {period} by law, and until then we keep them restricted from any other use."
    )


def _data_request_handler(action: str) -> Any:
    _kind, note_kind, what = DATA_REQUESTS[action]

    def handle(run: Run) -> DepartmentResult:
        kb = run.cite()
        days, rule_id = policy_deadline(run, DATA_REQUEST_DAYS)
        record = run.act(action, deadline_days=days)
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
            data={"ticket_id": ticket, "deadline": deadline, "deadline_days": days, "rule_id": rule_id},
        )
        extra = erasure_retention(run) if action == "open_erasure_request" else ""
        return run.resolved(
            f"I've registered your request for {what} (reference {ticket}). We'll complete it{due} and "
            f"confirm by email.{extra}{kb}"
        )

    return handle


_open_opt_out = _data_request_handler("open_opt_out_request")
_open_erasure = _data_request_handler("open_erasure_request")
# "I withdraw my consent, please delete my data": erasure on the ground that consent is withdrawn
_ERASE_TOO = re.compile(
    r"\b(?:delete|erase|remove|wipe|destroy)\b[^.?!]{0,40}\b(?:data|information|details|records|info)\b"
    r"|right\s+to\s+be\s+forgotten|删除|borr(?:a|e|en)",
    re.I,
)


def data_opt_out(run: Run) -> DepartmentResult:
    """An opt-out or withdrawn consent; when the same request asks to delete the data too, an erasure
    request is opened with it (withdrawn consent is a ground for erasure)."""
    opted = _open_opt_out(run)
    if opted.status != "resolved" or not _ERASE_TOO.search(run.task.text):
        return opted
    erased = _open_erasure(run)
    if erased.status != "resolved":
        return erased
    return run.resolved(f"{opted.reply} {erased.reply}")


def _as_date(value: str) -> Any:
    from datetime import date

    return date.fromisoformat(value)


def complaint(run: Run) -> DepartmentResult:
    kb = run.cite()
    days, _rule = policy_deadline(run, COMPLAINT_DAYS)
    record = run.act(
        "open_case",
        kind="complaint",
        deadline_days=days,
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
        # also what "when do I get the money back?" after the report asks: what happens next
        protection = FRAUD_PROTECTION.get(run.ctx.jurisdiction, FRAUD_PROTECTION["US"])
        return run.resolved(
            f"Your report of {fmt_money(tx.amount, tx.currency)} at {tx.merchant} "
            f"({fmt_date(earlier[0].created_at or utcnow())}) is fraud case "
            f"{earlier[0].data.get('ticket_id', '')}, in progress. {protection}{kb}"
        )
    blocked = ""
    if tx.card_id:
        card = db.get(Card, tx.card_id)
        if card is not None and card.status in ("active", "inactive", "frozen"):
            record = run.act("block_card", card_id=card.id, reason="fraud_claim", replace=True)
            if not record.ok:
                return run.failed_action(record, "cancel your card")
            new = record.result.get("replacement", {})
            run.note(
                "card_blocked",
                f"Card ****{card.last4} cancelled after fraud claim on {tx.id}; replacement {new.get('card_id')}.",
                subject=card.id,
                data={"reason": "fraud_claim", "transaction_id": tx.id, "replacement": new.get("card_id")},
            )
            blocked = (
                f"I've cancelled your card ending {card.last4} so nothing else can be charged, and a new card "
                f"(ending {new.get('last4')}) is on its way. "
            )
    days = FRAUD_CASE_DAYS.get(run.ctx.jurisdiction, 10)
    record = run.act("open_fraud_case", transaction_id=tx.id, summary=run.task.text[:500], deadline_days=days)
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
    protection = FRAUD_PROTECTION.get(run.ctx.jurisdiction, FRAUD_PROTECTION["US"])
    return run.resolved(
        f"{blocked}I've opened fraud case {ticket} for {fmt_money(tx.amount, tx.currency)} at {tx.merchant} "
        f"on {fmt_date(tx.created_at)}. {protection}{kb}"
    )


# "I lost my job" reads like "I lost my card" to the router: something lost that no block can help
_LOST_NOT_A_CARD = re.compile(
    r"\blost\s+(?:my|our|his|her|their)\s+(?:job|jobs|work|income|employment|business|house|home|flat)\b",
    re.IGNORECASE,
)


def lost_or_compromised(run: Run) -> DepartmentResult:
    db, cid = run.ctx.db, run.customer_id
    cards = [c for c in queries.cards(db, cid) if c.status in ("active", "inactive", "frozen")]
    wanted = card_last4(run.task)
    if wanted:
        cards = [c for c in cards if c.last4 in wanted] or cards
    phone = mentions(run.task.text, "phone", "mobile", "iphone", "android")
    card_words = mentions(run.task.text, "card", "wallet", "purse", "bag", "pin", "details")
    stolen = mentions(run.task.text, "stole", "theft", "pickpocket")
    compromised = mentions(run.task.text, "compromis", "leak", "phish", "skim", "fake", "breach", "hack")
    if not (wanted or phone or card_words or stolen or compromised):
        # blocking is not undone: act only on a text that says what was lost or exposed
        if _LOST_NOT_A_CARD.search(run.task.text):
            return run.not_mine(None)
        return run.needs_info(
            "Is it one of your cards or your phone, and was it lost or stolen? "
            "Tell me and I'll block it straight away."
        )
    kb = run.cite()
    if not cards:
        return run.resolved(f"None of your cards can be used right now, so nothing more can be charged.{kb}")
    if phone and not card_words:
        reason, verb = "lost_phone", "frozen"
    else:
        reason = "stolen" if stolen else ("compromised" if compromised else "lost")
        verb = "blocked"
        if not wanted:
            cards = [c for c in cards if c.kind == "physical"] or cards
    done, new = [], []
    for card in cards:
        record = run.act("block_card", card_id=card.id, reason=reason, replace=reason != "lost_phone")
        if not record.ok:
            return run.failed_action(record, "block your card")
        replacement = record.result.get("replacement") or {}
        run.note(
            "card_blocked",
            f"Card ****{card.last4} {verb}: reported {reason.replace('_', ' ')}.",
            subject=card.id,
            data={"reason": reason, "replacement": replacement.get("card_id")},
        )
        done.append(card.last4)
        if replacement:
            new.append(replacement["last4"])
    ending = ", ".join(done)
    if reason == "lost_phone":
        return run.resolved(
            f"I've frozen your cards ending {ending} so nobody can pay with them from your phone. Sign in on a "
            f"new device to unfreeze them, and change your email password if it was saved on the phone.{kb}"
        )
    lo, hi = (3, 10) if run.ctx.jurisdiction == "CN" else (3, 7)
    return run.resolved(
        f"I've permanently blocked your card ending {ending}, so it can't be used any more, and ordered a "
        f"replacement with a new number (ending {', '.join(new)}); it arrives in {lo}-{hi} business days and "
        "keeps your PIN. Until then you can pay with a virtual card from the app. If you see payments you "
        f"didn't make, tell us and we'll open a fraud claim.{kb}"
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
        "I can't give advice on splitting or timing payments. The same monitoring and reporting obligations "
        "apply to every transfer and deposit, whatever its size or however it is split. You can make a "
        "payment of any legitimate size within the limits shown in the app, and for large amounts we may "
        "ask where the money comes from."
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
    named = {code: name for name, code in COUNTRY_NAMES.items() if re.search(rf"\b{re.escape(name)}\b", text)}
    for code in run.task.entities.countries:
        named.setdefault(code.upper(), code.upper())
    kb = run.cite(department="general")
    parts = []
    stated = _AGE.search(text)
    if stated or mentions(text, "age", "old", "year", "teen", "child", "kid", "minor", "pension"):
        parts.append(
            f"You need to be at least {MIN_AGE} to open an account ({MIN_AGE_STANDARD_EU_UK} in the UK and the "
            "EU with a Standard plan); there is no upper age limit."
        )
        age = int(next(g for g in stated.groups() if g)) if stated else None
        if age is not None and age < MIN_AGE_STANDARD_EU_UK:
            parts.append(f"At {age} it isn't possible yet.")
        elif age is not None and age < MIN_AGE:
            parts.append(f"At {age} that means a Standard plan in the UK or the EU only.")
    if named or mentions(text, "countr", "live", "resident", "moving", "available", "operate"):
        yes = sorted(n.title() if len(n) > 2 else n for c, n in named.items() if c in SUPPORTED_COUNTRIES)
        no = sorted(n.title() if len(n) > 2 else n for c, n in named.items() if c not in SUPPORTED_COUNTRIES)
        line = f"You can open an account if you live in {SUPPORTED_REGIONS}."
        if yes:
            line += f" {', '.join(yes)}: yes."
        if no:
            line += f" {', '.join(no)}: not at the moment, sorry."
        parts.append(line)
    if not parts:
        parts.append(f"You can open an account from age {MIN_AGE} if you live in {SUPPORTED_REGIONS}.")
    return run.resolved(" ".join(parts) + kb)


# "my card is blocked, can you unblock it?" reads like "unblock the account I'm paying" to the router:
# a blocked card is technical's, and a review of a recipient nobody named helps no one
_CARD = re.compile(r"\bcards?\b", re.IGNORECASE)
_A_RECIPIENT = re.compile(
    r"\b(?:recipients?|beneficiar(?:y|ies)|payees?|transfers?|send(?:ing)?|sent|pay(?:ing)?|iban|account)\b",
    re.IGNORECASE,
)


def beneficiary_not_allowed(run: Run) -> DepartmentResult:
    text = run.task.text
    if _CARD.search(text) and not _A_RECIPIENT.search(text):
        return run.not_mine("technical")
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
    "data_erasure": _open_erasure,
    "data_portability": _data_request_handler("open_portability_request"),
    "data_opt_out": data_opt_out,
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
    # the built-ins ship one "general" folder (countries, plans, contact); exactly one plugin loads it
    return [KNOWLEDGE_ROOT / NAME, KNOWLEDGE_ROOT / GENERAL]


@hookimpl
def crossdesk_policy_paths() -> list[Path]:
    return []
