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


# -- issue 12: bodies, names people type, namesakes -------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint", "body"),
    [
        ("富山県土地開発公社", "富山県", "公社"),
        ("富山市社会福祉協議会", "富山県", "社会福祉協議会"),
        ("富山市観光協会", "富山県", "観光協会"),
        ("富山県立大学", "富山県", "大学"),
        ("国立大学法人東京大学", None, "国立大学法人"),
        ("地方独立行政法人 大阪府立病院機構", "大阪府", "地方独立行政法人"),
        ("JA富山市", None, "ja"),
        ("株式会社富山市民プラザ", None, "株式会社"),
        ("University of Toyama", None, "university"),
    ],
)
def test_unknown_body_never_falls_back_to_the_place_it_starts_with(
    registry: Registry, text: str, hint: str | None, body: str
) -> None:
    res = registry.resolve(text, prefecture_hint=hint)
    assert (res.status, res.organization, res.body) == ("unresolved", None, body)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("国立病院機構", "N30500"),
        ("独立行政法人国立病院機構 富山病院", "N30500"),
        ("日本郵便株式会社", "N50300"),
        ("NHK", "N50200"),
    ],
)
def test_known_bodies_outside_government_resolve_flagged(
    registry: Registry, text: str, code: str
) -> None:
    res = registry.resolve(text)
    assert res.organization is not None and res.organization.code == code
    assert not res.organization.public_servants


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("北海道開発局", "国土交通省"),
        ("札幌開発建設部", "国土交通省"),
        ("北陸地方整備局", "国土交通省"),
        ("東京航空局", "国土交通省"),
        ("北陸信越運輸局", "国土交通省"),
        ("富山労働局", "厚生労働省"),
        ("東海北陸厚生局", "厚生労働省"),
        ("ハローワーク富山", "厚生労働省"),
        ("成田空港検疫所", "厚生労働省"),
        ("富山税務署", "国税庁"),
        ("関東信越国税局", "国税庁"),
        ("富山地方法務局", "法務省"),
        ("沖縄総合事務局", "内閣府"),
        ("関東財務局", "財務省"),
        ("中部経済産業局", "経済産業省"),
        ("北陸農政局", "農林水産省"),
        ("大阪入国管理局", "出入国在留管理庁"),
        ("名古屋出入国在留管理局", "出入国在留管理庁"),
        ("新宿都税事務所", "東京都"),
    ],
)
def test_regional_offices_resolve_to_their_ministry(
    registry: Registry, text: str, name: str
) -> None:
    res = registry.resolve(text)
    assert res.status == "resolved" and res.organization is not None
    assert res.organization.name == name


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("Ministry of Internal Affairs and Communications", None, "N10000"),
        ("Ministry of Land, Infrastructure, Transport and Tourism", None, "N18000"),
        ("MLIT", None, "N18000"),
        ("METI", None, "N17000"),
        ("MOFA", None, "N12000"),
        ("Digital Agency", None, "N07000"),
        ("Japan Coast Guard", None, "N18400"),
        ("Tokyo Metropolitan Government", None, "130001"),
        ("Toyama Prefectural Government", None, "160008"),
        ("Hokkaido Government", None, "010006"),
        ("Osaka Prefecture", None, "270008"),
        ("Toyama City Hall", None, "162019"),
        ("City of Sapporo", None, "011002"),
        ("Toyama-shi", None, "162019"),
        ("Setagaya City", None, "131121"),
        ("Kamiichi Town", None, "163228"),
        ("Funahashi Village", None, "163210"),
        ("Fuchu City", "東京都", "132063"),
        ("Ōtsu City", None, "252018"),
    ],
)
def test_official_english_names_resolve(
    registry: Registry, text: str, hint: str | None, code: str
) -> None:
    res = registry.resolve(text, prefecture_hint=hint)
    assert res.organization is not None and res.organization.code == code
    assert res.via == "english"


def test_an_english_name_cannot_start_inside_a_phrase(registry: Registry) -> None:
    assert registry.resolve("Kami Fukuoka City").status == "unresolved"
    assert registry.resolve("Fuchu City").status == "ambiguous"


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("とやまし", None, TOYAMA_CITY),
        ("ﾄﾔﾏｼ", None, TOYAMA_CITY),
        ("トヤマシヤクショ", None, TOYAMA_CITY),
        ("とやまけん", None, TOYAMA_PREF),
        ("ﾌﾁｭｳｼ", "広島県", "342084"),
        ("せたがやく", None, "131121"),
    ],
)
def test_kana_and_half_width_kana_readings_resolve(
    registry: Registry, text: str, hint: str | None, code: str
) -> None:
    assert resolved_code(registry, text, hint) == code


@pytest.mark.parametrize(
    ("text", "hint", "domain", "code"),
    [
        ("富山氏", "富山県", None, TOYAMA_CITY),
        ("富山氏", None, "city.toyama.lg.jp", TOYAMA_CITY),
        ("横浜巿", "神奈川県", None, YOKOHAMA),
        ("世田谷句", "東京都", None, "131121"),
        ("上市長", "富山県", None, "163228"),
        ("熊元市", "熊本県", None, "431001"),
    ],
)
def test_one_character_typo_resolves_when_confirmed(
    registry: Registry, text: str, hint: str | None, domain: str | None, code: str
) -> None:
    res = registry.resolve(text, prefecture_hint=hint, email_domain=domain)
    assert res.organization is not None and res.organization.code == code
    assert (res.via, res.typed) == ("typo", normalize_name(text)[: len(res.typed)])


@pytest.mark.parametrize(
    ("text", "hint", "domain"),
    [
        ("富山氏", None, None),
        ("富山氏", "石川県", None),  # a namesake in another prefecture is never guessed
        ("富山氏", None, "city.kanazawa.lg.jp"),
        ("横浜巿", None, None),
        ("東京都中央卸売市場", "東京都", None),  # department text is not a typo of 中央区
    ],
)
def test_unconfirmed_typo_never_resolves_to_a_guess(
    registry: Registry, text: str, hint: str | None, domain: str | None
) -> None:
    res = registry.resolve(text, prefecture_hint=hint, email_domain=domain)
    assert res.via != "typo"
    assert res.organization is None or res.organization.code == "130001"


@pytest.mark.parametrize(
    ("text", "domain", "code"),
    [
        ("府中市", "city.fuchu.tokyo.jp", "132063"),
        ("府中市", "city.fuchu.hiroshima.jp", "342084"),
        ("伊達市", "city.date.hokkaido.jp", "012335"),
        ("森町", "town.mori.shizuoka.jp", "224618"),
    ],
)
def test_mail_domain_settles_same_name_municipalities(
    registry: Registry, text: str, domain: str, code: str
) -> None:
    res = registry.resolve(text, email_domain=domain)
    assert res.organization is not None and res.organization.code == code
    assert res.via == "domain"
    assert registry.resolve(text, email_domain="city.fuchu.lg.jp").status == "ambiguous"


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("須恵町", "福岡県", "403440"),  # the registry writes 須惠町
        ("須惠町", "福岡県", "403440"),
        ("鯵ヶ沢町", None, "023213"),
        ("飯館村", None, "075647"),
        ("四条畷市", None, "272299"),
    ],
)
def test_variant_kanji_in_both_directions(
    registry: Registry, text: str, hint: str | None, code: str
) -> None:
    assert resolved_code(registry, text, hint) == code


# Successors as the municipalities themselves publish them (合併の記録 of さいたま市, 静岡市,
# ふじみ野市, 新潟市, 浜松市, 川口市): labelled by hand, not from the e-Stat file the index is
# built from.
@pytest.mark.parametrize(
    ("text", "hint", "successor", "namesake"),
    [
        ("新津市", "新潟県", "151009", "242012"),  # 新潟市, not 津市
        ("新津市", None, "151009", "242012"),
        ("上福岡市", "埼玉県", "112453", "401307"),  # ふじみ野市, not 福岡市
        ("上福岡市", None, "112453", "401307"),
        ("天竜市", "静岡県", "221309", "204137"),  # 浜松市, not 天龍村
        ("天竜市", None, "221309", "204137"),
        ("旧浦和市役所", "埼玉県", "111007", ""),  # さいたま市
        ("清水市", "静岡県", "221007", "223417"),  # 静岡市, not 清水町 (静岡県)
        ("鳩ヶ谷市", None, "112038", ""),  # 川口市
    ],
)
def test_a_former_name_reaches_its_successor_never_a_namesake(
    registry: Registry, text: str, hint: str | None, successor: str, namesake: str
) -> None:
    res = registry.resolve(text, prefecture_hint=hint)
    assert res.organization is not None
    assert res.organization.code == successor != namesake
    assert res.via == "former" and res.former is not None


def test_a_name_borne_today_wins_over_a_former_one_unless_the_place_says_otherwise(
    registry: Registry,
) -> None:
    """大井町 is 神奈川県大井町 today; 埼玉県's 大井町 became ふじみ野市 in 2005."""
    assert resolved_code(registry, "大井町", None) == "143626"
    assert resolved_code(registry, "大井町", "埼玉県") == "112453"
    fujimino = registry.resolve("大井町", email_domain="city.fujimino.saitama.jp")
    assert fujimino.organization is not None and fujimino.organization.code == "112453"


def test_a_former_name_borne_by_several_is_left_to_a_person(registry: Registry) -> None:
    """群馬県 had three 東村 (勢多郡, 吾妻郡, 佐波郡): each went to a different municipality."""
    res = registry.resolve("東村", prefecture_hint="群馬県")
    assert res.status == "ambiguous" and len(res.candidates) == 3


def test_text_after_a_name_that_is_no_department_is_kept_as_extra(registry: Registry) -> None:
    assert registry.resolve("富山市 まちづくり").extra == "まちづくり"
    assert registry.resolve("富山市役所 企画管理部").extra == ""
    assert registry.resolve("富山県立中央病院").extra == ""
