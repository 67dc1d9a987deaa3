"""/stats and /stats.json (the community's public numbers) and the console's dashboard, on
every engine: the numbers agree with the rows, nothing personal comes out, small counts are
banded, the cache holds numbers for its TTL, and text is escaped."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.config import ConfigError, parse_settings
from bot.models import Application, Group, Invitation, Section
from bot.onboarding.registry import LOCAL_KINDS, load_registry
from bot.runtime import Runtime
from bot.stats import community
from bot.stats.community import (
    CommunityNumbers,
    MonthNumbers,
    PrefectureNumbers,
    build_registry_view,
)
from tests.integration.test_console_helpers import console_app

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 2026-11-20 12:00 in Tokyo
_serial = itertools.count(1)

# organization codes of the registry (looked up by name in the tests' own helper below)
TOYAMA_CITY, TAKAOKA, TOYAMA_PREF, FUNAHASHI = "162019", "162027", "160008", "163210"
CHIYODA, SAPPORO, SAPPORO_CHUO_WARD, SOUMUSHOU = "131016", "011002", "011011", "N10000"
HIEZU = "313840"  # 日吉津村, 鳥取県: one member only (a small count)


@pytest.fixture
def clock(runtime: Runtime) -> Iterator[list[datetime]]:
    """The runtime's clock, movable by assigning clock[0]."""
    now = [NOW]
    runtime.now = lambda: now[0]
    yield now


@pytest.fixture
def app(runtime: Runtime, clock: list[datetime]) -> Flask:
    return console_app(runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def add(
    runtime: Runtime,
    status: str,
    org: str | None,
    *,
    approved: datetime | None = None,
    **fields: Any,
) -> None:
    """Write one application row with SQLAlchemy (distinctive personal data by default)."""
    n = next(_serial)
    values: dict[str, Any] = {
        "code": f"OC-ZQ{n:04d}",
        "link_token": f"secret-token-{n:04d}",
        "status": status,
        "email": f"kojin.{n:04d}@mail.example.jp",
        "full_name": f"秘密 花子{n:04d}",
        "kana": "ヒミツ ハナコ",
        "facebook_name": f"Hanako Himitsu {n:04d}",
        "organization_code": org,
        "organization_text": f"所属テキスト{n:04d}",
        "department": f"秘密課{n:04d}",
        "submitted_at": (approved or NOW) - timedelta(days=3),
        "approved_at": approved,
    }
    values.update(fields)
    with runtime.db.transaction() as db:
        db.add(Application(**values))


def seed(runtime: Runtime) -> None:
    """Members of several governments and kinds, plus applications that are not members."""
    month_ago = NOW - timedelta(days=31)
    for _ in range(4):
        add(runtime, "invited", TOYAMA_CITY, approved=NOW - timedelta(days=2))
    add(runtime, "approved", TOYAMA_CITY, approved=month_ago)
    add(runtime, "approved", TAKAOKA, approved=month_ago)
    add(runtime, "invited", TOYAMA_PREF, approved=NOW - timedelta(days=400))
    add(runtime, "invited", CHIYODA, approved=NOW - timedelta(days=800))  # older than 24 months
    add(runtime, "approved", SAPPORO_CHUO_WARD, approved=month_ago)  # a ward counts as its city
    add(runtime, "invited", SAPPORO, approved=month_ago)
    add(runtime, "invited", SOUMUSHOU, approved=month_ago)
    add(runtime, "approved", HIEZU, approved=NOW - timedelta(days=5))
    add(runtime, "approved", None, approved=NOW - timedelta(days=5))  # unresolved organization
    add(runtime, "approved", "999999", approved=NOW - timedelta(days=5))  # unknown code
    # not members: open, decided against, withdrawn after approval
    add(runtime, "ready_for_review", FUNAHASHI)
    add(runtime, "awaiting_join_request", FUNAHASHI)
    add(runtime, "rejected", FUNAHASHI)
    add(runtime, "withdrawn", FUNAHASHI, approved=month_ago)
    add(runtime, "duplicate", FUNAHASHI)
    add(runtime, "expired", FUNAHASHI)


def published(n: int) -> int | str:
    """The small-count rule as the README states it, written again here."""
    return "1-2" if n in (1, 2) else n


def recount(runtime: Runtime) -> dict[str, Any]:
    """The numbers, counted in the test from the rows (not through bot.stats)."""
    registry = load_registry()
    city_of_ward = {w.code: org.code for org in registry for w in org.wards}
    with runtime.db.transaction() as db:
        rows = db.execute(
            select(Application.status, Application.organization_code, Application.approved_at)
        ).all()
    members = [(code, at) for status, code, at in rows if status in ("approved", "invited")]
    orgs = Counter()
    for code, _ in members:
        code = city_of_ward.get(code or "", code)
        if code and registry.get(code) is not None:
            orgs[code] += 1
    local = {c: n for c, n in orgs.items() if registry.get(c).kind in LOCAL_KINDS}  # type: ignore[union-attr]
    national = {c: n for c, n in orgs.items() if c not in local}
    by_pref: Counter[str] = Counter()
    govs_by_pref: Counter[str] = Counter()
    for c, n in local.items():
        by_pref[registry.get(c).prefecture] += n  # type: ignore[union-attr]
        govs_by_pref[registry.get(c).prefecture] += 1  # type: ignore[union-attr]
    months: Counter[str] = Counter()
    tokyo = runtime.settings.tz
    for _, at in members:
        months[at.astimezone(tokyo).strftime("%Y-%m")] += 1
    return {
        "members": len(members),
        "local": len(local),
        "national": sorted(registry.get(c).name for c in national),  # type: ignore[union-attr]
        "national_members": sum(national.values()),
        "by_pref": by_pref,
        "govs_by_pref": govs_by_pref,
        "months": months,
    }


def get_json(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/stats.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return json.loads(response.get_data())


def test_stats_json_agrees_with_counts_recomputed_from_the_rows(
    runtime: Runtime, client: FlaskClient
) -> None:
    seed(runtime)
    with runtime.db.transaction() as db:
        db.add_all(
            [
                Section(name="みんなの財政課", kind="work"),
                Section(name="ライティング課", kind="skill"),
                Section(name="休止中の課", kind="hobby", active=False),
            ]
        )
    expected = recount(runtime)
    doc = get_json(client)

    assert doc["members"] == expected["members"] == 14
    assert doc["sections"] == 2  # active 課 only
    page = client.get("/stats").get_data(as_text=True)
    assert re.search(r'<span class="big">2</span><span class="unit">課</span>', page)
    assert doc["local_governments"]["total"] == 1788
    assert doc["local_governments"]["taking_part"] == expected["local"] == 6
    assert doc["local_governments"]["share_percent"] == round(100 * 6 / 1788, 1)
    assert doc["national_bodies"]["taking_part"] == len(expected["national"]) == 1
    assert doc["national_bodies"]["names"] == expected["national"] == ["総務省"]
    assert doc["national_bodies"]["members"] == published(expected["national_members"])
    prefectures = {p["name"]: p for p in doc["prefectures"]}
    assert len(prefectures) == 47
    assert sum(p["local_governments"] for p in prefectures.values()) == 1788
    for name, p in prefectures.items():
        assert p["taking_part"] == expected["govs_by_pref"][name] == len(p["participating"])
        assert p["members"] == published(expected["by_pref"][name])
    assert prefectures["富山県"]["participating"] == ["富山県", "富山市", "高岡市"]
    assert prefectures["富山県"]["members"] == 7
    assert prefectures["北海道"]["participating"] == ["札幌市"]
    assert prefectures["東京都"]["participating"] == ["千代田区"]
    months = doc["members_by_month"]
    assert len(months) == 24
    assert months[-1]["month"] == "2026-11" and months[0]["month"] == "2024-12"
    for m in months:
        assert m["members"] == published(expected["months"][m["month"]])
    assert months[-1]["members"] == 7  # 4 in 富山市, 日吉津村, the unresolved and the unknown code
    assert months[-2]["members"] == 5
    assert "2024-09" not in {m["month"] for m in months}  # the 800-day-old member: total only


def test_nothing_personal_reaches_the_page_or_the_json(
    runtime: Runtime, client: FlaskClient
) -> None:
    seed(runtime)
    with runtime.db.transaction() as db:
        people = db.scalars(select(Application)).all()
        traces = [
            t
            for a in people
            for t in (
                a.code,
                a.link_token,
                a.email,
                a.full_name,
                a.facebook_name,
                a.organization_text,
                a.department,
                "秘密",
                "Himitsu",
                "kojin",
                a.submitted_at.astimezone(runtime.settings.tz).strftime("%Y-%m-%d"),
            )
        ]
    html = client.get("/stats").get_data(as_text=True)
    body = client.get("/stats.json").get_data(as_text=True)
    for trace in traces:
        assert trace not in html and trace not in body, trace
    assert "2026-11-20T12:00:00+09:00" in body  # the only instant: the count's own time
    assert "2026年11月20日 12:00" in html


def test_small_counts_are_published_as_a_band_and_never_per_government(
    runtime: Runtime, client: FlaskClient
) -> None:
    seed(runtime)
    doc = get_json(client)
    tottori = next(p for p in doc["prefectures"] if p["name"] == "鳥取県")
    assert tottori["members"] == "1-2" and tottori["participating"] == ["日吉津村"]
    assert doc["national_bodies"]["members"] == "1-2"
    for p in doc["prefectures"]:
        assert p["members"] == 0 or p["members"] == "1-2" or p["members"] >= 3
        assert all(isinstance(name, str) for name in p["participating"])  # names, no counts
    html = client.get("/stats").get_data(as_text=True)
    row = (
        '<th scope="row">鳥取県</th><td class="num">1</td>'
        f'<td class="num">{tottori["local_governments"]}</td>'
        f'<td class="num">{tottori["share_percent"]}%</td><td class="num">1〜2</td>'
    )
    assert row in html
    assert "1〜2" in html


def test_one_or_two_members_in_all_are_a_band_too(runtime: Runtime, client: FlaskClient) -> None:
    add(runtime, "approved", TOYAMA_CITY, approved=NOW)
    doc = get_json(client)
    assert doc["members"] == "1-2"
    assert doc["members_by_month"][-1]["members"] == "1-2"
    assert next(p for p in doc["prefectures"] if p["name"] == "富山県")["members"] == "1-2"


def test_the_cache_serves_its_numbers_until_the_ttl_then_fresh_ones(
    runtime: Runtime, client: FlaskClient, clock: list[datetime]
) -> None:
    assert runtime.settings.stats.cache_seconds == 300
    for _ in range(3):
        add(runtime, "approved", TOYAMA_CITY, approved=NOW)
    assert get_json(client)["members"] == 3
    for _ in range(2):
        add(runtime, "approved", TAKAOKA, approved=NOW)
    clock[0] = NOW + timedelta(seconds=299)
    stale = get_json(client)
    assert stale["members"] == 3 and stale["as_of"] == "2026-11-20T12:00:00+09:00"
    assert "高岡市" not in client.get("/stats").get_data(as_text=True)
    clock[0] = NOW + timedelta(seconds=300)
    fresh = get_json(client)
    assert fresh["members"] == 5 and fresh["as_of"] == "2026-11-20T12:05:00+09:00"
    assert "高岡市" in client.get("/stats").get_data(as_text=True)


def test_no_cache_when_cache_seconds_is_zero(runtime: Runtime, clock: list[datetime]) -> None:
    runtime.settings = runtime.settings.replace(
        stats=parse_settings({"stats": {"cache_seconds": 0}}, env={}).stats
    )
    client = console_app(runtime).test_client()
    add(runtime, "approved", TOYAMA_CITY, approved=NOW)
    assert get_json(client)["members"] == "1-2"
    for _ in range(4):
        add(runtime, "approved", TOYAMA_CITY, approved=NOW)
    assert get_json(client)["members"] == 5
    assert client.get("/stats.json").headers["Cache-Control"] == "public, max-age=0"


def test_cache_seconds_below_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stats\.cache_seconds: must be 0 or more"):
        parse_settings({"stats": {"cache_seconds": -1}}, env={})


def test_text_in_the_numbers_is_escaped(
    runtime: Runtime, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = '<script>alert("x")</script>&村'
    numbers = CommunityNumbers(
        as_of=NOW.astimezone(runtime.settings.tz),
        members=10,
        local_governments=1788,
        local_taking_part=1,
        national_taking_part=1,
        national_members=3,
        national_bodies=(evil,),
        prefectures=(PrefectureNumbers("01", evil, 2, 1, 7, (evil,)),),
        months=(MonthNumbers(evil, 4),),
    )
    monkeypatch.setattr("bot.public.stats.community_numbers", lambda *a, **k: numbers)
    html = client.get("/stats").get_data(as_text=True)
    assert "<script" not in html
    assert "&lt;script&gt;alert(" in html
    doc = get_json(client)
    assert doc["prefectures"][0]["name"] == evil  # JSON carries it as data, served as JSON
    assert client.get("/stats.json").headers["X-Content-Type-Options"] == "nosniff"


def test_public_pages_set_no_cookie_and_load_nothing_from_elsewhere(
    runtime: Runtime, client: FlaskClient
) -> None:
    seed(runtime)
    for path in ("/stats", "/stats.json", "/stats/static/stats.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
    page = client.get("/stats")
    html = page.get_data(as_text=True)
    assert "<script" not in html and "src=" not in html
    assert 'href="http' not in html and "//" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/stats.json").headers["Access-Control-Allow-Origin"] == "*"


def test_the_registry_gives_the_denominator_of_1788() -> None:
    registry = load_registry()
    kinds = Counter(org.kind for org in registry if org.kind in LOCAL_KINDS)
    assert kinds == {
        "prefecture": 47,
        "city": 792,
        "town": 743,
        "village": 183,
        "special_ward": 23,
    }
    view = build_registry_view(registry)
    assert sum(view.governments_per_prefecture.values()) == community.LOCAL_GOVERNMENTS == 1788
    smaller = type(registry)([org for org in registry if org.code != HIEZU])
    with pytest.raises(RuntimeError, match="1787 local governments"):
        build_registry_view(smaller)


# -- the console's dashboard ----------------------------------------------------------------------


def test_dashboard_requires_a_login(client: FlaskClient) -> None:
    response = client.get("/console/dashboard")
    assert response.status_code == 302
    assert "/console/login" in response.headers["Location"]


def test_dashboard_shows_the_queue_durations_and_waiting_invitations(
    runtime: Runtime, clock: list[datetime], reviewer: FlaskClient
) -> None:
    for days in (1, 4, 8, 15):
        add(runtime, "ready_for_review", TOYAMA_CITY, submitted_at=NOW - timedelta(days=days))
    # approved after 2 and 4 days: median 3; invited 5 days after applying
    add(
        runtime,
        "approved",
        TOYAMA_CITY,
        submitted_at=NOW - timedelta(days=6),
        approved_at=NOW - timedelta(days=4),
    )
    add(
        runtime,
        "invited",
        TOYAMA_CITY,
        submitted_at=NOW - timedelta(days=10),
        approved_at=NOW - timedelta(days=6),
    )
    with runtime.db.transaction() as db:
        approved, invited = db.scalars(
            select(Application)
            .where(Application.status.in_(("approved", "invited")))
            .order_by(Application.id)
        ).all()
        group = Group(kind="prefecture", key="富山県", name="富山県の部屋 <b>")
        db.add(group)
        db.flush()
        db.add_all(
            [
                Invitation(
                    application_id=approved.id,
                    kind="prefecture",
                    key="富山県",
                    group_id=group.id,
                    status="queued",
                ),
                Invitation(
                    application_id=approved.id, kind="village", key="village", status="held"
                ),
                Invitation(
                    application_id=invited.id,
                    kind="prefecture",
                    key="富山県",
                    group_id=group.id,
                    status="sent",
                    sent_at=NOW - timedelta(days=5),
                ),
            ]
        )
    html = reviewer.get("/console/dashboard").get_data(as_text=True)
    text = " ".join(html.split())
    # ready_for_review: 4 in all; older than 3 / 7 / 14 days: 3, 2, 1
    assert (
        '確認待ち</th><td class="num">4</td> <td class="num">3</td><td class="num">2</td>'
        '<td class="num">1</td>'
    ) in text
    assert "3.0日（2件）" in text  # to approval: median of 2 and 4 days
    assert "5.0日（1件）" in text  # to invitation
    assert "富山県の部屋 &lt;b&gt;" in text
    assert "（未割当）" in text
    assert "秘密" not in html and "OC-ZQ" not in html
    assert 'href="/console/dashboard"' in html  # in the navigation
