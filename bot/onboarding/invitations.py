"""Invitations: approval allocates a prefecture chat, the 村 group and the month's cohort chat.

There is no API to add anyone to a group chat or group; an invitation is the group's invite
link sent as a URL button. A group with no room (Messenger chats hold 250) or a missing group
holds the invitation and alerts the secretariat instead of sending a useless link.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.alerts import raise_alert
from bot.config import Settings
from bot.messaging.compose import url_buttons
from bot.messaging.outbox import enqueue_messenger
from bot.messaging.texts import render
from bot.models import (
    Application,
    Group,
    Invitation,
    InvitationStatus,
    MessengerIdentity,
    OutboundMessage,
    Purpose,
)
from bot.onboarding import lifecycle
from bot.onboarding.groups import alert_if_nearly_full, give_back_seat, take_seat

log = logging.getLogger(__name__)
KINDS = ("prefecture", "village", "cohort")
KIND_LABELS = {
    "prefecture": "都道府県メッセンジャーグループ",
    "village": "村Facebookグループ",
    "cohort": "入庁同期メッセンジャーグループ",
}


def group_key(app: Application, kind: str, settings: Settings, at: datetime) -> str:
    """Which group of a kind this member belongs to (prefecture, "village", or "YYYY-MM")."""
    if kind == "prefecture":
        return app.prefecture
    if kind == "village":
        return "village"
    return (app.approved_at or at).astimezone(settings.tz).strftime("%Y-%m")


def allocate_invitations(
    session: Session, app: Application, *, settings: Settings, at: datetime
) -> list[Invitation]:
    """Give an approved member a seat in each kind of group and queue what can be sent."""
    existing = {
        inv.kind: inv
        for inv in session.scalars(select(Invitation).where(Invitation.application_id == app.id))
    }
    for kind in KINDS:
        if kind in existing:
            continue  # approving twice never allocates twice
        inv = Invitation(
            application_id=app.id,
            kind=kind,
            status=InvitationStatus.HELD,
            created_at=at,
            key=group_key(app, kind, settings, at),
        )
        session.add(inv)
        existing[kind] = inv
    session.flush()
    for inv in existing.values():
        if inv.group_id is None:
            _place(session, settings, app, inv, at)
    queue_invitations(session, app, settings=settings, at=at)
    return list(existing.values())


def _place(
    session: Session,
    settings: Settings,
    app: Application,
    inv: Invitation,
    at: datetime,
    *,
    retrying: bool = False,
) -> None:
    """Give the invitation a seat, or hold it (and say so, unless it was held already)."""
    group = take_seat(session, inv.kind, inv.key)
    if group is None:
        inv.status = InvitationStatus.HELD
        if not retrying:  # place_held alerts once per kind and key, after its loop
            session.flush()
            alert_waiting(session, settings, inv.kind, inv.key, at)
            log.warning("invitation for %s held: no open %s group", app.code, inv.kind)
        return
    inv.group_id, inv.status = group.id, InvitationStatus.ALLOCATED
    alert_if_nearly_full(session, group, settings, at)


MISSING_ALERT = "group_missing"


def alert_waiting(session: Session, settings: Settings, kind: str, key: str, at: datetime) -> int:
    """Open (or bring up to date) the alert saying how many invitations wait for kind/key."""
    waiting = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.status == InvitationStatus.HELD,
            Invitation.kind == kind,
            Invitation.key == key,
        )
    )
    if not waiting:
        return 0
    raise_alert(
        session,
        kind=MISSING_ALERT,
        key=f"{kind}:{key}",
        now=at,
        message=f"{KIND_LABELS.get(kind, kind)}（{key or '都道府県未回答'}）に"
        f"空きのあるグループがありません。{waiting}人の招待を保留しています。"
        "グループを追加するか定員を増やすと、保留中の招待がすぐに送られます。",
        notify=settings.mail.secretariat_address,
    )
    return int(waiting)


def queue_invitations(
    session: Session, app: Application, *, settings: Settings, at: datetime
) -> int:
    """Queue the allocated invitations of a member whose Messenger identity is linked."""
    if app.messenger_identity_id is None:
        return 0
    identity = session.get(MessengerIdentity, app.messenger_identity_id)
    if identity is None:
        return 0
    queued = 0
    invitations = session.scalars(
        select(Invitation)
        .where(Invitation.application_id == app.id, Invitation.status == InvitationStatus.ALLOCATED)
        .order_by(Invitation.id)
    ).all()
    for inv in invitations:
        group = session.get(Group, inv.group_id)
        assert group is not None
        text = render(
            "invitation",
            settings.app.templates_dir,
            app=app,
            group=group,
            label=KIND_LABELS[inv.kind],
        ).body.strip()
        row = enqueue_messenger(
            session,
            key=f"invite:{app.code}:{inv.kind}",
            psid=identity.psid,
            message=url_buttons(text, [("参加する", group.invite_url)]),
            purpose=Purpose.INVITATION,
            application_id=app.id,
            utility={
                "params": {"group_name": f"{KIND_LABELS[inv.kind]}「{group.name}」"},
                "url": group.invite_url,
            },
            now=at,
            not_before=app.undo_until,  # an approval being undone sends nothing
        )
        inv.outbound_id, inv.status = row.id, InvitationStatus.QUEUED
        queued += 1
    return queued


def place_held(session: Session, *, settings: Settings, at: datetime) -> int:
    """Place held invitations where a group now has room, and queue them; return how many.

    Called whenever a group is created, re-activated or given room (console, start-up) and by
    the hourly capacity job as a safety net. On PostgreSQL the held rows are locked (others
    skipped), so two callers at once never place one invitation twice.
    """
    placed = 0
    query = (
        select(Invitation).where(Invitation.status == InvitationStatus.HELD).order_by(Invitation.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    held = session.scalars(query).all()
    waiting: set[tuple[str, str]] = set()
    for inv in held:
        app = session.get(Application, inv.application_id)
        if app is None or app.erased_at is not None or not _still_held(session, inv):
            continue
        _place(session, settings, app, inv, at, retrying=True)
        if inv.status == InvitationStatus.ALLOCATED:
            placed += 1
            queue_invitations(session, app, settings=settings, at=at)
        else:
            waiting.add((inv.kind, inv.key))
    if waiting:
        session.flush()
    for kind, key in sorted(waiting):  # the count changed if some of that key were placed
        alert_waiting(session, settings, kind, key, at)
    if placed:
        log.info("%s held invitation(s) placed", placed)
    return placed


def _still_held(session: Session, inv: Invitation) -> bool:
    """Lock the invitation's row and tell whether it is still held.

    A no-op conditional UPDATE: on SQLite, whose driver begins the transaction only at the first
    write, it waits for a concurrent placer's commit and then matches nothing; on PostgreSQL the
    row is already locked by the caller's SELECT … FOR UPDATE.
    """
    result = session.execute(
        update(Invitation)
        .where(Invitation.id == inv.id, Invitation.status == InvitationStatus.HELD)
        .values(status=InvitationStatus.HELD)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def withdraw_invitations(session: Session, app: Application) -> int:
    """Delete the unsent invitations of an approval being undone; return the seats freed.

    The caller has already withdrawn their outbox rows. A sent invitation is kept (it cannot be
    taken back); the rows are locked first on PostgreSQL, so a placer of held invitations
    running at the same time either finished before (its row is withdrawn too) or finds none.
    """
    query = select(Invitation).where(Invitation.application_id == app.id).order_by(Invitation.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    freed = 0
    for inv in session.scalars(query).all():
        if inv.status == InvitationStatus.SENT:
            continue
        if inv.group_id is not None:
            give_back_seat(session, inv.group_id)
            freed += 1
        session.delete(inv)
    session.flush()
    return freed


def after_invitation_sent(session: Session, row: OutboundMessage, runtime: object) -> None:
    """Mark the invitation delivered; when all three went out the member is `invited`."""
    inv = session.scalars(select(Invitation).where(Invitation.outbound_id == row.id)).first()
    if inv is None:
        return
    inv.status, inv.sent_at = InvitationStatus.SENT, row.sent_at
    app = session.get(Application, inv.application_id)
    if app is None:
        return
    statuses = set(
        session.scalars(select(Invitation.status).where(Invitation.application_id == app.id))
    )
    if statuses == {InvitationStatus.SENT} and lifecycle.can(app, "invited"):
        lifecycle.mark_invited(app, at=row.sent_at or app.status_changed_at)
