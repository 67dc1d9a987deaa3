"""Run verification on stored applications and keep the verdict beside their status."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import Application, ApplicationStatus
from bot.onboarding.answers import FormAnswers
from bot.onboarding.names import person_key
from bot.onboarding.registry import Registry, load_registry
from bot.onboarding.verification import DuplicateFacts, Verdict, fold_status_choices, verify

REJECTED = ApplicationStatus.REJECTED.value


@dataclass
class DuplicateIndex:
    """Who else applied with the same email, or the same name at the same organization."""

    by_email: dict[str, list[tuple[int, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_name_org: dict[tuple[str, str], list[tuple[int, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    def load(cls, session: Session, *, emails: Iterable[str] | None = None) -> DuplicateIndex:
        """Build from the database (all applications, or those with the given emails)."""
        index = cls()
        table = Application.__table__.c  # Core columns: plain rows, no ORM result processing
        query = select(
            table.id,
            table.code,
            table.status,
            table.email,
            table.full_name,
            table.organization_code,
            table.organization_text,
        ).where(table.erased_at.is_(None))
        if emails is not None:
            query = query.where(table.email.in_(list(emails)))
        for row in session.execute(query):
            index.add(
                row.id,
                row.code,
                row.status,
                row.email,
                row.full_name,
                row.organization_code or row.organization_text,
            )
        return index

    def add(self, app_id: int, code: str, status: str, email: str, name: str, org: str) -> None:
        """Remember one application."""
        entry = (app_id, code, status)
        self.by_email[email].append(entry)
        if name and org:
            self.by_name_org[(person_key(name), org)].append(entry)

    def facts(self, app: Application, org_code: str | None) -> DuplicateFacts:
        """Other applications that look like the same person as `app`."""
        return self.facts_for(app.id, app.email, app.full_name, org_code or app.organization_text)

    def facts_for(self, app_id: int | None, email: str, name: str, org: str) -> DuplicateFacts:
        """Other applications (not `app_id`) with this email, or this name at this organization."""
        same_email = [e for e in self.by_email.get(email, []) if e[0] != app_id]
        key = (person_key(name), org)
        same_name = [e for e in self.by_name_org.get(key, []) if e[0] != app_id]
        rejected = {e[1] for e in same_email + same_name if e[2] == REJECTED}
        return DuplicateFacts(
            same_email=tuple(e[1] for e in same_email),
            same_name_and_org=tuple(e[1] for e in same_name),
            previously_rejected=tuple(sorted(rejected)),
        )


def answers_of(app: Application) -> FormAnswers:
    """The mapped answers of a stored application."""
    return FormAnswers(
        submitted_at=app.submitted_at,
        email=app.email,
        full_name=app.full_name,
        kana=app.kana,
        facebook_name=app.facebook_name,
        service_type=app.service_type,
        organization=app.organization_text,
        department=app.department,
        prefecture=app.prefecture,
        employment_status=app.employment_status,
        interests=tuple(app.interests or ()),
        consent=app.consent,
        referrer=app.referrer,
    )


def screen(
    app: Application,
    *,
    settings: Settings,
    index: DuplicateIndex,
    at: datetime,
    registry: Registry | None = None,
) -> Verdict:
    """Verify one application and store the verdict, its reasons and the organization."""
    verdict = screen_answers(
        answers_of(app), app_id=app.id, settings=settings, index=index, registry=registry
    )
    app.verdict = verdict.status
    app.reasons = stored_reasons(verdict)
    app.organization_code = verdict.organization_code
    app.organization_name = verdict.organization_name or ""
    app.verified_at = at
    return verdict


def screen_answers(
    answers: FormAnswers,
    *,
    app_id: int | None,
    settings: Settings,
    index: DuplicateIndex,
    registry: Registry | None = None,
) -> Verdict:
    """Verify answers (of application `app_id`, None if not stored yet) against the others."""
    registry = registry or load_registry()
    extra = frozenset(settings.verification.extra_allowed_domains)
    choices = status_choices(settings)
    first = verify(answers, registry, extra_allowed_domains=extra, status_choices=choices)
    facts = index.facts_for(
        app_id, answers.email, answers.full_name, first.organization_code or answers.organization
    )
    if facts == DuplicateFacts():
        return first
    return verify(
        answers, registry, duplicates=facts, extra_allowed_domains=extra, status_choices=choices
    )


def status_choices(settings: Settings) -> tuple[tuple[str, str], ...]:
    """`[verification] status_choices` (exact choice text → eligible|ineligible|review), folded.

    Read defensively: a settings object without the key (or with a value that is not a table of
    strings) means no fixed choices, so every answer is read by the lexicon.
    """
    raw = getattr(settings.verification, "status_choices", None)
    if not isinstance(raw, Mapping):
        return ()
    return _folded_choices(tuple(sorted((str(k), str(v)) for k, v in raw.items())))


@lru_cache(maxsize=8)
def _folded_choices(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return fold_status_choices(dict(items))


def stored_reasons(verdict: Verdict) -> list[dict[str, str]]:
    """The reasons of a verdict as stored on the application."""
    return [{"code": r.code, "message": r.message} for r in verdict.reasons]
