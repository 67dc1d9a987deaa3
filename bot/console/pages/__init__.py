"""Console pages, one module per page; importing them attaches their routes to the blueprint."""

from __future__ import annotations

import importlib

MODULES = (
    "auth",
    "queue",
    "decisions",
    "application",
    "join_requests",
    "groups",
    "outbox",
    "inbox",
    "audit",
    "users",
    "dashboard",
    "events",
    "sections",
    "questions",
    "faq",
    "consultations",
)


def load() -> None:
    """Import every page module (idempotent: a module registers its routes once)."""
    for name in MODULES:
        importlib.import_module(f"bot.console.pages.{name}")
