"""The console's 課 page on every engine: list by kind, add, edit, deactivate and reactivate,
validation in Japanese with nothing typed lost, CSRF, escaping, roles and the audit log."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import AuditEntry, Section
from bot.runtime import Runtime
from tests.integration.test_console_helpers import console_app, post

GOOD = {
    "name": "ライティング課",
    "kind": "skill",
    "description": "伝わる文章を書く力を磨く課です。",
    "group_url": "https://www.facebook.com/groups/writing",
    "leader_name": "山田 花子",
    "keywords": "文章\r\n広報",
    "position": "10",
    "active": "1",
}


def sections(runtime: Runtime) -> list[Section]:
    with runtime.db.transaction() as db:
        return list(db.scalars(select(Section).order_by(Section.id)))


def actions(runtime: Runtime) -> list[tuple[str, str, int | None]]:
    with runtime.db.transaction() as db:
        return [
            (a.action, a.actor, a.application_id)
            for a in db.scalars(
                select(AuditEntry).where(AuditEntry.action.like("section%")).order_by(AuditEntry.id)
            )
        ]


def test_a_reviewer_adds_edits_deactivates_and_reactivates_a_section_audited(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    response = post(reviewer, "/console/sections", GOOD)
    assert response.status_code == 302
    (section,) = sections(runtime)
    assert (section.name, section.kind, section.keywords, section.active) == (
        "ライティング課",
        "skill",
        "文章\n広報",
        True,
    )
    page = reviewer.get("/console/sections").get_data(as_text=True)
    assert "共通スキル育成型（1）" in page and "https://www.facebook.com/groups/writing" in page
    edited = {**GOOD, "description": "文章の課", "introduce_at_grand": "1"}
    assert post(reviewer, f"/console/sections/{section.id}", edited).status_code == 302
    post(reviewer, f"/console/sections/{section.id}/active", {"active": "0"})
    inactive = reviewer.get("/console/sections?state=inactive").get_data(as_text=True)
    assert "ライティング課" in inactive and "有効にする" in inactive
    active = reviewer.get("/console/sections?state=active").get_data(as_text=True)
    assert "<strong>ライティング課</strong>" not in active
    post(reviewer, f"/console/sections/{section.id}/active", {"active": "1"})
    (section,) = sections(runtime)
    assert (section.description, section.introduce_at_grand, section.active) == (
        "文章の課",
        True,
        True,
    )
    assert actions(runtime) == [
        ("section_created", "rev", None),
        ("section_updated", "rev", None),
        ("section_deactivated", "rev", None),
        ("section_activated", "rev", None),
    ]
    with runtime.db.transaction() as db:
        updated = db.scalars(select(AuditEntry).where(AuditEntry.action == "section_updated")).one()
        assert updated.detail["before"] == {
            "description": "伝わる文章を書く力を磨く課です。",
            "introduce_at_grand": False,
        }


def test_saving_an_unchanged_section_writes_no_audit_entry(
    runtime: Runtime, admin: FlaskClient
) -> None:
    post(admin, "/console/sections", GOOD)
    (section,) = sections(runtime)
    post(admin, f"/console/sections/{section.id}", GOOD)
    post(admin, f"/console/sections/{section.id}/active", {"active": "1"})
    assert [a for a, _, _ in actions(runtime)] == ["section_created"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "課の名前を入力してください"),
        ({"name": "課" * 101}, "100文字以内"),
        ({"kind": "castle"}, "種類は"),
        ({"group_url": "http://www.facebook.com/groups/x"}, "https://www.facebook.com/groups/"),
        ({"group_url": "https://example.com/groups/x"}, "https://www.facebook.com/groups/"),
        ({"group_url": "javascript:alert(1)"}, "https://www.facebook.com/groups/"),
        ({"description": "あ" * 301}, "300文字以内"),
        ({"leader_name": "あ" * 101}, "課長の表示名"),
        ({"position": "abc"}, "表示順"),
        ({"position": "100001"}, "表示順"),
    ],
)
def test_bad_values_are_refused_in_japanese_and_what_was_typed_stays(
    runtime: Runtime, admin: FlaskClient, change: dict[str, str], message: str
) -> None:
    response = post(admin, "/console/sections", {**GOOD, **change})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'value="伝わる文章を書く力を磨く課です。"' in html or "description" in change  # kept
    assert sections(runtime) == []


def test_a_taken_name_is_refused_on_add_and_on_edit(runtime: Runtime, admin: FlaskClient) -> None:
    post(admin, "/console/sections", GOOD)
    post(admin, "/console/sections", {**GOOD, "name": "図書室", "kind": "hobby"})
    again = post(admin, "/console/sections", {**GOOD, "name": " ﾗｲﾃｨﾝｸﾞ課 "})  # same once cleaned
    assert again.status_code == 400 and "同じ名前の課がすでにあります" in again.get_data(
        as_text=True
    )
    library = next(s for s in sections(runtime) if s.name == "図書室")
    renamed = post(admin, f"/console/sections/{library.id}", {**GOOD, "kind": "hobby"})
    assert renamed.status_code == 400
    html = renamed.get_data(as_text=True)
    assert "同じ名前の課がすでにあります" in html
    assert 'value="ライティング課"' in html  # the typed name stays on the page
    assert sorted(s.name for s in sections(runtime)) == ["ライティング課", "図書室"]


def test_a_hostile_name_is_escaped_everywhere(runtime: Runtime, admin: FlaskClient) -> None:
    hostile = '<script>alert("x")</script>'
    assert post(admin, "/console/sections", {**GOOD, "name": hostile}).status_code == 302
    (section,) = sections(runtime)
    for url in ("/console/sections", f"/console/sections/{section.id}", "/console/audit"):
        html = admin.get(url).get_data(as_text=True)
        assert "<script>alert" not in html, url
    assert "&lt;script&gt;alert(" in admin.get("/console/sections").get_data(as_text=True)


def test_posts_without_the_csrf_token_change_nothing(runtime: Runtime, admin: FlaskClient) -> None:
    assert admin.post("/console/sections", data=GOOD).status_code == 400
    post(admin, "/console/sections", GOOD)
    (section,) = sections(runtime)
    refused = admin.post(f"/console/sections/{section.id}/active", data={"active": "0"})
    assert refused.status_code == 400
    refused = admin.post(f"/console/sections/{section.id}", data={**GOOD, "name": "別の課"})
    assert refused.status_code == 400
    (section,) = sections(runtime)
    assert (section.name, section.active) == ("ライティング課", True)


def test_the_page_needs_a_login_and_answers_bad_parameters_with_400(
    runtime: Runtime, admin: FlaskClient
) -> None:
    anonymous = console_app(runtime).test_client()
    assert anonymous.get("/console/sections").status_code == 302
    assert anonymous.post("/console/sections", data=GOOD).status_code in (302, 400)
    assert admin.get("/console/sections?state=deleted").status_code == 400
    assert admin.get("/console/sections/999999").status_code == 404
    post(admin, "/console/sections", GOOD)
    (section,) = sections(runtime)
    assert post(admin, f"/console/sections/{section.id}/active", {"active": "x"}).status_code == 400
    assert sections(runtime)[0].active


def test_the_nav_links_to_the_page_for_every_role(
    reviewer: FlaskClient, admin: FlaskClient
) -> None:
    for client in (reviewer, admin):
        assert 'href="/console/sections">課</a>' in client.get("/console/sections").get_data(
            as_text=True
        )
