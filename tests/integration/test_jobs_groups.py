"""cohort-rollover and capacity-alerts: alerts open when a group is missing or full, and close."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.models import Alert, Application, Group, Invitation, OutboundMessage
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job

JST = ZoneInfo("Asia/Tokyo")


def run_at(runtime: Runtime, job: str, at: datetime) -> str:
    runtime.now = lambda: at
    result = run_job(runtime, find(job))
    assert result.outcome == "ok", result.detail
    return result.detail


def add_group(runtime: Runtime, kind: str, key: str, **fields: Any) -> int:
    values: dict[str, Any] = {
        "kind": kind,
        "key": key,
        "name": f"{key} group",
        "invite_url": "https://m.me/j/abc/",
    }
    values.update(fields)
    with runtime.db.transaction() as session:
        group = Group(**values)
        session.add(group)
        session.flush()
        return group.id


def set_group(runtime: Runtime, group_id: int, **values: Any) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Group).where(Group.id == group_id).values(**values))


def open_alerts(runtime: Runtime, kind: str) -> list[str]:
    with runtime.db.transaction() as session:
        return sorted(
            session.scalars(
                select(Alert.key).where(Alert.kind == kind, Alert.resolved_at.is_(None))
            )
        )


def alert_emails(runtime: Runtime) -> list[OutboundMessage]:
    with runtime.db.transaction() as session:
        return list(
            session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "alert"))
        )


# -- cohort rollover ------------------------------------------------------------------------------
def test_next_months_cohort_is_checked_from_a_week_before_the_month(runtime: Runtime) -> None:
    add_group(runtime, "cohort", "2026-11")
    run_at(runtime, "cohort-rollover", datetime(2026, 11, 23, 9, 0, tzinfo=JST))  # 8 days before
    assert open_alerts(runtime, "cohort_missing") == []

    detail = run_at(runtime, "cohort-rollover", datetime(2026, 11, 24, 9, 0, tzinfo=JST))
    assert detail == "checked 2026-11, 2026-12; missing 2026-12"
    assert open_alerts(runtime, "cohort_missing") == ["2026-12"]
    (mail,) = alert_emails(runtime)
    assert mail.recipient == "jimukyoku@example.jp"
    assert "2026年12月の入庁同期グループ" in mail.payload["body"]

    run_at(runtime, "cohort-rollover", datetime(2026, 11, 25, 9, 0, tzinfo=JST))
    assert len(alert_emails(runtime)) == 1  # still open: not emailed again


def test_the_alert_resolves_once_an_active_group_with_an_invite_url_exists(
    runtime: Runtime,
) -> None:
    add_group(runtime, "cohort", "2026-11")
    at = datetime(2026, 11, 28, 9, 0, tzinfo=JST)
    group_id = add_group(runtime, "cohort", "2026-12", invite_url="")
    run_at(runtime, "cohort-rollover", at)
    assert open_alerts(runtime, "cohort_missing") == ["2026-12"]
    set_group(runtime, group_id, invite_url="https://m.me/j/dec/", active=False)
    run_at(runtime, "cohort-rollover", at)
    assert open_alerts(runtime, "cohort_missing") == ["2026-12"]
    set_group(runtime, group_id, active=True)
    run_at(runtime, "cohort-rollover", at)
    assert open_alerts(runtime, "cohort_missing") == []


def test_year_end_checks_januarys_cohort(runtime: Runtime) -> None:
    add_group(runtime, "cohort", "2026-12")
    run_at(runtime, "cohort-rollover", datetime(2026, 12, 25, 9, 0, tzinfo=JST))
    assert open_alerts(runtime, "cohort_missing") == ["2027-01"]


def test_leap_february_counts_its_29th_day(runtime: Runtime) -> None:
    add_group(runtime, "cohort", "2028-02")
    run_at(runtime, "cohort-rollover", datetime(2028, 2, 22, 9, 0, tzinfo=JST))  # 8 days before
    assert open_alerts(runtime, "cohort_missing") == []
    run_at(runtime, "cohort-rollover", datetime(2028, 2, 23, 9, 0, tzinfo=JST))  # 7 days before
    assert open_alerts(runtime, "cohort_missing") == ["2028-03"]


def test_this_months_missing_cohort_alerts_and_last_months_alert_is_closed(
    runtime: Runtime,
) -> None:
    run_at(runtime, "cohort-rollover", datetime(2026, 11, 28, 9, 0, tzinfo=JST))
    assert open_alerts(runtime, "cohort_missing") == ["2026-11", "2026-12"]
    add_group(runtime, "cohort", "2026-12")
    run_at(runtime, "cohort-rollover", datetime(2026, 12, 2, 9, 0, tzinfo=JST))
    assert open_alerts(runtime, "cohort_missing") == []


# -- capacity alerts ------------------------------------------------------------------------------
def test_group_at_ninety_percent_alerts_and_resolves_when_seats_free_up(runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 12, 0, tzinfo=JST)
    toyama = add_group(runtime, "prefecture", "富山県", seats_used=224)
    run_at(runtime, "capacity-alerts", at)
    assert open_alerts(runtime, "group_nearly_full") == []

    set_group(runtime, toyama, seats_used=225)  # 90% of 250
    run_at(runtime, "capacity-alerts", at)
    assert open_alerts(runtime, "group_nearly_full") == [str(toyama)]
    (mail,) = alert_emails(runtime)
    assert "富山県 group" in mail.payload["body"] and "225/250" in mail.payload["body"]

    set_group(runtime, toyama, seats_used=100)
    run_at(runtime, "capacity-alerts", at)
    assert open_alerts(runtime, "group_nearly_full") == []


def test_inactive_full_group_does_not_alert(runtime: Runtime) -> None:
    add_group(runtime, "prefecture", "石川県", seats_used=250, active=False)
    run_at(runtime, "capacity-alerts", datetime(2026, 11, 20, 12, 0, tzinfo=JST))
    assert open_alerts(runtime, "group_nearly_full") == []


def hold_invitation(runtime: Runtime, code: str, kind: str, key: str) -> None:
    with runtime.db.transaction() as session:
        app = Application(
            code=code,
            link_token=f"tok-{code}",
            email=f"{code}@example.jp",
            status="approved",
            submitted_at=datetime(2026, 11, 1, tzinfo=JST),
        )
        session.add(app)
        session.flush()
        session.add(Invitation(application_id=app.id, kind=kind, key=key, status="held"))


def test_held_invitations_without_an_open_group_alert_until_one_exists(runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 12, 0, tzinfo=JST)
    hold_invitation(runtime, "H1", "prefecture", "北海道")
    hold_invitation(runtime, "H2", "prefecture", "北海道")
    hold_invitation(runtime, "H3", "cohort", "2026-11")
    full = add_group(runtime, "cohort", "2026-11", seats_used=250)
    run_at(runtime, "capacity-alerts", at)
    assert open_alerts(runtime, "group_missing") == ["cohort:2026-11", "prefecture:北海道"]
    assert open_alerts(runtime, "group_nearly_full") == [str(full)]

    add_group(runtime, "prefecture", "北海道")
    add_group(runtime, "cohort", "2026-11", name="2026年11月入庁同期 2")
    run_at(runtime, "capacity-alerts", at)
    assert open_alerts(runtime, "group_missing") == []
    assert open_alerts(runtime, "group_nearly_full") == [str(full)]


def test_sent_invitations_need_no_group(runtime: Runtime) -> None:
    hold_invitation(runtime, "Q1", "prefecture", "沖縄県")
    with runtime.db.transaction() as session:
        session.execute(update(Invitation).values(status="sent"))
    run_at(runtime, "capacity-alerts", datetime(2026, 11, 20, 12, 0, tzinfo=JST) + timedelta(0))
    assert open_alerts(runtime, "group_missing") == []
