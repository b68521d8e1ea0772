"""The HTTP API in inline mode: tokens and roles, idempotent messages, streaming, operators, tenants."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

CHANNEL = "channel-token-0123456789"
OPERATOR = "operator-token-0123456789"
AUDITOR = "auditor-token-0123456789"
CHANNEL_A = "channel-a-token-0123456789"
CHANNEL_B = "channel-b-token-0123456789"
OPERATOR_A = "operator-a-token-0123456789"
OPERATOR_B = "operator-b-token-0123456789"
TOKENS = f"{CHANNEL}:channel,{OPERATOR}:operator,{AUDITOR}:auditor"
TENANT_TOKENS = f"{CHANNEL_A}:channel:acme,{CHANNEL_B}:channel:globex,{OPERATOR_A}:operator:acme,{OPERATOR_B}:operator:globex"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_client(monkeypatch: pytest.MonkeyPatch, tokens: str) -> Iterator[TestClient]:
    from orchestrator.config import load_settings
    from orchestrator.service.app import create_app

    monkeypatch.setenv("CROSSDESK_TOKENS", tokens)
    with TestClient(create_app(load_settings())) as client:
        yield client


@pytest.fixture
def client(seeded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from make_client(monkeypatch, TOKENS)


@pytest.fixture
def tenant_client(seeded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from make_client(monkeypatch, TENANT_TOKENS)


def post(client: TestClient, conv: str, text: str, key: str, token: str = CHANNEL, **extra: Any) -> Any:
    return client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": text, **extra},
        headers={**auth(token), "Idempotency-Key": key},
    )


def turns(conversation_id: str) -> int:
    from sqlmodel import Session, select

    from orchestrator.config import load_settings
    from orchestrator.db import make_engine
    from orchestrator.records import TurnRecord

    engine = make_engine(load_settings().database_url)
    try:
        with Session(engine) as s:
            return len(s.exec(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id)).all())
    finally:
        engine.dispose()


def test_nothing_but_healthz_answers_without_a_valid_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    routes = [(m, r.path) for r in client.app.routes for m in getattr(r, "methods", ()) if m != "HEAD"]
    assert len(routes) >= 12
    for method, path in routes:
        if path == "/healthz":
            continue
        url = path.replace("{conversation_id}", "c1").replace("{key}", "k1")
        for headers in ({}, auth("not-a-known-token-at-all"), {"Authorization": "Basic !!!"}):
            res = client.request(method, url, headers=headers, json={})
            assert res.status_code == 401, (method, path, res.status_code)
            assert "WWW-Authenticate" in res.headers
            assert res.json()["error"]


def test_docs_and_openapi_are_served_to_a_token_holder(client: TestClient) -> None:
    spec = client.get("/openapi.json", headers=auth(AUDITOR)).json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]
    assert "/v1/queue" in spec["paths"]
    # a browser sends the token as HTTP Basic after the 401 challenge
    page = client.get("/docs", auth=("anyone", OPERATOR))
    assert page.status_code == 200 and "swagger" in page.text.lower()
    # every script and style the page loads comes from this server (closed networks have no CDN)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        res = client.get(asset, auth=("anyone", OPERATOR))
        assert res.status_code == 200 and len(res.content) > 500, asset
        assert client.get(asset).status_code == 401
    assert client.get("/docs/assets/..%2Fpyproject.toml", auth=("anyone", OPERATOR)).status_code == 404


def test_roles_are_enforced(client: TestClient) -> None:
    assert client.get("/v1/queue", headers=auth(CHANNEL)).status_code == 403
    assert post(client, "c1", "hello", "k1", token=OPERATOR).status_code == 403
    assert post(client, "c1", "hello", "k1", token=AUDITOR).status_code == 403
    res = client.post("/v1/conversations/c1/takeover", json={"operator": "eve"}, headers=auth(AUDITOR))
    assert res.status_code == 403 and "operator" in res.json()["error"]
    assert client.get("/v1/queue", headers=auth(AUDITOR)).status_code == 200
    assert client.get("/v1/audit/verify", headers=auth(OPERATOR)).status_code == 403
    verify = client.get("/v1/audit/verify", headers=auth(AUDITOR))
    assert verify.status_code == 200 and verify.json()["ok"] is True
    ready = client.get("/readyz", headers=auth(CHANNEL)).json()
    assert ready["ready"] is True and ready["checks"]["database"] == "ok"


def test_a_message_is_answered_once_per_idempotency_key(client: TestClient) -> None:
    first = post(client, "conv-a", "I was charged twice for my subscription", "key-1", customer_id="C1001")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["conversation_id"] == "conv-a" and body["reply"] and body["turn_id"]
    assert [t["department"] for t in body["tasks"]] == ["billing"]
    again = post(client, "conv-a", "I was charged twice for my subscription", "key-1", customer_id="C1001")
    assert again.status_code == 200 and again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert turns("conv-a") == 1
    reused = post(client, "conv-a", "something else entirely", "key-1", customer_id="C1001")
    assert reused.status_code == 409 and "Idempotency-Key" in reused.json()["error"]
    polled = client.get("/v1/conversations/conv-a/messages/key-1", headers=auth(CHANNEL))
    assert polled.json() == body


def test_concurrent_duplicates_run_one_turn(client: TestClient) -> None:
    results: list[Any] = []

    def send() -> None:
        results.append(post(client, "conv-dup", "How do I reset my password?", "dup-key"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["turn_id"] for r in results}) == 1
    assert turns("conv-dup") == 1


def test_bad_messages_get_clear_errors_and_leave_nothing(client: TestClient) -> None:
    no_key = client.post("/v1/conversations/c2/messages", json={"text": "hi"}, headers=auth(CHANNEL))
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["error"]
    empty = post(client, "c2", "   ", "k-empty")
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    unknown = post(client, "c2", "hello", "k-cust", customer_id="C9999")
    assert unknown.status_code == 404 and "C9999" in unknown.json()["error"]
    bad_id = post(client, "bad id!", "hello", "k-id")
    assert bad_id.status_code == 422 and "conversation id" in bad_id.json()["error"]
    extra = client.post(
        "/v1/conversations/c2/messages", json={"txt": "hi"}, headers={**auth(CHANNEL), "Idempotency-Key": "k"}
    )
    assert extra.status_code == 422 and "text" in extra.json()["error"]
    assert client.get("/v1/conversations/c2", headers=auth(CHANNEL)).status_code == 404


def test_reply_as_server_sent_events(client: TestClient) -> None:
    with client.stream(
        "POST",
        "/v1/conversations/conv-sse/messages",
        json={"text": "What fees do you charge for a transfer abroad?", "customer_id": "C1001"},
        headers={**auth(CHANNEL), "Idempotency-Key": "sse-1", "Accept": "text/event-stream"},
    ) as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        text = "".join(res.iter_text())
    events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
    assert events == ["accepted", "status", "reply", "end"]
    assert '"conversation_id": "conv-sse"' in text


def test_conversation_shows_records_and_transcript(client: TestClient) -> None:
    post(client, "conv-r", "I was charged twice", "r1", customer_id="C1001")
    post(client, "conv-r", "and how do I reset my password?", "r2")
    res = client.get("/v1/conversations/conv-r", headers=auth(AUDITOR))
    assert res.status_code == 200
    data = res.json()
    assert data["customer_id"] == "C1001" and data["turns"] == 2
    assert [r["seq"] for r in data["records"]] == [1, 2]
    roles = [m["role"] for m in data["transcript"]]
    assert roles == ["customer", "assistant", "customer", "assistant"]
    assert data["transcript"][2]["text"] == "and how do I reset my password?"


def test_operator_takeover_reply_and_release(client: TestClient) -> None:
    res = post(client, "conv-h", "I want to speak to a human please", "h1", customer_id="C1001")
    assert res.json()["wants_human"] is True
    queue = client.get("/v1/queue", headers=auth(OPERATOR)).json()
    assert [q["conversation_id"] for q in queue] == ["conv-h"]
    claimed = client.post(
        "/v1/conversations/conv-h/takeover", json={"operator": "alice"}, headers=auth(OPERATOR)
    )
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "alice"
    other = client.post("/v1/conversations/conv-h/takeover", json={"operator": "bob"}, headers=auth(OPERATOR))
    assert other.status_code == 409 and "alice" in other.json()["error"]
    # while claimed, the customer's message goes to the operator, not to automation
    during = post(client, "conv-h", "are you there?", "h2")
    assert (
        during.status_code == 200
        and during.json()["status"] == "with_operator"
        and during.json()["reply"] == ""
    )
    sent = client.post(
        "/v1/conversations/conv-h/reply", json={"text": "Hi, Alice here."}, headers=auth(OPERATOR)
    )
    assert sent.status_code == 200 and sent.json()["operator"] == "alice"
    released = client.post("/v1/conversations/conv-h/release", json={}, headers=auth(OPERATOR))
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert client.get("/v1/queue", headers=auth(OPERATOR)).json() == []
    transcript = client.get("/v1/conversations/conv-h", headers=auth(OPERATOR)).json()["transcript"]
    assert ("operator", "Hi, Alice here.") in [(m["role"], m["text"]) for m in transcript]


def test_tenants_cannot_see_each_others_conversations(tenant_client: TestClient) -> None:
    c = tenant_client
    assert post(c, "acme-1", "I want to talk to a person", "a1", token=CHANNEL_A).status_code == 200
    # another tenant's channel cannot write into it, nor its operator read or take it over
    assert post(c, "acme-1", "hello", "b1", token=CHANNEL_B).status_code == 404
    assert c.get("/v1/conversations/acme-1", headers=auth(OPERATOR_B)).status_code == 404
    assert c.get("/v1/queue", headers=auth(OPERATOR_B)).json() == []
    grab = c.post("/v1/conversations/acme-1/takeover", json={"operator": "mallory"}, headers=auth(OPERATOR_B))
    assert grab.status_code == 404
    assert c.get("/v1/conversations/acme-1", headers=auth(OPERATOR_A)).status_code == 200
    assert [q["conversation_id"] for q in c.get("/v1/queue", headers=auth(OPERATOR_A)).json()] == ["acme-1"]
    # the same Idempotency-Key in two tenants names two different messages
    assert post(c, "globex-1", "hello there", "a1", token=CHANNEL_B).status_code == 200


def test_bad_configuration_fails_at_start_up(seeded_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.config import ConfigError, load_settings
    from orchestrator.service.app import create_app

    monkeypatch.delenv("CROSSDESK_TOKENS", raising=False)
    with pytest.raises(ConfigError, match="no API tokens"):
        create_app(load_settings())
    for tokens, message in [
        ("short:channel", "shorter than 16"),
        (f"{CHANNEL}:admin", "unknown role 'admin'"),
        (CHANNEL, "no role"),
    ]:
        monkeypatch.setenv("CROSSDESK_TOKENS", tokens)
        with pytest.raises(ConfigError, match=message):
            create_app(load_settings())
    monkeypatch.setenv("CROSSDESK_TOKENS", TOKENS)
    monkeypatch.setenv("CROSSDESK_DB_URL", "mysql://db/x")
    with pytest.raises(ConfigError, match="not supported"):
        create_app(load_settings())
    monkeypatch.setenv("CROSSDESK_DB_URL", "::nonsense")
    with pytest.raises(ConfigError, match="not valid"):
        create_app(load_settings())
    monkeypatch.delenv("CROSSDESK_DB_URL")
    monkeypatch.setenv("CROSSDESK_REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="redis URL"):
        create_app(load_settings())


def test_tokens_can_come_from_crossdesk_toml(
    seeded_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.service.app import create_app

    monkeypatch.delenv("CROSSDESK_TOKENS", raising=False)
    cfg = tmp_path / "crossdesk.toml"
    cfg.write_text(
        f'[service.tokens]\n"{OPERATOR}" = {{ role = "operator", tenant = "acme" }}\n', encoding="utf-8"
    )
    with TestClient(create_app(load_settings(cfg))) as client:
        assert client.get("/v1/queue", headers=auth(OPERATOR)).status_code == 200
        assert client.get("/v1/queue", headers=auth(CHANNEL)).status_code == 401
