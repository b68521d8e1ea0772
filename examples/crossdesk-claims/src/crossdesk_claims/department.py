"""The claims department: files claims, reports on them, explains documents, cover and payouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugins.contracts import ActionRecord, DepartmentContext, DepartmentResult, Task

from crossdesk_claims import ledger
from crossdesk_claims.actions import ACTIONS
from crossdesk_claims.cues import INCIDENT_TEXT, claim_ids, incident_of, is_claims_text, product_of
from crossdesk_claims.intents import INTENTS

NAME = "claims"
SIGN_IN = "Could you sign in, or tell me your customer id, so I can find your insurance claims?"
PAYOUT_DAYS = "3 to 5 business days"
# intents that read or change the customer's own claims; cover and documents questions need no sign-in
ACCOUNT_INTENTS = frozenset({"file_claim", "claim_status", "claim_payout"})


class ClaimsDepartment:
    name = NAME
    description = "Travel insurance and purchase protection claims: file, track, documents, payouts, cover"
    intents = INTENTS
    actions = ACTIONS

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[_Run], DepartmentResult]] = {
            "file_claim": file_claim,
            "claim_status": claim_status,
            "claim_documents": claim_documents,
            "claim_payout": claim_payout,
            "coverage_question": coverage_question,
        }

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        run = _Run(task, ctx)
        handler = self._handlers.get(task.intent)
        # a message without anything about insurance was misrouted: hand it back so it is rerouted
        if handler is None or not is_claims_text(task.text):
            return run.result("not_mine")
        if task.intent in ACCOUNT_INTENTS and ctx.customer is None:
            return run.result("needs_info", question=SIGN_IN)
        return handler(run)


class _Run:
    """One task's work: collects the articles cited so the result lists them."""

    def __init__(self, task: Task, ctx: DepartmentContext) -> None:
        self.task = task
        self.ctx = ctx
        self.cited: list[str] = []

    @property
    def customer_id(self) -> str:
        assert self.ctx.customer is not None  # checked in handle() for every intent that needs one
        return self.ctx.customer.id

    def cite(self, query: str) -> str:
        hits = self.ctx.knowledge.search(query, department=NAME, k=1)
        if not hits:
            return ""
        self.cited.append(hits[0].id)
        return f" [{hits[0].id}]"

    def answer(self, query: str) -> str:
        """The best article's snippet with its citation, or "" when no article fits."""
        hits = self.ctx.knowledge.search(query, department=NAME, k=1)
        if not hits:
            return ""
        self.cited.append(hits[0].id)
        return f"{hits[0].snippet.strip()} [{hits[0].id}]"

    def result(self, status: str, **fields: Any) -> DepartmentResult:
        return DepartmentResult.model_validate(
            {
                "department": NAME,
                "task_id": self.task.id,
                "status": status,
                "knowledge": tuple(self.cited),
                **fields,
            }
        )

    def failed(self, record: ActionRecord, what: str) -> DepartmentResult:
        why = f"blocked by policy {record.blocked_by}" if record.blocked_by else "failed"
        return self.result(
            "needs_human",
            reason=f"{record.name} {why}: {record.message}",
            reply=f"I couldn't {what} automatically, so a claims handler will take this over.",
        )


def file_claim(run: _Run) -> DepartmentResult:
    text = run.task.text
    amount = run.task.entities.amounts[0] if run.task.entities.amounts else None
    incident = incident_of(text)
    record = run.ctx.act(
        "file_claim",
        product=product_of(text),
        incident=incident,
        summary=text[:1000],
        amount=amount.amount if amount is not None and amount.amount > 0 else None,
        currency=amount.currency if amount is not None else None,
    )
    if not record.ok:
        return run.failed(record, "open the claim")
    claim_id = record.result["claim_id"]
    documents = ", ".join(record.result["documents"])
    cite = run.cite("documents needed claim")
    reply = (
        f"I've opened claim {claim_id} for the {INCIDENT_TEXT[incident]}. To assess it we need: {documents}. "
        f"You can upload them in the app under Insurance > Claims.{cite}"
    )
    return run.result("resolved", reply=reply)


def _pick(run: _Run) -> tuple[ledger.Claim | None, list[ledger.Claim]]:
    claims = ledger.claims_of(run.ctx.notes, run.customer_id)
    wanted = claim_ids(run.task.text)
    if wanted:
        return next((c for c in claims if c.id in wanted), None), claims
    return (claims[0] if claims else None), claims


def claim_status(run: _Run) -> DepartmentResult:
    claim, claims = _pick(run)
    if claim is None:
        asked = claim_ids(run.task.text)
        if asked:
            return run.result(
                "needs_info",
                question=f"I can't find claim {asked[0]} on your profile. Could you check the reference?",
            )
        return run.result(
            "needs_info",
            question="I can't find an insurance claim on your profile. Would you like to file one?",
        )
    state = ledger.STATUS_TEXT.get(claim.status, claim.status)
    reply = f"Your claim {claim.id} for the {claim.what} is {state}."
    if claim.status in ledger.OPEN and claim.documents:
        reply += f" We still need: {', '.join(claim.documents)}."
    others = len(claims) - 1
    if others > 0:
        reply += f" You have {others} other claim{'s' if others > 1 else ''} on file."
    return run.result("resolved", reply=reply)


def claim_documents(run: _Run) -> DepartmentResult:
    answer = run.answer(run.task.text) or run.answer("documents needed claim")
    outstanding = ""
    if run.ctx.customer is not None:
        claim, _ = _pick(run)
        if claim is not None and claim.status in ledger.OPEN and claim.documents:
            outstanding = f" For your claim {claim.id} we still need: {', '.join(claim.documents)}."
    if not answer and not outstanding:
        return run.result("needs_human", reason="no claims article answers this documents question")
    return run.result("resolved", reply=(answer + outstanding).strip())


def claim_payout(run: _Run) -> DepartmentResult:
    claim, _ = _pick(run)
    if claim is None:
        return run.result("needs_info", question="Which claim is this about? Its reference starts with CLM-.")
    # compliance's hold on the account stops money going out: read their note instead of guessing
    hold = run.ctx.notes.for_customer(run.customer_id, kind="kyc_hold")
    if claim.status == "approved" and hold:
        return run.result(
            "resolved",
            reply=f"Your claim {claim.id} is approved, but your account is on a verification hold, so the "
            "payout can only be made once the hold is lifted. Compliance has the details of what is needed.",
        )
    if claim.status == "approved":
        if claim.amount is None or not claim.currency:
            return run.result("needs_human", reason=f"approved claim {claim.id} has no settled amount")
        record = run.ctx.act(
            "schedule_payout", claim_id=claim.id, amount=claim.amount, currency=claim.currency
        )
        if not record.ok:
            return run.failed(record, "pay out this claim")
        return run.result(
            "resolved",
            reply=f"I've scheduled the payout of {claim.currency} {claim.amount:,.2f} for claim {claim.id}; "
            f"it reaches your account within {PAYOUT_DAYS}.{run.cite('payout claim timeline')}",
        )
    state = ledger.STATUS_TEXT.get(claim.status, claim.status)
    explain = run.answer(run.task.text) or run.answer("claim payout")
    reply = f"Your claim {claim.id} is {state}. {explain}".strip()
    return run.result("resolved", reply=reply)


def coverage_question(run: _Run) -> DepartmentResult:
    answer = run.answer(run.task.text)
    if not answer:
        return run.result("needs_human", reason="no claims article answers this cover question")
    return run.result("resolved", reply=answer)
