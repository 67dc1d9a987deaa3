"""Meta's error classes at the worker, through the real GraphClient and a local Graph stand-in.

A per-person condition (10/2018108: "This person isn't receiving messages from you right now")
stops that person's messages only; a Page-level one (10/1893063, restricted) pauses everybody's
with an alert naming the cause; an undocumented pair fails only its own rows, alerted once.
Error bodies are Meta's documented shape ({"error": {message, type, code, error_subcode,
fbtrace_id}}).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from bot.messaging import outbox
from bot.messaging.worker import Worker
from bot.models import Alert, MessengerIdentity, OutboundMessage
from bot.runtime import Runtime
from integrations.graph import GraphClient

PEOPLE = ("psid-blocked", "psid-b", "psid-c")


class StandIn:
    """Answers the Send API: a failure body for the PSIDs in `failures`, success otherwise."""

    def __init__(self) -> None:
        self.failures: dict[str, tuple[int, dict[str, Any]]] = {}
        self.received: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                psid = body["recipient"]["id"]
                stand_in.received.append(psid)
                status, answer = stand_in.failures.get(
                    psid, (200, {"recipient_id": psid, "message_id": f"m_{len(stand_in.received)}"})
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, psid: str, code: int, subcode: int | None, message: str) -> None:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = "AzC2Ht0hTrKv"
        self.failures[psid] = (400, {"error": error})


@pytest.fixture
def graph(runtime: Runtime) -> Iterator[StandIn]:
    stand_in = StandIn()
    runtime.messenger = GraphClient("page-token", "app-secret", base_url=stand_in.url, timeout=5)
    with runtime.db.transaction() as session:
        for psid in PEOPLE:
            session.add(MessengerIdentity(psid=psid, last_interaction_at=runtime.now()))
            for n in (1, 2):
                outbox.enqueue_messenger(
                    session,
                    key=f"test:{psid}:{n}",
                    psid=psid,
                    message={"text": f"お知らせ {n}"},
                    now=runtime.now(),
                )
    yield stand_in
    stand_in.server.shutdown()


def statuses(runtime: Runtime) -> dict[str, list[str]]:
    with runtime.db.transaction() as session:
        rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.recipient, []).append(row.status)
        return found


def open_alerts(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.db.transaction() as session:
        rows = session.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()
        return [(a.kind, a.key, a.message) for a in rows]


def paused(runtime: Runtime) -> set[str]:
    with runtime.db.transaction() as session:
        return set(outbox.paused_channels(session))


def test_one_person_not_receiving_messages_leaves_everybody_else_sending(
    runtime: Runtime, graph: StandIn
) -> None:
    graph.fail(
        "psid-blocked",
        10,
        2018108,
        "(#10) This person isn't receiving messages from you right now.",
    )
    Worker(runtime).run(once=True)
    assert statuses(runtime) == {
        "psid-blocked": ["dead", "dead"],
        "psid-b": ["sent", "sent"],
        "psid-c": ["sent", "sent"],
    }
    assert paused(runtime) == set()
    assert open_alerts(runtime) == []
    assert graph.received.count("psid-blocked") == 1  # the second was not even tried
    with runtime.db.transaction() as session:
        person = session.scalars(
            select(MessengerIdentity).where(MessengerIdentity.psid == "psid-blocked")
        ).one()
        assert person.unreachable_at is not None


def test_a_restricted_page_pauses_sending_with_an_alert_naming_the_cause(
    runtime: Runtime, graph: StandIn
) -> None:
    for psid in PEOPLE:
        graph.fail(psid, 10, 1893063, "(#10) This Page is temporarily restricted.")
    Worker(runtime).run(once=True)
    assert paused(runtime) == {"messenger"}
    [(kind, key, message)] = open_alerts(runtime)
    assert (kind, key) == ("sending_paused", "messenger")
    assert "the Page is temporarily restricted from messaging" in message
    assert "subcode 1893063" in message
    assert len(graph.received) == 1  # paused after the first answer
    found = statuses(runtime)
    assert {s for psid in PEOPLE for s in found[psid]} == {"pending"}
    assert found["jimukyoku@example.jp"] == ["sent"]  # the secretariat was told by email


def test_an_undocumented_pair_fails_only_its_own_rows_and_is_alerted_once(
    runtime: Runtime, graph: StandIn
) -> None:
    graph.fail("psid-blocked", 10, 9999999, "(#10) Something new.")
    Worker(runtime).run(once=True)
    found = statuses(runtime)
    assert {psid: found[psid] for psid in PEOPLE} == {
        "psid-blocked": ["dead", "dead"],
        "psid-b": ["sent", "sent"],
        "psid-c": ["sent", "sent"],
    }
    assert paused(runtime) == set()
    [(kind, key, message)] = open_alerts(runtime)
    assert (kind, key) == ("delivery_error_unknown", "messenger:10/9999999")
    assert "未知のエラー" in message


class ResettingStandIn(StandIn):
    """Reads each request, then closes the connection without answering (a reset after the
    request left): the sender cannot know whether Meta got it."""

    def __init__(self, resets: int) -> None:
        super().__init__()
        self.resets = resets
        handler = self.server.RequestHandlerClass
        original = handler.do_POST  # type: ignore[attr-defined]
        stand_in = self

        def do_post(request: Any) -> None:
            if stand_in.resets > 0:
                stand_in.resets -= 1
                body = json.loads(request.rfile.read(int(request.headers["Content-Length"])))
                stand_in.received.append(body["recipient"]["id"])
                request.close_connection = True
                request.connection.shutdown(2)
                return
            original(request)

        handler.do_POST = do_post  # type: ignore[attr-defined]


@pytest.mark.parametrize(("resets", "status"), [(1, "sent"), (2, "dead")])
def test_a_send_with_an_unknown_outcome_is_retried_once_with_its_history(
    runtime: Runtime, resets: int, status: str
) -> None:
    stand_in = ResettingStandIn(resets)
    runtime.messenger = GraphClient("page-token", "app-secret", base_url=stand_in.url, timeout=5)
    with runtime.db.transaction() as session:
        session.add(MessengerIdentity(psid="psid-one", last_interaction_at=runtime.now()))
        outbox.enqueue_messenger(
            session, key="test:one", psid="psid-one", message={"text": "招待"}, now=runtime.now()
        )
    worker = Worker(runtime)
    worker.cfg = dataclasses.replace(worker.cfg, backoff_base_seconds=0, backoff_max_seconds=0)
    for _ in range(4):
        worker.run(once=True)
    stand_in.server.shutdown()
    with runtime.db.transaction() as session:
        row = session.scalars(select(OutboundMessage)).one()
        outcomes = [entry["outcome"] for entry in row.history]
        assert (row.status, outcomes) == (status, ["unknown"] * resets + ["sent"] * (resets == 1))
        if status == "dead":
            assert row.last_error.startswith("outcome unknown twice")
    assert stand_in.received.count("psid-one") == 2


def test_the_console_shows_a_send_that_may_have_arrived_twice(runtime: Runtime) -> None:
    from tests.integration.test_console_helpers import logged_in

    stand_in = ResettingStandIn(1)
    runtime.messenger = GraphClient("page-token", "app-secret", base_url=stand_in.url, timeout=5)
    with runtime.db.transaction() as session:
        session.add(MessengerIdentity(psid="psid-one", last_interaction_at=runtime.now()))
        outbox.enqueue_messenger(
            session, key="test:one", psid="psid-one", message={"text": "招待"}, now=runtime.now()
        )
    worker = Worker(runtime)
    worker.cfg = dataclasses.replace(worker.cfg, backoff_base_seconds=0, backoff_max_seconds=0)
    worker.run(once=True)
    worker.run(once=True)
    stand_in.server.shutdown()
    html = logged_in(runtime, "boss", "admin").get("/console/outbox").get_data(as_text=True)
    assert "試行の履歴（2）" in html and "重複の可能性" in html
    assert "結果不明（届いた可能性あり）" in html and "送信済み" in html
