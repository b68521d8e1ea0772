"""Token authentication and role checks for the HTTP API.

Tokens come as `Authorization: Bearer TOKEN`, or as the password of HTTP Basic so a
browser can open /docs. Every route but /healthz requires one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from fastapi import HTTPException, Request

from orchestrator.service.config import Principal, ServiceSettings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crossdesk", Basic realm="crossdesk"'}


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def authenticate(request: Request) -> Principal:
    svc: ServiceSettings = request.app.state.service_settings
    token = _token(request)
    if token is None:
        raise HTTPException(401, "send a token: Authorization: Bearer TOKEN", headers=_CHALLENGE)
    principal = svc.principal(token)
    if principal is None:
        raise HTTPException(401, "this token is not known; ask an administrator for one", headers=_CHALLENGE)
    return principal


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency admitting the given roles only."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if roles and principal.role not in roles:
            raise HTTPException(
                403, f"the {principal.role} role may not do this; it needs one of: {', '.join(roles)}"
            )
        return principal

    return dependency
