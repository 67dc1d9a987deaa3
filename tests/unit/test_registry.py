"""The shipped registry: counts, codes and check digits, wards, national bodies, lookups."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.onboarding.registry import (
    Organization,
    Registry,
    check_digit,
    is_valid_local_code,
    load_registry,
    read_registry,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The shipped registry."""
    return load_registry()


def test_registry_has_exactly_1788_local_governments(registry: Registry) -> None:
    counts = Counter(o.kind for o in registry)
    local = sum(n for kind, n in counts.items() if kind != "national")
    assert local == 1788
    assert counts["prefecture"] == 47
    assert counts["city"] == 792
    assert counts["town"] == 743
    assert counts["village"] == 183
    assert counts["special_ward"] == 23
    assert local - counts["prefecture"] == 1741


def test_every_local_code_is_six_digits_with_a_valid_check_digit(registry: Registry) -> None:
    bad = [o.code for o in registry if o.is_local and not is_valid_local_code(o.code)]
    assert bad == []


@pytest.mark.parametrize(
    ("code5", "digit"),
    [("01000", "6"), ("13000", "1"), ("16201", "9"), ("14100", "3"), ("13112", "1")],
)
def test_check_digit_uses_weights_6_to_2_mod_11(code5: str, digit: str) -> None:
    assert check_digit(code5) == digit


@pytest.mark.parametrize("code", ["162018", "16201", "1620199", "N14000", "１６２０１９", ""])
def test_invalid_local_codes_are_rejected(code: str) -> None:
    assert not is_valid_local_code(code)


# Codes checked by hand against 総務省「全国地方公共団体コード」.
@pytest.mark.parametrize(
    ("code", "prefecture", "name", "kind"),
    [
        ("010006", "北海道", "北海道", "prefecture"),
        ("130001", "東京都", "東京都", "prefecture"),
        ("160008", "富山県", "富山県", "prefecture"),
        ("470007", "沖縄県", "沖縄県", "prefecture"),
        ("162019", "富山県", "富山市", "city"),
        ("011002", "北海道", "札幌市", "city"),
        ("141003", "神奈川県", "横浜市", "city"),
        ("131016", "東京都", "千代田区", "special_ward"),
        ("131121", "東京都", "世田谷区", "special_ward"),
        ("132063", "東京都", "府中市", "city"),
        ("342084", "広島県", "府中市", "city"),
        ("394050", "高知県", "檮原町", "town"),
        ("134210", "東京都", "小笠原村", "village"),
    ],
)
def test_known_codes_have_the_right_organization(
    registry: Registry, code: str, prefecture: str, name: str, kind: str
) -> None:
    org = registry.get(code)
    assert org is not None
    assert (org.prefecture, org.name, org.kind) == (prefecture, name, kind)


def test_twenty_designated_cities_with_their_wards(registry: Registry) -> None:
    designated = {o.name: o for o in registry if o.designated}
    assert len(designated) == 20
    assert all(o.kind == "city" and o.wards for o in designated.values())
    assert len(designated["横浜市"].wards) == 18
    assert len(designated["大阪市"].wards) == 24
    assert {w.name for w in designated["浜松市"].wards} == {"中央区", "浜名区", "天竜区"}
    assert sum(len(o.wards) for o in designated.values()) == 171


def test_ward_codes_are_not_organizations_but_lead_to_their_city(registry: Registry) -> None:
    assert registry.get("141097") is None  # 横浜市港北区
    city = registry.city_of_ward("141097")
    assert city is not None and city.name == "横浜市"
    assert all(is_valid_local_code(w.code) for o in registry for w in o.wards)


def test_northern_territories_villages_are_not_counted(registry: Registry) -> None:
    names = {o.name for o in registry if o.prefecture == "北海道"}
    assert not names & {"色丹村", "泊村 (国後郡)", "留夜別村", "留別村", "紗那村", "蘂取村"}


def test_every_organization_has_a_kana_reading(registry: Registry) -> None:
    assert [o.code for o in registry if not o.kana] == []
    assert registry.get("010006").kana == "ホッカイドウ"  # type: ignore[union-attr]
    assert registry.get("394050").kana == "ユスハラチョウ"  # type: ignore[union-attr]


def test_every_prefecture_has_its_mail_domains(registry: Registry) -> None:
    prefectures = [o for o in registry if o.kind == "prefecture"]
    assert all(o.email_domains for o in prefectures)
    assert "pref.toyama.lg.jp" in registry.get("160008").email_domains  # type: ignore[union-attr]
    assert "metro.tokyo.lg.jp" in registry.get("130001").email_domains  # type: ignore[union-attr]


REQUIRED_NATIONAL = (
    "衆議院 参議院 国立国会図書館 裁判所 会計検査院 人事院 内閣官房 内閣府 "
    "デジタル庁 復興庁 警察庁 金融庁 消費者庁 こども家庭庁 総務省 法務省 "
    "外務省 財務省 文部科学省 厚生労働省 農林水産省 経済産業省 国土交通省 環境省 "
    "防衛省 国税庁 特許庁 気象庁 海上保安庁 観光庁 林野庁 水産庁 "
    "資源エネルギー庁 中小企業庁 文化庁 スポーツ庁 出入国在留管理庁 公安調査庁 消防庁 防衛装備庁 "
    "公正取引委員会 個人情報保護委員会 原子力規制委員会 国家公安委員会"
).split()


def test_required_national_bodies_are_present_with_synthetic_codes(registry: Registry) -> None:
    national = {o.name: o for o in registry if o.kind == "national"}
    assert set(REQUIRED_NATIONAL) <= set(national)
    for org in national.values():
        assert org.code.startswith("N") and org.code[1:].isdigit()
        assert not is_valid_local_code(org.code)
        assert org.email_domains and org.category
        if org.public_servants:
            assert all(d.endswith(".go.jp") for d in org.email_domains), org.name
        assert org.parent is None or registry.get(org.parent) is not None


# 独立行政法人通則法 第2条第4項・第51条; 総務省「独立行政法人一覧」: the seven 行政執行法人.
ADMINISTRATIVE_EXECUTION_AGENCIES = (
    "国立公文書館 統計センター 造幣局 国立印刷局 農林水産消費安全技術センター "
    "製品評価技術基盤機構 駐留軍等労働者労務管理機構"
).split()


def test_each_national_body_says_whether_its_staff_are_public_servants(
    registry: Registry,
) -> None:
    national = {o.name: o for o in registry if o.kind == "national"}
    executing = {n for n, o in national.items() if o.category == "行政執行法人"}
    assert executing == set(ADMINISTRATIVE_EXECUTION_AGENCIES)
    assert all(national[n].public_servants for n in executing)
    assert all(national[n].public_servants for n in REQUIRED_NATIONAL)
    for name in ("国立病院機構", "国際協力機構", "日本郵便", "日本放送協会", "日本銀行"):
        assert not national[name].public_servants, name
    assert all(o.public_servants for o in registry if o.is_local)


def test_registry_cites_the_source_of_the_staff_status() -> None:
    doc = json.loads(
        (Path(__file__).resolve().parents[2] / "bot/onboarding/data/organizations.json").read_text(
            encoding="utf-8"
        )
    )
    sources = " ".join(doc["sources"])
    assert "独立行政法人通則法" in sources and "国立病院機構" in sources


def test_official_english_names_and_abbreviations_are_listed(registry: Registry) -> None:
    national = {o.name: o for o in registry if o.kind == "national"}
    assert "MLIT" in national["国土交通省"].english
    assert "Ministry of Internal Affairs and Communications" in national["総務省"].english
    assert "Digital Agency" in national["デジタル庁"].english


def test_organization_codes_are_unique() -> None:
    org = Organization("162019", "富山市", "city", "富山県", "トヤマシ")
    with pytest.raises(ValueError, match="duplicate"):
        Registry([org, org])


def test_registry_records_its_as_of_date(registry: Registry) -> None:
    assert len(registry.as_of) == 7 and registry.as_of[4] == "-"


def test_load_registry_is_loaded_once() -> None:
    assert load_registry() is load_registry()
    assert read_registry() is not load_registry()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("富山", "富山県"),
        ("富山県", "富山県"),
        ("東京", "東京都"),
        ("大阪", "大阪府"),
        ("京都", "京都府"),
        ("北海道", "北海道"),
        ("　神奈川県 ", "神奈川県"),
        ("Tokyo", None),
        ("", None),
        ("富山市", None),
    ],
)
def test_prefecture_is_read_from_what_people_type(
    registry: Registry, text: str, expected: str | None
) -> None:
    pref = registry.prefecture(text)
    assert (pref.name if pref else None) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("pref.toyama.lg.jp", "富山県"),
        ("police.pref.toyama.lg.jp", "富山県"),
        ("keishicho.metro.tokyo.jp", "東京都"),
        ("city.yokohama.lg.jp", "横浜市"),
        ("mlit.go.jp", "国土交通省"),
        ("kaiho.mlit.go.jp", "海上保安庁"),
        ("example.go.jp", None),
        ("gmail.com", None),
    ],
)
def test_owners_of_a_mail_domain(registry: Registry, domain: str, expected: str | None) -> None:
    owners = registry.owners_of_domain(domain)
    assert (owners[0].name if owners else None) == expected
