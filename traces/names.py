"""Every span, attribute and metric name crossdesk emits, in one place.

The OpenTelemetry GenAI agent conventions are still in development upstream;
when a name changes there, it changes here and nowhere else.
"""

from __future__ import annotations

from typing import Final

SERVICE_NAME: Final = "crossdesk"
INSTRUMENTATION_SCOPE: Final = "crossdesk"

# -- span names -----------------------------------------------------------------
SPAN_TURN: Final = "invoke_workflow"  # root span of one turn
SPAN_PLAN: Final = "plan"
SPAN_TRANSFER_PREFIX: Final = "execute_tool transfer_to_"  # + target name
SPAN_AGENT_PREFIX: Final = "invoke_agent "  # + department name
SPAN_POLICY_PREFIX: Final = "check_policy "  # + stage
SPAN_RETRIEVE: Final = "retrieve"
SPAN_TAKEOVER: Final = "human_takeover"
SPAN_COMPOSE: Final = "compose_reply"

# -- gen_ai.* (OpenTelemetry GenAI semantic conventions) -------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TRANSFER_TARGET_NAME: Final = "gen_ai.transfer.target.name"
GEN_AI_TRANSFER_TARGET_TYPE: Final = "gen_ai.transfer.target.type"
GEN_AI_TRANSFER_SOURCE_NAME: Final = "gen_ai.transfer.source.name"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # content capture only
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # content capture only
# for the LLM-backed departments of a later issue
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # metric attribute: input | output
OP_CHAT: Final = "chat"
SPAN_CHAT_PREFIX: Final = "chat "  # + model name

# -- crossdesk.llm.* (chat spans of the optional LLM path) ------------------------------
LLM_STEP: Final = "crossdesk.llm.step"  # supervisor | departments | composer
LLM_ATTEMPTS: Final = "crossdesk.llm.attempts"
LLM_COST_USD: Final = "crossdesk.llm.cost_usd"

OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_RETRIEVE: Final = "retrieve"

TARGET_AGENT: Final = "agent"
TARGET_HUMAN: Final = "human"
TARGET_WORKFLOW: Final = "workflow"
TARGET_TYPES: Final = (TARGET_AGENT, TARGET_HUMAN, TARGET_WORKFLOW)

# -- crossdesk.turn.* (root span) ----------------------------------------------------
TURN_ID: Final = "crossdesk.turn.id"
TURN_DISPATCHES: Final = "crossdesk.turn.dispatches"  # department runs: first dispatches + reroutes
TURN_REROUTES: Final = "crossdesk.turn.reroutes"
TURN_ESCALATIONS: Final = "crossdesk.turn.escalations"
TURN_CUSTOMER_TRANSFERS: Final = "crossdesk.turn.customer_transfers"
TURN_STATUS: Final = "crossdesk.turn.status"
TURN_FCR: Final = "crossdesk.turn.fcr"
TURN_ISSUES: Final = "crossdesk.turn.issues"  # sub-issues handled this turn
TURN_FCR_ISSUES: Final = "crossdesk.turn.fcr_issues"  # of those, resolved on first contact

TURN_STATUSES: Final = ("resolved", "partial", "needs_human", "out_of_scope", "unclear")

# -- crossdesk.plan.* -----------------------------------------------------------------
PLAN_SUB_ISSUES: Final = "crossdesk.plan.sub_issues"
PLAN_DEPARTMENTS: Final = "crossdesk.plan.departments"  # one entry per sub-issue, in order
PLAN_INTENTS: Final = "crossdesk.plan.intents"
PLAN_CONFIDENCES: Final = "crossdesk.plan.confidences"
PLAN_UNCLEAR: Final = "crossdesk.plan.unclear"
PLAN_OUT_OF_SCOPE: Final = "crossdesk.plan.out_of_scope"
PLAN_WANTS_HUMAN: Final = "crossdesk.plan.wants_human"
PLAN_LANGUAGE: Final = "crossdesk.plan.language"

# -- crossdesk.transfer.* -------------------------------------------------------------
TRANSFER_KIND: Final = "crossdesk.transfer.kind"
TRANSFER_REASON: Final = "crossdesk.transfer.reason"  # a short code, never free text
KIND_DISPATCH: Final = "dispatch"
KIND_REROUTE: Final = "reroute"
KIND_ESCALATION: Final = "escalation"
TRANSFER_KINDS: Final = (KIND_DISPATCH, KIND_REROUTE, KIND_ESCALATION)
SUPERVISOR: Final = "supervisor"  # source name of the supervisor's own dispatches

# -- crossdesk.task.* (agent and transfer spans) ----------------------------------------
TASK_ID: Final = "crossdesk.task.id"
TASK_INTENT: Final = "crossdesk.task.intent"
TASK_STATUS: Final = "crossdesk.task.status"
TASK_CONFIDENCE: Final = "crossdesk.task.confidence"
TASK_ATTEMPT: Final = "crossdesk.task.attempt"
TASK_SUGGEST: Final = "crossdesk.task.suggest"  # with not_mine: who should own it
TASK_ACTIONS: Final = "crossdesk.task.actions"  # action names taken
TASK_ACTIONS_BLOCKED: Final = "crossdesk.task.actions_blocked"
TASK_KNOWLEDGE: Final = "crossdesk.task.knowledge"  # article ids cited
TASK_ERROR: Final = "crossdesk.task.error"  # error type when the department failed

# -- crossdesk.policy.* ---------------------------------------------------------------
POLICY_STAGE: Final = "crossdesk.policy.stage"
POLICY_DECISION: Final = "crossdesk.policy.decision"
POLICY_RULE_IDS: Final = "crossdesk.policy.rule_ids"
POLICY_JURISDICTION: Final = "crossdesk.policy.jurisdiction"
POLICY_ACTION: Final = "crossdesk.policy.action"  # the action name checked, if any

# -- crossdesk.retrieval.* ------------------------------------------------------------
RETRIEVAL_HITS: Final = "crossdesk.retrieval.hits"
RETRIEVAL_ARTICLE_IDS: Final = "crossdesk.retrieval.article_ids"
RETRIEVAL_QUERY: Final = "crossdesk.retrieval.query"  # content capture only

# -- crossdesk.takeover.* -------------------------------------------------------------
TAKEOVER_QUEUE: Final = "crossdesk.takeover.queue"
TAKEOVER_QUEUE_WAIT_MS: Final = "crossdesk.takeover.queue_wait_ms"
TAKEOVER_LATENCY_MS: Final = "crossdesk.takeover.latency_ms"
TAKEOVER_SLA_S: Final = "crossdesk.takeover.sla_s"
TAKEOVER_SLA_BREACHED: Final = "crossdesk.takeover.sla_breached"
TAKEOVER_REASON: Final = "crossdesk.takeover.reason"  # a short code, never free text

# -- crossdesk.compose.* --------------------------------------------------------------
COMPOSE_FRAGMENTS: Final = "crossdesk.compose.fragments"
COMPOSE_CHARS: Final = "crossdesk.compose.chars"

# -- exceptions (OpenTelemetry general conventions) -----------------------------------
ERROR_TYPE: Final = "error.type"

# -- metric instruments -------------------------------------------------------------
METRIC_TRANSFERS_PER_ISSUE: Final = "crossdesk.transfers.per_issue"
METRIC_TURNS: Final = "crossdesk.turns"
METRIC_FCR_ISSUES: Final = "crossdesk.fcr.issues"
METRIC_ESCALATIONS: Final = "crossdesk.escalations"
METRIC_REROUTES: Final = "crossdesk.reroutes"
METRIC_TAKEOVER_LATENCY: Final = "crossdesk.takeover.latency"
METRIC_DEPARTMENT_LATENCY: Final = "crossdesk.department.latency"
METRIC_GEN_AI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_GEN_AI_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_LLM_COST: Final = "crossdesk.llm.cost"
METRIC_LLM_FALLBACKS: Final = "crossdesk.llm.fallbacks"

# metric attribute keys (short, low cardinality)
M_KIND: Final = "kind"
M_STATUS: Final = "status"
M_DEPARTMENT: Final = "department"
M_SLA_BREACHED: Final = "sla_breached"
M_STEP: Final = "step"
M_REASON: Final = "reason"


def transfer_span_name(target: str) -> str:
    return SPAN_TRANSFER_PREFIX + target


def agent_span_name(department: str) -> str:
    return SPAN_AGENT_PREFIX + department


def policy_span_name(stage: str) -> str:
    return SPAN_POLICY_PREFIX + stage
