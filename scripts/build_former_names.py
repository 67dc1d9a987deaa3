"""Rebuild bot/onboarding/data/former_names.json: municipality names that no longer exist, with
the municipality that took each one over, from e-Stat's record of municipal changes.

Usage: .venv/bin/python scripts/build_former_names.py [--source CSV] [--output PATH]

Source: data/sources/estat-haichi.csv — e-Stat「廃置分合等情報」(統計に用いる標準地域コードの
変更履歴, https://www.e-stat.go.jp/municipalities/cities/absorption-separation-of-municipalities),
1970-04-01 to 2024-01-01, 3,507 changes, as stored in the public repository
opaopa6969/municipality-history (data/estat-haichi.csv at ad760f181f3aabf054f295bec9504664a63465de).
It was copied from the stored copy page by page and checked: 396,829 characters as stored, 3,507
rows of 8 fields, each with a 5-digit code and an ISO date; the rows whose code is not written in
their own reason text are the 20 where the source itself writes full-width parentheses or the
reading. Its SHA-256 is recorded in the output.

Each row is one change seen from one code: its name then, and the reason text shared by every
code the change touched, for example
    "01339",…,"戸井町",…,"2004-12-01","戸井町(01339)、恵山町(01340)…が函館市(01202)に編入"
The reason says where the name went: 「…が X(c) に編入」, 「…が合併し、X(c)を新設」 or
「…が合併し、Xを新設」 (X's code is on X's own row of that change), 「… が X(c) に名称変更」,
「…が X(c) に市制施行 / 町制施行 / 村制施行」. A name whose code went into another is followed
through later changes of that code to the municipality that exists today, and mapped to its
entry in bot/onboarding/data/organizations.json by 5-digit code (by name within the prefecture
for the few codes a later change replaced). Wards, 郡 and 支庁 rows, splits (分離, 分割: the old
municipality continues) and status changes (中核市, 特例市) give no former name. A former name
that a municipality of the same prefecture still bears is left out: that one is meant.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "data" / "sources" / "estat-haichi.csv"
REGISTRY = ROOT / "bot" / "onboarding" / "data" / "organizations.json"
DEFAULT_OUTPUT = ROOT / "bot" / "onboarding" / "data" / "former_names.json"
SOURCE_NOTE = (
    "e-Stat 廃置分合等情報 (統計に用いる標準地域コードの変更履歴), 1970-04-01..2024-01-01, "
    "https://www.e-stat.go.jp/municipalities/cities/absorption-separation-of-municipalities; "
    "stored copy: opaopa6969/municipality-history data/estat-haichi.csv "
    "@ad760f181f3aabf054f295bec9504664a63465de"
)

_CODE = r"[(（](?:[^)）]*、)?(\d{5})[)）]"
# Where a name goes: the last "name(code)" before one of these words.
_ENDINGS = ("に名称変更", "に編入", "に市制施行", "に町制施行", "に村制施行")
_NEW = re.compile(r"が合併し、(?P<name>[^(（、]+?)(?:" + _CODE + r")?を新設")
_KEEPS_GOING = ("分離", "分割", "中核市", "特例市", "区域変更", "政令指定都市施行", "区の新設")


@dataclass(frozen=True)
class Change:
    code: str
    prefecture: str
    name: str
    kana: str
    date: str
    reason: str


def read_changes(path: Path) -> tuple[list[Change], str]:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    if header[0] != "標準地域コード" or len(header) != 8:
        raise SystemExit(f"{path}: not e-Stat's 廃置分合等情報 (header {header!r})")
    changes = []
    for row in body:
        code, prefecture, city, _city_kana, name, kana, date, reason = row
        if city.endswith("市") and name:
            continue  # a ward of a designated city
        if not name:
            name, kana = city, _city_kana  # a designated city's own row, or a 郡's
        if name.endswith(("郡", "支庁", "振興局")):
            continue
        changes.append(Change(code, prefecture, name, kana, date, reason.replace("\r\n", "\n")))
    return changes, digest


_SUBJECT = re.compile(r"^(?P<subject>.*?[)）])が(?P<rest>.*)$", re.S)


def destination(change: Change, group: list[Change]) -> str | None:
    """The code this row's municipality went into at this change (its own code for a rename),
    or None if this row's municipality went on (it received others, or split a part off)."""
    reason = change.reason.split("\n")[0]  # further lines: 郡 abolished, wards created
    parts = _SUBJECT.match(reason)
    if parts is None:
        return None
    subject, rest = parts.group("subject"), parts.group("rest")
    if not re.search(_CODE.replace(r"(\d{5})", change.code), subject):
        return None  # the row of the one that received, or of the new name
    new = _NEW.search("が" + rest)
    if new is not None:
        if new.group(2):
            return new.group(2)
        made = [c for c in group if c.name == new.group("name").strip()]
        return made[0].code if made else None
    if any(word in rest for word in _KEEPS_GOING) and not any(e in rest for e in _ENDINGS):
        return None
    for ending in _ENDINGS:
        at = rest.rfind(ending)
        if at < 0:
            continue
        targets = list(re.finditer(_CODE, rest[:at]))
        if targets:
            return targets[-1].group(1)
    return None


def build(source: Path, registry_path: Path) -> dict[str, object]:
    changes, digest = read_changes(source)
    registry = json.loads(registry_path.read_text(encoding="utf-8"))
    local = [o for o in registry["organizations"] if o["kind"] not in ("national", "prefecture")]
    by_code5 = {o["code"][:5]: o for o in local}
    for city in local:  # a town that went into a ward went into its city
        for ward in city.get("wards") or ():
            by_code5.setdefault(str(ward["code"])[:5], city)
    by_name = {(o["prefecture"], o["name"]): o for o in local}

    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        groups[(change.date, change.reason)].append(change)
    moves: dict[str, list[tuple[str, str]]] = defaultdict(list)  # code -> [(date, code)]
    names_of: dict[str, set[tuple[str, str]]] = defaultdict(set)  # code -> {(pref, name)}
    went: list[tuple[Change, str]] = []
    for change in changes:
        names_of[change.code].add((change.prefecture, change.name))
        target = destination(change, groups[(change.date, change.reason)])
        if target is not None:
            went.append((change, target))
            if target != change.code:
                moves[change.code].append((change.date, target))

    def today(code: str, since: str, prefecture: str, seen: frozenset[str]) -> dict | None:
        later = sorted(m for m in moves.get(code, []) if m[0] >= since)
        if later and code not in seen:
            date, target = later[0]
            return today(target, date, prefecture, seen | {code})
        org = by_code5.get(code)
        if org is not None:
            return org
        for pref, name in sorted(names_of.get(code, ())):
            if pref == prefecture and (pref, name) in by_name:
                return by_name[(pref, name)]
        return None

    entries: dict[tuple[str, str], dict[str, object]] = {}
    unresolved = []
    for change, target in went:
        successor = today(target, change.date, change.prefecture, frozenset())
        if successor is None:
            unresolved.append(f"{change.prefecture}{change.name} ({change.code}) → {target}")
            continue
        if successor["name"] == change.name and successor["prefecture"] == change.prefecture:
            continue  # same name today (a merger that kept the name, 町制施行 under one name)
        if (change.prefecture, change.name) in by_name:
            continue  # a municipality of this prefecture still bears the name
        key = (change.prefecture, change.name)
        entry = entries.setdefault(
            key,
            {
                "name": change.name,
                "prefecture": change.prefecture,
                "kana": change.kana,
                "code": change.code,
                "until": change.date,
                "successors": [],
            },
        )
        successors = entry["successors"]
        assert isinstance(successors, list)
        if successor["code"] not in successors:
            successors.append(successor["code"])
        if change.date > str(entry["until"]):
            entry["until"] = change.date
    if unresolved:
        print(f"{len(unresolved)} former names without a municipality today:", file=sys.stderr)
        for line in unresolved[:20]:
            print("  " + line, file=sys.stderr)
    ordered = sorted(entries.values(), key=lambda e: (str(e["code"]), str(e["name"])))
    return {
        "schema": 1,
        "source": SOURCE_NOTE,
        "source_sha256": digest,
        "registry_as_of": registry.get("as_of", ""),
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "counts": {
            "changes": len(changes),
            "former_names": len(ordered),
            "ambiguous": sum(1 for e in ordered if len(e["successors"]) > 1),  # type: ignore[arg-type]
            "without_successor": len(unresolved),
        },
        "former_names": ordered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--registry", type=Path, default=REGISTRY)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    doc = build(args.source, args.registry)
    args.output.write_text(
        json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )
    print(f"{args.output}: {doc['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
