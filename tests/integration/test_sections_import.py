"""Importing 課 from TOML (the seed, `cityhall sections import`), the stats' 課 count and the
大説明会 reminder naming its 課, on every engine (the CLI round trip on SQLite)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.community import sections
from bot.community.sections import (
    SEED_FILE,
    SectionFields,
    SeedError,
    create_section,
    import_sections,
    read_seed,
)
from bot.models import AuditEntry, OutboundMessage, Section
from bot.runtime import Runtime
from bot.stats.community import community_numbers
from tests.integration.test_cli_and_demo import cityhall
from tests.integration.test_jobs_orientation import add_member, run_at

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=ZoneInfo("UTC"))


def names(runtime: Runtime) -> dict[str, Section]:
    with runtime.db.transaction() as db:
        return {s.name: s for s in db.scalars(select(Section))}


def test_the_seed_imports_once_and_a_second_run_changes_nothing(runtime: Runtime) -> None:
    entries = read_seed(SEED_FILE)
    with runtime.db.transaction() as db:
        first = import_sections(db, entries, actor="cli", now=NOW)
    assert len(first.added) == len(entries) and first.skipped == []
    with runtime.db.transaction() as db:
        second = import_sections(db, entries, actor="cli", now=NOW)
    assert (second.added, second.changed, second.skipped) == ([], [], [])
    assert len(second.unchanged) == len(entries)
    stored = names(runtime)
    assert stored["ライティング課"].kind == "skill" and stored["図書室"].kind == "hobby"
    assert all(s.group_url == "" for s in stored.values())  # no URL is published
    with runtime.db.transaction() as db:
        audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "section_created"))
        assert len(list(audited)) == len(entries)


def test_bad_entries_are_skipped_with_reasons_and_never_block_the_others(
    runtime: Runtime,
) -> None:
    with runtime.db.transaction() as db:
        create_section(
            db, SectionFields(name="法規課", kind="work", description="旧", leader_name="田中"), NOW
        )
    entries = [
        {"name": "法規課", "kind": "work", "description": "新しい説明"},  # update, keeps 課長
        {"name": "", "kind": "work"},
        {"name": "城の課", "kind": "castle"},
        {"name": "URLの課", "kind": "work", "group_url": "https://example.com/groups/x"},
        {"name": "型の課", "kind": "work", "position": "1"},
        {"name": "項目の課", "kind": "work", "colour": "red"},
        "not a table",
        {"name": "図書室", "kind": "hobby", "keywords": ["読書", "本"]},
        {"name": "図書室", "kind": "hobby"},  # twice in one file
        {"name": "長い課", "kind": "hobby", "description": "あ" * 301},
    ]
    with runtime.db.transaction() as db:
        report = import_sections(db, entries, actor="cli", now=NOW)
    assert report.added == ["図書室"] and report.changed == ["法規課"]
    skipped = dict(report.skipped)
    assert list(skipped) == [
        "#2",
        "#3 城の課",
        "#4 URLの課",
        "#5 型の課",
        "#6 項目の課",
        "#7",
        "#9 図書室",
        "#10 長い課",
    ]
    assert "課の名前を入力" in skipped["#2"]
    assert "種類は" in skipped["#3 城の課"]
    assert "colour" in skipped["#6 項目の課"]
    assert "前の方にあります" in skipped["#9 図書室"]
    stored = names(runtime)
    assert set(stored) == {"法規課", "図書室"}
    assert (stored["法規課"].description, stored["法規課"].leader_name) == ("新しい説明", "田中")
    assert stored["図書室"].keywords == "読書\n本"


def test_a_file_that_is_not_a_section_list_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sections]\nname = ", encoding="utf-8")
    with pytest.raises(SeedError, match="cannot read"):
        read_seed(broken)
    other = tmp_path / "other.toml"
    other.write_text('title = "x"\n', encoding="utf-8")
    with pytest.raises(SeedError, match=r"\[\[sections\]\]"):
        read_seed(other)
    with pytest.raises(SeedError):
        read_seed(tmp_path / "missing.toml")


def test_the_cli_imports_the_seed_and_reports_skipped_entries(tmp_path: Path) -> None:
    assert cityhall(tmp_path, "db", "upgrade").returncode == 0
    done = cityhall(tmp_path, "sections", "import", str(SEED_FILE))
    assert done.returncode == 0, done.stderr
    count = len(read_seed(SEED_FILE))
    assert f"sections: {count} added, 0 changed, 0 unchanged, 0 skipped" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[sections]]\nname = "法規課"\nkind = "hobby"\n\n[[sections]]\nname = "x"\nkind = "?"\n',
        encoding="utf-8",
    )
    partly = cityhall(tmp_path, "sections", "import", str(bad))
    assert partly.returncode == 1
    assert "sections: 0 added, 1 changed, 0 unchanged, 1 skipped" in partly.stdout
    assert "skipped #2 x: 種類は" in partly.stderr
    missing = cityhall(tmp_path, "sections", "import", str(tmp_path / "none.toml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_the_stats_count_active_sections_only(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        assert community_numbers(db, now=NOW, tz=runtime.settings.tz).sections == 0
        for n, active in enumerate((True, True, False)):
            create_section(db, SectionFields(name=f"課{n}", kind="work", active=active), NOW)
    with runtime.db.transaction() as db:
        numbers = community_numbers(db, now=NOW, tz=runtime.settings.tz)
        expected = len(list(db.scalars(select(Section).where(Section.active.is_(True)))))
        assert numbers.sections == expected == sections.active_count(db) == 2
        assert numbers.as_json()["sections"] == 2


def test_the_grand_session_reminder_names_its_sections_and_the_weekly_one_does_not(
    runtime: Runtime,
) -> None:
    jst = ZoneInfo("Asia/Tokyo")
    with runtime.db.transaction() as db:
        create_section(db, SectionFields(name="法規課", kind="work", introduce_at_grand=True), NOW)
        create_section(
            db,
            SectionFields(name="動画課", kind="skill", introduce_at_grand=True, active=False),
            NOW,
        )
        create_section(db, SectionFields(name="図書室", kind="hobby"), NOW)
    grand_day = datetime(2026, 11, 20, 9, 0, tzinfo=jst)  # the third Friday
    add_member(runtime, "OC-GRAND1", grand_day.replace(day=18))
    run_at(runtime, grand_day)
    weekly_day = datetime(2026, 11, 27, 9, 0, tzinfo=jst)
    add_member(runtime, "OC-WEEKLY", weekly_day.replace(day=25))
    run_at(runtime, weekly_day)
    with runtime.db.transaction() as db:
        bodies = {
            row.idempotency_key.split(":")[1]: row.payload["body"]
            for row in db.scalars(
                select(OutboundMessage).where(OutboundMessage.purpose == "orientation_reminder")
            )
            if row.idempotency_key.endswith("OC-GRAND1")
            or row.idempotency_key.endswith("OC-WEEKLY")
        }
    assert "本日の大説明会では、次の課が紹介されます" in bodies["large"]
    assert "・法規課" in bodies["large"] and "動画課" not in bodies["large"]
    assert "紹介されます" not in bodies["weekly"] and "法規課" not in bodies["weekly"]
