"""The scheduled jobs: one small module per job, each exposing `run(ctx)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jobs import (
    capacity_alerts,
    cohort_rollover,
    event_reminders,
    join_request_reminders,
    messenger_link_reminders,
    orientation,
    retention,
    secretariat_digest,
    sync_forms,
)
from jobs.context import JobContext

JobFunction = Callable[[JobContext], str | None]


@dataclass(frozen=True)
class JobSpec:
    """A job's name, its function and the `[jobs]` key holding its schedule."""

    name: str
    run: JobFunction
    setting: str


JOBS: tuple[JobSpec, ...] = (
    JobSpec("sync-forms", sync_forms.run, "sync_forms_minutes"),
    JobSpec("join-request-reminders", join_request_reminders.run, "join_request_reminders"),
    JobSpec("messenger-link-reminders", messenger_link_reminders.run, "messenger_link_reminders"),
    JobSpec("orientation", orientation.run, "orientation"),
    JobSpec("cohort-rollover", cohort_rollover.run, "cohort_rollover"),
    JobSpec("capacity-alerts", capacity_alerts.run, "capacity_alerts"),
    JobSpec("secretariat-digest", secretariat_digest.run, "secretariat_digest"),
    JobSpec("retention", retention.run, "retention"),
    JobSpec("event-reminders", event_reminders.run, "event_reminders_minutes"),
)


class UnknownJob(LookupError):
    """No job has that name."""


def find(name: str, jobs: tuple[JobSpec, ...] = JOBS) -> JobSpec:
    """The job called `name`; UnknownJob (naming the known ones) otherwise."""
    for spec in jobs:
        if spec.name == name:
            return spec
    raise UnknownJob(f"unknown job {name!r}; one of: {', '.join(s.name for s in jobs)}")
