"""Japanese message texts, kept in template files (bot/messaging/texts/*.txt).

A template's first line is ``Subject: …`` for emails; the rest is the body. Files in
``[app] templates_dir`` override the shipped ones, so the secretariat can edit wording without
touching code.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import BuiltinMethodType
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from jinja2.runtime import Context
from jinja2.utils import internalcode

SHIPPED = Path(__file__).resolve().parent / "texts"


@dataclass(frozen=True)
class Text:
    """A rendered message: subject (may be empty) and body."""

    subject: str
    body: str


class _Context(Context):
    """Jinja's template context, with a short cut for calling a built-in method.

    Templates call methods such as `datetime.astimezone` and `strftime` several times per email.
    A built-in method can carry no `pass_context`-style marker, so `Context.call` would only look
    for one and then call it: this calls it straight away (same result, same StopIteration
    handling) and leaves every other call to Jinja.
    """

    @internalcode
    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs or type(__obj) is not BuiltinMethodType:
            return super().call(__obj, *args, **kwargs)
        try:
            return __obj(*args)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


class _Environment(Environment):
    """A Jinja environment whose templates are cheaper to render many times over."""

    context_class = _Context

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A template's globals as one dict rather than a ChainMap over `self.globals` (copied
        # into every render's context): these environments' globals never change once built.
        return {**self.globals, **(d or {})}


@lru_cache(maxsize=8)
def _environment(override_dir: str) -> Environment:
    loaders = [FileSystemLoader(override_dir)] if override_dir else []
    loaders.append(FileSystemLoader(str(SHIPPED)))
    return _Environment(
        loader=ChoiceLoader(loaders),
        autoescape=False,  # plain text
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
