"""The 課 directory: the community's groups, each a Facebook group joined by request.

A 課 is of one of three kinds (仕事直結型, 共通スキル育成型, 趣味・サークル型). The secretariat
keeps the list in the console (`bot/console/pages/sections.py`) and may import it from a TOML file
(`cityhall sections import FILE`; the shipped seed is `data/sections.toml`): an import upserts by
name, entry by entry, and a bad entry is reported with its reason and never blocks the others.

In Messenger a person (member or applicant) browses the 課 by kind: `SECTIONS` asks which kind
with quick replies, `SECTIONS_KIND:<kind>[:<page>]` answers with a generic template of at most
ten 課 and a 「もっと見る」 quick reply for the next page. After the three invitations are
delivered, a member gets one message with up to three 課 matching the interests they chose in the
form (`suggest`), composed into the after-send table by `bot/bootstrap.py`.

Matching a form answer to a 課 (`match_key`): NFKC (full/half width), case folded, spaces and
punctuation dropped, and a trailing 課 or サークル ignored, so 「ライティング」, 「ﾗｲﾃｨﾝｸﾞ課」
and 「ライティング 課」 all name ライティング課.
"""

from __future__ import annotations

import logging
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.community.conversation import ORIENTATION_CONTEXT, MemberConversation, payload
from bot.messaging.compose import (
    button_template,
    generic_element,
    generic_template,
    postback_button,
    text_message,
    url_button,
)
from bot.messaging.outbox import enqueue_messenger
from bot.messaging.texts import render
from bot.models import (
    Application,
    ApplicationStatus,
    MessengerIdentity,
    OutboundMessage,
    Purpose,
    Section,
)
from bot.onboarding import lifecycle, orientation

log = logging.getLogger(__name__)

KINDS: dict[str, str] = {
    "work": "仕事直結型",
    "skill": "共通スキル育成型",
    "hobby": "趣味・サークル型",
}
SEED_FILE = Path(__file__).resolve().parent / "data" / "sections.toml"
PAGE_SIZE = 10  # a generic template holds at most ten elements
SUGGESTIONS = 3  # 課 suggested after the invitations (a button template holds three buttons)
BROWSE = "SECTIONS"
BROWSE_KIND = "SECTIONS_KIND"
JOIN_BUTTON = "参加リクエストへ"
# Stored lengths (bot/models.py: Section) and a bound on the keywords' text.
MAX_NAME, MAX_DESCRIPTION, MAX_URL, MAX_LEADER, MAX_KEYWORDS = 100, 300, 500, 100, 2000
MAX_POSITION = 100_000
FACEBOOK_HOSTS = frozenset({"www.facebook.com", "facebook.com"})
_SUFFIXES = ("サークル", "課")  # a trailing one does not matter when matching
_FIELDS = (
    "name",
    "kind",
    "description",
    "group_url",
    "leader_name",
    "keywords",
    "introduce_at_grand",
    "active",
    "position",
)
_NAME_TIER, _KEYWORD_TIER, _PARTIAL_TIER = 0, 1, 2
_MIN_PARTIAL = 2  # a partial match needs at least two characters on the shorter side


# -- values ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SectionFields:
    """A validated 課: what the console form and an import entry set."""

    name: str
    kind: str
    description: str = ""
    group_url: str = ""
    leader_name: str = ""
    keywords: str = ""  # one per line
    introduce_at_grand: bool = False
    active: bool = True
    position: int = 0


def clean_text(value: str) -> str:
    """NFKC, with runs of spaces collapsed and the ends trimmed (what is stored)."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def clean_keywords(value: str | Iterable[str]) -> str:
    """Keywords one per line (from a text with one per line, or a list), blanks dropped."""
    lines = value.splitlines() if isinstance(value, str) else [str(v) for v in value]
    kept: list[str] = []
    for line in lines:
        word = clean_text(line)
        if word and word not in kept:
            kept.append(word)
    return "\n".join(kept)


def group_url_error(url: str) -> str | None:
    """Why `url` is not a Facebook group's URL (Japanese), or None when it is (or is empty)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if (
        parts is None
        or port is not None
        or parts.scheme != "https"
        or (parts.hostname or "") not in FACEBOOK_HOSTS
        or parts.username is not None
        or parts.password is not None
        or not parts.path.startswith("/groups/")
        or not parts.path.removeprefix("/groups/").strip("/")
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        return "FacebookグループのURLは https://www.facebook.com/groups/… の形で入力してください。"
    if len(url) > MAX_URL:
        return f"FacebookグループのURLは{MAX_URL}文字以内にしてください。"
    return None


def check_fields(
    *,
    name: str,
    kind: str,
    description: str = "",
    group_url: str = "",
    leader_name: str = "",
    keywords: str | Iterable[str] = "",
    introduce_at_grand: bool = False,
    active: bool = True,
    position: int = 0,
) -> tuple[SectionFields | None, list[str]]:
    """Validate a 課; returns the cleaned values, or None and the Japanese error messages."""
    errors: list[str] = []
    texts = (name, description, group_url, leader_name, "".join(keywords))
    if any("\x00" in text for text in texts):
        return None, ["使えない文字（NUL）が含まれています。"]
    name, description, leader_name = (
        clean_text(name),
        clean_text(description),
        clean_text(leader_name),
    )
    group_url = group_url.strip()
    words = clean_keywords(keywords)
    if not name:
        errors.append("課の名前を入力してください。")
    elif len(name) > MAX_NAME:
        errors.append(f"課の名前は{MAX_NAME}文字以内にしてください。")
    if kind not in KINDS:
        errors.append("種類は「" + "」「".join(KINDS.values()) + "」のどれかを選んでください。")
    if len(description) > MAX_DESCRIPTION:
        errors.append(f"説明は{MAX_DESCRIPTION}文字以内にしてください。")
    if (url_error := group_url_error(group_url)) is not None:
        errors.append(url_error)
    if len(leader_name) > MAX_LEADER:
        errors.append(f"課長の表示名は{MAX_LEADER}文字以内にしてください。")
    if len(words) > MAX_KEYWORDS:
        errors.append(f"キーワードは合わせて{MAX_KEYWORDS}文字以内にしてください。")
    if not 0 <= position <= MAX_POSITION:
        errors.append(f"表示順は0〜{MAX_POSITION}の整数にしてください。")
    if errors:
        return None, errors
    return SectionFields(
        name=name,
        kind=kind,
        description=description,
        group_url=group_url,
        leader_name=leader_name,
        keywords=words,
        introduce_at_grand=introduce_at_grand,
        active=active,
        position=position,
    ), []


# -- the directory ---------------------------------------------------------------------------------
def _kind_order() -> Any:
    return case({kind: n for n, kind in enumerate(KINDS)}, value=Section.kind, else_=len(KINDS))


def all_sections(session: Session) -> list[Section]:
    """Every 課, by kind (work, skill, hobby), then position, then name."""
    return list(
        session.scalars(
            select(Section).order_by(_kind_order(), Section.position, Section.name, Section.id)
        )
    )


def active_sections(session: Session, kind: str | None = None) -> list[Section]:
    """The active 課 (of one kind when given), by kind, then position, then name."""
    query = select(Section).where(Section.active.is_(True))
    if kind is not None:
        query = query.where(Section.kind == kind)
    return list(
        session.scalars(query.order_by(_kind_order(), Section.position, Section.name, Section.id))
    )


def active_count(session: Session) -> int:
    """How many 課 are active (the community's published 課 count)."""
    return int(
        session.scalar(select(func.count()).select_from(Section).where(Section.active.is_(True)))
        or 0
    )


def grand_section_names(session: Session) -> list[str]:
    """The active 課 that introduce themselves at the 大説明会, in directory order."""
    return [s.name for s in active_sections(session) if s.introduce_at_grand]


def name_taken(session: Session, name: str, *, other_than: int | None = None) -> bool:
    """Whether another 課 already has this name."""
    query = select(Section.id).where(Section.name == name)
    if other_than is not None:
        query = query.where(Section.id != other_than)
    return session.scalars(query).first() is not None


def create_section(session: Session, fields: SectionFields, now: datetime) -> Section:
    """Add a 課."""
    section = Section(**asdict(fields), created_at=now, updated_at=now)
    session.add(section)
    session.flush()
    return section


def update_section(
    section: Section, fields: SectionFields, now: datetime, *, only: Iterable[str] = _FIELDS
) -> dict[str, Any]:
    """Change a 課 (the fields in `only`); returns the changed fields' previous values."""
    values = asdict(fields)
    before: dict[str, Any] = {}
    for key in only:
        if getattr(section, key) != values[key]:
            before[key] = getattr(section, key)
            setattr(section, key, values[key])
    if before:
        section.updated_at = now
    return before


def snapshot(section: Section) -> dict[str, Any]:
    """The 課's fields, for an audit entry."""
    return {key: getattr(section, key) for key in _FIELDS}


# -- import ----------------------------------------------------------------------------------------
class SeedError(ValueError):
    """The file is not a 課 list at all (not TOML, or no [[sections]] list)."""


@dataclass
class ImportReport:
    """What an import did: names added, changed and unchanged, and entries skipped with why."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (which entry, reason)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )


def read_seed(path: Path) -> list[Any]:
    """The entries of a 課 file: a TOML document with a `[[sections]]` list."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SeedError(f"{path}: cannot read a TOML 課 list ({error})") from None
    entries = document.get("sections")
    if not isinstance(entries, list):
        raise SeedError(f"{path}: expected a [[sections]] list")
    return entries


def _entry_fields(entry: Any) -> tuple[SectionFields | None, list[str], set[str]]:
    """Validate one import entry; also returns which fields it sets."""
    if not isinstance(entry, Mapping):
        return None, ["[[sections]] の項目ではありません。"], set()
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        return None, [f"知らない項目があります: {', '.join(unknown)}"], set()
    types: dict[str, tuple[type, ...]] = {
        "introduce_at_grand": (bool,),
        "active": (bool,),
        "position": (int,),
        "keywords": (str, list),
    }
    errors = []
    for key, value in entry.items():
        allowed = types.get(key, (str,))
        if not isinstance(value, allowed) or (key == "position" and isinstance(value, bool)):
            errors.append(f"{key} の値の型が違います。")
        elif key == "keywords" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                errors.append("keywords は文字列のリストにしてください。")
    if errors:
        return None, errors, set()
    values, errors = check_fields(
        name=entry.get("name", ""),
        kind=entry.get("kind", ""),
        **{k: v for k, v in entry.items() if k not in ("name", "kind")},
    )
    return values, errors, set(entry)


def import_sections(
    session: Session, entries: Sequence[Any], *, actor: str, now: datetime
) -> ImportReport:
    """Upsert 課 by name; fields an entry leaves out keep their value (or the default).

    Each entry is checked on its own: a bad one is reported and skipped, the others go in.
    Every addition and change is audited (actor `actor`, source "import").
    """
    report = ImportReport()
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = f"#{index}"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label = f"#{index} {clean_text(entry['name'])[:MAX_NAME]}".rstrip()
        values, errors, given = _entry_fields(entry)
        if values is None:
            report.skipped.append((label, " ".join(errors)))
            continue
        if values.name in seen:
            report.skipped.append((label, "同じ名前の課がこのファイルの前の方にあります。"))
            continue
        seen.add(values.name)
        existing = session.scalars(select(Section).where(Section.name == values.name)).first()
        if existing is None:
            section = create_section(session, values, now)
            _audit(session, actor, now, "section_created", section, source="import")
            report.added.append(values.name)
            continue
        before = update_section(existing, values, now, only=[f for f in _FIELDS if f in given])
        if before:
            _audit(session, actor, now, "section_updated", existing, source="import", before=before)
            report.changed.append(values.name)
        else:
            report.unchanged.append(values.name)
    session.flush()
    log.info("sections import: %s", report)
    return report


def _audit(
    session: Session, actor: str, now: datetime, action: str, section: Section, **detail: Any
) -> None:
    session.add(
        lifecycle.audit(
            None,
            actor=actor,
            at=now,
            action=action,
            detail={"section_id": section.id, "name": section.name, **detail},
        )
    )


# -- suggestions -----------------------------------------------------------------------------------
def match_key(text: str) -> str:
    """The form of a name, keyword or interest that matching compares (see the module doc)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if unicodedata.category(c)[0] not in "PZC")
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if kept.endswith(suffix) and len(kept) > len(suffix):
                kept, changed = kept.removesuffix(suffix), True
    return kept


def _tier(interest: str, name: str, keywords: Sequence[str]) -> int | None:
    if interest == name:
        return _NAME_TIER
    if interest in keywords:
        return _KEYWORD_TIER
    shorter = min(len(interest), len(name))
    if shorter >= _MIN_PARTIAL and (interest in name or name in interest):
        return _PARTIAL_TIER
    return None


def rank(
    sections: Sequence[Section], interests: Sequence[str], limit: int = SUGGESTIONS
) -> list[Section]:
    """The 課 matching the person's interests, best first, at most `limit`.

    A 課 matches an interest by its name, by one of its keywords, or partly (one name holds
    the other, e.g. 防災 in 防災対策課). Order: exact name matches, then keyword matches, then
    partial ones; within each, the order the person listed their interests; then position and
    name. Only the best match of each 課 counts.
    """
    wanted = [key for key in (match_key(i) for i in interests) if key]
    best: list[tuple[int, int, int, str, int, Section]] = []
    for section in sections:
        name = match_key(section.name)
        keywords = [k for k in (match_key(w) for w in section.keywords.splitlines()) if k]
        found = [
            (tier, n)
            for n, interest in enumerate(wanted)
            if (tier := _tier(interest, name, keywords)) is not None
        ]
        if found:
            tier, n = min(found)
            best.append((tier, n, section.position, section.name, section.id, section))
    best.sort(key=lambda item: item[:5])
    return [item[-1] for item in best[:limit]]


def suggest(session: Session, interests: Sequence[str], limit: int = SUGGESTIONS) -> list[Section]:
    """Up to `limit` active 課 matching `interests` (the form's 興味のある分野（課）)."""
    if not interests:
        return []
    return rank(active_sections(session), interests, limit)


# -- Messenger -------------------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(conv: MemberConversation, name: str, **context: Any) -> str:
    return render(
        name, conv.settings.app.templates_dir, settings=conv.settings, **context
    ).body.strip()


def _kind_replies() -> list[tuple[str, str]]:
    return [(label, f"{BROWSE_KIND}:{kind}") for kind, label in KINDS.items()]


def section_card(section: Section) -> dict[str, Any]:
    """One generic-template element: name, description and 課長, the join-request button."""
    leader = f"課長: {section.leader_name}" if section.leader_name else ""
    subtitle = " ".join(part for part in (section.description, leader) if part)
    if not subtitle:
        subtitle = KINDS.get(section.kind, "")
    if leader and len(subtitle) > 80 and section.description:
        room = 80 - len(leader) - 1  # keep the 課長's name; shorten the description
        subtitle = f"{_clip(section.description, max(room, 1))} {leader}"
    buttons = [url_button(JOIN_BUTTON, section.group_url)] if section.group_url else []
    return generic_element(_clip(section.name, 80), _clip(subtitle, 80), buttons)


def directory_page(sections: Sequence[Section], kind: str, page: int) -> dict[str, Any] | None:
    """The generic template of one page of a kind's 課 (None past the last page)."""
    start = (page - 1) * PAGE_SIZE
    shown = sections[start : start + PAGE_SIZE]
    if not shown:
        return None
    replies: list[tuple[str, str]] = []
    if len(sections) > start + PAGE_SIZE:
        replies.append(("もっと見る", f"{BROWSE_KIND}:{kind}:{page + 1}"))
    replies.append(("ほかの種類", BROWSE))
    return generic_template([section_card(s) for s in shown], replies)


@payload(BROWSE)
def on_browse(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """課をさがす: which kind of 課? (members and applicants alike)."""
    text = _text(conv, "messenger_sections", kinds=KINDS)
    conv.send("sections", text_message(text, _kind_replies()))


@payload(BROWSE_KIND)
def on_browse_kind(conv: MemberConversation, identity: MessengerIdentity, argument: str) -> None:
    """One page of the 課 of a kind (`work`, `work:2`…)."""
    kind, _, page_text = argument.partition(":")
    digits = page_text.isascii() and page_text.isdigit() and len(page_text) <= 4
    page = int(page_text) if digits and int(page_text) > 0 else 1
    if kind not in KINDS:
        conv.send(
            "sections",
            text_message(_text(conv, "messenger_sections", kinds=KINDS), _kind_replies()),
        )
        return
    sections = active_sections(conv.session, kind)
    message = directory_page(sections, kind, page)
    if message is None:
        text = _text(conv, "messenger_sections_none", kind_label=KINDS[kind], page=page)
        message = text_message(text, _kind_replies())
    conv.send("sections_kind", message, suffix=f":{kind}:{page}")


def grand_context(conv: MemberConversation, upcoming: orientation.Session | None) -> dict[str, Any]:
    """The 説明会 reply's `grand_sections`: the 課 introduced when the next one is a 大説明会."""
    if upcoming is None or upcoming.kind != orientation.LARGE:
        return {"grand_sections": []}
    return {"grand_sections": grand_section_names(conv.session)}


if grand_context not in ORIENTATION_CONTEXT:
    ORIENTATION_CONTEXT.append(grand_context)


# -- after the invitations -------------------------------------------------------------------------
def suggestion_message(
    sections: Sequence[Section], *, templates_dir: str = "", **context: Any
) -> dict[str, Any]:
    """One message: the suggested 課 with a join-request button each, or the way to browse."""
    with_url = [s for s in sections if s.group_url][:3]
    text = render(
        "section_suggestions",
        templates_dir,
        sections=sections,
        kinds=KINDS,
        **context,
    ).body.strip()
    buttons = [url_button(_clip(s.name, 20), s.group_url) for s in with_url]
    if len(buttons) < 3:
        buttons.append(postback_button("課をさがす", BROWSE))
    return button_template(_clip(text, 640), buttons)


def after_invitation_sent(session: Session, row: OutboundMessage, runtime: Any) -> None:
    """Once an application is `invited`, queue its one 課 suggestion (key `sections:<id>`).

    Nothing is sent while the directory holds no active 課 (there would be nothing to browse).

    Runs after onboarding's own reaction to a delivered invitation (`bot/bootstrap.py`), in the
    transaction that records the delivery; the key makes it one message whatever the
    redeliveries.
    """
    if row.application_id is None:
        return
    app = session.get(Application, row.application_id)
    if app is None or app.erased_at is not None or app.status != ApplicationStatus.INVITED:
        return
    if not active_count(session):
        return  # an empty directory: nothing to suggest nor to browse
    settings = runtime.settings
    sections = suggest(session, [str(i) for i in app.interests or []])
    enqueue_messenger(
        session,
        key=f"sections:{app.id}",
        psid=row.recipient,
        message=suggestion_message(
            sections, templates_dir=settings.app.templates_dir, settings=settings
        ),
        purpose=Purpose.SECTION_SUGGESTIONS,
        application_id=app.id,
        now=runtime.now(),
    )
    log.info("application %s: %s 課 suggested", app.code, len(sections))
