"""One conversation: the hand-over on top, then the transcript, every turn's decomposition,
department results, policy decisions and cited knowledge, and the customer's case notes."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui import data
from tui.data import ConversationDetail, HandOver, TurnView
from tui.screens.base import ActionDone, ConsoleScreen, Loaded
from tui.widgets.badges import fmt_clock, fmt_ms, fmt_seconds, status_text, turn_status
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar
from tui.widgets.sla_countdown import SlaCountdown

ROLE_STYLE = {
    "customer": "bold #ffaf00",
    "assistant": "bold #5fafff",
    "operator": "bold #5fd75f",
    "system": "#8a8a8a",
}


def handover_text(detail: ConversationDetail) -> Text:
    """The hand-over (summary at most 300 characters, why, rules) or, for a conversation never
    queued, a one-line account of where it stands."""
    h = detail.handover
    text = Text()
    if h is None:
        text.append(
            "Automation is handling this conversation; it was never handed to a person.", style="#8a8a8a"
        )
        return text
    text.append(h.summary or "(no summary)")
    if h.reasons:
        text.append("\nwhy: ", style="#8a8a8a")
        text.append("; ".join(h.reasons))
    if h.rule_ids:
        text.append("  rules: ", style="#8a8a8a")
        text.append(", ".join(h.rule_ids), style="#87d7af")
    text.append("\n")
    text.append_text(_takeover_line(h))
    return text


def _takeover_line(h: HandOver) -> Text:
    if h.status == "queued":
        return Text(
            f"waiting for an operator since {fmt_clock(h.flagged_at)} (SLA {h.sla_seconds}s)", style="#ffaf00"
        )
    taken = ""
    if h.takeover_latency_ms is not None:
        taken = f" after {fmt_seconds(h.takeover_latency_ms / 1000)}"
    line = Text(f"taken over by {h.claimed_by}{taken}", style="#5fafff")
    line.append(
        " — SLA breached" if h.sla_breached else " — within SLA",
        style="bold #ff5f5f" if h.sla_breached else "#5fd75f",
    )
    if h.status == "released":
        line.append(f"; released by {h.released_by} to automation", style="#8a8a8a")
    return line


def transcript(detail: ConversationDetail) -> RenderableType:
    if not detail.messages:
        return Text("No messages yet.", style="#8a8a8a")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=8, style="#8a8a8a")
    grid.add_column(width=10, no_wrap=True)
    grid.add_column(ratio=1)
    for m in detail.messages:
        who = m.role if not m.author else f"{m.author}"
        grid.add_row(fmt_clock(m.at), Text(who, style=ROLE_STYLE.get(m.role, "")), Text(m.text))
    return grid


def _task_lines(turn: TurnView) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=3, style="#8a8a8a")
    grid.add_column(ratio=1)
    for t in turn.tasks:
        head = Text.assemble(
            ("“", "#8a8a8a"),
            t.text,
            ("” → ", "#8a8a8a"),
            (t.department, "bold #5fafff"),
            (f"  {t.intent} ", "#d0d0d0"),
            (f"{t.confidence:.2f}", "#af87ff"),
            "  ",
        )
        head.append_text(turn_status(t.status))
        lines = [head]
        if len(t.departments_tried) > 1:
            lines.append(Text("rerouted: " + " → ".join(t.departments_tried), style="#ffaf00"))
        if t.actions:
            acts = Text("actions: ", style="#8a8a8a")
            for i, a in enumerate(t.actions):
                if i:
                    acts.append(", ")
                if a.ok:
                    acts.append(f"{a.name} ✓", style="#5fd75f")
                else:
                    acts.append(f"{a.name} ✗", style="#ff5f5f")
                    why = a.blocked_by or a.message
                    if why:
                        acts.append(f" ({why})", style="#ff5f5f")
            lines.append(acts)
        if t.knowledge:
            lines.append(
                Text.assemble(("knowledge: ", "#8a8a8a"), (", ".join(t.knowledge), "underline #5fd7d7"))
            )
        if t.notes:
            lines.append(Text.assemble(("case notes written: ", "#8a8a8a"), ", ".join(t.notes)))
        if t.blocked:
            lines.append(Text(f"stopped by policy: {t.blocked}", style="#ff5f5f"))
        if t.error:
            lines.append(Text(f"error: {t.error}", style="bold #ff5f5f"))
        if t.reply:
            lines.append(Text.assemble(("result: ", "#8a8a8a"), t.reply))
        grid.add_row(t.id, Group(*lines))
    for u in turn.unclear:
        grid.add_row("?", Text.assemble(("unclear: ", "#ffaf00"), u))
    return grid


def _policy_lines(turn: TurnView) -> Table | None:
    """Policy decisions of the turn: per stage, each matched rule with its effect and why it matched."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=9, no_wrap=True, style="#8a8a8a")
    grid.add_column(no_wrap=True, style="#87d7af", max_width=36)
    grid.add_column(ratio=1)
    rows = 0
    for p in turn.policy:
        for rule in p.rules:
            what = Text.assemble((f"[{', '.join(rule.effects)}] ", "#8a8a8a"), rule.description)
            if rule.why:
                what.append(f" (when {'; '.join(rule.why)})", style="#6c6c6c")
            grid.add_row(f"§ {p.stage}", rule.id, what)
            rows += 1
        for denial in p.denials:
            grid.add_row(f"§ {p.stage}", Text("denied", style="#ff5f5f"), Text(denial, style="#ff5f5f"))
            rows += 1
    return grid if rows else None


def turns(detail: ConversationDetail) -> RenderableType:
    if not detail.turns:
        return Text("No automated turns recorded.", style="#8a8a8a")
    parts: list[RenderableType] = []
    for turn in detail.turns:
        head = Text.assemble(
            (f"Turn {turn.seq}", "bold"),
            (f"  {fmt_clock(turn.at)}  ", "#8a8a8a"),
        )
        head.append_text(turn_status(turn.status))
        head.append(
            f"  {fmt_ms(turn.latency_ms)} · {turn.dispatches} dispatched, {turn.reroutes} rerouted, "
            f"{turn.escalations} escalated",
            style="#8a8a8a",
        )
        if turn.trace_id:
            head.append(f"  trace {turn.trace_id[:8]}", style="#6c6c6c")
        parts.append(head)
        parts.append(_task_lines(turn))
        policy = _policy_lines(turn)
        if policy is not None:
            parts.append(policy)
        if turn.handoff_reasons:
            parts.append(Text("☎ to a person: " + "; ".join(turn.handoff_reasons), style="#ff5f5f"))
        parts.append(Text(""))
    return Group(*parts)


def notes(detail: ConversationDetail) -> RenderableType:
    if not detail.notes:
        return Text("No case notes for this customer.", style="#8a8a8a")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=8, style="#8a8a8a")
    grid.add_column(width=11, style="#5fafff", no_wrap=True)
    grid.add_column(ratio=1)
    for n in detail.notes:
        about = f"{n.kind}" + (f" {n.subject}" if n.subject else "")
        grid.add_row(
            fmt_clock(n.at) if n.at else "", n.department, Text.assemble((about, "bold"), " ", n.text)
        )
    return grid


class ArticlePicker(ModalScreen[str | None]):
    """Pick one of the articles a conversation cited."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, articles: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.articles = articles

    def compose(self) -> ComposeResult:
        options = OptionList(
            *[
                Option(Text.assemble((aid, "bold #5fd7d7"), "  ", title), id=aid)
                for aid, title in self.articles
            ],
            id="article-picker",
        )
        options.border_title = "Knowledge cited (enter opens, esc closes)"
        yield options

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ConversationScreen(ConsoleScreen):
    MODE = "queue"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("c", "claim", "Claim"),
        Binding("r", "reply", "Reply"),
        Binding("l", "release", "Release"),
        Binding("R", "release", "Release", show=False),
        Binding("t", "traces", "Traces"),
        Binding("a", "articles", "Articles"),
    ]

    def __init__(self, conversation_id: str, *, reply: bool = False) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.detail: ConversationDetail | None = None
        self._version: object = None
        self._reply_on_load = reply

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        with Horizontal(id="conv-head"):
            yield Static(Text(self.conversation_id, style="bold"), id="conv-title")
            yield SlaCountdown(self.console.clock, id="conv-sla")
        handover = Static(Text("loading…", style="#8a8a8a"), id="handover")
        handover.border_title = "Hand-over"
        yield handover
        with VerticalScroll(id="conv-body"):
            for part, title in (("transcript", "Transcript"), ("turns", "Turns"), ("notes", "Case notes")):
                section = Static(id=f"conv-{part}", classes="section")
                section.border_title = title
                yield section
        box = Input(placeholder="reply to the customer (enter sends, esc cancels)", id="reply-box")
        box.cursor_blink = self.console.cursor_blink
        yield box
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#reply-box", Input).display = False
        self.query_one("#conv-body").focus()

    def selected_conversation(self) -> str | None:
        return self.conversation_id

    def reload(self) -> None:
        reader, cid = self.desk.reader, self.conversation_id
        self.load("conversation", lambda: data.conversation_detail(reader, cid))

    def on_loaded(self, message: Loaded) -> None:
        if message.what != "conversation":
            return
        detail: ConversationDetail | None = message.data
        if detail is None:
            self.query_one("#handover", Static).update(
                Text(f"There is no conversation {self.conversation_id} in this database.", style="#ff5f5f")
            )
            return
        self.detail = detail
        if detail.version != self._version:
            self._version = detail.version
            self._show(detail)
        if self._reply_on_load:
            self._reply_on_load = False
            self.action_reply()

    def _show(self, detail: ConversationDetail) -> None:
        row = detail.row
        title = Text.assemble((row.conversation_id, "bold"), "  ")
        title.append(row.customer_id or "no customer", style="bold #ffaf00")
        if detail.customer_name:
            title.append(f" {detail.customer_name}", style="#ffaf00")
        title.append(f"  {row.jurisdiction}  ", style="#d0d0d0")
        title.append_text(status_text(row, self.desk.operator))
        if row.departments:
            title.append("  " + ", ".join(row.departments), style="#5fafff")
        self.query_one("#conv-title", Static).update(title)
        self.query_one(SlaCountdown).row = row
        self.query_one("#handover", Static).update(handover_text(detail))
        self.query_one("#conv-transcript", Static).update(transcript(detail))
        self.query_one("#conv-turns", Static).update(turns(detail))
        self.query_one("#conv-notes", Static).update(notes(detail))
        self.query_one(
            "#conv-notes", Static
        ).border_title = f"Case notes ({row.customer_id or 'no customer'})"

    # -- keys ---------------------------------------------------------------------------------

    def _mine(self) -> bool:
        d = self.detail
        return d is not None and d.row.status == "claimed" and d.row.claimed_by == self.desk.operator

    def action_back(self) -> None:
        box = self.query_one("#reply-box", Input)
        if box.display:
            box.display = False
            self.query_one("#conv-body").focus()
            return
        self.app.pop_screen()

    def action_reply(self) -> None:
        if not self._mine():
            self.notify("Take the conversation over first (c), then reply.", severity="warning")
            return
        box = self.query_one("#reply-box", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "reply-box":
            return
        text = event.value.strip()
        if not text:
            self.notify("The reply is empty; type the answer first.", severity="warning")
            return
        event.input.disabled = True
        cid = self.conversation_id
        self.act("reply", cid, lambda: self.desk.reply(cid, text))

    def on_action_done(self, message: ActionDone) -> None:
        if message.verb == "reply":
            box = self.query_one("#reply-box", Input)
            box.disabled = False
            if message.error is None:
                box.value = ""
                box.display = False
                self.query_one("#conv-body").focus()
        # ConsoleScreen.on_action_done runs next (Textual calls the handler of every class in the MRO)

    def action_traces(self) -> None:
        from tui.screens.traces import TracesScreen

        self.app.push_screen(TracesScreen(conversation_id=self.conversation_id))

    def action_articles(self) -> None:
        articles = self.detail.articles if self.detail else ()
        if not articles:
            self.notify("No knowledge article was cited in this conversation.")
            return

        def opened(article_id: str | None) -> None:
            if article_id:
                from tui.screens.knowledge import ArticleScreen

                self.app.push_screen(ArticleScreen(article_id))

        self.app.push_screen(ArticlePicker(articles), opened)
