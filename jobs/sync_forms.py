"""sync-forms: read new and edited form responses into applications."""

from __future__ import annotations

from jobs.context import JobContext


def run(ctx: JobContext) -> str:
    """Poll the form source once (the intake module owns the work and its transactions)."""
    from bot.onboarding.intake import sync_forms

    counts = sync_forms(ctx.runtime)
    return str(counts)
