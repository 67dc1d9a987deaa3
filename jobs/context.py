"""What a job's `run(ctx)` is given: the runtime, its transaction and the time of the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messaging.texts import Text, render
from bot.runtime import Runtime


@dataclass(frozen=True)
class JobContext:
    """One job run: `session` is its only transaction; `now` is fixed for the whole run."""

    runtime: Runtime
    session: Session
    now: datetime

    @property
    def settings(self) -> Settings:
        """The process's settings."""
        return self.runtime.settings

    @property
    def local_now(self) -> datetime:
        """`now` in the configured time zone (Asia/Tokyo)."""
        return self.now.astimezone(self.settings.tz)

    def text(self, name: str, **context: Any) -> Text:
        """Render a message template, honouring `[app] templates_dir` overrides."""
        return render(name, self.settings.app.templates_dir, **context)
