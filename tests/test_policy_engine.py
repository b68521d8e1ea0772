"""The policy engine: shipped packs and their cases, precedence, the condition language,
malformed packs, and the scenarios issue 3 names (erasure across jurisdictions, a large
refund, a structuring question, an 80-year-old customer)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestrator.nlu.types import Decomposition, Signals
from plugins.contracts import ActionRecord, CustomerView, DepartmentResult, Task
from policies.conditions import ConditionError, Trace, compile_condition
from policies.decision import PRECEDENCE
from policies.engine import SHIPPED_PACKS, PolicyEngine
from policies.facts import ActionFact, TurnFacts, facts_for_outcome, facts_from_dict, facts_from_message
from policies.packtests import run_pack_tests
from policies.schema import PackError

SHIPPED = sorted(p.stem for p in SHIPPED_PACKS.glob("*.yaml"))


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load()


def customer(jurisdiction: str, **extra: Any) -> CustomerView:
    return CustomerView(id="C9", name="Test Person", jurisdiction=jurisdiction, **extra)


def task(intent: str, department: str = "compliance", text: str = "", tid: str = "t1") -> Task:
    return Task(id=tid, text=text, span=(0, len(text)), department=department, intent=intent, confidence=0.9)


def write_pack(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# ---------------------------------------------------------------- shipped packs


def test_all_issue_packs_ship() -> None:
    assert {"global", "eu", "uk", "us", "us-ca", "cn", "sg"} <= set(SHIPPED)


@pytest.mark.parametrize("pack", SHIPPED)
def test_shipped_pack_cases_pass_and_cover_every_rule(engine: PolicyEngine, pack: str) -> None:
    (report,) = run_pack_tests(engine, [pack])
    assert report.error is None
    assert report.cases, f"{pack} ships no cases"
    assert not report.failed, [(c.name, c.problems) for c in report.failed]
    assert report.uncovered == [], f"rules of {pack} without a case: {report.uncovered}"


def test_a_wrong_expectation_fails_its_case(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "demo",
        """\
        pack: demo
        jurisdictions: [EU]
        rules:
          - id: demo.flag
            description: flags complaints
            legal_basis: test
            when: task.intent == "complaint"
            effects: [{record: {flag: complaint_seen}}]
          - id: demo.untested
            description: never named by a case
            legal_basis: test
            when: wants_human
            effects: [allow]
        """,
    )
    (tmp_path / "tests").mkdir()
    write_pack(
        tmp_path / "tests",
        "demo",
        """\
        pack: demo
        cases:
          - name: wrong flag
            facts: {jurisdiction: EU, tasks: [{department: compliance, intent: complaint}]}
            expect: {rules: [demo.flag], flags: [other_flag], effect: deny}
        """,
    )
    engine = PolicyEngine.load([tmp_path], shipped=False)
    (report,) = run_pack_tests(engine)
    assert not report.ok
    problems = report.failed[0].problems
    assert any("flag other_flag not set" in p for p in problems)
    assert any("effect is record, expected deny" in p for p in problems)
    assert report.uncovered == ["demo.untested"]


def test_pack_selection_follows_the_jurisdiction(engine: PolicyEngine) -> None:
    assert engine.packs_for("US-CA") == ("global", "us", "us-ca")
    assert engine.packs_for("us_ca") == ("global", "us", "us-ca")
    assert engine.packs_for("DE") == ("global", "eu")
    assert engine.packs_for("GB") == ("global", "uk")
    assert engine.packs_for("CN") == ("global", "cn")
    assert engine.packs_for("BR") == ("global",)
    assert engine.packs_for("") == ("global",)


# ---------------------------------------------------------------- scenarios from the issue


def test_the_same_erasure_request_is_decided_per_jurisdiction(engine: PolicyEngine) -> None:
    decomposition = Decomposition(text="Please delete all my personal data.", tasks=(task("data_erasure"),))
    eu, cn, ca = (
        engine.check(facts_from_message(decomposition, customer=customer(j))) for j in ("EU", "CN", "US-CA")
    )
    for d in (eu, cn, ca):
        assert d.effect == "require_department"
        assert d.departments == ("compliance",)
        assert d.required_departments[0].task_ids == ("t1",)
    # EU: GDPR one-month deadline recorded
    assert [dl.days for dl in eu.deadlines] == [30]
    assert "eu.gdpr.erasure" in eu.rule_ids
    assert "retain_but_freeze" not in eu.flags
    # CN: retain-but-freeze, no statutory day count
    assert "cn.pipl.erasure_freeze" in cn.rule_ids
    assert "retain_but_freeze" in cn.flags
    assert cn.deadlines == ()
    assert any("frozen" in text for text in cn.disclosures)
    # US-CA: CCPA 45 days and the GLBA exemption
    assert [dl.days for dl in ca.deadlines] == [45]
    assert any("GLBA" in text for text in ca.disclosures)
    assert {"usca.ccpa.deletion"} <= set(ca.rule_ids)


def test_an_erasure_request_routed_elsewhere_still_requires_compliance(engine: PolicyEngine) -> None:
    facts = TurnFacts(customer=customer("EU"), tasks=(task("data_erasure", department="billing"),))
    assert engine.check(facts).departments == ("compliance",)


def test_a_large_refund_is_capped_and_needs_a_person(engine: PolicyEngine) -> None:
    facts = TurnFacts(customer=customer("EU"))
    big = engine.check_action(
        facts, "billing", "refund", {"transaction_id": "TX-1", "amount": "800.00", "currency": "EUR"}
    )
    assert not big.allowed and big.needs_human
    assert big.rule_id == "global.refund.approval_cap"
    assert "800.00 EUR is above the 500 limit" in big.message
    small = engine.check_action(
        facts, "billing", "refund", {"transaction_id": "TX-2", "amount": 80, "currency": "EUR"}
    )
    assert small.allowed
    # an amount the cap cannot see is not waved through
    unknown = engine.check_action(facts, "billing", "refund", {"transaction_id": "TX-3"})
    assert not unknown.allowed and unknown.needs_human

    proposed = facts.with_actions(
        [
            ActionFact(
                department="billing",
                name="refund",
                args={"amount": 800, "currency": "EUR"},
                money_movement=True,
            )
        ]
    )
    d = engine.check(proposed)
    assert d.effect == "require_human"
    assert d.human is not None and d.human.sla_seconds == 30
    assert [(b.name, b.rule_id) for b in d.blocked_actions] == [("refund", "global.refund.approval_cap")]
    assert d.caps[0].max_amount == 500


def test_a_structuring_question_is_refused_everywhere_and_recorded(engine: PolicyEngine) -> None:
    decomposition = Decomposition(
        text="If I send 9,500 twice instead of 19,000 at once it won't get reported, right?",
        tasks=(task("structuring"),),
        signals=Signals(structuring=True),
    )
    for jurisdiction in ("EU", "UK", "US", "US-CA", "CN", "SG"):
        d = engine.check(facts_from_message(decomposition, customer=customer(jurisdiction)))
        assert d.effect == "deny", jurisdiction
        assert {"compliance_review", "recorded_conversation"} <= set(d.flags)
        assert d.deny_message and "reporting" in d.deny_message
        assert d.denied_task_ids == ("t1",)  # the other sub-issues of the message can still be answered
        assert d.retention is not None and d.retention.retention_class == "aml_record"


def test_an_80_year_old_customer_is_offered_a_person_in_the_us_only(engine: PolicyEngine) -> None:
    tasks = (task("refund_request", department="billing"),)
    us = TurnFacts(customer=customer("US", age_band="80+"), tasks=tasks)
    eu = TurnFacts(customer=customer("EU", age_band="80+"), tasks=tasks)
    d_us, d_eu = engine.check(us), engine.check(eu)
    assert "us.elder.offer_human" in d_us.rule_ids and "offer_human" in d_us.flags
    assert any("talk to a person" in t for t in d_us.disclosures)
    assert "offer_human" not in d_eu.flags
    refund = {"transaction_id": "TX-9", "amount": 30, "currency": "USD"}
    v_us = engine.check_action(us, "billing", "refund", refund, money_movement=True)
    assert not v_us.allowed and v_us.needs_human and v_us.rule_id == "us.elder.money_movement"
    assert engine.check_action(eu, "billing", "refund", refund, money_movement=True).allowed


def test_cn_data_never_goes_to_an_external_model(engine: PolicyEngine) -> None:
    cn = TurnFacts(customer=customer("CN"))
    verdict = engine.check_destination(cn, "external:openai")
    assert not verdict.allowed and verdict.rule_id == "cn.pipl.no_external_model"
    assert engine.check_destination(cn, "local").allowed
    d = engine.check(cn.with_destination("external:openai"))
    assert d.destination_denied and not d.turn_denied
    eu = engine.check_destination(TurnFacts(customer=customer("EU")), "external:openai")
    assert eu.allowed and {"card_number", "iban", "email"} <= set(eu.redact)


def test_high_risk_signals_each_bring_a_person_within_30_seconds(engine: PolicyEngine) -> None:
    cases = {
        "global.highrisk.negative_sentiment": TurnFacts(signals=Signals(sentiment=-0.9)),
        "global.highrisk.regulator_threat": TurnFacts(signals=Signals(regulator_threat=True)),
        "global.highrisk.self_harm": TurnFacts(signals=Signals(self_harm=True)),
        "global.highrisk.scam_pressure": TurnFacts(signals=Signals(scam_pressure=True)),
        "global.highrisk.repeat_complaint": TurnFacts(repeat_contacts=2),
        "global.highrisk.asked_for_person": TurnFacts(wants_human=True),
    }
    for rule_id, facts in cases.items():
        d = engine.check(facts)
        assert d.effect == "require_human", rule_id
        assert d.human is not None and d.human.sla_seconds == 30 and rule_id in d.human.rule_ids
        assert d.human.task_ids == ()  # the whole session goes to the person


# ---------------------------------------------------------------- precedence


PRECEDENCE_PACK = """\
pack: prec
jurisdictions: ["*"]
rules:
  - {id: p.deny, description: d, legal_basis: t, when: 'message contains "deny"', effects: [{deny: {message: refused}}]}
  - {id: p.human, description: d, legal_basis: t, when: 'message contains "human"', effects: [{require_human: {reason: r, sla_seconds: 60}}]}
  - {id: p.human_fast, description: d, legal_basis: t, when: 'message contains "fast"', effects: [{require_human: {reason: quick, sla_seconds: 10}}]}
  - {id: p.dept, description: d, legal_basis: t, when: 'message contains "dept"', effects: [{require_department: {department: compliance}}]}
  - {id: p.cap, description: d, legal_basis: t, when: 'message contains "cap"', effects: [{cap_action: {action: refund, max_amount: 100}}]}
  - {id: p.redact, description: d, legal_basis: t, when: 'message contains "redact"', effects: [{redact: {kinds: [email]}}]}
  - {id: p.redact2, description: d, legal_basis: t, when: 'message contains "redact"', effects: [{redact: {kinds: [phone]}}]}
  - {id: p.disclose, description: d, legal_basis: t, when: 'message contains "disclose"', effects: [{disclose: {text: hello}}]}
  - {id: p.retention, description: d, legal_basis: t, when: 'message contains "retention"', effects: [{retention: {class: short, years: 2}}]}
  - {id: p.retention_long, description: d, legal_basis: t, when: 'message contains "retention"', effects: [{retention: {class: long, years: 7}}]}
  - {id: p.record, description: d, legal_basis: t, when: 'message contains "record"', effects: [{record: {flag: seen}}]}
  - {id: p.deadline, description: d, legal_basis: t, when: 'message contains "deadline"', effects: [{deadline: {days: 9}}]}
  - {id: p.allow, description: d, legal_basis: t, when: 'message contains "allow"', effects: [allow]}
"""


def test_precedence_order_decides_the_effect(tmp_path: Path) -> None:
    write_pack(tmp_path, "prec", PRECEDENCE_PACK)
    engine = PolicyEngine.load([tmp_path], shipped=False)
    words = ["deny", "human", "dept", "cap", "redact", "disclose", "retention", "record", "deadline", "allow"]
    refund = ActionFact(department="billing", name="refund", args={"amount": 50})
    for i, word in enumerate(words):
        facts = TurnFacts(message=" ".join(words[i:]), actions=(refund,))
        assert engine.check(facts).effect == PRECEDENCE[i], word
    assert engine.check(TurnFacts(message="nothing here")).effect == "allow"


def test_lower_effects_accumulate_under_a_deny(tmp_path: Path) -> None:
    write_pack(tmp_path, "prec", PRECEDENCE_PACK)
    engine = PolicyEngine.load([tmp_path], shipped=False)
    d = engine.check(
        TurnFacts(message="allow deny human fast dept redact disclose retention record deadline")
    )
    assert d.effect == "deny" and d.turn_denied and d.deny_message == "refused"
    assert d.human is not None and d.human.sla_seconds == 10  # the shortest SLA wins
    assert d.human.reasons == ("r", "quick")
    assert d.redact == ("email", "phone")  # union
    assert d.retention is not None and (d.retention.retention_class, d.retention.years) == ("long", 7)
    assert d.departments == ("compliance",) and d.disclosures == ("hello",) and d.flags == ("seen",)
    assert [dl.days for dl in d.deadlines] == [9]
    assert "p.allow" in d.rule_ids  # allow is listed but overrides nothing


# ---------------------------------------------------------------- condition language


def _eval(cond: Any, facts: TurnFacts) -> tuple[bool, Trace]:
    from policies.engine import _root

    node = compile_condition(cond)
    trace = Trace()
    return node.test(_root(facts), {}, trace), trace


def test_conditions_on_actions_bind_one_action() -> None:
    refund_small = ActionFact(department="billing", name="refund", args={"amount": 100})
    transfer_big = ActionFact(department="billing", name="transfer", args={"amount": 900})
    facts = TurnFacts(actions=(refund_small, transfer_big))
    held, _ = _eval('action.name == "refund" and action.amount > 500', facts)
    assert not held
    held, trace = _eval('action.name == "transfer" and action.amount > 500', facts)
    assert held and trace.actions == [1]
    assert any("action.amount = 900.0" in w for w in trace.why)


def test_amounts_given_as_json_strings_compare_as_numbers() -> None:
    facts = TurnFacts(actions=(ActionFact(department="billing", name="refund", args={"amount": "800.00"}),))
    assert _eval("action.args.amount > 500", facts)[0]
    assert not _eval("action.args.amount > 900", facts)[0]
    assert not _eval("action.name > 5", facts)[0]  # not a number: the comparison fails, no error


def test_any_task_and_not_semantics() -> None:
    facts = TurnFacts(tasks=(task("complaint", tid="t1"), task("data_access", tid="t2")))
    assert _eval('task.intent == "data_access"', facts)[0]
    assert _eval({"not": 'task.intent == "data_erasure"'}, facts)[0]  # no task is an erasure
    assert not _eval('not task.intent == "complaint"', facts)[0]
    held, trace = _eval({"all": ['task.intent == "data_access"', 'task.department == "compliance"']}, facts)
    assert held and trace.tasks == ["t2"]


def test_missing_values_fail_comparisons() -> None:
    anonymous = TurnFacts()
    assert not _eval('customer.age_band in ["80+"]', anonymous)[0]
    assert not _eval("customer.risk_rank >= 1", anonymous)[0]
    assert _eval("customer == null", anonymous)[0]
    assert _eval('customer.age_band != "80+"', anonymous)[0]


def test_fields_compare_with_fields_and_regexes_keep_escapes() -> None:
    facts = TurnFacts(
        customer=customer("EU", risk_profile="low"),
        actions=(ActionFact(department="w", name="recommend_product", args={"risk_level": "high"}),),
        message="ticket 12345",
    )
    assert _eval("action.risk_rank > customer.risk_rank", facts)[0]
    assert _eval(r'message matches "\d{5}"', facts)[0]
    assert not _eval(r'message matches "\d{6}"', facts)[0]


@pytest.mark.parametrize(
    ("cond", "error"),
    [
        ("signals.sentimnet < -0.5", "unknown fact 'signals.sentimnet'"),
        ("customer.age_band in 80", "needs a list"),
        ("task.intent ==", "ends too early"),
        ('task.intent == "a" and', "ends too early"),
        ('signals.sentiment < "low"', "needs a number"),
        ('"a" == "b"', "compares two literals"),
        ('message matches "("', "not a valid regular expression"),
        ({"every": ["wants_human"]}, "unknown key 'every'"),
        ("wants_human.x", "has no sub-fields"),
    ],
)
def test_bad_conditions_say_what_is_wrong(cond: Any, error: str) -> None:
    with pytest.raises(ConditionError, match=error.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(cond)


# ---------------------------------------------------------------- malformed packs


GOOD_RULE = """\
  - id: acme.rule
    description: a rule
    legal_basis: test
    when: wants_human
    effects:
      - require_human: {reason: asked}
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n    legal_basis: t\n"
            "    effects:\n      - require_human: {sla_seconds: 30}\n",
            "rule acme.bad: field effects[0].require_human.reason: Field required",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n    legal_basis: t\n"
            "    effects: [{escalate: {to: boss}}]\n",
            "rule acme.bad: field effects: Value error, unknown effect 'escalate'",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n    legal_basis: t\n"
            "    when: signals.sentimnet < -0.5\n    effects: [allow]\n",
            "rule acme.bad: field when: unknown fact 'signals.sentimnet'",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n    legal_basis: t\n"
            "    effects: [{redact: {kinds: [passport]}}]\n",
            "rule acme.bad: field effects[0].redact.kinds: Value error, unknown personal-data kind",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n"
            "    effects: [allow]\n",
            "rule acme.bad: field legal_basis: Field required",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n  - id: acme.bad\n    description: d\n    legal_basis: t\n"
            "    effects:\n      - require_human: {reason: r, sla_seconds: -5}\n",
            "rule acme.bad: field effects[0].require_human.sla_seconds: Input should be greater than 0",
        ),
        (
            "pack: acme\njurisdictions: [EU]\nrules:\n" + GOOD_RULE + GOOD_RULE,
            "rule acme.rule: field id: the id is used twice",
        ),
        ("pack: acme\nrules:\n" + GOOD_RULE, "field jurisdictions: Field required"),
        ("pack: acme\njurisdictions: [EU]\nrules:\n  - id: [oops\n", "line 5 not valid YAML"),
    ],
)
def test_a_malformed_pack_names_file_rule_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(PackError) as err:
        PolicyEngine.load([path])
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


def test_a_rule_id_used_by_two_packs_is_refused(tmp_path: Path) -> None:
    write_pack(tmp_path, "a", "pack: a\njurisdictions: [EU]\nrules:\n" + GOOD_RULE)
    write_pack(tmp_path, "b", "pack: b\njurisdictions: [UK]\nrules:\n" + GOOD_RULE)
    with pytest.raises(PackError, match=r"b\.yaml: rule acme\.rule: field id: already used in .*a\.yaml"):
        PolicyEngine.load([tmp_path], shipped=False)


def test_a_pack_that_cannot_load_fails_closed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: bad\njurisdictions: [EU]\nrules: []\n", encoding="utf-8")
    engine = PolicyEngine.load_or_fail_closed([bad])
    assert engine.load_error and "bad.yaml" in engine.load_error
    d = engine.check(TurnFacts(customer=customer("EU")))
    assert d.effect == "require_human" and d.error and d.human is not None
    assert "policy check failed" in d.human.reason
    v = engine.check_action(TurnFacts(), "billing", "refund", {"amount": 1})
    assert not v.allowed and v.rule_id == "policy.error"


def test_safe_check_fails_closed_on_an_internal_error(
    engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(jurisdiction: str) -> Any:
        raise RuntimeError("index corrupted")

    monkeypatch.setattr(engine, "_select", broken)
    d = engine.safe_check(TurnFacts(customer=customer("EU")))
    assert d.effect == "require_human" and d.error == "RuntimeError: index corrupted"


# ---------------------------------------------------------------- plugin packs and facts


def test_a_plugin_ships_a_pack_through_the_hook(tmp_path: Path) -> None:
    from orchestrator.config import load_settings
    from plugins import hookspecs
    from plugins.manager import load_plugins

    folder = tmp_path / "acme_packs"
    folder.mkdir()
    write_pack(
        folder,
        "acme-eu",
        """\
        pack: acme-eu
        jurisdictions: [EU]
        rules:
          - id: acme.crypto.cooling_off
            description: crypto purchases carry a cooling-off notice
            legal_basis: MiCA Art. 13
            when: action.name == "buy_crypto"
            effects:
              - disclose: {text: "You can withdraw within 14 days."}
        """,
    )

    class AcmePlugin:
        @hookspecs.hookimpl
        def crossdesk_policy_paths(self) -> list[Path]:
            return [folder]

    plugin_set = load_plugins(extra=[("acme", AcmePlugin())])
    engine = PolicyEngine.from_settings(load_settings(), plugin_paths=plugin_set.policy_paths())
    assert "acme-eu" in engine.packs_for("EU")
    facts = TurnFacts(customer=customer("EU"), actions=(ActionFact(department="crypto", name="buy_crypto"),))
    assert "You can withdraw within 14 days." in engine.check(facts).disclosures
    assert "acme-eu" not in engine.packs_for("US")


def test_facts_from_message_and_outcome() -> None:
    decomposition = Decomposition(
        text="refund my double charge and delete my data",
        tasks=(task("double_charge", department="billing"),),
        unclear=(task("data_erasure", tid="t2"),),
        wants_human=True,
        signals=Signals(sentiment=-0.2),
    )
    plan = facts_from_message(decomposition, customer=customer("us_ca"), repeat_contacts=1)
    assert plan.jurisdiction == "US-CA" and plan.stage == "plan"
    assert [t.intent for t in plan.tasks] == ["double_charge", "data_erasure"]  # unclear ones count too
    assert plan.wants_human and plan.repeat_contacts == 1
    result = DepartmentResult(
        department="billing",
        task_id="t1",
        status="resolved",
        actions=(ActionRecord(name="refund", args={"amount": "12.50", "currency": "USD"}, ok=True),),
    )
    outcome = facts_for_outcome(plan, [result], "Refunded to card 4242 4242 4242 4242.")
    assert outcome.stage == "outcome" and outcome.reply_pii == frozenset({"card_number"})
    (action,) = outcome.actions
    assert action.taken and action.money_movement and action.amount == 12.5 and action.currency == "USD"
    with pytest.raises(ValueError, match="external:<provider>"):
        TurnFacts(data_destination="openai")


def test_facts_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="sentimnet"):
        facts_from_dict({"signals": {"sentimnet": -1}})
