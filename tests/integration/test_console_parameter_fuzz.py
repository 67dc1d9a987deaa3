"""Every console route, every parameter it reads, hostile values: a 4xx at worst, never a 500.

The routes come from the app's url_map, so a new route is fuzzed from the day it exists (over
its path); its query and form parameters are listed in PARAMETERS, and a test fails until they
are. Runs on SQLite and PostgreSQL: PostgreSQL refuses NUL in text and integers beyond 32 bits
where SQLite stores them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import (
    Consultation,
    Event,
    FaqEntry,
    Group,
    JoinRequest,
    MemberQuestion,
    RejectionTemplate,
    SecretariatUser,
    Section,
)
from bot.runtime import Runtime
from tests.integration.test_console_helpers import csrf_of, make_user
from tests.integration.test_console_security import _seed_objects, console_routes

HOSTILE = [
    "²",
    "-1",
    "99999999999999999999999",
    "9999-12-31",
    "0000-00-00",
    "",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate, sent as the bytes ED A0 80
    "x" * 10_000,
    "'; DROP TABLE applications; --",
    "{{7*7}}",
    "１２",
]
QUEUE_ARGS = (
    "q",
    "verdict",
    "status",
    "prefecture",
    "service",
    "seen",
    "min_days",
    "order",
    "after",
    "before",
    "tab",
)
GROUP_FORM = {
    "kind": "village",
    "key": "village",
    "name": "村",
    "invite_url": "https://m.me/j/x",
    "capacity": "300",
    "seats_used": "0",
    "active": "1",
}
# endpoint -> (query-string parameters, form fields, valid form values the fuzzed field joins)
EVENT_FORM = {
    "kind": "study",
    "title": "財政勉強会",
    "date": "2030-01-11",
    "start": "21:00",
    "end": "22:00",
    "zoom_url": "https://zoom.us/j/555",
    "capacity": "30",
    "audience": "members",
    "repeat": "once",
}
SECTION_FIELDS = (
    "name",
    "kind",
    "description",
    "group_url",
    "leader_name",
    "keywords",
    "position",
    "introduce_at_grand",
    "active",
)
FAQ_FIELDS = ("question", "answer", "keywords", "position")
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]] = {
    "console.home": (QUEUE_ARGS, (), {}),
    "console.application": ((), (), {}),
    "console.add_note": ((), ("text",), {}),
    "console.approve_application": ((), ("identity_checked",), {}),
    "console.accept_pending_change": ((), (), {}),
    "console.discard_pending_change": ((), (), {}),
    "console.approve": ((), ("codes", "back", "approve_reason", "join_request", "only"), {}),
    "console.undo": ((), ("codes", "back"), {}),
    "console.close": ((), ("codes", "only", "close_reason", "back"), {"close_reason": "x"}),
    "console.claim": ((), ("back", "confirm_others"), {}),
    "console.release_claim": ((), ("back",), {}),
    "console.reject": (
        (),
        ("codes", "back", "notify", "reason", "template_id"),
        {"codes": "{code}"},
    ),
    "console.join_requests": (("before",), (), {}),
    "console.import_pasted": ((), ("text",), {}),
    "console.resolve": ((), ("code",), {}),
    "console.dismiss_join_request": ((), (), {}),
    "console.restore_join_request": ((), (), {}),
    "console.dismiss_selected": ((), ("ids",), {}),
    "console.groups": ((), (), {}),
    "console.create_group": ((), tuple(GROUP_FORM), GROUP_FORM),
    "console.edit_group": ((), tuple(GROUP_FORM), GROUP_FORM),
    "console.resolve_alert": ((), (), {}),
    "console.outbox_page": (("state", "channel", "before"), (), {}),
    "console.retry_message": (("state", "channel"), (), {}),
    "console.cancel_message": (("state", "channel"), (), {}),
    "console.pause_sending": ((), ("channel", "action", "reason"), {}),
    "console.quarantine": (("resolved",), (), {}),
    "console.resolve_quarantined": ((), (), {}),
    "console.inbox_page": (("state", "before"), (), {}),
    "console.retry_event": (("state",), (), {}),
    "console.dismiss_event": (("state",), (), {}),
    "console.audit_log": (("actor", "action", "from", "to", "before"), (), {}),
    "console.export_decisions": ((), ("from", "to", "actor"), {}),
    "console.users": ((), (), {}),
    "console.dashboard": ((), (), {}),
    "console.create_user": ((), ("name", "role", "password"), {}),
    "console.set_user_active": ((), ("active",), {}),
    "console.reset_user_password": ((), ("password",), {}),
    "console.unlock_user": ((), (), {}),
    "console.set_user_role": ((), ("role",), {}),
    "console.templates": ((), (), {}),
    "console.create_template": ((), ("label", "text"), {}),
    "console.update_template": ((), ("label", "text", "active"), {"text": "理由"}),
    "console.change_password": (
        (),
        ("current_password", "new_password", "new_password_confirm"),
        {},
    ),
    "console.login": (("next",), ("name", "password"), {}),
    "console.login_code": ((), ("code",), {}),
    "console.totp_settings": (("done",), ("code",), {}),
    # after the invitations (issue 17)
    "console.events": ((), (), {}),
    "console.create_event": ((), (*EVENT_FORM, "count", "skip_holidays"), EVENT_FORM),
    "console.events_from_schedule": ((), (), {}),
    "console.event_page": ((), (*EVENT_FORM, "count", "skip_holidays"), EVENT_FORM),
    "console.cancel_event": ((), ("confirm",), {}),
    "console.sections": (("state",), (), {}),
    "console.create_section": ((), SECTION_FIELDS, {"name": "法規課", "kind": "work"}),
    "console.edit_section": ((), SECTION_FIELDS, {"name": "法規課", "kind": "work"}),
    "console.set_section_active": ((), ("active",), {}),
    "console.questions_page": ((), (), {}),
    "console.question_reply": ((), ("reply",), {}),
    "console.question_close": ((), (), {}),
    "console.question_faq": ((), ("question", "answer", "keywords"), {}),
    "console.faq_page": ((), (), {}),
    "console.faq_create": ((), FAQ_FIELDS, {"question": "参加費は？", "answer": "無料です。"}),
    "console.faq_edit": ((), FAQ_FIELDS, {"question": "参加費は？", "answer": "無料です。"}),
    "console.faq_toggle": ((), (), {}),
    "console.consultations_page": ((), (), {}),
    "console.consultation_reply": ((), ("reply",), {}),
    "console.consultation_posted": ((), (), {}),
    "console.consultation_close": ((), (), {}),
    "console.consultation_sender": ((), ("reason",), {}),
}
# Not fuzzed with a logged-in client: logging out would end the session the walk relies on.
SKIPPED = {"console.logout", "console.static"}


def _encode(pairs: list[tuple[str, str]]) -> str:
    """A query string or form body; lone surrogates go out as the raw bytes a browser could send."""
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs
    )


def _ids(runtime: Runtime) -> dict[str, int]:
    """The id of a seeded row for each kind of <int:...> in a console URL."""
    make_user(runtime, "victim", "reviewer")
    with runtime.db.transaction() as db:
        return {
            "group_id": db.scalars(select(Group.id)).first() or 1,
            "request_id": db.scalars(select(JoinRequest.id)).first() or 1,
            "template_id": db.scalars(select(RejectionTemplate.id)).first() or 1,
            "event_id": db.scalars(select(Event.id)).first() or 1,
            "section_id": db.scalars(select(Section.id)).first() or 1,
            "question_id": db.scalars(select(MemberQuestion.id)).first() or 1,
            "entry_id": db.scalars(select(FaqEntry.id)).first() or 1,
            "consultation_id": db.scalars(select(Consultation.id)).first() or 1,
            "user_id": db.scalars(
                select(SecretariatUser.id).where(SecretariatUser.name == "victim")
            ).one(),
        }


def _urls(admin: FlaskClient, code: str, ids: dict[str, int]) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every console route, naming seeded rows; then hostile paths."""
    walk = []
    for endpoint, method, url in console_routes(admin.application):
        if endpoint in SKIPPED:
            continue
        seeded = url.replace("/applications/1", f"/applications/{code}")
        for arg, value in ids.items():
            if arg in _rule_arguments(admin, endpoint):
                seeded = seeded.replace("/1", f"/{value}", 1)
        walk.append((endpoint, method, seeded))
        if "/1" in url:  # a path argument: hostile ids and codes too
            for bad in ("99999999999999999999999", "0"):
                walk.append((endpoint, method, url.replace("/1", f"/{bad}", 1)))
            if "/applications/" in url:
                for bad in HOSTILE:
                    if bad:
                        path = quote(bad.encode("utf-8", "surrogatepass"), safe="")
                        walk.append((endpoint, method, url.replace("/1", f"/{path}", 1)))
    return walk


def _rule_arguments(client: FlaskClient, endpoint: str) -> set[str]:
    return {a for rule in client.application.url_map.iter_rules(endpoint) for a in rule.arguments}


def _requests(
    runtime: Runtime, admin: FlaskClient
) -> list[tuple[str, str, str, list[tuple[str, str]], list[tuple[str, str]]]]:
    """Every (endpoint, method, url, query, form) the walk sends."""
    sent = []
    code = _seed_objects(runtime)
    for endpoint, method, url in _urls(admin, code, _ids(runtime)):
        args, fields, valid = PARAMETERS.get(endpoint, ((), (), {}))
        base = [(k, v.replace("{code}", code)) for k, v in valid.items()]
        sent.append((endpoint, method, url, [], base))
        for name in args:
            for bad in HOSTILE:
                sent.append((endpoint, method, url, [(name, bad)], base))
        if method == "POST":
            for name in fields:
                for bad in HOSTILE:
                    form = [(k, v) for k, v in base if k != name] + [(name, bad)]
                    sent.append((endpoint, method, url, [], form))
    return sent


def test_every_console_route_declares_its_parameters(runtime: Runtime, admin: FlaskClient) -> None:
    endpoints = {e for e, _, _ in console_routes(admin.application)} - SKIPPED
    assert endpoints - set(PARAMETERS) == set()
    assert set(PARAMETERS) - endpoints == set()  # no stale entries


def test_hostile_parameters_never_give_a_500_or_a_traceback(
    runtime: Runtime, admin: FlaskClient
) -> None:
    admin.application.config["PROPAGATE_EXCEPTIONS"] = False  # collect 500s instead of raising
    failures: list[Any] = []
    statuses: dict[int, int] = {}
    requests = _requests(runtime, admin)
    for endpoint, method, url, query, form in requests:
        target = f"{url}?{_encode(query)}" if query else url
        if method == "GET":
            response = admin.get(target)
        else:
            body = _encode([*form, ("csrf_token", csrf_of(admin))])
            response = admin.post(
                target, data=body, content_type="application/x-www-form-urlencoded"
            )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        text = response.get_data(as_text=True)
        if response.status_code >= 500 or "Traceback" in text:
            failures.append((endpoint, method, target[:120], form[-1:], response.status_code))
        elif response.status_code == 400 and '<html lang="ja">' not in text:
            failures.append((endpoint, method, target[:120], "400 without a Japanese page"))
        assert "/console/login" not in response.headers.get("Location", "") or endpoint in (
            "console.login",
            "console.login_code",  # no password step pending: back to the login
            "console.change_password",
        ), (endpoint, target[:120], "the walk lost its session")
    assert not failures, "\n".join(repr(f) for f in failures)
    assert len(requests) > 1000
    assert statuses.get(400, 0) > 100  # the hostile values were read, not ignored
    assert admin.get("/console/users").status_code == 200  # still logged in as admin


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/console/?min_days=%C2%B2", "min_days"),
        ("/console/?min_days=%EF%BC%91%EF%BC%92", "min_days"),
        ("/console/?min_days=99999999999999999999999", "min_days"),
        ("/console/?before=20260101T000000.000000_99999999999999999999999", "before"),
        ("/console/?after=junk", "after"),
        ("/console/audit?to=9999-12-31", "to"),
        ("/console/audit?from=0000-00-00", "from"),
        ("/console/audit?before=%C2%B2", "before"),
        ("/console/outbox?before=99999999999999999999999", "before"),
        ("/console/inbox?before=-1", "before"),
        ("/console/join-requests?before=%00", "before"),
        ("/console/?q=a%00b", "q"),
    ],
)
def test_known_offenders_get_a_400_naming_the_parameter_in_japanese(
    admin: FlaskClient, url: str, parameter: str
) -> None:
    response = admin.get(url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "入力が正しくありません" in html and f"「{parameter}」の値が正しくありません" in html


def test_rejection_with_a_hostile_template_id_is_a_400(
    runtime: Runtime, admin: FlaskClient
) -> None:
    code = _seed_objects(runtime)
    for bad in ("²", "99999999999999999999999"):
        body = _encode([("codes", code), ("template_id", bad), ("csrf_token", csrf_of(admin))])
        response = admin.post(
            "/console/decisions/reject", data=body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 400, bad
        assert "「template_id」の値が正しくありません" in response.get_data(as_text=True)


@pytest.mark.parametrize("capacity", ["²", "１２", "99999999999999999999999", "-1"])
def test_group_capacity_that_is_no_number_is_a_form_error(
    admin: FlaskClient, capacity: str
) -> None:
    body = _encode([*{**GROUP_FORM, "capacity": capacity}.items(), ("csrf_token", csrf_of(admin))])
    response = admin.post(
        "/console/groups", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "定員は0〜1000000の整数（半角数字）で入力してください" in response.get_data(as_text=True)


def test_unknown_row_ids_beyond_an_integer_are_404(admin: FlaskClient) -> None:
    huge = "99999999999999999999999"
    for url in (f"/console/groups/{huge}", f"/console/join-requests/{huge}/dismiss"):
        response = (
            admin.get(url)
            if "groups" in url
            else admin.post(url, data={"csrf_token": csrf_of(admin)})
        )
        assert response.status_code == 404
        assert "ページが見つかりません" in response.get_data(as_text=True)


def test_group_that_would_duplicate_another_is_a_form_error_not_a_500(
    runtime: Runtime, admin: FlaskClient
) -> None:
    def send(url: str, form: dict[str, str]) -> Any:
        body = _encode([*form.items(), ("csrf_token", csrf_of(admin))])
        return admin.post(url, data=body, content_type="application/x-www-form-urlencoded")

    assert send("/console/groups", GROUP_FORM).status_code == 302
    again = send("/console/groups", GROUP_FORM)
    assert again.status_code == 400
    assert "同じ種別・キー・名前のグループがすでにあります" in again.get_data(as_text=True)
    assert send("/console/groups", {**GROUP_FORM, "name": "村2"}).status_code == 302
    with runtime.db.transaction() as db:
        second = db.scalars(select(Group.id).where(Group.name == "村2")).one()
    renamed = send(f"/console/groups/{second}", GROUP_FORM)
    assert renamed.status_code == 400
    assert "同じ種別・キー・名前のグループがすでにあります" in renamed.get_data(as_text=True)
    assert send(f"/console/groups/{second}", {**GROUP_FORM, "name": "村2"}).status_code == 302
    with runtime.db.transaction() as db:
        assert sorted(db.scalars(select(Group.name))) == ["村", "村2"]


def test_unknown_console_url_and_wrong_method_get_japanese_pages(admin: FlaskClient) -> None:
    missing = admin.get("/console/no-such-page")
    assert missing.status_code == 404 and "ページが見つかりません" in missing.get_data(as_text=True)
    wrong = admin.get("/console/logout")
    assert wrong.status_code == 405 and "この方法では開けません" in wrong.get_data(as_text=True)


def test_webhooks_keep_their_own_error_answers(admin: FlaskClient) -> None:
    response = admin.get("/webhooks/forms")  # POST only
    assert response.status_code == 405
    assert "この方法では開けません" not in response.get_data(as_text=True)
