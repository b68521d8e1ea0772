"""The console's read model: plain functions that query the database and return frozen dataclasses.

No Textual here. Pass the read-only engine (`orchestrator.db.reader`): every
read goes through `read_rows` or the trace store on it, so the console never
takes SQLite's write lock and never waits for a turn that is being written.
"""

from tui.data.conversation import (
    ActionView,
    ConversationDetail,
    HandOver,
    MessageView,
    NoteView,
    PolicyView,
    RuleView,
    TaskView,
    TurnView,
    conversation_detail,
)
from tui.data.departments import DepartmentsView, DepartmentView, IntentView, PluginProblem, departments
from tui.data.knowledge import ArticleHitView, ArticleView, get_article, search_articles
from tui.data.metrics import DepartmentLatency, MetricsView, Series, metrics
from tui.data.queue import (
    QUEUE_LIMIT,
    SORTS,
    QueueRow,
    attention_rank,
    filter_rows,
    list_conversations,
    sort_rows,
)
from tui.data.tables import utcnow
from tui.data.traces import SpanBar, TraceTurn, Waterfall, list_traces, trace_waterfall

__all__ = [
    "QUEUE_LIMIT",
    "SORTS",
    "ActionView",
    "ArticleHitView",
    "ArticleView",
    "ConversationDetail",
    "DepartmentLatency",
    "DepartmentView",
    "DepartmentsView",
    "HandOver",
    "IntentView",
    "MessageView",
    "MetricsView",
    "NoteView",
    "PluginProblem",
    "PolicyView",
    "QueueRow",
    "RuleView",
    "Series",
    "SpanBar",
    "TaskView",
    "TraceTurn",
    "TurnView",
    "Waterfall",
    "attention_rank",
    "conversation_detail",
    "departments",
    "filter_rows",
    "get_article",
    "list_conversations",
    "list_traces",
    "metrics",
    "search_articles",
    "sort_rows",
    "trace_waterfall",
    "utcnow",
]
