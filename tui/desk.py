"""The console's link to crossdesk: the database, the operator and the takeover actions.

Claim, reply and release are `orchestrator.takeover`'s own functions, the same
the CLI runs; this only supplies the engine, the operator name and (for
release, which resumes the paused graph) an Orchestrator. No Textual here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.runtime import Orchestrator
    from tui.simulator import SimulatorProcess


class _NoDecomposer:
    """Releasing only resumes a paused turn; it never splits a new message."""

    def decompose(self, text: str) -> Any:
        raise RuntimeError("this orchestrator only resumes paused turns; it does not run new ones")


class Desk:
    """One operator at one database. Thread-safe: the console calls it from worker threads."""

    def __init__(
        self, settings: Settings, operator: str, *, orchestrator: Orchestrator | None = None
    ) -> None:
        from orchestrator.db import create_schema, make_engine, reader
        from orchestrator.takeover import _check_operator

        self.settings = settings
        self.operator = _check_operator(operator)
        self.url = settings.database_url
        self._orch = orchestrator
        self._owns_orch = False
        self._orch_lock = threading.Lock()
        self._own_engine = orchestrator is None
        self.engine: Engine = orchestrator.engine if orchestrator is not None else make_engine(self.url)
        create_schema(self.engine)  # a fresh database shows an empty queue, not an error
        self.reader: Engine = reader(self.engine)  # the console's reads take no write lock
        self._plugins: Any = None
        self.simulator: SimulatorProcess | None = None

    @property
    def where(self) -> str:
        """The database, for the title bar (no password)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        if url.drivername.startswith("sqlite"):
            return f"sqlite {url.database}"
        return url.render_as_string(hide_password=True)

    def orchestrator(self) -> Orchestrator:
        """The Orchestrator that resumes released conversations: the one given, else one built on
        first use without the message splitter (it only resumes paused turns)."""
        with self._orch_lock:
            if self._orch is None:
                from orchestrator.runtime import Orchestrator

                self._orch = Orchestrator(self.settings, decomposer=_NoDecomposer())
                self._owns_orch = True
            return self._orch

    def plugins(self) -> Any:
        if self._orch is not None:
            return self._orch.plugins
        if self._plugins is None:
            from plugins.manager import load_plugins

            self._plugins = load_plugins(disabled=self.settings.disabled_plugins)
        return self._plugins

    def start_simulator(self, rate: float, *, seed: int | None = None) -> SimulatorProcess:
        """Start simulated customers on this database, in a child process. Waits until the child
        runs (it loads the router first): call it from a worker thread."""
        from tui.simulator import SimulatorProcess

        self.simulator = SimulatorProcess(self.url, rate, seed=seed)
        return self.simulator

    # -- the operator's actions: orchestrator.takeover does the work ----------------------------

    def claim(self, conversation_id: str) -> dict[str, Any]:
        from orchestrator.takeover import claim

        return claim(self.engine, conversation_id, self.operator)

    def reply(self, conversation_id: str, text: str) -> dict[str, Any]:
        from orchestrator.takeover import reply

        return reply(
            self.engine,
            conversation_id,
            text,
            operator=self.operator,
            max_chars=self.settings.max_message_chars,
        )

    def release(self, conversation_id: str) -> dict[str, Any]:
        from orchestrator.takeover import release

        return release(self.orchestrator(), conversation_id, operator=self.operator)

    def close(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        if self._owns_orch and self._orch is not None:
            self._orch.close()
        if self._own_engine:
            self.engine.dispose()
