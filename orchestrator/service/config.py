"""Service settings: tokens and roles, tenants, the broker. Read from [service] in crossdesk.toml
and the environment (CROSSDESK_TOKENS, CROSSDESK_REDIS_URL); bad values fail at start-up."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import ConfigError, Settings

ROLES = ("channel", "operator", "auditor")
MODES = ("inline", "broker")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MIN_TOKEN_CHARS = 16
TOKENS_HINT = (
    "set CROSSDESK_TOKENS='TOKEN:ROLE[:TENANT],...' (roles: channel, operator, auditor; tokens of at least "
    f"{MIN_TOKEN_CHARS} characters, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`) "
    "or add a [service.tokens] table to crossdesk.toml"
)


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to. `tenant` None: every tenant."""

    role: str
    tenant: str | None = None
    name: str = ""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ServiceSettings:
    tokens: dict[str, Principal]  # sha256(token) -> principal; the tokens themselves are not kept
    mode: str = "inline"
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_prefix: str = "crossdesk"
    partitions: int = 16
    lease_seconds: float = 10.0
    wait_seconds: float = 30.0  # how long a request waits for its reply before getting 202
    max_attempts: int = 5  # a message failing this often (not a user error) is answered with an error
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenants(self) -> bool:
        """Tenancy is on as soon as one token names a tenant."""
        return any(p.tenant for p in self.tokens.values())

    def principal(self, token: str) -> Principal | None:
        return self.tokens.get(token_digest(token))


def _principal(token: str, spec: Any, where: str) -> tuple[str, Principal]:
    if isinstance(spec, str):
        parts = spec.split(":")
        spec = {"role": parts[0], "tenant": parts[1] if len(parts) > 1 and parts[1] else None}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a token maps to 'ROLE[:TENANT]' or {{role=..., tenant=...}}")
    role = str(spec.get("role", "")).strip()
    tenant = spec.get("tenant") or None
    if role not in ROLES:
        raise ConfigError(f"{where}: unknown role {role!r}; use one of {', '.join(ROLES)}")
    if tenant is not None and not _TENANT.match(str(tenant)):
        raise ConfigError(f"{where}: tenant {tenant!r} is not valid; use letters, digits and . _ - (max 100)")
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{where}: a token is shorter than {MIN_TOKEN_CHARS} characters; use a long random one"
        )
    name = str(spec.get("name") or f"{role}-{token_digest(token)[:8]}")
    return token_digest(token), Principal(role=role, tenant=str(tenant) if tenant else None, name=name)


def parse_tokens_env(raw: str) -> dict[str, Principal]:
    """CROSSDESK_TOKENS: comma-separated TOKEN:ROLE[:TENANT]."""
    out: dict[str, Principal] = {}
    for i, item in enumerate(x.strip() for x in raw.split(",")):
        if not item:
            continue
        token, sep, rest = item.partition(":")
        if not sep:
            raise ConfigError(f"CROSSDESK_TOKENS entry {i + 1} has no role; write TOKEN:ROLE[:TENANT]")
        digest, principal = _principal(token, rest, f"CROSSDESK_TOKENS entry {i + 1}")
        out[digest] = principal
    return out


def load_service_settings(settings: Settings, **overrides: Any) -> ServiceSettings:
    """The [service] section plus environment, validated. Raises ConfigError with what to fix."""
    section = dict(settings.section("service"))
    tokens: dict[str, Principal] = {}
    table = section.pop("tokens", {}) or {}
    if not isinstance(table, dict):
        raise ConfigError('[service] tokens must be a table: [service.tokens] then TOKEN = "ROLE[:TENANT]"')
    for token, spec in table.items():
        digest, principal = _principal(str(token), spec, "[service.tokens]")
        tokens[digest] = principal
    env_tokens = os.environ.get("CROSSDESK_TOKENS")
    if env_tokens:
        tokens.update(parse_tokens_env(env_tokens))
    values: dict[str, Any] = {}
    known = {f for f in ServiceSettings.__dataclass_fields__ if f not in ("tokens", "extra")}
    for key, value in section.items():
        if key not in known:
            raise ConfigError(f"unknown setting service.{key}; known: {', '.join(sorted(known))}")
        values[key] = value
    if os.environ.get("CROSSDESK_REDIS_URL"):
        values["redis_url"] = os.environ["CROSSDESK_REDIS_URL"]
    if os.environ.get("CROSSDESK_WORKERS_MODE"):
        values["mode"] = os.environ["CROSSDESK_WORKERS_MODE"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    svc = ServiceSettings(tokens=tokens, **values)
    _validate(svc)
    return svc


def _validate(svc: ServiceSettings) -> None:
    if svc.mode not in MODES:
        raise ConfigError(f"service mode {svc.mode!r} is unknown; use one of {', '.join(MODES)}")
    if not str(svc.redis_url).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"redis URL {svc.redis_url!r} is not valid; use redis://HOST:PORT/DB (CROSSDESK_REDIS_URL)"
        )
    if not 1 <= int(svc.partitions) <= 1024:
        raise ConfigError("service.partitions must be between 1 and 1024")
    if svc.lease_seconds < 1 or svc.wait_seconds <= 0 or svc.max_attempts < 1:
        raise ConfigError("service.lease_seconds must be >= 1, wait_seconds > 0 and max_attempts >= 1")


def require_tokens(svc: ServiceSettings) -> None:
    if not svc.tokens:
        raise ConfigError(f"no API tokens are configured, so nobody could use the API; {TOKENS_HINT}")
