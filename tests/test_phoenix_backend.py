"""A real tracing backend: spans sent through crossdesk's OTLP exporter arrive in Arize Phoenix.

Phoenix is large (hundreds of MB), so it may live in its own virtualenv: point
CROSSDESK_PHOENIX_BIN at its `phoenix` executable, or put one on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from traces_synth import clean_env, standard_turns

from orchestrator.config import Settings
from traces import names as N
from traces.setup import configure_telemetry

pytestmark = pytest.mark.slow

PROJECT = "crossdesk-ci"
START_TIMEOUT_S = 120
INGEST_TIMEOUT_S = 30


def phoenix_bin() -> str | None:
    explicit = os.environ.get("CROSSDESK_PHOENIX_BIN")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("phoenix")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def phoenix(tmp_path: Path) -> Iterator[str]:
    binary = phoenix_bin()
    if binary is None:
        pytest.skip(
            "arize-phoenix is not installed: `pip install arize-phoenix` (into any virtualenv) and set "
            "CROSSDESK_PHOENIX_BIN to its bin/phoenix, or put `phoenix` on PATH"
        )
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        # its gRPC receiver binds every interface: give it a free port, we only use OTLP over HTTP
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (tmp_path / "phoenix.log").open("wb")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"phoenix exited with {proc.returncode}:\n{(tmp_path / 'phoenix.log').read_text()[-3000:]}"
                )
            try:
                get_json(f"{base}/v1/projects")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"phoenix did not answer within {START_TIMEOUT_S} s")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def spans_of(base: str, trace_id: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"trace_id": trace_id, "limit": 200})
    try:
        return list(get_json(f"{base}/v1/projects/{PROJECT}/spans?{query}")["data"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the project appears with its first span
            return []
        raise


def wait_for_spans(
    base: str, trace_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Poll until `done(spans)` or the ingest timeout: Phoenix writes what it receives in batches."""
    deadline = time.monotonic() + INGEST_TIMEOUT_S
    spans = spans_of(base, trace_id)
    while not done(spans) and time.monotonic() < deadline:
        time.sleep(0.5)
        spans = spans_of(base, trace_id)
    return spans


def test_turns_arrive_in_phoenix_with_handoff_attributes(
    phoenix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={PROJECT}")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # Phoenix takes traces only
    tel = configure_telemetry(
        Settings(home=tmp_path, extra={"telemetry": {"exporters": ["otlp"], "otlp_endpoint": phoenix}})
    )
    ids = standard_turns(tel)
    assert tel.force_flush(10_000)
    tel.shutdown()

    # root, intake policy, plan, 3 dispatches, 4 department runs x (run, search, policy),
    # a reroute, an escalation, the takeover and the reply
    expected = 22
    spans = wait_for_spans(phoenix, ids["busy"], lambda got: len(got) >= expected)
    names = sorted(s["name"] for s in spans)
    assert names.count("invoke_agent technical") == 2
    assert names.count("execute_tool transfer_to_technical") == 2
    assert {
        "invoke_workflow",
        "plan",
        "execute_tool transfer_to_human",
        "human_takeover",
        "compose_reply",
    } <= set(names)
    assert len(spans) == expected

    (root,) = [s for s in spans if s["name"] == "invoke_workflow"]
    assert root["parent_id"] is None
    assert root["attributes"][N.GEN_AI_CONVERSATION_ID] == "conv-a"
    assert root["attributes"][N.TURN_REROUTES] == 1
    assert root["attributes"][N.TURN_ESCALATIONS] == 1
    reroute = next(s for s in spans if s["attributes"].get(N.TRANSFER_KIND) == "reroute")
    assert reroute["attributes"][N.GEN_AI_TRANSFER_SOURCE_NAME] == "billing"
    assert reroute["attributes"][N.GEN_AI_TRANSFER_TARGET_NAME] == "technical"
    assert reroute["attributes"][N.GEN_AI_TRANSFER_TARGET_TYPE] == "agent"
    assert reroute["parent_id"] == root["context"]["span_id"]
    human = next(s for s in spans if s["name"] == "execute_tool transfer_to_human")
    assert human["attributes"][N.GEN_AI_TRANSFER_TARGET_TYPE] == "human"
    assert human["attributes"][N.TRANSFER_KIND] == "escalation"

    # the other turns made it too, each with its root (a root span ends, and is exported, last);
    # they are waited for one by one because Phoenix may not have written a later batch yet
    for name in ("simple", "human", "failed"):
        got = wait_for_spans(phoenix, ids[name], lambda got: any(s["parent_id"] is None for s in got))
        assert [s["name"] for s in got if s["parent_id"] is None] == ["invoke_workflow"], name
