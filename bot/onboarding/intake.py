"""Form intake: every response becomes an application exactly once; edits follow; nothing lost.

A response's identity is its respondent's (normalised) email, never its row number: Forms
rewrites an edited response in place and people sort, insert and delete rows. The poll and the
Apps Script push both come through `ingest`.

One row never stops the others: what the database would refuse is quarantined by the parser
(lengths, NUL), and every write is made inside a savepoint, so a row the database refuses for a
reason no one foresaw is quarantined as `database_refused` (named by its row number, never its
answers) while every other row goes in. A lost connection still fails the whole poll: that is
not the row's fault, and the next poll takes everything in.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, literal, select
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from bot.alerts import raise_alert, resolve_alerts
from bot.config import Settings
from bot.db import insert_new_rows
from bot.messaging.outbox import outbound_row
from bot.models import (
    Application,
    ApplicationStatus,
    AuditEntry,
    OutboundMessage,
    QuarantinedRow,
    SystemFlag,
)
from bot.onboarding import lifecycle
from bot.onboarding.answers import FormAnswers
from bot.onboarding.codes import new_link_token, new_registration_code
from bot.onboarding.form_mapping import (
    ParsedResponse,
    ParsedSnapshot,
    QuarantineReason,
    parse_snapshot,
    storable,
)
from bot.onboarding.form_mapping import QuarantinedRow as ParsedQuarantine
from bot.onboarding.notifications import after_screening, screening_email
from bot.onboarding.orientation import ORIENTATION_KINDS, next_session
from bot.onboarding.registry import load_registry
from bot.onboarding.screening import DuplicateIndex, screen, screen_answers, stored_reasons
from bot.runtime import Runtime
from integrations.ports import FormSource, SheetSnapshot

log = logging.getLogger(__name__)
S = ApplicationStatus
CLOSED = frozenset({S.REJECTED, S.WITHDRAWN, S.EXPIRED, S.DUPLICATE})
FIELDS = (
    "full_name",
    "kana",
    "facebook_name",
    "service_type",
    "department",
    "prefecture",
    "employment_status",
    "consent",
    "referrer",
)
UNMAPPED_FLAG = "forms:unmapped_headers"
CHUNK = 500  # new applications written per bulk INSERT
INTAKE_LOCK = 0x6369747968616C6C  # "cityhall": the advisory lock that serialises intakes
# Bulk inserts go through Core (the tables), not the ORM: same defaults and types, less overhead.
APPLICATIONS = cast(Table, Application.__table__)
AUDIT_LOG = cast(Table, AuditEntry.__table__)
OUTBOX = cast(Table, OutboundMessage.__table__)
_APPLICATION_COLUMNS = frozenset(APPLICATIONS.columns.keys())


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT inside the session's transaction, on SQLite too.

    Python's sqlite3 begins a transaction only before INSERT/UPDATE/DELETE, and a SAVEPOINT
    outside one would start (and its release commit) a transaction of its own, outside the
    caller's; so a real transaction is begun first when none is open yet.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if not getattr(driver, "in_transaction", True):
            connection.exec_driver_sql("BEGIN")
    with session.begin_nested():
        yield


_PEP249_ROW_ERRORS = frozenset({"DataError", "IntegrityError"})


def _row_refused(exc: BaseException) -> bool:
    """Whether the database (or its driver) refused one row's values, not the connection.

    PEP 249's DataError and IntegrityError, wrapped by SQLAlchemy or raised by the driver itself
    (PostgreSQL's COPY), or a value the driver could not encode.
    """
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, StatementError) and isinstance(exc.orig, UnicodeError | ValueError):
        return True
    return any(cls.__name__ in _PEP249_ROW_ERRORS for cls in type(exc).__mro__)


def _cause(exc: BaseException) -> str:
    """The error's class names, e.g. 'DataError/StringDataRightTruncation' (never its text)."""
    orig = getattr(exc, "orig", None)
    return type(exc).__name__ + (f"/{type(orig).__name__}" if orig is not None else "")


class FormSyncError(Exception):
    """The form cannot be taken in at all (e.g. no email column); one line, no personal data."""


@dataclass
class SyncCounts:
    """What one sync did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    held: int = 0  # edits of decided applications, kept for a reviewer (not applied)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"new={self.new} updated={self.updated} unchanged={self.unchanged} "
            f"quarantined={self.quarantined}" + (f" held={self.held}" if self.held else "")
        )


Progress = Callable[[int, int], None]


def _fields_of(answers: FormAnswers) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(answers, name) for name in FIELDS}
    values["organization_text"] = answers.organization
    values["interests"] = list(answers.interests)
    return values


def _changed_answers(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Each question whose answer differs: {title: {"before", "after"}} (a dropped answer: "")."""
    changed = {
        title: {"before": before.get(title, ""), "after": value}
        for title, value in after.items()
        if before.get(title, "") != value
    }
    changed.update(
        {
            title: {"before": old, "after": ""}
            for title, old in before.items()
            if title not in after and old
        }
    )
    return changed


def _apply_answers(
    app: Application,
    *,
    raw: dict[str, Any],
    fields: Mapping[str, Any],
    fingerprint: str,
    submitted_at: datetime,
    changed: dict[str, Any],
    source: str,
    actor: str,
    at: datetime,
) -> None:
    """Write a response's answers onto the application, audited as `answers_updated`."""
    for name, value in fields.items():
        setattr(app, name, value)
    app.answers, app.fingerprint = raw, fingerprint
    app.submitted_at, app.updated_at = submitted_at, at
    lifecycle.audit(
        app,
        actor=actor,
        at=at,
        action="answers_updated",
        detail={"source": source, "changed": changed},
    )


def _row_fingerprint(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _NewApplication:
    """A just-inserted application as its email templates see it: its columns, read-only.

    Stands in for `Application` when thousands are created at once (building ORM objects only
    to render a template costs more than the insert). Unset columns read as None, as on a
    transient Application.
    """

    def __init__(self, row: dict[str, Any], app_id: int) -> None:
        self.__dict__.update(row)  # every key of `row` is a column name
        self.id = app_id

    def __getattr__(self, name: str) -> Any:  # only called for a column not in `row`
        if name.startswith("_") or name not in _APPLICATION_COLUMNS:
            raise AttributeError(name)
        return None


class Intake:
    """Take one parsed snapshot into the database, inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        *,
        settings: Settings,
        now: datetime,
        source: str,
        progress: Progress | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.source = source
        self.progress = progress
        self.now = now
        self.registry = load_registry()
        self._index: DuplicateIndex | None = None
        self._codes: set[str] | None = None
        self._pending: list[dict[str, Any]] = []  # new applications' columns, not yet written
        self._pending_responses: list[ParsedResponse] = []  # the responses they come from
        self._refused: list[ParsedQuarantine] = []  # rows the database refused to store
        self._refused_new = 0  # how many of them were new applications
        self._placeholder = 0  # index ids of pending applications: -1, -2, …
        self._upcoming: tuple[Any] | None = None  # the next orientation, computed once

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def index(self) -> DuplicateIndex:
        if self._index is None:
            self._index = DuplicateIndex.load(self.session)
        return self._index

    def _new_code(self) -> str:
        if self._codes is None:
            self._codes = set(self.session.scalars(select(APPLICATIONS.c.code)))
        code = new_registration_code()
        while code in self._codes:
            code = new_registration_code()
        self._codes.add(code)
        return code

    def _screen(self, app: Application) -> None:
        screen(app, settings=self.settings, index=self.index, at=self.now, registry=self.registry)
        after_screening(self.session, app, settings=self.settings, at=self.now)

    # -- the unit of work ----------------------------------------------------------------------
    def ingest(self, parsed: ParsedSnapshot, counts: SyncCounts) -> SyncCounts:
        """Create, update or leave alone one application per response; quarantine the rest."""
        if parsed.report.fatal:
            problem = "; ".join(parsed.report.messages())
            raise FormSyncError(f"form cannot be synced: {problem}")
        self._serialise()
        self._report_columns(parsed, counts)
        existing = self._latest_by_email(r.answers.email for r in parsed.responses)
        total = len(parsed.responses)
        for done, response in enumerate(parsed.responses, 1):
            current = existing.get(response.answers.email)
            if current is None or (S(current[2]) in CLOSED and current[1] != response.fingerprint):
                self._create(response)
                counts.new += 1
            elif current[1] == response.fingerprint:
                counts.unchanged += 1
            else:
                self._update(current[0], response, counts)
            if self.progress and (done % CHUNK == 0 or done == total):
                self._write_new()
                self.progress(done, total)
        self._write_new()
        counts.new -= self._refused_new
        counts.quarantined += self._quarantine(parsed)
        return counts

    def _serialise(self) -> None:
        """Make a concurrent poll and push take turns, so neither creates what the other did.

        PostgreSQL: a transaction-scoped advisory lock (released at commit or rollback), taken
        before the existing applications are read. SQLite serialises writers itself.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_advisory_xact_lock(INTAKE_LOCK)))

    def _latest_by_email(self, emails: Any) -> dict[str, tuple[int, str, str]]:
        """email → (id, fingerprint, status) of its newest application (columns only)."""
        wanted = set(emails)
        found: dict[str, tuple[int, str, str]] = {}
        if not wanted:
            return found
        table = APPLICATIONS.c  # Core columns: plain rows, no ORM result processing
        query = (
            select(table.email, table.id, table.fingerprint, table.status)
            .where(table.erased_at.is_(None))
            .order_by(table.id)
        )
        if len(wanted) < 500:
            query = query.where(table.email.in_(wanted))
        for email, app_id, fingerprint, status in self.session.execute(query):
            if email in wanted:
                found[email] = (app_id, fingerprint, status)
        return found

    def _create(self, response: ParsedResponse) -> None:
        """Screen a new response now; its rows are written with its chunk by `_write_new`."""
        answers = response.answers
        row: dict[str, Any] = {
            "code": self._new_code(),
            "link_token": new_link_token(),
            "status": S.SUBMITTED.value,
            "status_changed_at": self.now,
            "email": answers.email,
            "answers": response.raw,
            "fingerprint": response.fingerprint,
            "submitted_at": answers.submitted_at,
            "created_at": self.now,
            "updated_at": self.now,
            **_fields_of(answers),
        }
        verdict = screen_answers(
            answers, app_id=None, settings=self.settings, index=self.index, registry=self.registry
        )
        row.update(
            verdict=verdict.status,
            reasons=stored_reasons(verdict),
            organization_code=verdict.organization_code,
            organization_name=verdict.organization_name or "",
            verified_at=self.now,
        )
        self._pending.append(row)
        self._pending_responses.append(response)
        # Later responses of this snapshot see it as a possible duplicate, as stored ones are.
        self._placeholder -= 1
        self.index.add(
            self._placeholder,
            row["code"],
            row["status"],
            answers.email,
            answers.full_name,
            verdict.organization_code or answers.organization,
        )
        if len(self._pending) >= CHUNK:
            self._write_new()

    def _write_new(self) -> None:
        """Insert the pending new applications, their audit entries and their emails in bulk.

        One INSERT per table per chunk instead of a flush per application: a first import of
        10,000 responses stays within seconds. If the database refuses the chunk, each of its
        rows is tried alone, and only the rows it refuses again are set aside.
        """
        if not self._pending:
            return
        rows, responses = self._pending, self._pending_responses
        self._pending, self._pending_responses = [], []
        try:
            with _savepoint(self.session):
                self._insert(rows)
            return
        except Exception as exc:
            if not _row_refused(exc):
                raise
            log.warning(
                "the database refused a chunk of %s new applications (%s); "
                "taking them in one by one",
                len(rows),
                _cause(exc),
            )
        for row, response in zip(rows, responses, strict=True):
            try:
                with _savepoint(self.session):
                    self._insert([row])
            except Exception as exc:
                if not _row_refused(exc):
                    raise
                self._refuse(response, exc, new=True)

    def _refuse(self, response: ParsedResponse, exc: BaseException, *, new: bool) -> None:
        """Set aside a row the database would not store (logged by row number and error class)."""
        cause = _cause(exc)
        self._refused_new += new
        log.error(
            "form row %s refused by the database (%s): quarantined", response.row_number, cause
        )
        self._refused.append(
            ParsedQuarantine(
                storable(response.raw),
                response.row_number,
                QuarantineReason.DATABASE_REFUSED.value,
                f"row {response.row_number}: the database refused it ({cause})",
            )
        )

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Write new applications with their audit entries and emails (one chunk)."""
        insert_new_rows(self.session, APPLICATIONS, rows)
        codes = [row["code"] for row in rows]
        query = select(APPLICATIONS.c.code, APPLICATIONS.c.id).where(APPLICATIONS.c.code.in_(codes))
        ids: dict[str, int] = dict(self.session.execute(query).tuples().all())
        # One "submitted" entry per new application, built by the database from their rows.
        audit = AUDIT_LOG.c
        entries = (
            select(
                literal("forms", audit.actor.type),
                literal(self.now, audit.at.type),
                literal("submitted", audit.action.type),
                literal("", audit.reason.type),
                APPLICATIONS.c.id,
                literal({"source": self.source}, audit.detail.type),
            )
            .where(APPLICATIONS.c.code.in_(codes))
            .order_by(APPLICATIONS.c.id)
        )
        columns = ["actor", "at", "action", "reason", "application_id", "detail"]
        self.session.execute(insert(AUDIT_LOG).from_select(columns, entries))
        emails = []
        for row in rows:
            email = self._screening_email(_NewApplication(row, ids[row["code"]]))
            if email is not None:
                emails.append(email)
        # Their idempotency keys carry the application's new code (unique, never reused), so
        # no queued row can hold one yet: plain bulk rows, no ON CONFLICT needed.
        insert_new_rows(self.session, OUTBOX, emails)
        log.info("%s applications created from the form (%s)", len(ids), self.source)
        log.debug("created: %s", ", ".join(codes))

    def _screening_email(self, app: _NewApplication) -> dict[str, Any] | None:
        """The outbox row of a new application's confirmation (or notice), for one INSERT."""
        if self._upcoming is None:
            self._upcoming = (
                next_session(
                    self.now, self.settings.orientation, ORIENTATION_KINDS, tz=self.settings.tz
                ),
            )
        planned = screening_email(
            app, settings=self.settings, at=self.now, upcoming=self._upcoming[0]
        )
        if planned is None:
            return None
        return outbound_row(
            key=planned.key,
            channel="email",
            recipient=app.email,
            payload={"subject": planned.subject, "body": planned.body},
            purpose=planned.purpose,
            application_id=app.id,
            now=self.now,
        )

    def _update(self, app_id: int, response: ParsedResponse, counts: SyncCounts) -> None:
        """Take in an edited response (applied, or held for a decided application); a row the
        database refuses is set aside."""
        try:
            with _savepoint(self.session):
                held = self._apply_edit(app_id, response)
                self.session.flush()
        except Exception as exc:
            if not _row_refused(exc):
                raise
            self._refuse(response, exc, new=False)
            return
        if held:
            counts.held += 1
        else:
            counts.updated += 1

    def _apply_edit(self, app_id: int, response: ParsedResponse) -> bool:
        """Apply an edit to an undecided application and screen it again; hold it (True) for a
        decided one. Neither sends a second confirmation (`after_screening` sends only for a
        `submitted` application, keyed by its code)."""
        app = self.session.get(Application, app_id)
        assert app is not None
        if S(app.status) in lifecycle.DECIDED:
            self._hold_edit(app, response)
            return True
        _apply_answers(
            app,
            raw=response.raw,
            fields=_fields_of(response.answers),
            fingerprint=response.fingerprint,
            submitted_at=response.answers.submitted_at,
            changed=_changed_answers(app.answers or {}, response.raw),
            source=self.source,
            actor="forms",
            at=self.now,
        )
        old_verdict = app.verdict
        self._screen(app)
        log.info(
            "application %s updated from an edited response (verdict %s -> %s)",
            app.code,
            old_verdict,
            app.verdict,
        )
        return False

    def _hold_edit(self, app: Application, response: ParsedResponse) -> None:
        """Keep the edit of a decided application as its pending change, not applied.

        Whoever knows a member's address can submit the form again, so nothing changes until a
        reviewer accepts it: no screening, no email. The change is always against the applied
        answers, so a second edit replaces the first and keeps the original "before"; an edit
        back to the applied answers (only the timestamp differs) drops it. The response is
        remembered (its fingerprint), so the next poll finds it unchanged.
        """
        changed = _changed_answers(app.answers or {}, response.raw)
        timestamps = {t for t, f in self.settings.forms.columns.items() if f == "timestamp"}
        previous = dict(app.pending_change or {})
        app.fingerprint = response.fingerprint
        if not set(changed) - timestamps:
            if previous:
                app.pending_change, app.pending_change_at = {}, None
                lifecycle.audit(
                    app,
                    actor="forms",
                    at=self.now,
                    action="answers_edit_dropped",
                    detail={"source": self.source, "reason": "back to the applied answers"},
                )
            return
        held_at = self.now.isoformat()
        app.pending_change = {
            "changed": changed,
            "answers": response.raw,
            "fields": _fields_of(response.answers),
            "fingerprint": response.fingerprint,
            "submitted_at": response.answers.submitted_at.isoformat(),
            "source": self.source,
            "actor": "forms",
            "held_at": held_at,
            "first_held_at": previous.get("first_held_at", held_at),
        }
        app.pending_change_at = self.now
        lifecycle.audit(
            app,
            actor="forms",
            at=self.now,
            action="answers_edit_held",
            detail={
                "source": self.source,
                "status": app.status,
                "changed": changed,
                "replaced_pending": bool(previous),
            },
        )
        log.info("application %s: an edit after the decision is held for review", app.code)

    def _quarantine(self, parsed: ParsedSnapshot) -> int:
        """Keep every row that cannot become an application, once, with its reason."""
        seen = {_row_fingerprint(q.raw): q for q in [*parsed.quarantined, *self._refused]}
        known: dict[str, QuarantinedRow] = {}
        for row in self.session.scalars(
            select(QuarantinedRow).where(
                QuarantinedRow.source == self.source,
                QuarantinedRow.resolved_at.is_(None) | QuarantinedRow.fingerprint.in_(list(seen)),
            )
        ):
            known[row.fingerprint] = row
        for fp, q in seen.items():
            if fp in known:
                if known[fp].resolved_at is not None:  # a restored row: (source, fp) is unique
                    known[fp].resolved_at, known[fp].last_seen_at = None, self.now
                    known[fp].row_number = q.row_number
                    log.warning("form row %s quarantined again: %s", q.row_number, q.reason_code)
            else:
                self.session.add(
                    QuarantinedRow(
                        source=self.source,
                        fingerprint=fp,
                        row_number=q.row_number,
                        raw=q.raw,
                        reason_code=str(q.reason_code),
                        reason=q.reason_message,
                        first_seen_at=self.now,
                        last_seen_at=self.now,
                    )
                )
                log.warning("form row %s quarantined: %s", q.row_number, q.reason_code)
        if self.source == "sheet":  # a full snapshot: rows gone from it are no longer a problem
            for fp, row in known.items():
                if fp not in seen and row.resolved_at is None:
                    row.resolved_at = self.now
        return len(parsed.quarantined) + len(self._refused)

    def _report_columns(self, parsed: ParsedSnapshot, counts: SyncCounts) -> None:
        """Report unmapped, missing and duplicate question titles once, not on every poll."""
        report = parsed.report
        problems = sorted(report.messages())
        counts.warnings.extend(problems)
        if self.source != "sheet":
            return
        flag = self.session.get(SystemFlag, UNMAPPED_FLAG)
        if flag is not None and flag.value.get("problems") == problems:
            return
        if flag is None:
            flag = SystemFlag(name=UNMAPPED_FLAG, value={}, updated_at=self.now)
            self.session.add(flag)
        flag.value, flag.updated_at = {"problems": problems}, self.now
        resolve_alerts(self.session, kind="form_columns", key="sheet", now=self.now)
        if problems:
            log.warning("form columns changed: %s", "; ".join(problems))
            raise_alert(
                self.session,
                kind="form_columns",
                key="sheet",
                now=self.now,
                message="フォームの質問（列）が設定と一致しません: " + " / ".join(problems),
                notify=self.settings.mail.secretariat_address,
            )


def ingest_snapshot(
    session: Session,
    snapshot: SheetSnapshot,
    *,
    settings: Settings,
    now: datetime,
    source: str,
    progress: Progress | None = None,
) -> SyncCounts:
    """Parse and take in a snapshot (poll: the whole sheet; push: one response)."""
    parsed = parse_snapshot(
        snapshot, settings.forms.columns, default_timezone=settings.app.timezone
    )
    with collector_paused():
        intake = Intake(session, settings=settings, now=now, source=source, progress=progress)
        return intake.ingest(parsed, SyncCounts())


def accept_pending_change(
    session: Session, app: Application, *, settings: Settings, actor: str, at: datetime
) -> None:
    """Apply a decided application's held edit as an undecided one is applied (answers, then
    verification again), audited; no email is sent (a decided application gets none)."""
    change = app.pending_change or {}
    if not change:
        raise lifecycle.DomainError(f"{app.code}: no pending change to accept")
    _apply_answers(
        app,
        raw=dict(change["answers"]),
        fields=change["fields"],
        fingerprint=change["fingerprint"],
        submitted_at=datetime.fromisoformat(change["submitted_at"]),
        changed=_changed_answers(app.answers or {}, change["answers"]),
        source=change.get("source", ""),
        actor=actor,
        at=at,
    )
    _settle(app, change, "answers_edit_accepted", actor=actor, at=at)
    session.flush()
    screen(app, settings=settings, index=DuplicateIndex.load(session), at=at)
    log.info("application %s: the held edit was accepted", app.code)


def discard_pending_change(app: Application, *, actor: str, at: datetime) -> None:
    """Drop a decided application's held edit, audited; its answers stay as they are."""
    change = app.pending_change or {}
    if not change:
        raise lifecycle.DomainError(f"{app.code}: no pending change to discard")
    _settle(app, change, "answers_edit_discarded", actor=actor, at=at)
    log.info("application %s: the held edit was discarded", app.code)


def _settle(
    app: Application, change: dict[str, Any], action: str, *, actor: str, at: datetime
) -> None:
    """The held edit is gone (applied or dropped): clear it and audit which questions it had."""
    app.pending_change, app.pending_change_at = {}, None
    lifecycle.audit(
        app,
        actor=actor,
        at=at,
        action=action,
        detail={"held_at": change.get("held_at", ""), "questions": sorted(change["changed"])},
    )


def fetch_snapshot(source: FormSource | None) -> SheetSnapshot:
    """Read the form's sheet once (a remote call: make it before any transaction begins)."""
    if source is None:
        raise FormSyncError("no form source is configured")
    return source.fetch()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a whole sheet is taken in.

    A poll keeps tens of thousands of young containers alive at once (rows, answers, pending
    inserts), so the collector would run full passes over them several times per poll, finding
    nothing to free. Reference counting still frees everything as usual; the collector resumes
    (if it was on) as soon as the sync is over, committed or not.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def sync_forms(
    runtime: Runtime, *, dry_run: bool = False, progress: Progress | None = None
) -> SyncCounts:
    """Poll the form source once and take in what changed; `dry_run` writes nothing."""
    snapshot = fetch_snapshot(runtime.form_source)
    with runtime.db.sessions() as session:
        session.begin()
        try:
            counts = ingest_snapshot(
                session,
                snapshot,
                settings=runtime.settings,
                now=runtime.now(),
                source="sheet",
                progress=progress,
            )
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
    log.info("form sync%s: %s", " (dry run)" if dry_run else "", counts)
    return counts


def push_snapshot(named_values: Mapping[str, Sequence[str]]) -> SheetSnapshot:
    """Turn an Apps Script onFormSubmit `namedValues` into a one-row snapshot.

    Apps Script gives one value per column bearing the title, so a title with several values is
    a duplicated question: it becomes that many columns, as in the sheet, and push and poll parse
    (and fingerprint) the same response alike. A checkbox answer is one "A, B" string either way.
    """
    header: list[str] = []
    row: list[str] = []
    for title, values in named_values.items():
        for value in list(values) or [""]:
            header.append(title)
            row.append(str(value))
    return SheetSnapshot(header=header, rows=[row])
