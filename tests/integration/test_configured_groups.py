"""Configured groups exist from the first start, and held invitations go out once a group has room.

The processes that should create `[[groups]]` (`cityhall db upgrade`, `worker`, the web app) are
started for real; the console and the hourly job are driven as the secretariat would.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from bot.bootstrap import start_up
from bot.config import GroupSettings
from bot.db import Database
from bot.messaging.worker import Worker
from bot.models import Alert, Application, Group, Invitation, MessengerIdentity, OutboundMessage
from bot.onboarding.applications import approve
from bot.onboarding.groups import apply_configured_groups
from bot.runtime import Runtime
from jobs.registry import find
from jobs.runner import run_job
from tests.integration.test_cli_and_demo import cityhall
from tests.integration.test_console_helpers import console_app, make_application, post

CONFIGURED = (
    ("prefecture", "富山県", "富山県の部屋"),
    ("village", "village", "村"),
    ("cohort", "2026-11", "2026年11月入庁同期"),
)


def write_config(folder: Path, database_url: str) -> Path:
    lines = [
        "[app]",
        f'database_url = "{database_url}"',
        'secret_key = "test-secret"',
        "",
    ]
    for kind, key, name in CONFIGURED:
        lines += [
            "[[groups]]",
            f'kind = "{kind}"',
            f'key = "{key}"',
            f'name = "{name}"',
            f'invite_url = "https://m.me/j/{kind}/"',
            "capacity = 250",
            "",
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def groups_in(database: Database) -> list[tuple[str, str, str, bool]]:
    with database.transaction() as db:
        rows = db.execute(
            select(Group.kind, Group.key, Group.name, Group.active).order_by(Group.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_release_creates_configured_groups_and_a_restart_leaves_console_edits_alone(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    write_config(tmp_path, database_url)
    upgrade = cityhall(tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert groups_in(database) == [(k, key, n, True) for k, key, n in CONFIGURED]

    with database.transaction() as db:  # what the console's edit form does
        db.execute(
            update(Group).where(Group.kind == "village").values(name="村（旧）", active=False)
        )
    again = cityhall(tmp_path, "worker", "--once")
    assert again.returncode == 0, again.stderr
    assert groups_in(database) == [
        ("prefecture", "富山県", "富山県の部屋", True),
        ("village", "village", "村（旧）", False),
        ("cohort", "2026-11", "2026年11月入庁同期", True),
    ]


def test_processes_starting_at_once_create_each_group_once(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    write_config(tmp_path, database_url)
    command = [sys.executable, "-m", "bot.cli", "worker", "--once"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert len(groups_in(database)) == len(CONFIGURED)


def test_concurrent_start_ups_racing_on_every_insert_create_each_group_once(
    database: Database, runtime: Runtime
) -> None:
    groups = tuple(
        GroupSettings(kind="cohort", key=f"2027-{m:02d}", name=f"同期{m}", invite_url="https://x/")
        for m in range(1, 13)
    )
    barrier = threading.Barrier(4)
    created: list[int] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            with database.transaction() as db:
                created.append(apply_configured_groups(db, groups, runtime.now()))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sum(created) == 12
    with database.transaction() as db:
        assert db.scalar(select(func.count()).select_from(Group)) == 12


# -- held invitations ---------------------------------------------------------------------------
def linked_approved(runtime: Runtime, prefecture: str) -> str:
    """An application approved now, with its Messenger identity linked; returns its code."""
    app = make_application(runtime, prefecture=prefecture, status="ready_for_review")
    with runtime.db.transaction() as db:
        identity = MessengerIdentity(psid=f"psid-{app.code}", last_interaction_at=runtime.now())
        db.add(identity)
        db.flush()
        stored = db.scalars(select(Application).where(Application.code == app.code)).one()
        stored.messenger_identity_id = identity.id
        approve(
            db,
            stored,
            settings=runtime.settings,
            actor="rev",
            at=runtime.now(),
            identity_checked=True,
            join_request_confirmed=True,  # the reviewer saw the request in Facebook
        )
    return app.code


def add_standard_groups(runtime: Runtime, *, prefecture: bool) -> None:
    cohort = runtime.now().astimezone(runtime.settings.tz).strftime("%Y-%m")
    with runtime.db.transaction() as db:
        db.add(Group(kind="village", key="village", name="村", invite_url="https://m.me/j/v/"))
        db.add(Group(kind="cohort", key=cohort, name="同期", invite_url="https://m.me/j/c/"))
        if prefecture:
            db.add(
                Group(kind="prefecture", key="石川県", name="石川", invite_url="https://m.me/j/p/")
            )


def invitations_of(runtime: Runtime, code: str) -> dict[str, str]:
    with runtime.db.transaction() as db:
        rows = db.execute(
            select(Invitation.kind, Invitation.status)
            .join(Application, Application.id == Invitation.application_id)
            .where(Application.code == code)
        )
        return dict(rows.tuples().all())


def status_of(runtime: Runtime, code: str) -> str:
    with runtime.db.transaction() as db:
        return db.scalars(select(Application.status).where(Application.code == code)).one()


def missing_alerts(runtime: Runtime) -> list[str]:
    with runtime.db.transaction() as db:
        return list(
            db.scalars(
                select(Alert.message).where(
                    Alert.kind == "group_missing", Alert.resolved_at.is_(None)
                )
            )
        )


def test_a_group_added_in_the_console_delivers_what_was_held(runtime: Runtime) -> None:
    add_standard_groups(runtime, prefecture=False)
    first, second = linked_approved(runtime, "石川県"), linked_approved(runtime, "石川県")
    Worker(runtime).run(once=True)
    assert invitations_of(runtime, first) == {
        "prefecture": "held",
        "village": "sent",
        "cohort": "sent",
    }
    [message] = missing_alerts(runtime)
    assert "石川県" in message and "2人の招待を保留しています" in message
    assert status_of(runtime, first) == "approved"

    admin = console_app(runtime).test_client()
    from tests.integration.test_console_helpers import login, make_user

    make_user(runtime, "boss", "admin")
    login(admin, "boss")
    response = post(
        admin,
        "/console/groups",
        {
            "kind": "prefecture",
            "key": "石川県",
            "name": "石川県の部屋",
            "invite_url": "https://m.me/j/ishikawa/",
            "capacity": "250",
            "seats_used": "0",
            "active": "1",
        },
    )
    assert response.status_code == 302
    assert "保留中の招待2件" in admin.get("/console/groups").get_data(as_text=True)
    Worker(runtime).run(once=True)
    for code in (first, second):
        assert invitations_of(runtime, code) == dict.fromkeys(
            ("prefecture", "village", "cohort"), "sent"
        )
        assert status_of(runtime, code) == "invited"
    run_job(runtime, find("capacity-alerts"))
    assert missing_alerts(runtime) == []


def test_room_made_in_a_full_group_lets_the_hourly_job_place_and_the_alert_counts(
    runtime: Runtime,
) -> None:
    add_standard_groups(runtime, prefecture=True)
    with runtime.db.transaction() as db:
        db.execute(update(Group).where(Group.kind == "prefecture").values(seats_used=250))
    codes = [linked_approved(runtime, "石川県") for _ in range(3)]
    [message] = missing_alerts(runtime)
    assert "3人の招待を保留しています" in message

    # Someone raises the capacity directly in the database (no console call): the job places.
    with runtime.db.transaction() as db:
        db.execute(update(Group).where(Group.kind == "prefecture").values(capacity=251))
    result = run_job(runtime, find("capacity-alerts"))
    assert result.outcome == "ok" and result.detail.startswith("placed 1,"), result.detail
    [message] = missing_alerts(runtime)
    assert "2人の招待を保留しています" in message
    placed = [c for c in codes if invitations_of(runtime, c)["prefecture"] != "held"]
    assert placed == codes[:1]  # first come, first placed


def test_start_up_places_what_a_configured_group_now_serves(runtime: Runtime) -> None:
    add_standard_groups(runtime, prefecture=False)
    code = linked_approved(runtime, "石川県")
    assert invitations_of(runtime, code)["prefecture"] == "held"
    runtime.settings = runtime.settings.replace(
        groups=(
            GroupSettings(
                kind="prefecture", key="石川県", name="石川", invite_url="https://m.me/j/i/"
            ),
        )
    )
    start_up(runtime)
    assert invitations_of(runtime, code)["prefecture"] == "queued"
    with runtime.db.transaction() as db:
        keys = db.scalars(
            select(OutboundMessage.idempotency_key).where(OutboundMessage.purpose == "invitation")
        )
        assert f"invite:{code}:prefecture" in set(keys)


def test_placing_twice_at_once_takes_one_seat(runtime: Runtime) -> None:
    add_standard_groups(runtime, prefecture=False)
    code = linked_approved(runtime, "石川県")
    with runtime.db.transaction() as db:
        db.add(Group(kind="prefecture", key="石川県", name="石川", invite_url="https://m.me/j/p/"))
    barrier = threading.Barrier(2)
    from bot.onboarding.invitations import place_held

    def place() -> None:
        barrier.wait(timeout=10)
        with runtime.db.transaction() as db:
            place_held(db, settings=runtime.settings, at=runtime.now() + timedelta(seconds=1))

    threads = [threading.Thread(target=place) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert invitations_of(runtime, code)["prefecture"] == "queued"
    with runtime.db.transaction() as db:
        assert db.scalar(select(Group.seats_used).where(Group.kind == "prefecture")) == 1
