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
    """The codes listed under the tab asked for (すべて unless told; tab="" for the default)."""
    query.setdefault("tab", "all")
    html = client.get("/console/", query_string=query).get_data(as_text=True)
    import re

    return re.findall(r'data-code="(OC-[0-9A-Z]{6})"', html)


def _status(runtime: Runtime, code: str) -> str:
    with runtime.db.transaction() as db:
        return db.scalars(select(Application.status).where(Application.code == code)).one()


def test_queue_opens_on_ready_for_review_and_each_tab_holds_its_applications(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    ready = make_application(runtime, status="ready_for_review")
    waiting = make_application(runtime, status="awaiting_join_request")
    submitted = make_application(runtime, status="submitted")
    unsure = make_application(runtime, status="ready_for_review", verdict="needs_review")
    not_eligible = make_application(runtime, status="submitted", verdict="ineligible")
    approved = make_application(runtime, status="approved")
    invited = make_application(runtime, status="invited")
    rejected = make_application(runtime, status="rejected")
    withdrawn = make_application(runtime, status="withdrawn")
    assert _codes(reviewer, tab="") == [ready.code]  # the default tab: 確認待ち
    assert _codes(reviewer, tab="ready") == [ready.code]
    assert _codes(reviewer, tab="awaiting") == [waiting.code, submitted.code]
    assert _codes(reviewer, tab="review") == [unsure.code]
    assert _codes(reviewer, tab="ineligible") == [not_eligible.code]
    assert _codes(reviewer, tab="approved") == [approved.code, invited.code]
    assert _codes(reviewer, tab="rejected") == [rejected.code]
    assert len(_codes(reviewer, tab="all")) == 9 and withdrawn.code in _codes(reviewer)
    assert _codes(reviewer, tab="bogus") == [ready.code]  # junk: the default tab


def test_tabs_show_counts_in_order_with_the_current_one_marked(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    import re

    for status, verdict, n in (
        ("ready_for_review", "verified", 3),
        ("awaiting_join_request", "verified", 2),
        ("submitted", "needs_review", 1),
        ("approved", "verified", 4),
        ("rejected", "needs_review", 1),
        ("expired", "verified", 1),
    ):
        for _ in range(n):
            make_application(runtime, status=status, verdict=verdict)
    html = reviewer.get("/console/").get_data(as_text=True)
    nav = html[html.index('<nav class="tabs"') : html.index("</nav>", html.index('class="tabs"'))]
    tabs = re.findall(
        r'<a href="[^"]*"( class="active")?[^>]*>(\S+) <span class="count">(\d+)', nav
    )
    assert [(label, int(n), bool(active)) for active, label, n in tabs] == [
        ("確認待ち", 3, True),
        ("参加リクエスト待ち", 2, False),
        ("要確認", 1, False),
        ("対象外", 0, False),
        ("承認済み", 4, False),
        ("却下", 1, False),
        ("すべて", 12, False),
    ]
    assert 'aria-current="page"' in nav
    approved = reviewer.get("/console/?tab=approved").get_data(as_text=True)
    assert "承認済み <small>4 件</small>" in approved
    assert "approve-submit" not in approved  # nothing to decide in a decided tab


def test_tab_counts_follow_the_search(runtime: Runtime, reviewer: FlaskClient) -> None:
    make_application(runtime, status="ready_for_review", full_name="佐藤 花子")
    make_application(runtime, status="approved", full_name="佐藤 花子")
    make_application(runtime, status="ready_for_review", full_name="山田 太郎")
    html = reviewer.get("/console/", query_string={"tab": "rejected", "q": "佐藤"}).get_data(
        as_text=True
    )
    assert "条件に合う申込はありません" in html
    assert "ほかの状態に 2 件あります" in html  # a way out to すべて
    assert '承認済み <span class="count">1</span>' in html


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
    url = "/console/?tab=awaiting"
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
    html = reviewer.get("/console/?tab=review").get_data(as_text=True)
    for expected in ("射水市", "富山県", "要確認", "個人のメールアドレスです", "未確認", "4日"):
        assert expected in html


def test_bulk_approve_approves_legal_rows_and_reports_the_others(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    proven = {"email_proven_by": "messenger_ref", "email_proven_at": runtime.now()}
    ok1 = make_application(runtime, status="awaiting_join_request", **proven)
    ok2 = make_application(
        runtime, status="ready_for_review", join_request_seen_at=runtime.now(), **proven
    )
    done = make_application(runtime, status="rejected")
    response = post(
        reviewer,
        "/console/decisions/approve",
        {
            "codes": [ok1.code, ok2.code, done.code, "OC-ZZZZZZ"],
            "back": "/console/?verdict=verified",
            "join_request": "yes",  # ok1's request was not matched: the reviewer saw it
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/?verdict=verified"
    assert _status(runtime, ok1.code) == "approved"
    assert _status(runtime, ok2.code) == "approved"
    assert _status(runtime, done.code) == "rejected"
    html = reviewer.get("/console/").get_data(as_text=True)
    assert "2 件を承認しました" in html
    assert "2 件は承認できませんでした" in html and f"{done.code}（状態: 却下）" in html
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
    for url in ("/console/?tab=all", f"/console/applications/{app.code}"):
        html = reviewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in html
        if evil.startswith("<"):
            assert "&lt;script&gt;alert(" in html
