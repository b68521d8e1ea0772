"""The shared knowledge store: search as you type, read the article under the cursor."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Markdown, Static

from tui import data
from tui.data import ArticleHitView, ArticleView
from tui.screens.base import ConsoleScreen, Loaded
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar


def article_meta(article: ArticleView) -> Text:
    text = Text.assemble((article.id, "bold #5fd7d7"), "  ", (article.title, "bold"))
    text.append(
        f"\n{article.department} · {', '.join(article.jurisdictions)} · v{article.version}", style="#8a8a8a"
    )
    if article.valid_from or article.valid_to:
        text.append(f" · valid {article.valid_from or '…'} to {article.valid_to or '…'}", style="#8a8a8a")
    if article.tags:
        text.append(f" · {', '.join(article.tags)}", style="#6c6c6c")
    return text


class KnowledgeScreen(ConsoleScreen):
    MODE = "knowledge"
    REFRESH_EVERY = 0  # the store changes rarely: search when the query changes
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("escape", "results", "Results", show=False),
        Binding("o", "open", "Read"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[ArticleHitView] = []
        self.article_id: str | None = None
        self._debounce: Timer | None = None
        self._loaded_once = False

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        box = Input(
            placeholder="search articles (dept:billing j:EU narrow it); empty lists them all", id="kb-search"
        )
        box.cursor_blink = self.console.cursor_blink
        yield box
        with Horizontal(id="kb-body"):
            table: DataTable[Text] = DataTable(id="kb-hits", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="kb-pane"):
                yield Static(id="kb-meta")
                yield Markdown(id="kb-article")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#kb-hits", DataTable)
        table.add_column("article", key="id", width=11)
        table.add_column("dept", key="dept", width=10)
        table.add_column("title", key="title")
        # the results take focus, so number keys still switch screens; `/` goes to the search box
        table.focus()

    def reload(self) -> None:
        if not self._loaded_once:
            self._loaded_once = True
            self._search()

    def _search(self) -> None:
        reader, query = self.desk.reader, self.query_one("#kb-search", Input).value
        self.load("search", lambda: data.search_articles(reader, query))

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.15, self._search)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#kb-hits", DataTable).focus()

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "search":
            self._show_hits(message.data)
        elif message.what == "article":
            self._show_article(message.data)

    def _show_hits(self, hits: list[ArticleHitView]) -> None:
        self.hits = hits
        table = self.query_one("#kb-hits", DataTable)
        table.clear()
        for h in hits:
            table.add_row(
                Text(h.id, style="#5fd7d7"),
                h.department,
                Text(h.title, no_wrap=True, overflow="ellipsis"),
                key=h.id,
            )
        if hits:
            table.move_cursor(row=0, animate=False)
            self._read(hits[0].id)
        else:
            self.article_id = None
            self.query_one("#kb-meta", Static).update(Text("No article matches.", style="#8a8a8a"))
            self.query_one("#kb-article", Markdown).update("")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._read(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _read(self, article_id: str) -> None:
        if article_id == self.article_id:
            return
        self.article_id = article_id
        reader = self.desk.reader
        self.load("article", lambda: data.get_article(reader, article_id))

    def _show_article(self, article: ArticleView | None) -> None:
        if article is None or article.id != self.article_id:
            return
        self.query_one("#kb-meta", Static).update(article_meta(article))
        self.query_one("#kb-article", Markdown).update(article.body)
        self.query_one("#kb-pane", VerticalScroll).scroll_home(animate=False)

    def action_search(self) -> None:
        self.query_one("#kb-search", Input).focus()

    def action_results(self) -> None:
        self.query_one("#kb-hits", DataTable).focus()

    def action_open(self) -> None:
        if self.article_id is not None:
            self.app.push_screen(ArticleScreen(self.article_id))


class ArticleScreen(ConsoleScreen):
    """One article on the whole screen."""

    MODE = "knowledge"
    REFRESH_EVERY = 0
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, article_id: str) -> None:
        super().__init__()
        self.article_id = article_id

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield Static(Text(self.article_id, style="bold #5fd7d7"), id="article-meta")
        with VerticalScroll(id="article-pane"):
            yield Markdown(id="article-body")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#article-pane").focus()

    def reload(self) -> None:
        reader, aid = self.desk.reader, self.article_id
        self.load("article", lambda: data.get_article(reader, aid))

    def on_loaded(self, message: Loaded) -> None:
        article: ArticleView | None = message.data
        if article is None:
            self.query_one("#article-meta", Static).update(
                Text(f"Article {self.article_id} is not in the knowledge store.", style="#ff5f5f")
            )
            return
        self.query_one("#article-meta", Static).update(article_meta(article))
        self.query_one("#article-body", Markdown).update(article.body)

    def action_back(self) -> None:
        self.app.pop_screen()
