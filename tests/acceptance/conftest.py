"""Fixtures of the acceptance tests: a fresh PostgreSQL database and one running set-up.

These tests need TEST_DATABASE_URL (a PostgreSQL server the test may create databases on); they
skip without it. The module gets its own database, created empty, so `cityhall db upgrade`
really builds the schema as the release step does in production (tests/conftest.py's
`empty_postgres_url` is a schema migrated in-process, which cannot show that). The processes
start once per module (start-up costs ~10 s on two CPUs); each test uses its own applicants,
PSIDs and addresses, and on failure prints the fakes' complaints and the process logs written
during that test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.acceptance.stack import Stack, build_stack, start_processes, stop


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Keep each phase's report on the item, so teardown knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def acceptance_database_url() -> Iterator[str]:
    """An empty PostgreSQL database of this module only (dropped afterwards)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base:
        pytest.skip("acceptance: TEST_DATABASE_URL not set (needs PostgreSQL)")
    if not make_url(base).get_backend_name().startswith("postgresql"):
        pytest.skip("acceptance: TEST_DATABASE_URL is not a PostgreSQL URL")
    name = f"cityhall_acc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def running_stack(
    tmp_path_factory: pytest.TempPathFactory, acceptance_database_url: str
) -> Iterator[Stack]:
    """Fakes up, config written, `cityhall db upgrade` done, gunicorn + worker + clock healthy."""
    workdir: Path = tmp_path_factory.mktemp("acceptance")
    running = build_stack(workdir, acceptance_database_url, dict(os.environ))
    try:
        start_processes(running)
    except BaseException:
        stop(running)
        _report(running, {})
        raise
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture
def stack(request: pytest.FixtureRequest, running_stack: Stack) -> Iterator[Stack]:
    """The running set-up; on failure, what the fakes and processes said during this test."""
    marks = running_stack.procs.mark()
    running_stack.mark_problems()
    yield running_stack
    print(f"\nacceptance timings (s): {running_stack.timings}")
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        _report(running_stack, marks)


def _report(running: Stack, marks: dict[str, int]) -> None:
    """Print what helps to see why a test failed: the fakes' complaints and the process logs."""
    print(f"config: {running.config_path}")
    problems = running.problems()
    if problems:
        print("the fakes saw requests the real services would refuse:")
        print("\n".join(f"  {p}" for p in problems))
    print(running.procs.tails(since=marks))
