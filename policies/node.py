"""The policy node: runs the rule engine on every turn's plan, actions and reply.

`PolicyNode` implements `orchestrator.graph.PolicyHook` (check_plan, check_outcome)
and provides the dispatcher's action guard. It fails closed: if the engine or
this node errors, or a pack could not be loaded, no automated answer goes out,
the whole turn goes to a person and the error is kept in the turn's record.

Plan-task markers it writes (plain dicts in the graph state):
- `blocked`: {"kind": "deny" | "human", "rule_id", "message"}: the task is not
  dispatched; a deny shows `message` to the customer, a human one goes to an operator.
- `required_by`: the rule that added the task or moved it to a required department.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from orchestrator.compose import compose_reply, final_results
from orchestrator.db import reader
from orchestrator.nlu.types import Decomposition, Signals
from plugins.contracts import ActionSpec, CustomerView, DepartmentResult, Task
from plugins.manager import PluginSet
from policies.decision import Decision, HumanHandoff
from policies.department_view import department_view
from policies.engine import PolicyEngine
from policies.facts import TurnFacts, facts_for_outcome, facts_from_message
from policies.pii import mask

log = logging.getLogger(__name__)

# what the customer sees when policy could not be checked: no automated answer, a person follows
HOLDING_REPLY = (
    "Thank you for your message. A member of our team will reply to you here shortly; they can see "
    "this conversation, so you won't need to repeat yourself."
)
ERROR_RULE = "policy.error"
# earlier turns read to count repeat contacts about the same issue
REPEAT_WINDOW = timedelta(days=30)
REPEAT_LOOKBACK = 20
REPEAT_FIRST_READ = 4


def _consecutive(earlier: list[list[dict[str, Any]]], intents: set[str]) -> tuple[int, bool]:
    """(turns in a row about `intents`, newest first; whether a turn about something else ended
    the run). A turn without sub-issues (a greeting) neither counts nor ends it."""
    count = 0
    for tasks in earlier:
        seen = {t.get("intent") for t in tasks}
        if not seen:
            continue
        if not seen & intents:
            return count, True
        count += 1
    return count, False


@functools.cache
def _recent_tasks() -> Any:
    """The tasks of a customer's latest turns, newest first: built once, as it runs every turn
    (only the tasks of each record, on a plain connection)."""
    from orchestrator.records import Conversation, TurnRecord

    return (
        select(TurnRecord.record["tasks"])
        .join(Conversation, col(Conversation.id) == col(TurnRecord.conversation_id))
        .where(
            col(Conversation.customer_id) == bindparam("customer_id"),
            col(TurnRecord.created_at) >= bindparam("since"),
        )
        .order_by(col(TurnRecord.created_at).desc())
        .limit(bindparam("limit"))
    )


_FACTS_KEPT = 1024  # plan facts kept per turn for the action guard and the outcome check


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _to_task(data: Mapping[str, Any]) -> Task:
    return Task.model_validate({k: v for k, v in data.items() if k in Task.model_fields})


def _to_result(data: Mapping[str, Any]) -> DepartmentResult:
    return DepartmentResult.model_validate(
        {k: v for k, v in data.items() if k in DepartmentResult.model_fields}
    )


def _human_dict(human: HumanHandoff, *, whole_turn: bool | None = None) -> dict[str, Any]:
    return {
        "reasons": list(human.reasons or (human.reason,)),
        "sla_seconds": human.sla_seconds,
        "rule_ids": list(human.rule_ids),
        "task_ids": list(human.task_ids),
        "whole_turn": not human.task_ids if whole_turn is None else whole_turn,
    }


def merge_human(*parts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One pending human requirement from several: reasons and rules add up, the shortest SLA wins."""
    present = [p for p in parts if p]
    if not present:
        return None
    return {
        "reasons": list(dict.fromkeys(r for p in present for r in p.get("reasons", []))),
        "sla_seconds": min(int(p.get("sla_seconds") or 30) for p in present),
        "rule_ids": list(dict.fromkeys(r for p in present for r in p.get("rule_ids", []))),
        "task_ids": list(dict.fromkeys(t for p in present for t in p.get("task_ids", []))),
        "whole_turn": any(p.get("whole_turn") for p in present),
    }


class PolicyNode:
    """The graph's policy hook and the dispatcher's action guard, backed by one `PolicyEngine`.

    `db` (the application's database) is read for repeat contacts; without it
    only the conversation's own history counts.
    """

    def __init__(self, engine: PolicyEngine, plugins: PluginSet, *, db: Engine | None = None) -> None:
        self.engine = engine
        self.plugins = plugins
        self.db = db
        self._reader = reader(db) if db is not None else None  # no write lock for a read (SQLite)
        self._turns: OrderedDict[str, _TurnMemo] = OrderedDict()
        self._turns_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, plugins: PluginSet, *, db: Engine | None = None) -> PolicyNode:
        """Shipped packs, plugin packs and `[policies] paths`; a pack that cannot load fails closed."""
        raw = settings.section("policies").get("paths", [])
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            error = f"[policies] paths must be a list of folder or file names, not {raw!r}"
            log.error("policy packs not loaded, every turn goes to a human: %s", error)
            return cls(PolicyEngine(load_error=error), plugins, db=db)
        paths = [*plugins.policy_paths(), *(Path(p).expanduser() for p in raw)]
        return cls(PolicyEngine.load_or_fail_closed(paths), plugins, db=db)

    # ------------------------------------------------------------ plan

    def check_plan(self, state: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._check_plan(state)
        except Exception as exc:
            log.exception("policy node failed on the plan; failing closed")
            return self._plan_failed(state, f"{type(exc).__name__}: {exc}")

    def _plan_facts(self, state: Mapping[str, Any], repeat_contacts: int) -> TurnFacts:
        decomposition = state.get("decomposition") or {}
        customer = CustomerView.model_validate(state["customer"]) if state.get("customer") else None
        plan = [_to_task(t) for t in state.get("plan") or []]
        unclear = [_to_task(t) for t in state.get("unclear") or []]
        decomp = Decomposition(
            text=state.get("message", ""),
            tasks=tuple(plan),
            unclear=tuple(unclear),
            wants_human=bool(decomposition.get("wants_human")),
            signals=Signals.model_validate(decomposition.get("signals") or {}),
        )
        return facts_from_message(
            decomp,
            customer=customer,
            jurisdiction=state.get("jurisdiction") or None,
            repeat_contacts=repeat_contacts,
        )

    def _check_plan(self, state: Mapping[str, Any]) -> dict[str, Any]:
        plan = [dict(t) for t in state.get("plan") or []]
        unclear = [dict(t) for t in state.get("unclear") or []]
        repeat = self.repeat_contacts(state, {t["intent"] for t in plan + unclear})
        facts = self._plan_facts(state, repeat)
        decision = self.engine.safe_check(facts)
        if decision.error is not None:
            return self._plan_failed(state, decision.error, decision)
        self._remember(state.get("turn_id", ""), facts)

        by_id = {t["id"]: t for t in plan}
        waiting = {t["id"]: t for t in unclear}

        def bound(task_ids: Iterable[str]) -> list[dict[str, Any]]:
            """Plan tasks with these ids; an unclear task a rule bound joins the plan (the rule saw it)."""
            out = []
            for tid in task_ids:
                if tid in waiting:
                    task = waiting.pop(tid)
                    plan.append(task)
                    by_id[tid] = task
                if tid in by_id:
                    out.append(by_id[tid])
            return out

        turn_deny = [d for d in decision.denials if d.whole_turn]
        for d in decision.denials:
            if d.destination or d.whole_turn:
                continue  # the turn runs locally; whole-turn denials are handled below
            for task in bound(d.task_ids):
                task.setdefault("blocked", {"kind": "deny", "rule_id": d.rule_id, "message": d.message})
        if turn_deny:
            for task in plan:
                task.setdefault(
                    "blocked",
                    {"kind": "deny", "rule_id": turn_deny[0].rule_id, "message": turn_deny[0].message},
                )
            waiting.clear()

        human = _human_dict(decision.human) if decision.human is not None else None
        if human is not None:
            targets = plan if human["whole_turn"] else bound(human["task_ids"])
            for task in targets:
                task.setdefault(
                    "blocked",
                    {
                        "kind": "human",
                        "rule_id": human["rule_ids"][0],
                        "message": "; ".join(human["reasons"]),
                    },
                )
            if human["whole_turn"]:
                waiting.clear()

        whole_turn_kept = bool(turn_deny) or bool(human and human["whole_turn"])
        missing = None
        if not whole_turn_kept:  # a turn kept from automation as a whole gets no department work
            missing = self._require_departments(decision, plan, by_id, bound, state.get("message", ""))
        if missing:
            human = merge_human(human, missing)

        caps: dict[str, list[dict[str, Any]]] = {}
        for cap in self.engine.caps_for(facts.jurisdiction):
            caps.setdefault(cap.action, []).append(
                {"max_amount": cap.max_amount, "currency": cap.currency, "rule_id": cap.rule_id}
            )
        view = department_view(
            decision, plan, retentions=self.engine.retentions_for(facts.jurisdiction), caps=caps
        )
        policy = {
            "plan": _jsonable(decision.as_dict()),
            "caps": caps,
            "human": human,
            "turn_denied": [d.message for d in turn_deny],
            "repeat_contacts": repeat,
            "department_view": view,
            "error": None,
        }
        return {"plan": plan, "unclear": list(waiting.values()), "policy": policy}

    def _require_departments(
        self,
        decision: Decision,
        plan: list[dict[str, Any]],
        by_id: dict[str, dict[str, Any]],
        bound: Any,
        message: str,
    ) -> dict[str, Any] | None:
        """Route or add tasks so every required department handles its part; a requirement
        that cannot be met automatically becomes a human requirement (returned)."""
        reasons: list[str] = []
        rules: list[str] = []
        for req in decision.required_departments:
            dept, intent = req.department, req.intent
            if dept not in self.plugins.departments:
                reasons.append(f"{req.rule_id}: the {dept} department must handle this but is not loaded")
                rules.append(req.rule_id)
                continue
            tasks = [t for t in bound(req.task_ids) if not t.get("blocked")]
            if not req.task_ids:
                open_ = [t for t in plan if not t.get("blocked")]
                if any(t["department"] == dept and intent in (None, t["intent"]) for t in open_):
                    continue
                if intent is None:
                    reasons.append(f"{req.rule_id}: the {dept} department must handle this request")
                    rules.append(req.rule_id)
                    continue
                plan.append(
                    {
                        "id": f"p{len(plan) + 1}",
                        "text": message,
                        "span": [0, len(message)],
                        "department": dept,
                        "intent": intent,
                        "confidence": 1.0,
                        "entities": {},
                        "alternatives": [],
                        "attempt": 0,
                        "previous_departments": [],
                        "required_by": req.rule_id,
                    }
                )
                continue
            for task in tasks:
                if task["department"] == dept and intent in (None, task["intent"]):
                    continue
                if intent in (None, task["intent"]):
                    # the task is the required kind, only routed elsewhere: send it to the right place
                    task["previous_departments"] = [*task.get("previous_departments", []), task["department"]]
                    task["department"] = dept
                    task["required_by"] = req.rule_id
                    continue
                extra_id = f"{task['id']}-{dept}"
                if extra_id in by_id:
                    continue
                extra = {**task, "id": extra_id, "department": dept, "intent": intent, "alternatives": []}
                extra["required_by"] = req.rule_id
                plan.append(extra)
                by_id[extra_id] = extra
        if not reasons:
            return None
        return {"reasons": reasons, "sla_seconds": 30, "rule_ids": rules, "task_ids": [], "whole_turn": False}

    def _plan_failed(
        self, state: Mapping[str, Any], error: str, decision: Decision | None = None
    ) -> dict[str, Any]:
        log.error("policy check failed on turn %s, the turn goes to a human: %s", state.get("turn_id"), error)
        decision = decision or Decision.fail_closed(error, jurisdiction=state.get("jurisdiction") or "")
        reason = f"policy check failed: {error}"
        plan = [
            {**t, "blocked": {"kind": "human", "rule_id": ERROR_RULE, "message": reason}}
            for t in [*(state.get("plan") or []), *(state.get("unclear") or [])]
        ]
        human = {
            "reasons": [reason],
            "sla_seconds": 30,
            "rule_ids": [ERROR_RULE],
            "task_ids": [],
            "whole_turn": True,
        }
        policy = {
            "plan": _jsonable(decision.as_dict()),
            "caps": {},
            "human": human,
            "turn_denied": [],
            "error": error,
        }
        return {"plan": plan, "unclear": [], "policy": policy}

    # ------------------------------------------------------------ outcome

    def check_outcome(self, state: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._check_outcome(state)
        except Exception as exc:
            log.exception("policy node failed on the outcome; failing closed")
            return self._outcome_failed(state, f"{type(exc).__name__}: {exc}")

    def _check_outcome(self, state: Mapping[str, Any]) -> dict[str, Any]:
        policy = dict(state.get("policy") or {})
        if policy.get("error"):
            return self._outcome_failed(state, policy["error"])
        memo = self._forget(state.get("turn_id", ""))
        plan_facts = memo.facts if memo else self._plan_facts(state, int(policy.get("repeat_contacts") or 0))
        results = [_with_amounts(_to_result(r), memo) for r in state.get("results") or []]
        reply = state.get("reply") or ""
        facts = facts_for_outcome(plan_facts, results, reply, money_movement=self.moves_money)
        decision = self.engine.safe_check(facts)
        if decision.error is not None:
            return self._outcome_failed(state, decision.error, decision)

        plan = [dict(t) for t in state.get("plan") or []]
        handoff = state.get("handoff")
        recompose = False
        for d in decision.denials:
            if d.whole_turn or d.destination:
                continue
            for task in plan:
                if task["id"] in d.task_ids and not task.get("blocked"):
                    task["blocked"] = {"kind": "deny", "rule_id": d.rule_id, "message": d.message}
                    recompose = True
        human = policy.get("human")
        if decision.human is not None:
            merged = merge_human(human, _human_dict(decision.human)) or {}
            human = merged
            known = " | ".join(handoff.get("reasons", [])) if handoff else ""
            if handoff is None or any(r not in known for r in merged["reasons"]):
                from orchestrator.graph import build_handoff

                handoff = build_handoff(
                    cast(Any, {**state, "plan": plan, "policy": {**policy, "human": merged}})
                )
                recompose = True
        if recompose:
            reply = self._compose(state, plan, handoff)

        turn_denied = list(
            dict.fromkeys(
                [*policy.get("turn_denied", []), *(d.message for d in decision.denials if d.whole_turn)]
            )
        )
        if turn_denied:
            # nothing of the automated answer goes out for a turn denied as a whole
            reply = " ".join(turn_denied)
            if handoff is not None:
                reply += "\n\n" + _handoff_line()
        plan_decision = policy.get("plan") or {}
        kinds = sorted({*plan_decision.get("redact", []), *decision.redact})
        if kinds:
            reply = mask(reply, kinds)
        disclosed = self._disclosures(state, plan_decision, decision, reply)
        if disclosed:
            reply = "\n\n".join([reply, *disclosed]) if reply else "\n\n".join(disclosed)
        policy.update(
            outcome=_jsonable(decision.as_dict()),
            human=human,
            redacted=kinds,
            disclosed=disclosed,
        )
        update: dict[str, Any] = {"reply": reply, "handoff": handoff, "policy": policy}
        if recompose:
            update["plan"] = plan
        return update

    def _compose(
        self, state: Mapping[str, Any], plan: list[dict[str, Any]], handoff: dict[str, Any] | None
    ) -> str:
        customer = state.get("customer") or {}
        return compose_reply(
            plan=plan,
            unclear=state.get("unclear") or [],
            results=state.get("results") or [],
            decomposition=state.get("decomposition") or {},
            customer_name=customer.get("name"),
            handoff=handoff,
            greet=state.get("seq", 1) == 1,
        )

    def _disclosures(
        self, state: Mapping[str, Any], plan_decision: Mapping[str, Any], decision: Decision, reply: str
    ) -> list[str]:
        """Disclosures of both stages and statutory deadlines no disclosure states, minus what the
        conversation was already told word for word (the AI disclosure is given once)."""
        texts = list(plan_decision.get("disclosures", []))
        disclosing = {m["id"] for m in plan_decision.get("matched", []) if "disclose" in m.get("effects", [])}
        for d in plan_decision.get("deadlines", []):
            if d["rule_id"] in disclosing:
                continue
            unit = "business days" if d.get("business") else "days"
            texts.append(f"We will give you a full answer within {d['days']} {unit}, as the law requires.")
        texts.extend(decision.disclosures)
        given = set(state.get("disclosed") or [])
        told = "\n".join(h.get("reply", "") for h in state.get("history") or [])
        return [t for t in dict.fromkeys(texts) if t not in given and t not in told and t not in reply]

    def _outcome_failed(
        self, state: Mapping[str, Any], error: str, decision: Decision | None = None
    ) -> dict[str, Any]:
        log.error(
            "policy check failed on turn %s, no automated reply goes out: %s", state.get("turn_id"), error
        )
        self._forget(state.get("turn_id", ""))
        from orchestrator.graph import build_handoff

        policy = dict(state.get("policy") or {})
        reason = f"policy check failed: {error}"
        human = merge_human(
            policy.get("human"),
            {
                "reasons": [reason],
                "sla_seconds": 30,
                "rule_ids": [ERROR_RULE],
                "task_ids": [],
                "whole_turn": True,
            },
        )
        decision = decision or Decision.fail_closed(
            error, stage="outcome", jurisdiction=state.get("jurisdiction") or ""
        )
        policy.update(outcome=_jsonable(decision.as_dict()), human=human, error=policy.get("error") or error)
        handoff = build_handoff(cast(Any, {**state, "policy": policy}))
        return {"reply": HOLDING_REPLY, "handoff": handoff, "policy": policy}

    # ------------------------------------------------------------ actions

    def action_guard(self, ctx: Any, spec: ActionSpec, args: BaseModel) -> tuple[bool, str | None, str]:
        """`DispatchEnv.action_guard`: may this action run now? Fails closed on any error."""
        try:
            memo = self._memo(ctx.turn_id)
            facts = (
                memo.facts if memo else TurnFacts(customer=ctx.customer, jurisdiction=ctx.jurisdiction or "")
            )
            given = args.model_dump(mode="json")
            values = self.resolve_amount(ctx, spec, given)
            if memo is not None and values != given:
                memo.resolved[_action_key(ctx.department.name, spec.name, given)] = values
            verdict = self.engine.check_action(
                facts, ctx.department.name, spec.name, values, money_movement=spec.money_movement
            )
        except Exception as exc:
            log.exception("action guard failed; the action does not run")
            return False, ERROR_RULE, f"policy check failed: {type(exc).__name__}: {exc}"
        if not verdict.allowed:
            log.info(
                "action %s.%s stopped by %s: %s",
                ctx.department.name,
                spec.name,
                verdict.rule_id,
                verdict.message,
            )
        return verdict.allowed, verdict.rule_id, verdict.message

    @staticmethod
    def resolve_amount(ctx: Any, spec: ActionSpec, values: dict[str, Any]) -> dict[str, Any]:
        """Fill in what an action on a transaction moves: no amount means the whole charge, and the
        currency is the transaction's. A cap must see the real amount, never a missing one."""
        tx_id = values.get("transaction_id")
        if not spec.money_movement or not tx_id:
            return values
        from orchestrator.backend.models import Transaction

        tx = ctx.db.get(Transaction, str(tx_id))
        if tx is None:
            return values
        out = dict(values)
        if out.get("amount") is None:
            out["amount"] = float(abs(tx.amount))
        out["currency"] = tx.currency
        return out

    def moves_money(self, department: str, action: str) -> bool:
        dep = self.plugins.departments.get(department)
        spec = next((a for a in getattr(dep, "actions", ()) if a.name == action), None)
        return bool(spec is not None and spec.money_movement)

    # ------------------------------------------------------------ repeat contacts

    def repeat_contacts(self, state: Mapping[str, Any], intents: set[str]) -> int:
        """Earlier consecutive turns about the same issue: the customer's turns across conversations
        (newest first, last 30 days), or this conversation's for an anonymous customer. A turn
        without sub-issues (a greeting) neither counts nor breaks the run."""
        if not intents:
            return 0
        customer_id = (state.get("customer") or {}).get("id")
        if customer_id and self.db is not None:
            # most runs end at the first or second turn: read a few, and the rest only if needed
            earlier = self._customer_turns(customer_id, REPEAT_FIRST_READ)
            count, ended = _consecutive(earlier, intents)
            if ended or len(earlier) < REPEAT_FIRST_READ:
                return count
            earlier = self._customer_turns(customer_id, REPEAT_LOOKBACK)
        else:
            earlier = [h.get("tasks", []) for h in reversed(state.get("history") or [])]
        return _consecutive(earlier, intents)[0]

    def _customer_turns(self, customer_id: str, limit: int) -> list[list[dict[str, Any]]]:
        from orchestrator.records import utcnow

        assert self._reader is not None
        with self._reader.connect() as conn:
            rows = conn.execute(
                _recent_tasks(),
                {"customer_id": customer_id, "since": utcnow() - REPEAT_WINDOW, "limit": limit},
            ).all()
        return [list(r[0] or []) for r in rows]

    # ------------------------------------------------------------ per-turn facts

    def _remember(self, turn_id: str, facts: TurnFacts) -> None:
        with self._turns_lock:
            self._turns[turn_id] = _TurnMemo(facts)
            while len(self._turns) > _FACTS_KEPT:
                self._turns.popitem(last=False)

    def _memo(self, turn_id: str) -> _TurnMemo | None:
        with self._turns_lock:
            return self._turns.get(turn_id)

    def _forget(self, turn_id: str) -> _TurnMemo | None:
        with self._turns_lock:
            return self._turns.pop(turn_id, None)


@dataclass
class _TurnMemo:
    """What the policy node keeps between a turn's plan check, its actions and its outcome check."""

    facts: TurnFacts
    # the arguments the guard checked, with amounts filled in, by (department, action, given args)
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)


def _action_key(department: str, name: str, args: Mapping[str, Any]) -> str:
    return json.dumps([department, name, args], sort_keys=True, default=str)


def _with_amounts(result: DepartmentResult, memo: _TurnMemo | None) -> DepartmentResult:
    """The result with each action's arguments as the guard checked them (amount and currency
    filled in), or, for a refund that ran, as the action reported them."""
    changed = []
    for record in result.actions:
        args = dict(record.args)
        key = _action_key(result.department, record.name, args)
        if memo is not None and key in memo.resolved:
            args = memo.resolved[key]
        elif args.get("amount") is None and record.ok and record.result.get("amount") is not None:
            args.update(amount=record.result["amount"], currency=record.result.get("currency"))
        changed.append(record if args == record.args else record.model_copy(update={"args": args}))
    return result.model_copy(update={"actions": tuple(changed)})


def _handoff_line() -> str:
    return (
        "I'm connecting you with a member of our team now; they can see this conversation, so you "
        "won't need to repeat yourself."
    )


def final_statuses(state: Mapping[str, Any]) -> dict[str, str]:
    """task id -> its final status, including tasks the policy kept from the departments."""
    final = final_results(state.get("results") or [])
    out = {tid: r["status"] for tid, r in final.items()}
    for t in state.get("plan") or []:
        blocked = t.get("blocked")
        if t["id"] not in out and blocked:
            out[t["id"]] = "denied" if blocked.get("kind") == "deny" else "needs_human"
    return out
