"""The User Profile API is asked after the linking commits, by the worker, once per person."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot import create_app
from bot.messaging import outbox
from bot.messaging.worker import Worker
from bot.models import MessengerIdentity, OutboundMessage, SystemFlag
from bot.runtime import Runtime
from integrations.local import LocalMessenger
from integrations.ports import DeliveryError, FailureKind, UserProfile
from tests.integration.messenger_threads import approved_applicant, body, referral_item
from tests.integration.test_messenger_flow import post


class ProfileMessenger(LocalMessenger):
    """Records sends; answers the User Profile API with a set name, or a set error."""

    def __init__(self, name: str = "山田 太郎", error: DeliveryError | None = None) -> None:
        super().__init__()
        self.name, self.error = name, error
        self.asked: list[str] = []

    def user_profile(self, psid: str) -> UserProfile:
        self.asked.append(psid)
        if self.error is not None:
            raise self.error
        first, _, last = self.name.partition(" ")
        return UserProfile(name=self.name, first_name=last, last_name=first)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return approved_applicant(runtime)


def link(rt: Runtime, messenger: ProfileMessenger, psid: str = "p1") -> None:
    rt.messenger = rt.profiles = messenger
    client: FlaskClient = create_app(runtime=rt).test_client()
    post(client, rt, body(referral_item(psid, 1, "tok-OC-AAAAAA")))


def handle_events_only(rt: Runtime) -> None:
    worker = Worker(rt)
    for event_id in worker.claim_inbound():
        worker.process_event(event_id)


def identity(rt: Runtime, psid: str = "p1") -> Any:
    with rt.db.transaction() as s:
        return s.scalars(select(MessengerIdentity).where(MessengerIdentity.psid == psid)).one()


def profile_rows(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.db.transaction() as s:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.channel == outbox.PROFILE))
        return [(r.recipient, r.status, r.purpose) for r in rows]


def test_linking_queues_the_profile_call_instead_of_making_it(rt: Runtime) -> None:
    messenger = ProfileMessenger()
    link(rt, messenger)
    handle_events_only(rt)
    assert messenger.asked == []  # nothing remote happened inside the linking transaction
    assert identity(rt).name == ""
    assert profile_rows(rt) == [("p1", "pending", "profile_lookup")]
    Worker(rt).run(once=True)
    assert messenger.asked == ["p1"]
    person = identity(rt)
    assert (person.name, person.first_name, person.last_name) == ("山田 太郎", "太郎", "山田")
    assert profile_rows(rt) == [("p1", "sent", "profile_lookup")]


def test_a_person_linked_twice_is_looked_up_once(rt: Runtime) -> None:
    messenger = ProfileMessenger()
    link(rt, messenger)
    Worker(rt).run(once=True)
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(referral_item("p1", 3, "tok-OC-AAAAAA")))
    Worker(rt).run(once=True)
    assert messenger.asked == ["p1"]
    assert len(profile_rows(rt)) == 1


def test_a_transport_without_profiles_queues_nothing(rt: Runtime) -> None:
    rt.profiles = None
    client = create_app(runtime=rt).test_client()
    post(client, rt, body(referral_item("p1", 1, "tok-OC-AAAAAA")))
    Worker(rt).run(once=True)
    assert profile_rows(rt) == []
    assert identity(rt).name == ""


def test_a_name_the_database_cannot_hold_is_stored_cleaned(rt: Runtime) -> None:
    messenger = ProfileMessenger(name="山田\x00 " + "太" * 300)
    link(rt, messenger)
    Worker(rt).run(once=True)
    person = identity(rt)
    assert "\x00" not in person.name and len(person.name) == 200
    assert len(person.first_name) == 100


def test_a_per_person_profile_error_fails_only_that_call(rt: Runtime) -> None:
    refused = DeliveryError(FailureKind.UNREACHABLE, "(#100) no profile", code=100, subcode=2018218)
    messenger = ProfileMessenger(error=refused)
    link(rt, messenger)
    Worker(rt).run(once=True)
    assert profile_rows(rt) == [("p1", "dead", "profile_lookup")]
    person = identity(rt)
    assert person.unreachable_at is None  # the profile call says nothing about sending
    assert len(messenger.sent) >= 3  # the invitations went all the same


def test_a_token_error_on_a_profile_call_pauses_messenger_sending(rt: Runtime) -> None:
    expired = DeliveryError(FailureKind.AUTH, "(#190) token expired", code=190, cause="token")
    messenger = ProfileMessenger(error=expired)
    link(rt, messenger)
    handle_events_only(rt)
    worker = Worker(rt)
    profile_id = _profile_id(rt)
    assert profile_id in worker.claim_outbound()
    assert worker.deliver(profile_id) == "pending"  # kept for when sending resumes
    with rt.db.transaction() as s:
        paused = outbox.paused_channels(s)
        assert list(paused) == ["messenger"]
        assert s.get(SystemFlag, outbox.pause_flag("profile")) is None


def _profile_id(rt: Runtime) -> int:
    with rt.db.transaction() as s:
        return s.scalars(
            select(OutboundMessage.id).where(OutboundMessage.channel == outbox.PROFILE)
        ).one()
