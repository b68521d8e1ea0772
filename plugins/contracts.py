"""Value types shared by the orchestrator and department plugins.

Everything a department receives or returns is defined here, so a plugin
depends on this module and `plugins.hookspecs` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from sqlmodel import Session

Status = Literal["resolved", "needs_info", "needs_human", "not_mine"]
STATUSES: tuple[Status, ...] = ("resolved", "needs_info", "needs_human", "not_mine")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Intent(Frozen):
    """One thing customers ask a department for, with example utterances the router learns from."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    examples: tuple[str, ...]
    # a request of its own, never folded into a neighbouring request of the same department
    # ("close my account and delete my data" is two: the erasure has its own legal deadline)
    standalone: bool = False


class Money(Frozen):
    amount: float
    currency: str | None = None  # ISO 4217 when stated or implied by a symbol
    text: str = ""


class Entities(Frozen):
    """Entities extracted from one sub-issue. Card and account references are masked."""

    amounts: tuple[Money, ...] = ()
    dates: tuple[str, ...] = ()  # ISO dates, resolved against the message time
    card_refs: tuple[str, ...] = ()  # e.g. "****4242"
    account_refs: tuple[str, ...] = ()  # e.g. "IBAN ****1234"
    invoice_ids: tuple[str, ...] = ()
    transaction_ids: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2


class Task(Frozen):
    """A sub-issue: one part of the customer's message, routed to one department."""

    id: str
    text: str
    span: tuple[int, int]  # character offsets in the turn's message
    department: str
    intent: str
    confidence: float
    entities: Entities = Entities()
    # other (department, intent, confidence) candidates, best first; used for reroutes
    alternatives: tuple[tuple[str, str, float], ...] = ()
    attempt: int = 0  # 0 on first dispatch, +1 for each reroute
    previous_departments: tuple[str, ...] = ()
    # a follow-up: the id of the last turn's task (in ctx.history[-1]) this one goes on with
    follow_up_of: str | None = None


class CustomerView(Frozen):
    """What a department may know about the customer."""

    id: str
    name: str
    jurisdiction: str
    age_band: str = "unknown"  # "18-24", ..., "80+"
    risk_profile: str = "medium"  # low | medium | high
    vulnerability: tuple[str, ...] = ()
    servicemember: bool = False
    language: str = "en"


class ActionRecord(Frozen):
    """An action a department took (or tried to take) against the backend."""

    name: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] = {}
    message: str = ""
    blocked_by: str | None = None  # policy rule id when the action was not allowed


class CaseNote(Frozen):
    id: int | None = None
    customer_id: str | None
    conversation_id: str | None
    department: str
    kind: str  # e.g. "refund", "kyc_hold", "erasure_request", "observation"
    subject: str = ""  # what the note is about: a transaction id, an account id, ...
    text: str
    data: dict[str, Any] = {}
    created_at: datetime | None = None


class ArticleHit(Frozen):
    id: str
    title: str
    department: str
    snippet: str
    score: float


class DepartmentResult(Frozen):
    """What a department returns for one task. `reply` is a fragment the composer weaves in."""

    department: str
    task_id: str
    status: Status
    reply: str = ""
    actions: tuple[ActionRecord, ...] = ()
    notes: tuple[CaseNote, ...] = ()  # case notes written during this run
    knowledge: tuple[str, ...] = ()  # article ids cited in `reply`
    suggest: str | None = None  # with not_mine: the department that should own it
    question: str | None = None  # with needs_info: the one question to ask
    reason: str | None = None  # with needs_human: why
    error: str | None = None  # set by the orchestrator when the department failed


class ActionSpec(Frozen):
    """A typed action a department can take. `run(ctx, args)` returns a JSON-able dict."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    args: type[BaseModel]
    run: Callable[[DepartmentContext, Any], dict[str, Any]]
    money_movement: bool = False


class KnowledgeAPI(Protocol):
    def search(
        self, query: str, *, department: str | None = None, k: int = 3, on: date | None = None
    ) -> list[ArticleHit]: ...


class NotesAPI(Protocol):
    def for_customer(self, customer_id: str, *, kind: str | None = None) -> list[CaseNote]: ...

    def for_subject(self, subject: str, *, kind: str | None = None) -> list[CaseNote]: ...

    def add(
        self, kind: str, text: str, *, subject: str = "", data: dict[str, Any] | None = None
    ) -> CaseNote: ...


@runtime_checkable
class DepartmentContext(Protocol):
    """What the orchestrator hands a department for one run.

    `db` is the run's own session: everything written through it, through `act`
    and through `notes.add` commits together when the department returns, and is
    rolled back if it raises. On SQLite it reads from a snapshot without the write
    lock until the first write; `act` reloads what was read before its action runs.

    Optional attribute `policy: Mapping[str, Any]` (read-only, default empty): what
    the jurisdiction's rules set for this turn: statutory deadlines per task and
    intent, retention periods, flags, caps (see docs/plugins.md). It is not a
    protocol member, so contexts without it still conform: read it with
    `policy_of(ctx)`, and keep working when it is empty.
    """

    conversation_id: str
    turn_id: str
    customer: CustomerView | None
    jurisdiction: str
    history: Sequence[dict[str, Any]]  # earlier turns: {"message", "reply", "tasks": [...]}
    db: Session
    notes: NotesAPI

    @property
    def knowledge(self) -> KnowledgeAPI: ...

    def act(self, name: str, **args: Any) -> ActionRecord: ...


NO_POLICY: Mapping[str, Any] = MappingProxyType({})


def policy_of(ctx: Any) -> Mapping[str, Any]:
    """The run's policy view (`DepartmentContext.policy`), or an empty mapping when it has none."""
    view = getattr(ctx, "policy", None)
    return view if isinstance(view, Mapping) else NO_POLICY


@runtime_checkable
class Department(Protocol):
    """A department agent. Built-ins and third-party plugins implement the same protocol."""

    name: str
    description: str
    intents: Sequence[Intent]
    actions: Sequence[ActionSpec]

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult: ...
