"""crossdesk against a langgraph-supervisor setup, side by side in one run, on the same chat model.

The same multi-department customer issues of the demo fintech go through:

    crossdesk        the Orchestrator with a chat model for every step ([llm] model): one
                     structured-output call splits the message, the departments run in
                     parallel with their actions as tools, one call composes the reply;
    supervisor       langgraph-supervisor (`create_supervisor`) over three `create_react_agent`
                     agents (billing, compliance, technical) with the same actions as tools and
                     the same account facts and articles in their prompts; the default sequential
                     handoffs, and `parallel_tool_calls=True` as a second baseline;
    embedded         crossdesk with no model at all, for reference.

Every system gets its own copy of the same seeded database and talks to one scripted chat
model (orchestrator.llm.testing) that answers like a model that knows the right answer: it
splits each message into its ground-truth sub-issues, calls the right actions with the right
ids, answers, and has the supervisor hand off to each department once. Every call waits a
fixed simulated latency (--latency-ms) and is counted with its tokens (words in, words out,
tool definitions included). A department that acts either reads the action's result before
it answers (two rounds, like a ReAct agent) or, where the protocol allows, calls the action
and its finishing tool in the same answer (`--department-rounds 1`, crossdesk only: its
runner replaces the draft when an action is refused or fails). Resolution: every expected
action ran and every sub-issue's answer reached the customer.

    .venv/bin/pip install 'langgraph-supervisor==0.0.31'    # in the dev extra
    .venv/bin/python bench/bench_supervisor.py [--latency-ms 50] [--rounds 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "openai:bench-scripted"
DEPARTMENTS = ("billing", "compliance", "technical")


@dataclass(frozen=True)
class Part:
    """One sub-issue: the customer's words, who owns it, what must be done and said."""

    quote: str
    department: str
    intent: str
    reply: str
    actions: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class Issue:
    customer: str
    message: str
    parts: tuple[Part, ...]


# written for this bench on the demo fintech (docs/demo-data.md); mainland-China customers are left
# out because their data may not go to an external model, so crossdesk would make no call at all
ISSUES: tuple[Issue, ...] = (
    Issue(
        "C1001",
        "StreamFlix charged me twice this month, the app won't let me log in since yesterday, "
        "and please delete my personal data.",
        (
            Part(
                "StreamFlix charged me twice this month",
                "billing",
                "double_charge",
                "I refunded the second StreamFlix charge.",
                (("refund", {"transaction_id": "TX-1001-SUBB", "reason": "charged twice"}),),
            ),
            Part(
                "the app won't let me log in since yesterday",
                "technical",
                "login_problem",
                "I sent you a link to reset your password.",
                (("issue_password_reset", {}),),
            ),
            Part(
                "please delete my personal data",
                "compliance",
                "data_erasure",
                "I registered your erasure request.",
                (("open_erasure_request", {}),),
            ),
        ),
    ),
    Issue(
        "C1009",
        "Why did I pay a 2.5% FX fee on my Paris hotel when my plan says 0.5%? "
        "Also the app crashes when I open my statements.",
        (
            Part(
                "Why did I pay a 2.5% FX fee on my Paris hotel when my plan says 0.5%?",
                "billing",
                "fx_fee_dispute",
                "I refunded the difference between the two fees.",
                (
                    (
                        "refund",
                        {"transaction_id": "TX-1009-FXFEE", "reason": "markup above plan", "amount": 18.7},
                    ),
                ),
            ),
            Part(
                "the app crashes when I open my statements",
                "technical",
                "app_error",
                "I reported the crash to our app team.",
                (("open_ticket", {"kind": "app_bug", "summary": "crash when opening statements"}),),
            ),
        ),
    ),
    Issue(
        "C1011",
        "I cancelled FitTrack Pro over a month ago and you still charged me. "
        "I want to file a formal complaint about this.",
        (
            Part(
                "I cancelled FitTrack Pro over a month ago and you still charged me.",
                "billing",
                "subscription",
                "I refunded the FitTrack Pro charge made after you cancelled.",
                (("refund", {"transaction_id": "TX-1011-AFTER", "reason": "charged after cancelling"}),),
            ),
            Part(
                "I want to file a formal complaint about this.",
                "compliance",
                "complaint",
                "I logged your formal complaint.",
                (("open_case", {"kind": "complaint", "summary": "charged after cancelling FitTrack Pro"}),),
            ),
        ),
    ),
    Issue(
        "C1013",
        "My PIN got blocked after three wrong tries, and I'd like a copy of all the personal data "
        "you hold about me.",
        (
            Part(
                "My PIN got blocked after three wrong tries",
                "technical",
                "pin_issue",
                "I unblocked your PIN.",
                (("unblock_pin", {"card_id": "CD-1013-1"}),),
            ),
            Part(
                "I'd like a copy of all the personal data you hold about me",
                "compliance",
                "data_access",
                "I registered your request for a copy of your data.",
                (("open_data_access_request", {}),),
            ),
        ),
    ),
    Issue(
        "C1008",
        "I'm locked out after too many wrong passwords and my SMS codes never arrive. "
        "Also what is your fee for international transfers?",
        (
            Part(
                "I'm locked out after too many wrong passwords",
                "technical",
                "password_reset",
                "I sent you a password reset link.",
                (("issue_password_reset", {}),),
            ),
            Part(
                "my SMS codes never arrive",
                "technical",
                "two_factor",
                "I sent you a link to set up two-factor authentication again.",
                (("reset_two_factor", {}),),
            ),
            Part(
                "what is your fee for international transfers?",
                "billing",
                "unexpected_fee",
                "International transfers cost what the fee table in the app shows.",
            ),
        ),
    ),
    Issue(
        "C1012",
        "There is a payment of 289.90 at QuickShop Online that I never made, please block my card. "
        "And how do I get a virtual card until the new one arrives?",
        (
            Part(
                "There is a payment of 289.90 at QuickShop Online that I never made, please block my card.",
                "compliance",
                "unrecognised_transaction",
                "I blocked your card, ordered a new one and opened a fraud case.",
                (
                    ("block_card", {"card_id": "CD-1012-1", "reason": "fraud_claim", "replace": True}),
                    (
                        "open_fraud_case",
                        {"transaction_id": "TX-1012-UNREC", "summary": "payment not made by me"},
                    ),
                ),
            ),
            Part(
                "how do I get a virtual card until the new one arrives?",
                "technical",
                "virtual_card",
                "I created a virtual card you can use right away.",
                (("order_card", {"kind": "virtual"}),),
            ),
        ),
    ),
    Issue(
        "C1002",
        "Please cancel my pending transfer to Harbour Lettings, and close my account once the money is back.",
        (
            Part(
                "Please cancel my pending transfer to Harbour Lettings",
                "billing",
                "cancel_transfer",
                "I cancelled the transfer to Harbour Lettings.",
                (("cancel_transfer", {"transaction_id": "TX-1002-PEND"}),),
            ),
            Part(
                "close my account once the money is back.",
                "compliance",
                "account_closure",
                "I started closing your account.",
                (("open_case", {"kind": "account_closure", "summary": "close after the transfer returns"}),),
            ),
        ),
    ),
    Issue(
        "C1023",
        "Cancel my MusicHub subscription, tell me how to activate a new card, and I want to update my home address.",
        (
            Part(
                "Cancel my MusicHub subscription",
                "billing",
                "subscription",
                "I cancelled MusicHub.",
                (("cancel_subscription", {"subscription_id": "SUB-1023-5"}),),
            ),
            Part(
                "tell me how to activate a new card",
                "technical",
                "card_activation",
                "You activate a new card in the app under Cards.",
            ),
            Part(
                "I want to update my home address.",
                "compliance",
                "edit_personal_details",
                "I opened a request to change your address.",
                (("open_case", {"kind": "details_change", "summary": "new home address"}),),
            ),
        ),
    ),
    Issue(
        "C1019",
        "My top-up by bank transfer hasn't arrived after two days, Apple Pay won't add my card, "
        "and I want to close my account.",
        (
            Part(
                "My top-up by bank transfer hasn't arrived after two days",
                "billing",
                "top_up_issue",
                "I asked for your top-up to be traced.",
                (("open_case", {"kind": "top_up_trace", "summary": "bank transfer top-up missing"}),),
            ),
            Part(
                "Apple Pay won't add my card",
                "technical",
                "mobile_wallet",
                "Add the card from the app under Cards, then confirm the code we send.",
            ),
            Part(
                "I want to close my account.",
                "compliance",
                "account_closure",
                "I started closing your account.",
                (("open_case", {"kind": "account_closure", "summary": "customer asked to close"}),),
            ),
        ),
    ),
    Issue(
        "C1004",
        "What is this 25 dollar fee? Please waive it. Also I can't log in on my new phone.",
        (
            Part(
                "What is this 25 dollar fee? Please waive it.",
                "billing",
                "unexpected_fee",
                "I asked for the overdraft fee to be reviewed.",
                (
                    (
                        "open_case",
                        {
                            "kind": "fee_review",
                            "summary": "waive overdraft fee",
                            "transaction_id": "TX-1004-ODFEE",
                        },
                    ),
                ),
            ),
            Part(
                "I can't log in on my new phone.",
                "technical",
                "login_problem",
                "I sent you a link to reset your password.",
                (("issue_password_reset", {}),),
            ),
        ),
    ),
    Issue(
        "C1017",
        "The app crashes every time I open the cards tab, and what exchange rate do you use for dollars to euros?",
        (
            Part(
                "The app crashes every time I open the cards tab",
                "technical",
                "app_error",
                "I reported the crash to our app team.",
                (("open_ticket", {"kind": "app_bug", "summary": "crash on the cards tab"}),),
            ),
            Part(
                "what exchange rate do you use for dollars to euros?",
                "billing",
                "exchange_rate",
                "We convert at the mid-market rate plus your plan's markup.",
            ),
        ),
    ),
    Issue(
        "C1015",
        "I was charged a monthly fee I didn't expect, please send me a copy of my data, "
        "and my card was declined at the supermarket.",
        (
            Part(
                "I was charged a monthly fee I didn't expect",
                "billing",
                "unexpected_fee",
                "That is your monthly plan fee.",
            ),
            Part(
                "please send me a copy of my data",
                "compliance",
                "data_access",
                "I registered your request for a copy of your data.",
                (("open_data_access_request", {}),),
            ),
            Part(
                "my card was declined at the supermarket.",
                "technical",
                "card_not_working",
                "Your card is active and nothing blocks it on our side.",
            ),
        ),
    ),
)

# ---------------------------------------------------------------- the scripted model


def _counting_model(latency_s: float, handler: Any) -> Any:
    """A ScriptedChatModel that waits `latency_s` per call and counts calls and tokens."""
    from pydantic import PrivateAttr

    from orchestrator.llm.testing import ScriptedChatModel

    class CountingModel(ScriptedChatModel):
        _counts: dict[str, int] = PrivateAttr(default_factory=lambda: {"calls": 0, "input": 0, "output": 0})
        _count_lock: Any = PrivateAttr(default_factory=threading.Lock)

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            result = super()._generate(messages, stop, run_manager, **kwargs)
            usage = getattr(result.generations[0].message, "usage_metadata", None) or {}
            with self._count_lock:
                self._counts["calls"] += 1
                self._counts["input"] += int(usage.get("input_tokens", 0))
                self._counts["output"] += int(usage.get("output_tokens", 0))
            return result

        def counts(self) -> dict[str, int]:
            with self._count_lock:
                return dict(self._counts)

    return CountingModel(handler=handler, sleep_s=latency_s)


_ARTICLE = re.compile(r"\[([A-Z][A-Z0-9]*-[A-Z0-9-]+)\]")


class Oracle:
    """Answers every kind of request both systems send, from the issues' ground truth."""

    def __init__(self, issues: tuple[Issue, ...], *, department_rounds: int, parallel_handoffs: bool) -> None:
        self.issues = issues
        self.department_rounds = department_rounds
        self.parallel_handoffs = parallel_handoffs

    def issue_of(self, text: str) -> Issue:
        return next(i for i in self.issues if i.message in text or all(p.quote in text for p in i.parts))

    @staticmethod
    def cite(reply: str, text: str) -> tuple[str, list[str]]:
        found = _ARTICLE.findall(text)
        return (f"{reply} [{found[0]}]", found[:1]) if found else (reply, [])

    def __call__(self, request: Any) -> Any:
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        from orchestrator.llm.testing import final_reply, tool_call

        names = request.tool_names
        if request.structured:  # crossdesk's supervisor: the sub-issues as structured output
            issue = self.issue_of(request.human)
            return {
                "sub_issues": [
                    {"text": p.quote, "department": p.department, "intent": p.intent, "confidence": 0.95}
                    for p in issue.parts
                ]
            }
        if any(n.startswith("transfer_to_") for n in names):  # langgraph-supervisor's supervisor
            first = next(m for m in request.messages if isinstance(m, HumanMessage))
            issue = self.issue_of(str(first.content))
            # a department is done once its agent answered (parallel handoffs rewrite the handoff message)
            answered = {
                m.name
                for m in request.messages
                if isinstance(m, AIMessage) and not m.tool_calls and m.content
            }
            order = list(dict.fromkeys(p.department for p in issue.parts))
            left = [d for d in order if d not in answered]
            if left:
                targets = left if self.parallel_handoffs else left[:1]
                return AIMessage(
                    content="",
                    tool_calls=[
                        {"name": f"transfer_to_{d}", "args": {}, "id": f"call_{d}_{time.monotonic_ns()}"}
                        for d in targets
                    ],
                )
            answers = [
                str(m.content)
                for m in request.messages
                if isinstance(m, AIMessage) and m.name in DEPARTMENTS and not m.tool_calls and m.content
            ]
            return "\n\n".join(answers)
        match = re.search(r"You are the (\w+) department", request.system)
        if match is None:  # crossdesk's composer: keep the draft
            return request.human
        dep = match.group(1)
        if "reply_to_customer" in names:  # a crossdesk department run: one sub-issue
            part = next(p for p in self.issue_of_part(request.human) if p.department == dep)
            reply, ids = self.cite(part.reply, request.human)
            acted = any(isinstance(m, ToolMessage) for m in request.messages)
            calls = [tool_call(n, **a) for n, a in part.actions] if not acted else []
            if calls and self.department_rounds == 2:
                return AIMessage(content="", tool_calls=[c.tool_calls[0] for c in calls])
            finish = final_reply("resolved", reply, article_ids=ids)
            return AIMessage(content="", tool_calls=[*(c.tool_calls[0] for c in calls), finish.tool_calls[0]])
        # a langgraph-supervisor agent: every sub-issue of its department, actions first
        first = next(m for m in request.messages if isinstance(m, HumanMessage))
        issue = self.issue_of(str(first.content))
        parts = [p for p in issue.parts if p.department == dep]
        done = {m.name for m in request.messages if isinstance(m, ToolMessage)}
        pending = [tool_call(n, **a).tool_calls[0] for p in parts for n, a in p.actions if n not in done]
        if pending:
            return AIMessage(content="", tool_calls=pending)
        return " ".join(self.cite(p.reply, request.system)[0] for p in parts)

    def issue_of_part(self, text: str) -> tuple[Part, ...]:
        for issue in self.issues:
            parts = tuple(p for p in issue.parts if p.quote in text)
            if parts:
                return parts
        raise LookupError("no sub-issue of the bench matches the request")


# ---------------------------------------------------------------- databases


def build_template(root: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_turns  # the seeded database and router of the turn-latency bench

    return bench_turns.build_template(root)


def fresh_home(template: Path, root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    shutil.copy(template / "crossdesk.db", home / "crossdesk.db")
    (home / "router").symlink_to(template / "router", target_is_directory=True)
    return home


def three_departments() -> Any:
    from plugins.manager import load_plugins

    plugins = load_plugins()
    extra = tuple(n for n in plugins.departments if n not in DEPARTMENTS)
    return load_plugins(disabled=tuple(plugins.origin[n].name for n in extra)) if extra else plugins


# ---------------------------------------------------------------- the systems


@dataclass
class Run:
    system: str
    wall_ms: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    tokens_in: list[int] = field(default_factory=list)
    tokens_out: list[int] = field(default_factory=list)
    resolved: list[bool] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def add(self, ms: float, before: dict[str, int], after: dict[str, int], ok: bool, why: str) -> None:
        self.wall_ms.append(ms)
        self.calls.append(after["calls"] - before["calls"])
        self.tokens_in.append(after["input"] - before["input"])
        self.tokens_out.append(after["output"] - before["output"])
        self.resolved.append(ok)
        if not ok:
            self.misses.append(why)

    def summary(self) -> dict[str, Any]:
        n = len(self.wall_ms)
        return {
            "issues": n,
            "wall_ms_mean": round(statistics.fmean(self.wall_ms), 1),
            "wall_ms_p50": round(statistics.median(self.wall_ms), 1),
            "llm_calls_per_issue": round(sum(self.calls) / n, 2),
            "tokens_per_issue": round((sum(self.tokens_in) + sum(self.tokens_out)) / n, 1),
            "input_tokens_per_issue": round(sum(self.tokens_in) / n, 1),
            "output_tokens_per_issue": round(sum(self.tokens_out) / n, 1),
            "resolution": round(sum(self.resolved) / n, 4),
            "misses": self.misses,
        }


def _judge(issue: Issue, reply: str, done: list[tuple[str, bool]]) -> tuple[bool, str]:
    ok_actions = [n for n, ok in done if ok]
    missing = [n for p in issue.parts for n, _ in p.actions if n not in ok_actions]
    unsaid = [p.reply for p in issue.parts if p.reply not in reply]
    if missing or unsaid:
        return False, f"{issue.customer}: actions not done {missing}, answers missing {unsaid}"
    return True, ""


def run_crossdesk(template: Path, root: Path, issues: tuple[Issue, ...], model: Any, name: str) -> Run:
    from orchestrator.config import Settings
    from orchestrator.runtime import Orchestrator

    home = fresh_home(template, root, name)
    extra: dict[str, Any] = {"telemetry": {"exporters": ["none"]}}
    if model is not None:
        extra["llm"] = {"model": MODEL}
    orch = Orchestrator(
        Settings(home=home, extra=extra),
        plugins=three_departments(),
        llm_models={MODEL: model} if model is not None else None,
    )
    run = Run(name)
    zero = {"calls": 0, "input": 0, "output": 0}
    try:
        for issue in issues:
            before = model.counts() if model is not None else zero
            t0 = time.perf_counter()
            out = orch.ask(issue.message, customer_id=issue.customer)
            ms = (time.perf_counter() - t0) * 1000
            after = model.counts() if model is not None else zero
            done = [(a["name"], bool(a["ok"])) for t in out.record["tasks"] for a in t["actions"]]
            if model is None:  # the embedded departments write their own answers: judge the actions only
                ok = all(n in {d for d, k in done if k} for p in issue.parts for n, _ in p.actions)
                why = "" if ok else f"{issue.customer}: actions {done}"
            else:
                ok, why = _judge(issue, out.reply, done)
            run.add(ms, before, after, ok, why)
    finally:
        orch.close()
    return run


def _baseline_graph(
    engine: Any,
    plugins: Any,
    knowledge: Any,
    issue: Any,
    model: Any,
    parallel: bool,
    log: list[tuple[str, bool]],
) -> Any:
    """langgraph-supervisor over three ReAct agents whose tools are the departments' actions."""
    from langchain_core.messages import SystemMessage
    from langchain_core.tools import StructuredTool
    from langgraph.prebuilt import create_react_agent
    from langgraph_supervisor import create_supervisor
    from sqlmodel import Session

    from orchestrator.backend.queries import customer_view, get_customer
    from orchestrator.dispatch import DispatchEnv, RunContext
    from orchestrator.knowledge.notes import Notes
    from orchestrator.llm.agent import account_facts

    env = DispatchEnv(engine=engine, plugins=plugins, knowledge=knowledge)
    with Session(engine) as s:
        row = get_customer(s, issue.customer)
        assert row is not None, f"{issue.customer} is not in the demo data"
        customer = customer_view(row)

    def context(session: Any, dep: Any) -> RunContext:
        notes = Notes(session, conversation_id="bench", department=dep.name, customer_id=customer.id)
        return RunContext(
            env=env,
            department=dep,
            conversation_id="bench",
            turn_id="bench",
            customer=customer,
            jurisdiction=customer.jurisdiction,
            history=(),
            db=session,
            notes=notes,
        )

    def tool_for(dep: Any, spec: Any) -> Any:
        def run(**kwargs: Any) -> str:
            with Session(engine) as session:
                record = context(session, dep).act(spec.name, **kwargs)
                session.commit()
            log.append((spec.name, record.ok))
            body = (
                {"ok": record.ok, "result": record.result}
                if record.ok
                else {"ok": False, "error": record.message}
            )
            return json.dumps(body, default=str)

        return StructuredTool.from_function(
            run, name=spec.name, description=spec.description, args_schema=spec.args
        )

    def prompt_for(dep: Any) -> Any:
        def prompt(state: Any) -> list[Any]:
            with Session(engine) as session:
                facts = account_facts(context(session, dep))
            hits = knowledge.search(issue.message, department=dep.name, k=3)
            text = "\n".join(
                [
                    f"You are the {dep.name} department of a regulated payments company's customer service: "
                    f"{dep.description}. Handle only the parts of the customer's message that are yours; call "
                    "an action when the account facts support it, then answer briefly, citing articles as [ID].",
                    "Account facts:",
                    *(f"- {f}" for f in facts),
                    "Articles:",
                    *(f"- [{h.id}] {h.title}: {h.snippet}" for h in hits),
                ]
            )
            return [SystemMessage(text), *state["messages"]]

        return prompt

    agents: list[Any] = []
    for name in DEPARTMENTS:
        dep = plugins.departments[name]
        tools = [tool_for(dep, spec) for spec in dep.actions]
        agents.append(create_react_agent(model, tools, prompt=prompt_for(dep), name=name))
    supervisor = create_supervisor(
        agents,
        model=model,
        prompt="You are the supervisor of a payments company's customer service. Hand each part of the "
        "customer's message to the department that owns it (billing, compliance, technical), one after "
        "another, then write the final reply from their answers.",
        parallel_tool_calls=parallel,
        output_mode="last_message",
    )
    return supervisor.compile()


def run_baseline(
    template: Path, root: Path, issues: tuple[Issue, ...], model: Any, name: str, parallel: bool
) -> Run:
    from langchain_core.messages import HumanMessage

    from orchestrator.db import make_engine
    from orchestrator.knowledge.store import KnowledgeStore

    home = fresh_home(template, root, name)
    engine = make_engine(f"sqlite:///{home / 'crossdesk.db'}")
    plugins = three_departments()
    knowledge = KnowledgeStore(engine)
    run = Run(name)
    try:
        for issue in issues:
            log: list[tuple[str, bool]] = []
            graph = _baseline_graph(engine, plugins, knowledge, issue, model, parallel, log)  # not timed
            before = model.counts()
            t0 = time.perf_counter()
            state = graph.invoke({"messages": [HumanMessage(issue.message)]}, {"recursion_limit": 60})
            ms = (time.perf_counter() - t0) * 1000
            reply = str(state["messages"][-1].content)
            ok, why = _judge(issue, reply, log)
            run.add(ms, before, model.counts(), ok, why)
    finally:
        engine.dispose()
    return run


# ---------------------------------------------------------------- report


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="simulated latency of every model call"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="passes over the issues, each on fresh databases"
    )
    parser.add_argument("--issues", type=int, default=len(ISSUES), help="use the first N issues")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    issues = ISSUES[: max(1, args.issues)]
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")  # create_react_agent's deprecation notice, once per agent
    for name in [n for n in os.environ if n.startswith(("OTEL_", "CROSSDESK_LLM", "OPENAI_"))]:
        del os.environ[name]
    os.environ.pop("CROSSDESK_DB_URL", None)
    latency = args.latency_ms / 1000

    systems = {
        "crossdesk (departments: act, read, answer)": ("crossdesk", 2, False),
        "crossdesk (departments: act and answer at once)": ("crossdesk", 1, False),
        "langgraph-supervisor (sequential handoffs, default)": ("baseline", 2, False),
        "langgraph-supervisor (parallel handoffs)": ("baseline", 2, True),
        "crossdesk embedded (no model)": ("embedded", 0, False),
    }
    runs: dict[str, Run] = {}
    root = Path(tempfile.mkdtemp(prefix="crossdesk-bench-supervisor-"))
    try:
        t0 = time.perf_counter()
        template = build_template(root)
        setup_s = time.perf_counter() - t0
        # warm-up, unmeasured: imports, the router, compiled graphs
        warm = _counting_model(0.0, Oracle(ISSUES, department_rounds=2, parallel_handoffs=False))
        run_crossdesk(template, root, issues[:1], warm, "warm-crossdesk")
        run_baseline(template, root, issues[:1], warm, "warm-baseline", False)
        for r in range(args.rounds):
            for label, (kind, rounds, parallel) in systems.items():
                oracle = Oracle(ISSUES, department_rounds=rounds or 2, parallel_handoffs=parallel)
                model = _counting_model(latency, oracle)
                name = f"{kind}-{rounds}-{int(parallel)}-{r}"
                if kind == "baseline":
                    run = run_baseline(template, root, issues, model, name, parallel)
                else:
                    run = run_crossdesk(template, root, issues, None if kind == "embedded" else model, name)
                prev = runs.setdefault(label, Run(label))
                for attr in ("wall_ms", "calls", "tokens_in", "tokens_out", "resolved", "misses"):
                    getattr(prev, attr).extend(getattr(run, attr))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    summaries = {label: run.summary() for label, run in runs.items()}
    base = summaries["langgraph-supervisor (sequential handoffs, default)"]
    for s in summaries.values():
        s["vs_baseline"] = {
            "wall_time": _ratio(s["wall_ms_mean"], base["wall_ms_mean"]),
            "llm_calls": _ratio(s["llm_calls_per_issue"], base["llm_calls_per_issue"]),
            "tokens": _ratio(s["tokens_per_issue"], base["tokens_per_issue"]),
        }
    report = {
        "command": "python bench/bench_supervisor.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "latency_ms_per_call": args.latency_ms,
        "issues": len(issues),
        "sub_issues": sum(len(i.parts) for i in issues),
        "rounds": args.rounds,
        "setup_s": round(setup_s, 1),
        "systems": summaries,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"{len(issues)} issues ({report['sub_issues']} sub-issues) x {args.rounds} round(s), "
        f"{args.latency_ms:g} ms per model call, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{'system':<52} {'wall ms':>8} {'calls':>6} {'tokens':>7} {'resolved':>8}"
        f"   vs supervisor: wall / calls / tokens"
    )
    for label, s in summaries.items():
        v = s["vs_baseline"]
        print(
            f"{label:<52} {s['wall_ms_mean']:>8.1f} {s['llm_calls_per_issue']:>6.2f} {s['tokens_per_issue']:>7.0f} "
            f"{100 * s['resolution']:>7.0f}%   {v['wall_time']} / {v['llm_calls']} / {v['tokens']}"
        )
        for miss in s["misses"][:3]:
            print(f"    not resolved: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
