"""The queue, decisions and the application page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import Application, AuditEntry, ReviewerNote
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    console_app,
    login,
    make_application,
    post,
)


def _codes(client: FlaskClient, **query: str) -> list[str]:
    html = client.get("/console/", query_string=query).get_data(as_text=True)
    import re

    return re.findall(r'data-code="(OC-[0-9A-Z]{6})"', html)


def _status(runtime: Runtime, code: str) -> str:
    with runtime.db.transaction() as db:
        return db.scalars(select(Application.status).where(Application.code == code)).one()


def test_queue_lists_only_applications_awaiting_a_decision(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    waiting = make_application(runtime, status="awaiting_join_request")
    ready = make_application(runtime, status="ready_for_review")
    submitted = make_application(runtime, status="submitted")
    approved = make_application(runtime, status="approved")
    rejected = make_application(runtime, status="rejected")
    codes = _codes(reviewer)
    assert set(codes) == {waiting.code, ready.code, submitted.code}
    assert approved.code not in codes and rejected.code not in codes


def test_queue_filters_each_narrow_the_list(runtime: Runtime, reviewer: FlaskClient) -> None:
    a = make_application(
        runtime, verdict="verified", prefecture="富山県", service_type="地方公務員", days_ago=1
    )
    b = make_application(
        runtime,
        verdict="needs_review",
        prefecture="東京都",
        service_type="国家公務員",
        days_ago=10,
        join_request_seen_at=runtime.now(),
        status="ready_for_review",
    )
    assert _codes(reviewer, verdict="needs_review") == [b.code]
    assert _codes(reviewer, status="ready_for_review") == [b.code]
    assert _codes(reviewer, prefecture="富山県") == [a.code]
    assert _codes(reviewer, service="national") == [b.code]
    assert _codes(reviewer, service="local") == [a.code]
    assert _codes(reviewer, seen="yes") == [b.code]
    assert _codes(reviewer, seen="no") == [a.code]
    assert _codes(reviewer, min_days="5") == [b.code]
    assert _codes(reviewer, verdict="bogus") == [b.code, a.code]  # junk ignored


def test_queue_order_oldest_or_newest_first(runtime: Runtime, reviewer: FlaskClient) -> None:
    old = make_application(runtime, days_ago=9)
    new = make_application(runtime, days_ago=2)
    assert _codes(reviewer) == [old.code, new.code]
    assert _codes(reviewer, order="newest") == [new.code, old.code]


@pytest.mark.parametrize(
    "query",
    ["花子", "はなこ", "ハナコ", "HANAKO@", "Hanako Suzuki", "ｏｃ－{code}", "{code_lower}"],
)
def test_search_by_name_kana_email_code_and_facebook_name(
    runtime: Runtime, reviewer: FlaskClient, query: str
) -> None:
    target = make_application(
        runtime,
        full_name="鈴木 花子",
        kana="スズキ ハナコ",
        email="hanako@city.example.lg.jp",
        facebook_name="Hanako Suzuki",
    )
    make_application(runtime, full_name="山田 太郎", kana="ヤマダ タロウ")
    query = query.format(code=target.code[3:], code_lower=target.code.lower())
    assert _codes(reviewer, q=query) == [target.code]


def test_keyset_pages_cover_every_row_once_both_ways(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    import dataclasses
    import re

    runtime.settings = runtime.settings.replace(
        console=dataclasses.replace(runtime.settings.console, page_size=3)
    )
    same_time = runtime.now() - timedelta(days=3)
    made = [make_application(runtime, submitted_at=same_time).code for _ in range(4)]
    made += [make_application(runtime, days_ago=d).code for d in (2, 1, 0)]
    client = console_app(runtime).test_client()
    login(client, "rev")
    seen: list[str] = []
    url = "/console/"
    pages = []
    while url:
        html = client.get(url).get_data(as_text=True)
        page = re.findall(r'data-code="(OC-[0-9A-Z]{6})"', html)
        pages.append(page)
        seen += page
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert seen == made  # ties on submitted_at broken by id: nothing lost or repeated
    assert [len(p) for p in pages] == [3, 3, 1]
    prev = re.search(r'href="([^"]+)" rel="prev"', html)
    assert prev is not None
    back = client.get(prev.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'data-code="(OC-[0-9A-Z]{6})"', back) == pages[1]


def test_row_shows_organization_verdict_reasons_join_request_and_days(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    make_application(
        runtime,
        verdict="needs_review",
        days_ago=4,
        organization_name="射水市",
        reasons=[{"code": "personal_email", "message": "個人のメールアドレスです"}],
    )
    html = reviewer.get("/console/").get_data(as_text=True)
    for expected in ("射水市", "富山県", "要確認", "個人のメールアドレスです", "未確認", "4日"):
        assert expected in html


def test_bulk_approve_approves_legal_rows_and_reports_the_others(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    ok1 = make_application(runtime, status="awaiting_join_request")
    ok2 = make_application(runtime, status="ready_for_review")
    done = make_application(runtime, status="rejected")
    response = post(
        reviewer,
        "/console/decisions/approve",
        {
            "codes": [ok1.code, ok2.code, done.code, "OC-ZZZZZZ"],
            "back": "/console/?verdict=verified",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/?verdict=verified"
    assert _status(runtime, ok1.code) == "approved"
    assert _status(runtime, ok2.code) == "approved"
    assert _status(runtime, done.code) == "rejected"
    html = reviewer.get("/console/").get_data(as_text=True)
    assert "2 件を承認しました" in html
    assert "2 件は承認できませんでした" in html and done.code in html
    with runtime.db.transaction() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "approve")).all()
        assert {e.actor for e in entries} == {"rev"} and len(entries) == 2


def test_approve_refuses_an_offsite_back_url(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = make_application(runtime)
    response = post(
        reviewer, "/console/decisions/approve", {"codes": app.code, "back": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/console/"


def test_reject_with_a_template_and_telling_the_applicant(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime)
    reviewer.get("/console/")  # seeds the templates
    from bot.models import RejectionTemplate

    with runtime.db.transaction() as db:
        template = db.scalars(select(RejectionTemplate).order_by(RejectionTemplate.id)).first()
        assert template is not None
        template_id, text = template.id, template.text
    post(
        reviewer,
        "/console/decisions/reject",
        {"codes": app.code, "template_id": str(template_id), "notify": "1"},
    )
    with runtime.db.transaction() as db:
        stored = db.scalars(select(Application).where(Application.code == app.code)).one()
        assert stored.status == "rejected"
        assert stored.decision_reason == text
        assert stored.reason_shared is True


def test_reject_with_free_text_without_telling(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = make_application(runtime)
    post(reviewer, "/console/decisions/reject", {"codes": app.code, "reason": "退職済みと確認"})
    with runtime.db.transaction() as db:
        stored = db.scalars(select(Application).where(Application.code == app.code)).one()
        assert (stored.status, stored.decision_reason, stored.reason_shared) == (
            "rejected",
            "退職済みと確認",
            False,
        )


def test_reject_without_a_reason_changes_nothing(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = make_application(runtime)
    post(reviewer, "/console/decisions/reject", {"codes": app.code, "reason": "  "})
    assert _status(runtime, app.code) == "awaiting_join_request"
    assert "理由" in reviewer.get("/console/").get_data(as_text=True)


def test_application_page_shows_everything_and_audits_the_view(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(
        runtime,
        email="same@example.jp",
        answers={"お名前": "山田 太郎", "独自の質問（未対応）": "自由な回答"},
        reasons=[{"code": "org_unknown", "message": "所属が登録簿にありません"}],
    )
    earlier = make_application(runtime, email="same@example.jp", status="expired", days_ago=60)
    html = reviewer.get(f"/console/applications/{app.code.lower()}").get_data(as_text=True)
    for expected in (
        "独自の質問（未対応）",
        "自由な回答",
        "所属が登録簿にありません",
        earlier.code,
        "未連携",
        "メモ",
    ):
        assert expected in html
    with runtime.db.transaction() as db:
        viewed = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "application_viewed")
        ).one()
        assert viewed.actor == "rev" and viewed.application_id is not None


def test_history_shows_who_when_and_why_in_tokyo_time(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime)
    post(reviewer, "/console/decisions/reject", {"codes": app.code, "reason": "確認できず"})
    with runtime.db.transaction() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "reject")).one()
        local = entry.at.astimezone(runtime.settings.tz).strftime("%Y-%m-%d %H:%M")
    html = reviewer.get(f"/console/applications/{app.code}").get_data(as_text=True)
    assert local in html and "確認できず" in html and "却下" in html


def test_reviewer_adds_a_note(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = make_application(runtime)
    post(reviewer, f"/console/applications/{app.code}/notes", {"text": "電話で確認済み"})
    with runtime.db.transaction() as db:
        note = db.scalars(select(ReviewerNote)).one()
        assert (note.author, note.text) == ("rev", "電話で確認済み")
    assert "電話で確認済み" in reviewer.get(f"/console/applications/{app.code}").get_data(
        as_text=True
    )


def test_unknown_application_is_404(reviewer: FlaskClient) -> None:
    assert reviewer.get("/console/applications/OC-ZZZZZZ").status_code == 404


@pytest.mark.parametrize("evil", ['<script>alert("x")</script>', '=HYPERLINK("http://x","y")'])
def test_applicant_text_is_escaped_everywhere(
    runtime: Runtime, reviewer: FlaskClient, evil: str
) -> None:
    app = make_application(
        runtime,
        full_name=evil,
        facebook_name=evil,
        answers={evil: evil},
        reasons=[{"code": "x", "message": evil}],
    )
    for url in ("/console/", f"/console/applications/{app.code}"):
        html = reviewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in html
        if evil.startswith("<"):
            assert "&lt;script&gt;alert(" in html
