"""The community's public numbers: members, governments taking part, coverage, growth.

Definitions (README "公開の数字 (/stats)"):

* a **member** is an application that reached approval and was not undone: status `approved`
  or `invited` (`bot/onboarding/lifecycle.py`: `invited` follows `approved` when the three
  invitations are delivered; `withdrawn` after approval is someone who left, and `rejected`,
  `expired` and `duplicate` never were members). Its month is the month of `approved_at` in the
  configured time zone (Asia/Tokyo).
* a government or national body **takes part** when at least one member's
  `organization_code` names it in the registry (a designated city's ward counts as its city).
  The share is of the registry's local governments (47 prefectures + 1,741 municipalities).
* the **small-count rule**: every count of people (members in total, per prefecture, of the
  national bodies, per month) from 1 to 2 is published as the band "1-2" (shown 「1〜2」), never
  exactly; a count of governments is exact, and governments are named (that is public: the
  community lists them), but no count of members is ever given per government. The exact small
  count never leaves this module: the snapshot holds only the published value.

No personal data is read beyond three columns (status, organization code, approval time), and
only counts and registry names come out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.community.sections import active_count
from bot.models import Application, ApplicationStatus
from bot.onboarding.registry import LOCAL_KINDS, Organization, Registry, load_registry

MEMBER_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.INVITED)
LOCAL_GOVERNMENTS = 1_788  # 47 prefectures + 1,741 municipalities (incl. 23 special wards)
MONTHS = 24
SMALL_COUNT_MAX = 2  # counts of people from 1 to this are published as a band
SMALL_BAND = "1-2"
SMALL_COUNT_RULE = (
    "人数が1〜2のときは「1〜2」と表示し、正確な数は公開しません。"
    "自治体・機関ごとの人数は公開しません（参加している自治体・機関の名前のみ）。"
)
# 課: the active 課 of the directory (`bot/community/sections.py`); an inactive one is not counted.

PublicCount = int | str  # an exact count, or SMALL_BAND


def public_count(n: int) -> PublicCount:
    """The small-count rule: a count of people from 1 to 2 is published as "1-2"."""
    return SMALL_BAND if 0 < n <= SMALL_COUNT_MAX else n


@dataclass(frozen=True)
class PrefectureNumbers:
    """One prefecture: its local governments, how many take part (named), and its members."""

    code: str  # the two-digit prefecture code, "01" … "47"
    name: str
    governments: int  # the prefecture itself and its municipalities
    taking_part: int
    members: PublicCount  # members of those governments, after the small-count rule
    participating: tuple[str, ...]  # names of the governments taking part, in code order

    @property
    def share_percent(self) -> float:
        """Share of the prefecture's local governments taking part, in percent."""
        return round(100 * self.taking_part / self.governments, 1)


@dataclass(frozen=True)
class MonthNumbers:
    """Members approved in one calendar month (in the configured time zone)."""

    month: str  # YYYY-MM
    members: PublicCount


@dataclass(frozen=True)
class CommunityNumbers:
    """A snapshot of everything /stats and /stats.json publish (already past the rule)."""

    as_of: datetime  # aware, in the configured time zone
    members: PublicCount
    local_governments: int
    local_taking_part: int
    national_taking_part: int
    national_members: PublicCount
    national_bodies: tuple[str, ...]
    prefectures: tuple[PrefectureNumbers, ...]
    months: tuple[MonthNumbers, ...]
    sections: int = 0  # active 課

    @property
    def share_percent(self) -> float:
        """Share of all local governments taking part, in percent."""
        return round(100 * self.local_taking_part / self.local_governments, 1)

    def as_json(self) -> dict[str, Any]:
        """The /stats.json document."""
        return {
            "as_of": self.as_of.isoformat(timespec="seconds"),
            "members": self.members,
            "local_governments": {
                "total": self.local_governments,
                "taking_part": self.local_taking_part,
                "share_percent": self.share_percent,
            },
            "national_bodies": {
                "taking_part": self.national_taking_part,
                "members": self.national_members,
                "names": list(self.national_bodies),
            },
            "prefectures": [
                {
                    "code": p.code,
                    "name": p.name,
                    "local_governments": p.governments,
                    "taking_part": p.taking_part,
                    "share_percent": p.share_percent,
                    "members": p.members,
                    "participating": list(p.participating),
                }
                for p in self.prefectures
            ],
            "members_by_month": [{"month": m.month, "members": m.members} for m in self.months],
            "sections": self.sections,
            "rules": {
                "member": "承認された申込（状態 approved または invited）",
                "taking_part": "1人以上のメンバーが所属する自治体・国の機関",
                "small_counts": SMALL_COUNT_RULE,
                "small_band": SMALL_BAND,
            },
        }


@dataclass(frozen=True)
class _Place:
    """Where a registry organization is counted."""

    name: str
    prefecture_code: str  # "" for national bodies
    sort_key: str


@dataclass(frozen=True)
class _RegistryView:
    """The registry as these numbers need it (built once per process)."""

    prefectures: tuple[tuple[str, str], ...]  # (code "01", name), in code order
    governments_per_prefecture: dict[str, int]
    places: dict[str, _Place]  # organization or ward code -> where it counts


def _prefecture_code(org: Organization) -> str:
    return org.code[:2]


def build_registry_view(registry: Registry) -> _RegistryView:
    """Index the registry by code; refuse one whose local governments are not 1,788."""
    local = [org for org in registry if org.kind in LOCAL_KINDS]
    if len(local) != LOCAL_GOVERNMENTS:
        raise RuntimeError(
            f"the registry holds {len(local)} local governments, not {LOCAL_GOVERNMENTS}: "
            "the share of local governments taking part would be wrong"
        )
    prefectures = sorted(
        (_prefecture_code(org), org.name) for org in local if org.kind == "prefecture"
    )
    places: dict[str, _Place] = {}
    per_prefecture: Counter[str] = Counter()
    for org in registry:
        if org.is_local:
            place = _Place(org.name, _prefecture_code(org), org.code)
            per_prefecture[place.prefecture_code] += 1
            for ward in org.wards:
                places[ward.code] = place
        else:
            place = _Place(org.name, "", org.code)
        places[org.code] = place
    return _RegistryView(tuple(prefectures), dict(per_prefecture), places)


@lru_cache(maxsize=1)
def _shipped_view() -> _RegistryView:
    return build_registry_view(load_registry())


def month_keys(now: datetime, tz: ZoneInfo, months: int = MONTHS) -> list[str]:
    """The last `months` calendar months up to and including `now`'s, oldest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months + 1, index + 1)]


def _month_start(key: str, tz: ZoneInfo) -> datetime:
    year, month = (int(part) for part in key.split("-"))
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def community_numbers(
    session: Session, *, now: datetime, tz: ZoneInfo, registry: Registry | None = None
) -> CommunityNumbers:
    """Count members and the governments taking part, by prefecture and by month.

    Three queries: members per organization code, the approval times of the last 24 months,
    and the count of active 課.
    """
    view = _shipped_view() if registry is None else build_registry_view(registry)
    members = (Application.status.in_(MEMBER_STATUSES),)
    per_code = session.execute(
        select(Application.organization_code, func.count())
        .where(*members)
        .group_by(Application.organization_code)
    ).all()
    keys = month_keys(now, tz)
    approved = session.scalars(
        select(Application.approved_at).where(
            *members, Application.approved_at >= _month_start(keys[0], tz)
        )
    ).all()

    total = 0
    taking_part: dict[str, _Place] = {}
    members_per_prefecture: Counter[str] = Counter()
    national_members = 0
    for code, count in per_code:
        total += count
        place = view.places.get(code or "")
        if place is None:
            continue  # unresolved or unknown: a member, but of no government we can name
        taking_part[place.sort_key] = place
        if place.prefecture_code:
            members_per_prefecture[place.prefecture_code] += count
        else:
            national_members += count

    participating: dict[str, list[_Place]] = {}
    for place in sorted(taking_part.values(), key=lambda p: p.sort_key):
        participating.setdefault(place.prefecture_code, []).append(place)
    prefectures = tuple(
        PrefectureNumbers(
            code=code,
            name=name,
            governments=view.governments_per_prefecture[code],
            taking_part=len(participating.get(code, ())),
            members=public_count(members_per_prefecture[code]),
            participating=tuple(p.name for p in participating.get(code, ())),
        )
        for code, name in view.prefectures
    )
    per_month = Counter(at.astimezone(tz).strftime("%Y-%m") for at in approved if at is not None)
    national = participating.get("", [])
    return CommunityNumbers(
        as_of=now.astimezone(tz),
        members=public_count(total),
        local_governments=LOCAL_GOVERNMENTS,
        local_taking_part=sum(p.taking_part for p in prefectures),
        national_taking_part=len(national),
        national_members=public_count(national_members),
        national_bodies=tuple(p.name for p in national),
        prefectures=prefectures,
        months=tuple(MonthNumbers(key, public_count(per_month[key])) for key in keys),
        sections=active_count(session),
    )
