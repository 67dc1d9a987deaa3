"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from bot.runtime import Runtime
from tests.integration.test_console_helpers import logged_in


@pytest.fixture
def reviewer(runtime: Runtime) -> FlaskClient:
    """A console client logged in as the reviewer "rev"."""
    return logged_in(runtime, "rev", "reviewer")


@pytest.fixture
def admin(runtime: Runtime) -> FlaskClient:
    """A console client logged in as the admin "boss"."""
    return logged_in(runtime, "boss", "admin")
