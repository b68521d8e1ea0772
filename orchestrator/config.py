"""Settings read from the environment and an optional crossdesk.toml.

Precedence: environment variables, then the file named by CROSSDESK_CONFIG (or
./crossdesk.toml), then defaults. Everything lives under one home folder so a
demo, the tests and a real deployment never share state by accident.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration is invalid; the message says which setting and what to do."""


def default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "crossdesk"


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=default_home)
    db_url: str = ""  # empty: sqlite file under home
    db_pool: int = 0  # connections per process; 0: the database's default (orchestrator.db.DEFAULT_POOL)
    disabled_plugins: tuple[str, ...] = ()
    # below this router confidence a sub-issue is unclear and we ask one question
    confidence_threshold: float = 0.45
    department_timeout_s: float = 10.0
    max_reroutes: int = 2
    max_message_chars: int = 20_000
    extra: dict[str, Any] = field(default_factory=dict)  # sections for later features

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'crossdesk.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def router_path(self) -> Path:
        return self.home / "router"

    def section(self, name: str) -> dict[str, Any]:
        value = self.extra.get(name, {})
        return value if isinstance(value, dict) else {}


_ENV: dict[str, tuple[str, type]] = {
    "CROSSDESK_HOME": ("home", Path),
    "CROSSDESK_DB_URL": ("db_url", str),
    "CROSSDESK_DB_POOL": ("db_pool", int),
    "CROSSDESK_CONFIDENCE_THRESHOLD": ("confidence_threshold", float),
    "CROSSDESK_DEPARTMENT_TIMEOUT": ("department_timeout_s", float),
}


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {}
    cfg_path = path or Path(os.environ.get("CROSSDESK_CONFIG", "crossdesk.toml"))
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{cfg_path}: not valid TOML ({exc}); fix the file or unset CROSSDESK_CONFIG"
            ) from exc
        core = data.pop("crossdesk", {})
        for key, value in core.items():
            if key not in Settings.__dataclass_fields__ or key == "extra":
                raise ConfigError(f"{cfg_path}: unknown setting crossdesk.{key}")
            values[key] = value
        values["extra"] = data
    elif os.environ.get("CROSSDESK_CONFIG"):
        raise ConfigError(f"CROSSDESK_CONFIG points at {cfg_path}, which does not exist")
    for env, (key, typ) in _ENV.items():
        raw = os.environ.get(env)
        if raw:
            try:
                values[key] = typ(raw)
            except ValueError as exc:
                raise ConfigError(f"{env}={raw!r} is not a valid {typ.__name__}") from exc
    disabled = os.environ.get("CROSSDESK_DISABLE_PLUGINS")
    if disabled is not None:
        values["disabled_plugins"] = tuple(n.strip() for n in disabled.split(",") if n.strip())
    if "home" in values:
        values["home"] = Path(values["home"]).expanduser()
    if "disabled_plugins" in values:
        values["disabled_plugins"] = tuple(values["disabled_plugins"])
    settings = replace(Settings(), **values, **overrides)
    if not 0.0 < settings.confidence_threshold < 1.0:
        raise ConfigError("confidence_threshold must be between 0 and 1")
    if settings.db_pool:
        from orchestrator.db import CONNECTIONS_PER_RUN, MIN_POOL  # sqlalchemy: only when it is set

        if settings.db_pool < MIN_POOL:
            raise ConfigError(
                f"db_pool = {settings.db_pool} is too small: a department run holds up to "
                f"{CONNECTIONS_PER_RUN} connections; set CROSSDESK_DB_POOL to at least {MIN_POOL}, "
                "or 0 for the database's default"
            )
    return settings
