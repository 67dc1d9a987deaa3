"""The queue (承認待ち, its tabs, and the search over every application); decisions taken from it
are in `decisions`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.console.blueprint import bp
from bot.console.pages.decisions import pending_undo
from bot.console.prefectures import PREFECTURES
from bot.console.queue_query import TABS, VERDICTS, QueueFilter, queue_page
from bot.console.security import ADMIN, REVIEWER, login_required
from bot.models import RejectionTemplate, SystemFlag
from bot.web import current_runtime

SEEDED_FLAG = "console:rejection_templates_seeded"


def rejection_templates(
    db: Session, settings: Settings, *, include_inactive: bool = False
) -> Sequence[RejectionTemplate]:
    """The rejection reason templates, seeded once from the settings."""
    if db.get(SystemFlag, SEEDED_FLAG) is None:
        for text in settings.console.rejection_templates:
            db.add(RejectionTemplate(label=text[:100], text=text, active=True))
        db.add(SystemFlag(name=SEEDED_FLAG, value={"seeded": True}))
        db.flush()
    query = select(RejectionTemplate).order_by(RejectionTemplate.id)
    if not include_inactive:
        query = query.where(RejectionTemplate.active.is_(True))
    return db.scalars(query).all()


@bp.get("/queue")
@bp.get("/")
@login_required(ADMIN, REVIEWER)
def home() -> ResponseReturnValue:
    """One tab of applications (確認待ち by default) or a search, filtered and paginated."""
    started = time.perf_counter()
    rt = current_runtime()
    now = rt.now()
    f = QueueFilter.from_args(request.args)
    with rt.db.transaction() as db:
        page = queue_page(db, f, now=now, page_size=rt.settings.console.page_size)
        templates = rejection_templates(db, rt.settings)
        html = render_template(
            "console/queue.html",
            page=page,
            f=f,
            now=now,
            templates=templates,
            prefectures=PREFECTURES,
            tabs=TABS,
            verdicts=f.current_tab.verdicts or VERDICTS,
            statuses=f.current_tab.statuses,
            back=request.full_path,
            undo=pending_undo(db, now),
            claim_minutes=rt.settings.console.claim_minutes,
        )
    response = rt_response(html, started)
    return response


def rt_response(html: str, started: float) -> ResponseReturnValue:
    """The page with its server time (Server-Timing, for the benchmark and the browser)."""
    elapsed = (time.perf_counter() - started) * 1000
    return html, 200, {"Server-Timing": f"app;dur={elapsed:.1f}"}
