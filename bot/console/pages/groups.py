"""Groups (admin): prefecture Messenger chats, the 村 group, cohort chats; capacity alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import alerts
from bot.console.actions import get_or_404, record
from bot.console.blueprint import bp
from bot.console.params import BadParameter, parse_int
from bot.console.prefectures import PREFECTURES
from bot.console.security import ADMIN, login_required
from bot.models import Alert, Group
from bot.onboarding import groups as groups_rules
from bot.onboarding.invitations import place_held
from bot.web import current_runtime

KINDS = ("prefecture", "village", "cohort")
MESSENGER_CAPACITY = 250  # a Messenger group chat holds at most 250 people
MAX_SEATS = 1_000_000  # the 村 group is a Facebook group: large, but not beyond an INTEGER
TAKEN = "同じ種別・キー・名前のグループがすでにあります。名前を変えてください。"


@dataclass(frozen=True)
class GroupForm:
    """A validated group form."""

    kind: str
    key: str
    name: str
    invite_url: str
    capacity: int
    seats_used: int
    active: bool


def parse_group_form(form: Any) -> tuple[GroupForm | None, list[str]]:
    """Validate the group form; returns the values or the Japanese error messages."""
    errors: list[str] = []
    kind = form.get("kind", "")
    key = form.get("key", "").strip()[:32]
    name = form.get("name", "").strip()[:200]
    url = form.get("invite_url", "").strip()
    if kind not in KINDS:
        errors.append("種別を選んでください。")
    if not key:
        errors.append("キー（都道府県名・village・年月）を入力してください。")
    elif kind == "prefecture" and key not in PREFECTURES:
        errors.append("都道府県のキーは「富山県」のような都道府県名です。")
    if not name:
        errors.append("名前を入力してください。")
    parsed = urlparse(url)
    if url and (parsed.scheme != "https" or not parsed.netloc or any(c.isspace() for c in url)):
        errors.append("招待URLは https:// で始まるURLにしてください。")
    numbers = {}
    for field, label in (("capacity", "定員"), ("seats_used", "使用数")):
        try:
            numbers[field] = parse_int(field, form.get(field, ""), maximum=MAX_SEATS) or 0
        except BadParameter:
            errors.append(f"{label}は0〜{MAX_SEATS}の整数（半角数字）で入力してください。")
            numbers[field] = 0
    if kind != "village" and not 1 <= numbers["capacity"] <= MESSENGER_CAPACITY:
        errors.append(f"メッセンジャーグループの定員は1〜{MESSENGER_CAPACITY}人です。")
    if kind == "village" and numbers["capacity"] < 1:
        errors.append("定員は1以上にしてください。")
    if errors:
        return None, errors
    return GroupForm(
        kind, key, name, url, numbers["capacity"], numbers["seats_used"], form.get("active") == "1"
    ), []


def group_warnings(groups: list[Group], now: datetime, tz: Any, percent: int) -> list[str]:
    """Nearly full (`[jobs] capacity_alert_percent`) and missing groups.

    Missing: a prefecture, the 村 group or this month's cohort with no active group.
    """
    warnings = []
    active = [gr for gr in groups if gr.active]
    for gr in active:
        if groups_rules.nearly_full(gr, percent):
            pct = round(100 * gr.seats_used / gr.capacity)
            warnings.append(
                f"「{gr.name}」が満員に近づいています（{gr.seats_used}/{gr.capacity}、"
                f"{pct}%）。新しいグループを用意してください。"
            )
        if not gr.invite_url:
            warnings.append(f"「{gr.name}」に招待URLがありません。")
    keys = {(gr.kind, gr.key) for gr in active}
    missing = [p for p in PREFECTURES if ("prefecture", p) not in keys]
    if missing:
        warnings.append(f"有効なグループがない都道府県（{len(missing)}）: {'、'.join(missing)}")
    if not any(gr.kind == "village" for gr in active):
        warnings.append("村グループが登録されていません。")
    cohort = now.astimezone(tz).strftime("%Y-%m")
    if ("cohort", cohort) not in keys:
        warnings.append(f"今月（{cohort}）の入庁同期グループがありません。")
    return warnings


def _all_groups(db: Session) -> list[Group]:
    return list(db.scalars(select(Group).order_by(Group.kind, Group.key, Group.id)).all())


def _render(
    form: dict[str, Any] | None = None, errors: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    rt = current_runtime()
    with rt.db.transaction() as db:
        groups = _all_groups(db)
        alerts = db.scalars(
            select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.created_at.desc())
        ).all()
        html = render_template(
            "console/groups.html",
            groups=groups,
            alerts=alerts,
            warnings=group_warnings(
                groups, rt.now(), rt.settings.tz, rt.settings.jobs.capacity_alert_percent
            ),
            kinds=KINDS,
            prefectures=PREFECTURES,
            form=form or {},
            errors=errors or [],
        )
    return html, status


@bp.get("/groups")
@login_required(ADMIN)
def groups() -> ResponseReturnValue:
    """All groups with seats and alerts, and the form to add one."""
    return _render()


@bp.post("/groups")
@login_required(ADMIN)
def create_group() -> ResponseReturnValue:
    """Add a group."""
    values, errors = parse_group_form(request.form)
    if values is None:
        return _render(form=dict(request.form), errors=errors, status=400)
    rt = current_runtime()
    with rt.db.transaction() as db:
        taken = groups_rules.name_taken(db, values.kind, values.key, values.name)
        if taken:
            errors = [TAKEN]
        else:
            group = groups_rules.create_group(db, values.__dict__, rt.now())
            record(
                db,
                action="group_created",
                detail={"group_id": group.id, **values.__dict__},
            )
            placed = place_held(db, settings=rt.settings, at=rt.now())
    if taken:
        return _render(form=dict(request.form), errors=errors, status=400)
    flash(f"グループ「{values.name}」を追加しました。" + _placed_text(placed), "info")
    return redirect(url_for("console.groups"))


def _placed_text(placed: int) -> str:
    return f"保留中の招待{placed}件を送信待ちにしました。" if placed else ""


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@login_required(ADMIN)
def edit_group(group_id: int) -> ResponseReturnValue:
    """Edit one group."""
    rt = current_runtime()
    errors: list[str] = []
    with rt.db.transaction() as db:
        group = get_or_404(db, Group, group_id)
        if request.method == "POST":
            values, errors = parse_group_form(request.form)
            if values is not None and groups_rules.name_taken(
                db, values.kind, values.key, values.name, other_than=group.id
            ):
                values, errors = None, [TAKEN]
            if values is not None:
                before = groups_rules.update_group(db, group, values.__dict__)
                record(
                    db,
                    action="group_updated",
                    detail={"group_id": group.id, "before": before, "after": values.__dict__},
                )
                placed = place_held(db, settings=rt.settings, at=rt.now())
                flash(f"グループ「{group.name}」を保存しました。" + _placed_text(placed), "info")
                return redirect(url_for("console.groups"))
        html = render_template(
            "console/group_edit.html",
            group=group,
            kinds=KINDS,
            prefectures=PREFECTURES,
            errors=errors,
        )
    return html, 400 if errors else 200


@bp.post("/alerts/<int:alert_id>/resolve")
@login_required(ADMIN)
def resolve_alert(alert_id: int) -> ResponseReturnValue:
    """Close an open alert."""
    rt = current_runtime()
    with rt.db.transaction() as db:
        alert = get_or_404(db, Alert, alert_id)
        if alerts.resolve_alert(alert, rt.now()):
            record(
                db,
                action="alert_resolved",
                detail={"alert_id": alert.id, "kind": alert.kind, "key": alert.key},
            )
    return redirect(url_for("console.groups"))
