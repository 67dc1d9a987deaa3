"""The audit log (admin): filterable, and the CSV export of decisions (itself audited)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from bot.console.actions import record
from bot.console.blueprint import bp
from bot.console.csv_export import to_csv
from bot.console.params import parse_day, parse_int
from bot.console.security import ADMIN, login_required
from bot.models import Application, AuditEntry
from bot.web import current_runtime

PAGE = 100
DECISIONS = ("approve", "reject")


def _day(name: str, text: str, tz: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD date as the start (or end) of that day in the configured zone."""
    day = parse_day(name, text)
    if day is None:
        return None
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start + timedelta(days=1) if end else start


def _filters(query: Select[Any], args: Any, tz: ZoneInfo) -> Select[Any]:
    actor = args.get("actor", "").strip()
    action = args.get("action", "").strip()
    start = _day("from", args.get("from", ""), tz)
    end = _day("to", args.get("to", ""), tz, end=True)
    if actor:
        query = query.where(AuditEntry.actor == actor[:100])
    if action:
        query = query.where(AuditEntry.action == action[:60])
    if start:
        query = query.where(AuditEntry.at >= start)
    if end:
        query = query.where(AuditEntry.at < end)
    return query


@bp.get("/audit")
@login_required(ADMIN)
def audit_log() -> ResponseReturnValue:
    """Audit entries, newest first: who, when, what."""
    rt = current_runtime()
    before = parse_int("before", request.args.get("before", ""), minimum=1)
    with rt.db.transaction() as db:
        query = _filters(
            select(AuditEntry, Application.code).outerjoin(
                Application, Application.id == AuditEntry.application_id
            ),
            request.args,
            rt.settings.tz,
        )
        if before is not None:
            query = query.where(AuditEntry.id < before)
        rows = db.execute(query.order_by(AuditEntry.id.desc()).limit(PAGE + 1)).all()
        actions = sorted(db.scalars(select(AuditEntry.action).distinct()).all())
        filters = {k: v for k, v in request.args.items() if k != "before"}
        html = render_template(
            "console/audit.html",
            rows=rows[:PAGE],
            more=len(rows) > PAGE,
            args=filters,
            actions=actions,
        )
    return html


@bp.post("/audit/decisions.csv")
@login_required(ADMIN)
def export_decisions() -> ResponseReturnValue:
    """Approvals and rejections as CSV (formula injection neutralised); the export is audited."""
    rt = current_runtime()
    tz = rt.settings.tz
    with rt.db.transaction() as db:
        query = _filters(
            select(AuditEntry, Application)
            .join(Application, Application.id == AuditEntry.application_id)
            .where(AuditEntry.action.in_(DECISIONS)),
            {**request.form, "action": ""},
            tz,
        )
        rows = db.execute(query.order_by(AuditEntry.at, AuditEntry.id)).all()
        body = to_csv(
            (
                "日時",
                "操作",
                "担当者",
                "申込番号",
                "氏名",
                "所属",
                "都道府県",
                "理由",
                "理由を通知",
            ),
            (
                (
                    e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                    "承認" if e.action == "approve" else "却下",
                    e.actor,
                    a.code,
                    a.full_name,
                    a.organization_name or a.organization_text,
                    a.prefecture,
                    e.reason,
                    "はい" if (e.detail or {}).get("notify") else "",
                )
                for e, a in rows
            ),
        )
        record(
            db,
            action="export",
            detail={
                "what": "decisions",
                "rows": len(rows),
                "from": request.form.get("from", ""),
                "to": request.form.get("to", ""),
                "actor": request.form.get("actor", ""),
            },
        )
    stamp = rt.now().astimezone(tz).strftime("%Y%m%d-%H%M")
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="decisions-{stamp}.csv"'},
    )
