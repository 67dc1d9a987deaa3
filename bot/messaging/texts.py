"""Japanese message texts, kept in template files (bot/messaging/texts/*.txt).

A template's first line is ``Subject: …`` for emails; the rest is the body. Files in
``[app] templates_dir`` override the shipped ones, so the secretariat can edit wording without
touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

SHIPPED = Path(__file__).resolve().parent / "texts"


@dataclass(frozen=True)
class Text:
    """A rendered message: subject (may be empty) and body."""

    subject: str
    body: str


@lru_cache(maxsize=8)
def _environment(override_dir: str) -> Environment:
    loaders = [FileSystemLoader(override_dir)] if override_dir else []
    loaders.append(FileSystemLoader(str(SHIPPED)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=False,  # noqa: S701 - plain text
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, override_dir: str = "", **context: Any) -> Text:
    """Render `<name>.txt` with `context`."""
    raw = _environment(override_dir).get_template(f"{name}.txt").render(**context)
    subject = ""
    if raw.startswith("Subject:"):
        first, _, raw = raw.partition("\n")
        subject = first.removeprefix("Subject:").strip()
    return Text(subject=subject, body=raw.strip() + "\n")
