"""Finding anyone from any console page: every status, names as people type them, codes, emails
and organizations; hostile search text answered safely. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from bot.models import Application
from bot.runtime import Runtime
from tests.integration.test_console_helpers import make_application

_ROW = re.compile(r'<tr class="row" data-code="(OC-[0-9A-Z]{6})".*?</tr>', re.S)


def _found(client: FlaskClient, q: str, **query: str) -> list[str]:
    """The codes the header's search box lists for `q` (it asks for the すべて tab)."""
    response = client.get("/console/", query_string={"tab": "all", "q": q, **query})
    assert response.status_code == 200
    return [m.group(1) for m in _ROW.finditer(response.get_data(as_text=True))]


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Application]:
    """Applicants in every kind of state, written as people fill in the form."""
    return {
        "sato": make_application(
            runtime,
            status="approved",
            full_name="佐藤 花子",
            kana="サトウ ハナコ",
            email="hanako.sato@city.toyama.lg.jp",
            organization_name="富山市",
            organization_text="富山市役所 企画調整課",
        ),
        "takahashi": make_application(
            runtime,
            status="rejected",
            full_name="髙橋 一郎",
            kana="たかはし いちろう",
            email="ichiro1975@example.jp",
            organization_name="射水市",
            organization_text="射水市役所",
        ),
        "saito": make_application(
            runtime,
            status="invited",
            full_name="齋藤 健",
            kana="サイトウ ケン",
            email="k-saito@pref.toyama.lg.jp",
            organization_name="富山県",
            organization_text="富山県庁",
        ),
        "watanabe": make_application(
            runtime,
            status="ready_for_review",
            full_name="渡邉 美咲",
            kana="ワタナベ ミサキ",
            email="misaki@town.tateyama.toyama.jp",
            organization_name="立山町",
            organization_text="立山町役場",
        ),
        "yamazaki": make_application(
            runtime,
            status="expired",
            full_name="山\ufa11 翔",  # 山﨑 (U+FA11, the "tatsu-saki" form)
            kana="ヤマザキ ショウ",
            email="sho@city.takaoka.lg.jp",
            organization_name="高岡市",
            organization_text="高岡市役所",
        ),
        "other": make_application(
            runtime,
            status="awaiting_join_request",
            full_name="山田 太郎",
            kana="ヤマダ タロウ",
            email="taro@city.namerikawa.lg.jp",
            organization_name="滑川市",
            organization_text="滑川市役所",
        ),
    }


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("佐藤花子", "sato"),
        ("佐藤 花子", "sato"),
        ("佐藤　花子", "sato"),
        ("花子", "sato"),
        ("高橋", "takahashi"),
        ("高橋一郎", "takahashi"),
        ("髙橋", "takahashi"),
        ("斎藤", "saito"),
        ("齋藤", "saito"),
        ("齊藤", "saito"),
        ("渡辺", "watanabe"),
        ("渡邊", "watanabe"),
        ("渡邉 美咲", "watanabe"),
        ("山崎", "yamazaki"),
        ("山\ufa11", "yamazaki"),
        ("さとう はなこ", "sato"),
        ("サトウハナコ", "sato"),
        ("ｻﾄｳ ﾊﾅｺ", "sato"),
        ("タカハシ", "takahashi"),  # the reading was typed in hiragana
        ("Hanako Sato", "sato"),
        ("sato hanako", "sato"),
        ("SATOH Hanako", "sato"),
        ("Ichiro Takahashi", "takahashi"),
        ("takahashi", "takahashi"),
        ("ken saitou", "saito"),
        ("hanako.sato@city.toyama.lg.jp", "sato"),
        ("ichiro1975", "takahashi"),
        ("HANAKO.SATO@", "sato"),
        ("@pref.toyama", "saito"),
        ("企画調整課", "sato"),
        ("射水市", "takahashi"),
        ("立山町役場", "watanabe"),
        ("高岡", "yamazaki"),
    ],
)
def test_search_finds_a_person_as_they_are_typed(
    people: dict[str, Application], reviewer: FlaskClient, query: str, who: str
) -> None:
    assert _found(reviewer, query) == [people[who].code]


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_a_decided_application_is_found_by_code_name_and_romaji(
    runtime: Runtime, reviewer: FlaskClient, status: str
) -> None:
    target = make_application(
        runtime, status=status, full_name="佐藤 花子", kana="サトウ ハナコ", days_ago=40
    )
    make_application(runtime, full_name="佐藤 健", kana="サトウ ケン")
    body = target.code[3:]
    wide = target.code.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})  # ＯＣ－…
    for query in (target.code, body, body.lower(), wide, target.code.lower(), "佐藤花子"):
        assert _found(reviewer, query) == [target.code], query
    assert _found(reviewer, "Hanako Sato") == [target.code]  # romaji, given name first
    html = reviewer.get("/console/", query_string={"q": target.code}).get_data(as_text=True)
    row = _ROW.search(html)
    assert row is not None and row.group(1) == target.code  # no tab asked: a search looks in all
    label = {"approved": "承認済み", "rejected": "却下"}[status]
    assert f"{target.code} · {label}" in row.group(0) and status not in row.group(0)


def test_status_filter_offers_and_applies_decided_statuses(
    people: dict[str, Application], reviewer: FlaskClient
) -> None:
    html = reviewer.get("/console/?tab=all").get_data(as_text=True)
    for value, label in (
        ("approved", "承認済み"),
        ("invited", "招待済み"),
        ("rejected", "却下"),
        ("expired", "期限切れ"),
        ("withdrawn", "取り下げ"),
    ):
        assert f'<option value="{value}" >{label}</option>' in html
    assert _found(reviewer, "", status="approved") == [people["sato"].code]
    assert _found(reviewer, "", status="rejected") == [people["takahashi"].code]
    assert _found(reviewer, "", status="expired") == [people["yamazaki"].code]
    assert _found(reviewer, "", verdict="verified", status="invited") == [people["saito"].code]
    assert _found(reviewer, "富山", status="approved") == [people["sato"].code]


def test_every_console_page_has_the_search_box(
    runtime: Runtime, reviewer: FlaskClient, admin: FlaskClient
) -> None:
    pages = [(reviewer, "/console/join-requests"), (reviewer, "/console/password")]
    pages += [(admin, "/console/groups"), (admin, "/console/audit"), (admin, "/console/users")]
    for client, url in pages:
        html = client.get(url).get_data(as_text=True)
        form = html[html.index('class="site-search"') :]
        form = form[: form.index("</form>")]
        assert 'name="tab" value="all"' in form and 'name="q"' in form, url
    assert 'class="site-search"' not in reviewer.application.test_client().get(
        "/console/login"
    ).get_data(as_text=True)  # not before logging in


def test_search_stays_behind_the_login(runtime: Runtime, people: dict[str, Application]) -> None:
    from tests.integration.test_console_helpers import console_app

    response = console_app(runtime).test_client().get("/console/?tab=all&q=佐藤")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_like_wildcards_are_searched_as_characters(runtime: Runtime, reviewer: FlaskClient) -> None:
    percent = make_application(runtime, full_name="大川 百", organization_text="100%出資法人")
    underscore = make_application(runtime, full_name="小川 一", email="kazu_ogawa@example.jp")
    make_application(runtime, full_name="中川 二", email="naka2@example.jp")
    assert _found(reviewer, "%") == [percent.code]
    assert _found(reviewer, "100%出資") == [percent.code]
    assert _found(reviewer, "_") == [underscore.code]
    assert _found(reviewer, "kazu_o") == [underscore.code]
    assert _found(reviewer, "%%") == []


@pytest.mark.parametrize(
    "query",
    [
        "'",
        "'; DROP TABLE applications; --",
        '"',
        "\\",
        "<script>alert(1)</script>",
        "x" * 1_000,
        "佐" * 1_000,
        "a" * 1_000,  # a Latin-letter query takes the romaji pass too
        "　",
        "OC-",
        "{{7*7}}",
    ],
)
def test_hostile_search_text_is_answered_safely(
    people: dict[str, Application], reviewer: FlaskClient, query: str
) -> None:
    response = reviewer.get("/console/", query_string={"tab": "all", "q": query})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    if query.startswith("<"):
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    if query == "{{7*7}}":
        assert 'value="{{7*7}}"' in html  # shown as typed, never evaluated


def test_nul_in_the_search_is_a_400_in_japanese(reviewer: FlaskClient) -> None:
    for q in ("\x00", "佐藤\x00花子"):
        response = reviewer.get("/console/", query_string={"tab": "all", "q": q})
        assert response.status_code == 400
        assert '<html lang="ja">' in response.get_data(as_text=True)


def test_search_pages_cover_every_match_once_both_ways(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    import dataclasses
    from datetime import timedelta

    from tests.integration.test_console_helpers import console_app, login

    runtime.settings = runtime.settings.replace(
        console=dataclasses.replace(runtime.settings.console, page_size=3)
    )
    same_time = runtime.now() - timedelta(days=3)
    made = [
        make_application(runtime, full_name="佐藤 花子", submitted_at=same_time, status=status).code
        for status in ("approved", "rejected", "ready_for_review", "expired")
    ]
    made += [make_application(runtime, full_name="佐藤 花子", days_ago=d).code for d in (2, 1, 0)]
    make_application(runtime, full_name="山田 太郎", days_ago=2)
    client = console_app(runtime).test_client()
    login(client, "rev")
    seen: list[str] = []
    pages = []
    url = "/console/?tab=all&q=佐藤花子"
    while url:
        html = client.get(url).get_data(as_text=True)
        page = [m.group(1) for m in _ROW.finditer(html)]
        pages.append(page)
        seen += page
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert seen == made  # oldest first, ties on submitted_at broken by id
    assert [len(p) for p in pages] == [3, 3, 1]
    prev = re.search(r'href="([^"]+)" rel="prev"', html)
    assert prev is not None
    back = client.get(prev.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert [m.group(1) for m in _ROW.finditer(back)] == pages[1]
    newest = client.get("/console/?tab=all&q=佐藤花子&order=newest").get_data(as_text=True)
    assert [m.group(1) for m in _ROW.finditer(newest)] == made[::-1][:3]


@pytest.mark.parametrize("name", ["tab", "status", "verdict"])
@pytest.mark.parametrize("value", ["'", "<script>", "x" * 1_000, "all'--", "ＡＬＬ", "%"])
def test_junk_tabs_and_choices_fall_back_to_the_defaults(
    reviewer: FlaskClient, name: str, value: str
) -> None:
    response = reviewer.get("/console/", query_string={name: value, "q": "佐藤"})
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True).split("<main>")[1]
