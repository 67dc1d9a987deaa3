"""Facebook group join requests: stored, matched to applications, set aside or brought back.

There is no API for a group's join requests, so the secretariat pastes what Facebook shows.
Each request (a name and the membership-question answer) is matched by registration code when
the answer holds one, else by name: kanji, kana and romaji spellings are compared after
normalisation. A request that matches nothing (or too many) is stored as unmatched and listed
for follow-up; it is never discarded. One that is not a public servant's (a spam account, a
request for another group) can be set aside as dismissed, and brought back if that was a slip.

`preview_join_requests` answers what an import would do without writing anything: the console
shows it before the volunteer confirms. The profile lines read beside a request (its evidence:
"Works at 富山市役所") are shown in the preview and stored with the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.models import Application, JoinRequest, JoinRequestStatus, MessengerIdentity
from bot.onboarding import lifecycle
from bot.onboarding.join_request_matching import Candidate, JoinRequestMatcher
from bot.onboarding.join_request_parsing import (
    Evidence,
    PastedRequest,
    find_code,
    parse_pasted,
)
from bot.onboarding.lifecycle import OPEN, DomainError

MATCHED, UNMATCHED, DISMISSED = (
    JoinRequestStatus.MATCHED,
    JoinRequestStatus.UNMATCHED,
    JoinRequestStatus.DISMISSED,
)


@dataclass
class ImportedRequest:
    """One imported request and what became of it."""

    join_request_id: int
    name: str
    answer: str
    status: str  # matched | unmatched | duplicate
    application_code: str = ""
    method: str = ""
    confidence: float = 0.0
    candidates: list[dict[str, Any]] = field(default_factory=list)
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class PreviewedRequest:
    """What an import would make of one request; nothing of it is stored."""

    request: PastedRequest
    status: str  # matched | unmatched | duplicate
    application_code: str = ""
    application_name: str = ""
    method: str = ""
    confidence: float = 0.0
    candidates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportResult:
    """Counts and per-request outcomes of one import."""

    items: list[ImportedRequest] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many requests ended in `status`."""
        return sum(1 for item in self.items if item.status == status)

    @property
    def matched(self) -> int:
        """Requests attributed to an application."""
        return self.count(MATCHED)

    @property
    def unmatched(self) -> int:
        """Requests kept for follow-up."""
        return self.count(UNMATCHED)

    @property
    def duplicates(self) -> int:
        """Requests already entered before (not stored again)."""
        return self.count("duplicate")


def load_candidates(session: Session, codes: Sequence[str] = ()) -> list[Candidate]:
    """Open applications (matched by name) plus any application whose code was given."""
    columns = (
        Application.id,
        Application.code,
        Application.status,
        Application.full_name,
        Application.kana,
        Application.facebook_name,
        MessengerIdentity.name,
    )
    base = select(*columns).outerjoin(
        MessengerIdentity, MessengerIdentity.id == Application.messenger_identity_id
    )
    rows = list(session.execute(base.where(Application.status.in_([s.value for s in OPEN]))).all())
    if codes:
        rows += session.execute(base.where(Application.code.in_(sorted(set(codes))))).all()
    return [
        Candidate(
            application_id=r[0],
            code=r[1],
            status=r[2],
            names=(r[3], r[4], r[5], r[6] or ""),
            display_name=r[3],
        )
        for r in rows
    ]


def _matcher(session: Session, requests: Sequence[PastedRequest]) -> JoinRequestMatcher:
    codes = [c for c in (find_code(r.answer) or find_code(r.name) for r in requests) if c]
    return JoinRequestMatcher(load_candidates(session, codes))


def _seen_before(session: Session, requests: Sequence[PastedRequest]) -> set[tuple[str, str]]:
    if not requests:
        return set()
    rows = session.execute(
        select(JoinRequest.name, JoinRequest.answer).where(
            JoinRequest.name.in_({r.name for r in requests})
        )
    ).all()
    return {(n, a) for n, a in rows}


def preview_join_requests(
    session: Session, requests: Sequence[PastedRequest]
) -> list[PreviewedRequest]:
    """What `import_join_requests` would do with `requests`, read-only, one item per request."""
    matcher = _matcher(session, requests)
    seen_before = _seen_before(session, requests)
    items = []
    for request in requests:
        key = (request.name, request.answer)
        if key in seen_before:
            items.append(PreviewedRequest(request, "duplicate"))
            continue
        seen_before.add(key)
        outcome = matcher.match(request)
        chosen = outcome.candidates[0] if outcome.matched else {}  # the matched one comes first
        items.append(
            PreviewedRequest(
                request,
                MATCHED if outcome.matched else UNMATCHED,
                chosen.get("code", ""),
                chosen.get("name", ""),
                outcome.method,
                outcome.confidence,
                outcome.candidates,
            )
        )
    return items


def _mark_seen(app: Application, jr: JoinRequest, *, actor: str, at: datetime) -> None:
    """Record the request on its application; one matched by 申込番号 proves the address.

    The code is sent only to the applicant's email address, so it coming back in the
    membership answer proves that address; a match by name (or by a reviewer's hand) does not.
    """
    lifecycle.join_request_seen(
        app,
        actor=actor,
        at=at,
        detail={"join_request_id": jr.id, "method": jr.match_method, "confidence": jr.confidence},
    )
    if jr.match_method == "code":
        lifecycle.prove_email(
            app,
            by=lifecycle.PROOF_JOIN_REQUEST_CODE,
            actor=actor,
            at=at,
            detail={"join_request_id": jr.id},
        )


def import_join_requests(
    session: Session, text: str | Sequence[PastedRequest], *, actor: str, at: datetime
) -> ImportResult:
    """Store pasted join requests, matching each; unmatched ones are kept for follow-up.

    A request identical to one entered before (same name and answer) is reported as a
    duplicate and not stored twice.
    """
    requests = parse_pasted(text) if isinstance(text, str) else list(text)
    matcher = _matcher(session, requests)
    seen_before = _seen_before(session, requests)
    result = ImportResult()
    stored: list[tuple[JoinRequest | None, PastedRequest]] = []
    for request in requests:
        key = (request.name, request.answer)
        if key in seen_before:
            stored.append((None, request))
            continue
        seen_before.add(key)
        outcome = matcher.match(request)
        jr = JoinRequest(
            name=request.name,
            answer=request.answer,
            entered_at=at,
            entered_by=actor,
            status=MATCHED if outcome.matched else UNMATCHED,
            application_id=outcome.application_id,
            match_method=outcome.method,
            confidence=outcome.confidence,
            candidates=outcome.candidates,
            evidence=[{"kind": e.kind, "text": e.text} for e in request.evidence],
        )
        session.add(jr)
        stored.append((jr, request))
    session.flush()  # one round of inserts; ids for the audit details
    matched_ids = {jr.application_id for jr, _ in stored if jr and jr.application_id}
    apps = (
        {
            a.id: a
            for a in session.scalars(
                select(Application)
                .where(Application.id.in_(matched_ids))
                .options(selectinload(Application.history))
            )
        }
        if matched_ids
        else {}
    )
    for stored_jr, request in stored:
        if stored_jr is None:
            result.items.append(
                ImportedRequest(
                    0, request.name, request.answer, "duplicate", evidence=request.evidence
                )
            )
            continue
        jr = stored_jr
        code = ""
        if jr.application_id is not None:
            app = apps[jr.application_id]
            code = app.code
            _mark_seen(app, jr, actor=actor, at=at)
        result.items.append(
            ImportedRequest(
                jr.id,
                jr.name,
                jr.answer,
                jr.status,
                code,
                jr.match_method,
                jr.confidence,
                jr.candidates,
                request.evidence,
            )
        )
    session.add(
        lifecycle.audit(
            None,
            actor=actor,
            at=at,
            action="join_requests_imported",
            detail={
                "matched": result.matched,
                "unmatched": result.unmatched,
                "duplicates": result.duplicates,
            },
        )
    )
    return result


def resolve_join_request(
    session: Session, jr: JoinRequest, app: Application, *, actor: str, at: datetime
) -> None:
    """A reviewer attributes an unmatched request to an application."""
    if jr.status == MATCHED:
        raise DomainError(f"join request {jr.id} is already matched")
    jr.status, jr.application_id = MATCHED, app.id
    jr.match_method, jr.confidence = "manual", 1.0
    session.flush()
    _mark_seen(app, jr, actor=actor, at=at)


def set_aside(
    session: Session, jr: JoinRequest, *, dismiss: bool, actor: str, at: datetime
) -> None:
    """Dismiss an unmatched request (`dismiss`), or bring a dismissed one back; audited.

    A dismissed request stays stored (so pasting it again reports a duplicate) and leaves the
    unmatched list and the daily digest's count.
    """
    before, after = (UNMATCHED, DISMISSED) if dismiss else (DISMISSED, UNMATCHED)
    if jr.status != before:
        raise DomainError(f"join request {jr.id} is {jr.status}, not {before}")
    jr.status = after
    action = "join_request_dismissed" if dismiss else "join_request_restored"
    session.add(lifecycle.audit(None, actor=actor, at=at, action=action, detail={"id": jr.id}))
