"""What the three built-in departments share: dispatch to intent handlers, ownership checks,
knowledge citations and the small parsing helpers their handlers use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from plugins.builtin.cues import cue_scores
from plugins.builtin.ownership import FOREIGN_PHRASE, Verdict, judge
from plugins.contracts import (
    ActionRecord,
    ActionSpec,
    CaseNote,
    DepartmentContext,
    DepartmentResult,
    Intent,
    Task,
)

KNOWLEDGE_ROOT = Path(__file__).parent / "knowledge"
GENERAL = "general"  # knowledge every department may cite
SIGN_IN_QUESTION = (
    "Could you sign in, or tell me your customer id (it starts with C, like C1234), "
    "so I can look at your account?"
)
SIGN_IN_TO_ACT = "If you'd like me to do it for you, sign in or tell me your customer id."
# "How do I set up two-factor authentication?": a question about how something is done
HOW_TO = re.compile(
    r"^\W*(?:how\s+(?:do|can|should|would)\s+(?:i|you|we)|how\s+to|what\s+are\s+the\s+steps"
    r"|where\s+(?:do|can)\s+i|is\s+it\s+possible\s+to)\b",
    re.IGNORECASE,
)
# a second article is cited only when it scores close to the best one
SECOND_CITATION_RATIO = 0.6

_TX_ID = re.compile(r"\bTX-[A-Z0-9][A-Z0-9-]*\b", re.IGNORECASE)
_LAST4 = re.compile(
    r"(?:\*{2,}|ending(?: in)?|last (?:4|four)(?: digits)?(?: are| is)?|x{2,})\s*(\d{4})\b", re.I
)
_AMOUNT = re.compile(r"(?<![\w.])(\d{1,3}(?:[,\s]\d{3})+|\d+)(?:[.,](\d{2}))?(?![\w])")


def owner_of_intent(intent: str) -> str | None:
    """The built-in department declaring `intent`, if any."""
    from plugins.builtin import intents_billing, intents_compliance, intents_technical

    for dep, intents in (
        ("billing", intents_billing.INTENTS),
        ("compliance", intents_compliance.INTENTS),
        ("technical", intents_technical.INTENTS),
    ):
        if any(i.name == intent for i in intents):
            return dep
    return None


# --- small parsers ---------------------------------------------------------------------------


def transaction_ids(task: Task) -> list[str]:
    found = list(task.entities.transaction_ids) + [m.group(0).upper() for m in _TX_ID.finditer(task.text)]
    return list(dict.fromkeys(t.upper() for t in found))


def card_last4(task: Task) -> list[str]:
    refs = [r[-4:] for r in task.entities.card_refs if r[-4:].isdigit()]
    refs += [m.group(1) for m in _LAST4.finditer(task.text)]
    return list(dict.fromkeys(refs))


def amounts(task: Task) -> list[Decimal]:
    """Amounts the customer mentioned, from the extracted entities or, failing that, the text."""
    if task.entities.amounts:
        return [Decimal(str(abs(m.amount))).quantize(Decimal("0.01")) for m in task.entities.amounts]
    out = []
    for m in _AMOUNT.finditer(task.text):
        whole = re.sub(r"[,\s]", "", m.group(1))
        if len(whole) == 4 and not m.group(2) and whole.startswith(("19", "20")):
            continue  # a year, not an amount
        out.append(Decimal(f"{whole}.{m.group(2) or '00'}"))
    return out


def mentions(text: str, *words: str) -> bool:
    low = text.lower()
    return any(w in low for w in words)


def fmt_money(amount: Decimal | float, currency: str) -> str:
    return f"{currency} {abs(Decimal(str(amount))):,.2f}"


def fmt_date(value: datetime | Any) -> str:
    return f"{value.day} {value:%b %Y}"


# --- one department run ----------------------------------------------------------------------


@dataclass
class Run:
    """Collects what a handler did so the result lists every action, note and article."""

    department: str
    task: Task
    ctx: DepartmentContext
    actions: list[ActionRecord] = field(default_factory=list)
    notes: list[CaseNote] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    topic: str = ""  # the intent's description: steers article search towards the routed topic

    @property
    def customer_id(self) -> str:
        if self.ctx.customer is None:  # handlers for account intents only run with a customer
            raise RuntimeError("this handler needs a signed-in customer")
        return self.ctx.customer.id

    @property
    def query(self) -> str:
        return f"{self.task.text} {self.topic}".strip()

    def act(self, name: str, **args: Any) -> ActionRecord:
        record = self.ctx.act(name, **args)
        self.actions.append(record)
        return record

    def note(
        self, kind: str, text: str, *, subject: str = "", data: dict[str, Any] | None = None
    ) -> CaseNote:
        note = self.ctx.notes.add(kind, text, subject=subject, data=data)
        self.notes.append(note)
        return note

    def cite(self, query: str | None = None, *, limit: int = 2, department: str | None = None) -> str:
        """Search the department's (or another's) articles; return " [ID]" citations for the reply."""
        hits = self.ctx.knowledge.search(
            query or self.task.text, department=department or self.department, k=3
        )
        if not hits and department is None:
            # questions about the company itself (countries, contact, plans) live in "general"
            hits = self.ctx.knowledge.search(query or self.query, department=GENERAL, k=3)
        if not hits:
            return ""
        chosen = [hits[0]] + [h for h in hits[1:limit] if h.score >= hits[0].score * SECOND_CITATION_RATIO]
        ids = [h.id for h in chosen if h.id not in self.cited]
        self.cited.extend(ids)
        return "".join(f" [{i}]" for i in ids)

    def snippet(self, query: str | None = None) -> str:
        """The best article's snippet, cited, for questions answered from the knowledge base alone."""
        hits = self.ctx.knowledge.search(query or self.query, department=self.department, k=1)
        if not hits:
            hits = self.ctx.knowledge.search(query or self.query, department=GENERAL, k=1)
        if not hits:
            return ""
        if hits[0].id not in self.cited:
            self.cited.append(hits[0].id)
        return f"{hits[0].snippet.strip()} [{hits[0].id}]"

    def _result(self, status: str, reply: str, **extra: Any) -> DepartmentResult:
        return DepartmentResult(
            department=self.department,
            task_id=self.task.id,
            status=status,  # type: ignore[arg-type]
            reply=" ".join(reply.split()),
            actions=tuple(self.actions),
            notes=tuple(self.notes),
            knowledge=tuple(self.cited),
            **extra,
        )

    def resolved(self, reply: str) -> DepartmentResult:
        return self._result("resolved", reply)

    def needs_info(self, question: str, reply: str = "") -> DepartmentResult:
        return self._result("needs_info", reply, question=question)

    def needs_human(self, reason: str, reply: str = "") -> DepartmentResult:
        return self._result("needs_human", reply, reason=reason)

    def not_mine(self, suggest: str | None, reply: str = "") -> DepartmentResult:
        return self._result("not_mine", reply, suggest=suggest)

    def failed_action(self, record: ActionRecord, what: str) -> DepartmentResult:
        """An action did not go through: a person takes over, and the customer is told so."""
        if record.blocked_by:
            reason = f"{record.name} blocked by policy {record.blocked_by}: {record.message}"
        else:
            reason = f"{record.name} failed: {record.message}"
        return self.needs_human(
            reason, f"I couldn't {what} automatically, so a colleague will take this over."
        )


Handler = Callable[[Run], DepartmentResult]


def answer_in_context(task: Task, history: Sequence[Mapping[str, Any]], department: str) -> Task:
    """An answer to the question this department asked last turn ("The StreamFlix one." after
    "Which subscription should I cancel?") is read together with the request that raised it."""
    if not history:
        return task
    asked = [
        t
        for t in history[-1].get("tasks") or []
        if t.get("department") == department
        and t.get("intent") == task.intent
        and t.get("status") == "needs_info"
    ]
    if not asked or asked[-1].get("text", "") in task.text:
        return task
    return task.model_copy(update={"text": f"{asked[-1]['text']} {task.text}"})


def goes_on_with(
    task: Task, history: Sequence[Mapping[str, Any]], department: str
) -> Mapping[str, Any] | None:
    """The last turn's task of `department` that `task` follows up (`Task.follow_up_of`), if any."""
    if task.follow_up_of is None or not history:
        return None
    return next(
        (
            t
            for t in history[-1].get("tasks") or []
            if t.get("id") == task.follow_up_of and t.get("department") == department
        ),
        None,
    )


class BuiltinDepartment:
    """A department whose intents map one-to-one to handler functions."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        intents: Sequence[Intent],
        actions: Sequence[ActionSpec],
        handlers: Mapping[str, Handler],
        account_intents: Iterable[str],
        claims: Callable[[Task, DepartmentContext], bool] | None = None,
    ) -> None:
        missing = {i.name for i in intents} ^ set(handlers)
        if missing:
            raise ValueError(f"{name}: intents and handlers differ on {sorted(missing)}")
        self.name = name
        self.description = description
        self.intents = tuple(intents)
        self.actions = tuple(actions)
        self.handlers = dict(handlers)
        self.account_intents = frozenset(account_intents)
        # the department's own records say the task is its ("stop the direct debit to StreamFlix",
        # one of the customer's subscriptions): words that read like another department's
        # examples do not hand it on (another department's own phrase still does)
        self.claims = claims

    def __repr__(self) -> str:
        return f"<department {self.name}: {len(self.intents)} intents, {len(self.actions)} actions>"

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        task = answer_in_context(task, ctx.history, self.name)
        continued = goes_on_with(task, ctx.history, self.name)
        if continued is not None and continued.get("text", "") not in task.text:
            # "When do I get the money back?" is read with the report it follows
            task = task.model_copy(update={"text": f"{continued['text']} {task.text}"})
        intent = next((i for i in self.intents if i.name == task.intent), None)
        run = Run(self.name, task, ctx, topic=intent.description if intent else "")
        handler = self.handlers.get(task.intent)
        if handler is None:
            return run.not_mine(self.suggest_owner(task))
        # a follow-up of our own last task is ours: the supervisor read it with the conversation
        verdict = Verdict(True) if continued is not None else judge(self.name, task.text, ctx.knowledge)
        if (
            not verdict.ours
            and verdict.why != FOREIGN_PHRASE
            and self.claims is not None
            and self.claims(task, ctx)
        ):
            verdict = Verdict(True)
        # a task another department already handed us needs strong evidence to bounce again
        if not verdict.ours and (task.attempt == 0 or verdict.strong):
            owner = verdict.owner if verdict.owner not in (self.name, *task.previous_departments) else None
            return run.not_mine(owner)
        if task.intent in self.account_intents and ctx.customer is None:
            # a visitor asking how something works gets the article; acting needs their account
            answer = run.snippet() if HOW_TO.search(task.text) else ""
            if answer:
                return run.resolved(f"{answer} {SIGN_IN_TO_ACT}")
            return run.needs_info(SIGN_IN_QUESTION)
        return handler(run)

    def suggest_owner(self, task: Task) -> str | None:
        owner = owner_of_intent(task.intent)
        if owner is not None and owner != self.name:
            return owner
        for dep, _intent, _conf in task.alternatives:
            if dep != self.name and dep not in task.previous_departments:
                return dep
        scores = cue_scores(task.text)
        best = max((d for d in scores if d != self.name), key=lambda d: scores[d])
        return best if scores[best] > 0 else None
