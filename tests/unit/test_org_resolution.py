"""Resolving what applicants type in the organization field."""

from __future__ import annotations

import time

import pytest

from bot.onboarding.registry import Registry, load_registry, normalize_name


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The shipped registry."""
    return load_registry()


def resolved_code(registry: Registry, text: str, hint: str | None = None) -> str | None:
    """Return the code the text resolves to, or None when it does not resolve."""
    res = registry.resolve(text, prefecture_hint=hint)
    assert res.text == text
    return res.organization.code if res.status == "resolved" and res.organization else None


TOYAMA_CITY = "162019"
TOYAMA_PREF = "160008"
YOKOHAMA = "141003"


@pytest.mark.parametrize("text", ["富山市", "富山県富山市", "富山県 富山市", "富山県　富山市役所"])
def test_prefecture_prefix_is_optional(registry: Registry, text: str) -> None:
    assert resolved_code(registry, text) == TOYAMA_CITY


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("富山市役所", TOYAMA_CITY),
        ("富山市 本庁舎", TOYAMA_CITY),
        ("富山市本庁", TOYAMA_CITY),
        ("上市町役場", "163228"),
        ("舟橋村役場", "163210"),
        ("富山県庁", TOYAMA_PREF),
        ("東京都庁", "130001"),
        ("都庁", "130001"),
        ("大阪府庁", "270008"),
        ("北海道庁", "010006"),
        ("道庁", "010006"),
        ("世田谷区役所", "131121"),
        ("富山市庁舎", TOYAMA_CITY),
    ],
)
def test_office_suffixes_are_ignored(registry: Registry, text: str, code: str) -> None:
    assert resolved_code(registry, text) == code


@pytest.mark.parametrize(
    ("text", "code", "ward"),
    [
        ("横浜市港北区役所", YOKOHAMA, "港北区"),
        ("神奈川県横浜市港北区", YOKOHAMA, "港北区"),
        ("港北区役所", YOKOHAMA, "港北区"),
        ("横浜市保土ケ谷区", YOKOHAMA, "保土ケ谷区"),
        ("横浜市保土ヶ谷区役所", YOKOHAMA, "保土ケ谷区"),
        ("札幌市中央区役所", "011002", "中央区"),
        ("大阪市北区", "271004", "北区"),
        ("浜松市天竜区", "221309", "天竜区"),
        ("さいたま市浦和区", "111007", "浦和区"),
    ],
)
def test_designated_city_ward_resolves_to_its_city(
    registry: Registry, text: str, code: str, ward: str
) -> None:
    res = registry.resolve(text)
    assert res.status == "resolved" and res.organization is not None
    assert res.organization.code == code
    assert res.ward == ward


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("富山市役所 企画管理部", TOYAMA_CITY),
        ("富山市企画管理部企画調整課", TOYAMA_CITY),
        ("富山市 市民生活部 中央区域担当", TOYAMA_CITY),
        ("文部科学省初等中等教育局", "N14000"),
        ("厚労省 医政局", "N15000"),
        ("東京都産業労働局", "130001"),
        ("富山県土木部道路課", TOYAMA_PREF),
        ("神奈川県警察本部", "140007"),
    ],
)
def test_department_text_after_the_name_is_ignored(
    registry: Registry, text: str, code: str
) -> None:
    assert resolved_code(registry, text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("鶴ヶ島市", "112411"),
        ("鶴ケ島市", "112411"),
        ("鶴が島市", "112411"),
        ("鶴ヵ島市", "112411"),
        ("龍ケ崎市", "082082"),
        ("竜ヶ崎市", "082082"),
        ("竜ケ崎市役所", "082082"),
        ("霞ヶ浦", "082309"),
        ("かすみがうら市", "082309"),
        ("関ヶ原町", "213624"),
    ],
)
def test_small_and_large_ke_and_ga_are_the_same(registry: Registry, text: str, code: str) -> None:
    assert resolved_code(registry, text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("檮原町", "394050"),
        ("梼原町", "394050"),
        ("髙森町", "434281"),
        ("高森町", "434281"),
        ("桧原村", "133078"),
        ("檜原村", "133078"),
        ("聖篭町", "153079"),
        ("聖籠町", "153079"),
        ("曾於市", "462179"),
        ("宝塚市", "282146"),
        ("飛驒市", "212172"),
        ("上の国町", "013625"),
    ],
)
def test_variant_kanji_are_folded(registry: Registry, text: str, code: str) -> None:
    # 髙森町: 高森 exists in 熊本県 and 長野県 (下伊那郡高森町), so pass the hint.
    hint = "熊本県" if "森町" in text else None
    assert resolved_code(registry, text, hint) == code


@pytest.mark.parametrize(
    "text", ["ｻｲﾀﾏ市", "サイタマ市", "ＴＯＹＡＭＡ 富山市", "「富山市」", "富山市（本庁）"]
)
def test_width_kana_and_punctuation_do_not_matter(registry: Registry, text: str) -> None:
    assert resolved_code(registry, text) in {TOYAMA_CITY, "111007"}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("千代田区", "131016"),
        ("新宿区役所", "131041"),
        ("世田谷区", "131121"),
        ("江戸川区役所", "131237"),
        ("東京都港区", "131032"),
    ],
)
def test_tokyo_special_wards_resolve(registry: Registry, text: str, code: str) -> None:
    assert resolved_code(registry, text) == code


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("国交省", "国土交通省"),
        ("厚労省", "厚生労働省"),
        ("経産省", "経済産業省"),
        ("文科省", "文部科学省"),
        ("農水省", "農林水産省"),
        ("総務省", "総務省"),
        ("財務省", "財務省"),
        ("防衛省", "防衛省"),
        ("金融庁", "金融庁"),
        ("公取委", "公正取引委員会"),
        ("入管", "出入国在留管理庁"),
        ("陸上自衛隊", "防衛省"),
        ("東京地裁", "裁判所"),
        ("北海道労働局", "厚生労働省"),
        ("関東地方整備局", "国土交通省"),
        ("富山税務署", "国税庁"),
    ],
)
def test_national_abbreviations_resolve(registry: Registry, text: str, name: str) -> None:
    res = registry.resolve(text)
    assert res.status == "resolved" and res.organization is not None
    assert res.organization.name == name


@pytest.mark.parametrize(
    ("text", "name"),
    [("国土交通省観光庁", "観光庁"), ("経済産業省 特許庁", "特許庁"), ("内閣府 金融庁", "金融庁")],
)
def test_more_specific_national_body_wins(registry: Registry, text: str, name: str) -> None:
    org = registry.resolve(text).organization
    assert org is not None and org.name == name


def test_tokyo_fire_department_is_tokyo_not_the_national_agency(registry: Registry) -> None:
    assert resolved_code(registry, "東京消防庁") == "130001"
    assert resolved_code(registry, "消防庁") == "N10100"


@pytest.mark.parametrize(
    ("text", "prefectures"),
    [
        ("府中市", {"東京都", "広島県"}),
        ("伊達市", {"北海道", "福島県"}),
        ("美里町", {"宮城県", "埼玉県", "熊本県"}),
        ("池田町", {"北海道", "福井県", "長野県", "岐阜県"}),
        ("森町", {"北海道", "静岡県"}),
        ("大和", {"宮城県", "神奈川県", "鹿児島県"}),
    ],
)
def test_ambiguous_names_without_a_hint_return_candidates(
    registry: Registry, text: str, prefectures: set[str]
) -> None:
    res = registry.resolve(text)
    assert res.status == "ambiguous"
    assert res.organization is None
    assert {c.prefecture for c in res.candidates} == prefectures


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("府中市", "東京都", "132063"),
        ("府中市", "広島", "342084"),
        ("伊達市", "福島県", "072133"),
        ("池田町役場", "長野県", "204811"),
        ("森町", "静岡県", "224618"),
        ("北区役所", "北海道", "011002"),
        ("北区役所", "東京都", "131172"),
        ("港区", "愛知県", "231002"),
    ],
)
def test_prefecture_hint_settles_ambiguous_names(
    registry: Registry, text: str, hint: str, code: str
) -> None:
    assert resolved_code(registry, text, hint) == code


def test_prefecture_written_in_the_text_beats_the_hint(registry: Registry) -> None:
    assert resolved_code(registry, "広島県府中市", "東京都") == "342084"
    assert resolved_code(registry, "府中市（東京都）") == "132063"


def test_municipality_under_the_wrong_prefecture_still_resolves(registry: Registry) -> None:
    assert resolved_code(registry, "東京都横浜市") == YOKOHAMA


def test_office_words_around_a_bare_name_are_dropped(registry: Registry) -> None:
    assert resolved_code(registry, "世田谷役所") == "131121"
    assert registry.resolve("市役所（富山）", prefecture_hint="富山県").status == "ambiguous"


def test_hint_matching_no_candidate_keeps_the_name_ambiguous(registry: Registry) -> None:
    assert registry.resolve("府中市", prefecture_hint="沖縄県").status == "ambiguous"


def test_unique_name_resolves_even_against_a_wrong_hint(registry: Registry) -> None:
    assert resolved_code(registry, "富山市", "沖縄県") == TOYAMA_CITY


def test_non_ambiguous_pairs_stay_apart(registry: Registry) -> None:
    assert resolved_code(registry, "大和町") == "044211"
    assert resolved_code(registry, "大和市") == "142131"
    assert resolved_code(registry, "府中町") == "343021"


@pytest.mark.parametrize(
    "text",
    [
        "富山地区広域圏事務組合",
        "○○衛生施設一部事務組合",
        "東京都後期高齢者医療広域連合",
        "中部広域行政組合",
        "富山県西部消防組合",
        "○○水道企業団",
    ],
)
def test_unions_are_recognised_and_the_text_is_kept(registry: Registry, text: str) -> None:
    res = registry.resolve(text)
    assert (res.status, res.text, res.organization) == ("union", text, None)


@pytest.mark.parametrize(
    "text", ["株式会社サンプル", "○○大学", "市役所", "役場", "県庁", "Google", "   ", ""]
)
def test_anything_else_is_unresolved_and_the_text_is_kept(registry: Registry, text: str) -> None:
    res = registry.resolve(text)
    assert (res.status, res.text, res.organization, res.candidates) == (
        "unresolved",
        text,
        None,
        (),
    )


def test_generic_prefectural_words_use_the_stated_prefecture(registry: Registry) -> None:
    assert resolved_code(registry, "県庁", "富山県") == TOYAMA_PREF
    assert resolved_code(registry, "県立高校", "富山") == TOYAMA_PREF
    assert registry.resolve("市役所", prefecture_hint="富山県").status == "unresolved"


@pytest.mark.parametrize("text", ["世田谷", "横浜市", "富山"])
def test_bare_stems_resolve_or_offer_candidates(registry: Registry, text: str) -> None:
    assert registry.resolve(text).status in {"resolved", "ambiguous"}


def test_normalize_name_folds_width_variants_and_spaces() -> None:
    assert normalize_name("ＴＯＹＡＭＡ　髙 﨑 ヶ") == "toyama高崎ケ"
    assert normalize_name("さいたま") == "サイタマ"


def test_resolution_is_fast(registry: Registry) -> None:
    texts = ["富山市企画管理部企画調整課", "横浜市港北区役所", "国交省", "府中市", "○○組合", "不明"]
    start = time.perf_counter()
    for _ in range(1000):
        for text in texts:
            registry.resolve(text, prefecture_hint="東京都")
    per_call = (time.perf_counter() - start) / 6000
    assert per_call < 100e-6
