"""A form response sheet served through `responses`, and a counter of database writes.

Shared by the intake and forms-webhook tests: the sheet's rows can be edited between polls, and
every poll goes through the real SheetsFormSource (gspread + google-auth).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import responses
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from bot.config import DEFAULT_COLUMNS
from bot.models import Base
from tests.google_fakes import VALUES_URL, calls_to, serial, values_body

NOTE = "事務局への連絡事項"  # an unmapped question, kept verbatim in the answers
HEADER: list[str] = [*DEFAULT_COLUMNS, NOTE]
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def response_row(
    email: str,
    *,
    at: datetime = datetime(2026, 11, 20, 9, 30),
    name: str = "屋敷 昌範",
    organization: str = "富山市",
    header: list[str] = HEADER,
    overrides: dict[str, Any] | None = None,
) -> list[Any]:
    """One row in `header` order, as `values.get` with UNFORMATTED_VALUE returns it."""
    values: dict[str, Any] = {
        "タイムスタンプ": serial(at),
        "メールアドレス": email,
        "氏名": name,
        "氏名（ふりがな）": "やしき まさのり",
        "Facebookでの登録名": "Masanori Yashiki",
        "国家公務員・地方公務員の別": "地方公務員",
        "所属団体名（例：富山市、国土交通省）": organization,
        "所属部署": "企画管理部企画調整課",
        "勤務地の都道府県": "富山県",
        "現在の勤務状況": "在職中（正規職員）",
        "興味のある分野（課）": "ライティング課, 図解・グラレコ課",
        "参加条件への同意": "同意します",
        "オンライン市役所を知ったきっかけ": "同僚の紹介",
        NOTE: "",
    }
    values.update(overrides or {})
    return [values.get(title, "") for title in header]


@dataclass
class FakeSheet:
    """The response sheet as Google would serve it; edit `header` and `rows` between polls."""

    mock: responses.RequestsMock
    header: list[str] = field(default_factory=lambda: list(HEADER))
    rows: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mock.add_callback(responses.GET, VALUES_URL, callback=self._answer)

    def _answer(self, _request: Any) -> tuple[int, dict[str, str], str]:
        body = values_body([list(self.header), *[list(r) for r in self.rows]])
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    @property
    def values_requests(self) -> int:
        """How many `values.get` requests Google has answered so far."""
        return len(calls_to(self.mock, VALUES_URL))


@contextmanager
def counting_writes(engine: Engine) -> Iterator[list[str]]:
    """Collect every INSERT, UPDATE and DELETE statement run on `engine` inside the block."""
    writes: list[str] = []

    def before_cursor_execute(
        _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        if _WRITE.match(statement):
            writes.append(statement.split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


def row_counts(session: Session) -> dict[str, int]:
    """Rows in every table (tables without rows left out)."""
    counts = {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }
    return {name: n for name, n in counts.items() if n}
