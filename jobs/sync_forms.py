"""sync-forms: read new and edited form responses into applications."""

from __future__ import annotations

from bot.onboarding.intake import fetch_snapshot, ingest_snapshot
from jobs.context import JobContext


def run(ctx: JobContext) -> str:
    """Read the sheet, then take it in within the job's own transaction.

    The read comes first: the job's transaction has run no statement yet, so no connection is
    held while Google answers.
    """
    snapshot = fetch_snapshot(ctx.runtime.form_source)
    counts = ingest_snapshot(
        ctx.session, snapshot, settings=ctx.settings, now=ctx.now, source="sheet"
    )
    return str(counts)
