"""The `cityhall` command."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot import log_privacy
from bot.config import ConfigError, Settings, check_deployment_secrets, load_settings
from bot.db import Database, DatabaseNotReady, describe_unreachable, is_connection_failure
from bot.onboarding.lifecycle import DomainError

log = logging.getLogger("cityhall")


class CommandError(Exception):
    """A command failed in a way the user can fix; printed as one line."""


def _expected_failures() -> tuple[type[Exception], ...]:
    """Failures a user can act on: printed as one line, exit status 1."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.messenger_commands import SimulateError
    from bot.onboarding.intake import FormSyncError
    from integrations.ports import DeliveryError
    from integrations.sheets import FormSourceError

    return (DomainError, CommandError, FormSyncError, FormSourceError, SimulateError, DeliveryError)


def setup_logging(level: str) -> None:
    """Log to stderr, one line per record."""
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log_privacy.install()


def _runtime(args: argparse.Namespace, *, check: bool = True, start: bool = False) -> Any:
    """The wired runtime; `start` runs the start-up tasks of a long-running process."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_runtime, start_up

    runtime = build_runtime(args.settings)
    if check:
        runtime.db.check_ready()
    if start:
        start_up(runtime)
    return runtime


# -- db -------------------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Create or migrate the database schema."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_runtime, start_up

    db = Database(args.settings.app.database_url)
    db.upgrade()
    current, _ = db.schema_status()
    print(f"database at revision {current}")
    start_up(build_runtime(args.settings, db=db))
    return 0


# -- processes ------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    """Run the web service (development server; production uses gunicorn)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot import create_app

    app = create_app(runtime=_runtime(args))
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Process the inbox and send the outbox."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.messaging.worker import Worker

    Worker(_runtime(args, start=True)).run(once=args.once)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the embedded demo: fresh SQLite, sample data, web + worker + clock."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.demo import DemoError, run_demo

    try:
        return run_demo(host=args.host, port=args.port, keep=args.keep)
    except DemoError as exc:
        raise CommandError(str(exc)) from None


# -- users ----------------------------------------------------------------------------------------
def cmd_users_add(args: argparse.Namespace) -> int:
    """Create a secretariat account; the password is read from stdin."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.accounts.users import add_user

    if not args.password_stdin:
        raise CommandError(
            "pass --password-stdin and pipe the password in "
            "(passwords are never taken as arguments)"
        )
    password = sys.stdin.readline().rstrip("\r\n")
    rt = _runtime(args)
    with rt.db.transaction() as session:
        add_user(session, args.name, args.role, password, actor="cli", at=rt.now())
    print(f"user {args.name} ({args.role}) created")
    return 0


# -- applications ---------------------------------------------------------------------------------
def cmd_applications_list(args: argparse.Namespace) -> int:
    """List applications (optionally of one status)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.models import ApplicationStatus
    from bot.onboarding.applications import list_applications, to_json

    if args.status and args.status not in {s.value for s in ApplicationStatus}:
        raise CommandError(
            f"unknown status {args.status!r}; one of "
            + ", ".join(s.value for s in ApplicationStatus)
        )
    rt = _runtime(args)
    with rt.db.transaction() as session:
        rows = [to_json(a, rt.settings.tz) for a in list_applications(session, status=args.status)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(
            f"{r['code']}  {r['status']:<22} {r['verdict']:<12} {r['submitted_at'][:16]}  "
            f"{r['full_name']}  {r['organization_name'] or r['organization_text']}"
        )
    print(f"{len(rows)} application(s)")
    return 0


def cmd_applications_show(args: argparse.Namespace) -> int:
    """Show one application with its verification reasons and history."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.onboarding.applications import get_by_code, to_json
    from bot.onboarding.notifications import messenger_link

    rt = _runtime(args)
    tz = rt.settings.tz
    with rt.db.transaction() as session:
        app = get_by_code(session, args.code)
        data = to_json(app, tz)
        data["messenger_link"] = messenger_link(rt.settings, app)
        data["answers"] = app.answers
        data["history"] = [
            {
                "at": h.at.astimezone(tz).isoformat(),
                "actor": h.actor,
                "action": h.action,
                "reason": h.reason,
                "detail": h.detail,
            }
            for h in app.history
        ]
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for key in (
        "code",
        "status",
        "verdict",
        "full_name",
        "kana",
        "email",
        "facebook_name",
        "organization_text",
        "organization_name",
        "prefecture",
        "submitted_at",
        "join_request_seen",
        "messenger_linked",
        "messenger_link",
    ):
        print(f"{key:>18}: {data[key]}")
    print("reasons:")
    for reason in data["reasons"]:
        print(f"  - {reason['code']}: {reason['message']}")
    print("history:")
    for h in data["history"]:
        print(f"  {h['at'][:19]}  {h['actor']:<12} {h['action']}  {h['reason']}")
    return 0


def cmd_applications_approve(args: argparse.Namespace) -> int:
    """Approve one or more applications (all or nothing)."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.onboarding.applications import approve, get_by_code

    rt = _runtime(args)
    with rt.db.transaction() as session:
        for code in args.codes:
            approve(
                session,
                get_by_code(session, code),
                settings=rt.settings,
                actor=args.actor,
                at=rt.now(),
                identity_checked=args.identity_checked,
                join_request_confirmed=(
                    None if args.join_request is None else args.join_request == "seen"
                ),
            )
    print(f"approved {len(args.codes)} application(s)")
    return 0


def cmd_applications_reject(args: argparse.Namespace) -> int:
    """Reject one application with a reason."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.onboarding.applications import get_by_code, reject

    rt = _runtime(args)
    with rt.db.transaction() as session:
        reject(
            session,
            get_by_code(session, args.code),
            settings=rt.settings,
            actor=args.actor,
            at=rt.now(),
            reason=args.reason,
            notify=args.notify,
        )
    print(f"rejected {args.code}")
    return 0


# -- forms and verification ------------------------------------------------------------------------
def cmd_sync_forms(args: argparse.Namespace) -> int:
    """Poll the form once and print what changed."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.onboarding.intake import sync_forms

    rt = _runtime(args)
    progress = _progress_bar if sys.stderr.isatty() else None
    counts = sync_forms(rt, dry_run=args.dry_run, progress=progress)
    for warning in counts.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(("dry run (nothing written): " if args.dry_run else "") + str(counts))
    return 0


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def cmd_forms_quarantine(args: argparse.Namespace) -> int:
    """List form rows that could not be taken in, with their reasons."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from sqlalchemy import select

    from bot.models import QuarantinedRow

    rt = _runtime(args)
    with rt.db.transaction() as session:
        query = select(QuarantinedRow).order_by(QuarantinedRow.id)
        if not args.all:
            query = query.where(QuarantinedRow.resolved_at.is_(None))
        rows = session.scalars(query).all()
        data = [
            {
                "id": r.id,
                "source": r.source,
                "row": r.row_number,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "first_seen_at": r.first_seen_at.astimezone(rt.settings.tz).isoformat(),
                "resolved": r.resolved_at is not None,
                "raw": r.raw,
            }
            for r in rows
        ]
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for r in data:
        print(f"#{r['id']:<5} row {r['row'] or '-':<6} {r['reason_code']:<22} {r['reason']}")
    print(f"{len(data)} quarantined row(s)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-run verification for some applications (or all) and print the verdicts."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from sqlalchemy import select

    from bot.models import Application
    from bot.onboarding.applications import get_by_code
    from bot.onboarding.screening import DuplicateIndex, screen

    if not args.codes and not args.all:
        raise CommandError("name application codes or pass --all")
    rt = _runtime(args)
    with rt.db.transaction() as session:
        apps = (
            list(session.scalars(select(Application).where(Application.erased_at.is_(None))))
            if args.all
            else [get_by_code(session, c) for c in args.codes]
        )
        index = DuplicateIndex.load(session)
        changed = 0
        for app in apps:
            before = app.verdict
            screen(app, settings=rt.settings, index=index, at=rt.now())
            changed += before != app.verdict
            if not args.all:
                print(f"{app.code}: {app.verdict}")
                for reason in app.reasons:
                    print(f"  - {reason['code']}: {reason['message']}")
    print(f"verified {len(apps)} application(s), {changed} verdict(s) changed")
    return 0


# -- 課 --------------------------------------------------------------------------------------------
def cmd_sections_import(args: argparse.Namespace) -> int:
    """Upsert 課 by name from a TOML file; bad entries are skipped and listed."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from pathlib import Path

    from bot.community.sections import SeedError, import_sections, read_seed

    try:
        entries = read_seed(Path(args.file))
    except SeedError as exc:
        raise CommandError(str(exc)) from None
    rt = _runtime(args)
    with rt.db.transaction() as session:
        report = import_sections(session, entries, actor=args.actor, now=rt.now())
    for label, reason in report.skipped:
        print(f"skipped {label}: {reason}", file=sys.stderr)
    print(f"sections: {report}")
    return 1 if report.skipped else 0


# -- FAQ ------------------------------------------------------------------------------------------
def cmd_faq_import(args: argparse.Namespace) -> int:
    """Upsert FAQ entries by question from a TOML file; bad entries are skipped and listed."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from pathlib import Path

    from bot.community.questions import import_faq, parse_faq_file

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{args.file}: cannot read: {exc}") from None
    seeds, problems = parse_faq_file(text)
    rt = _runtime(args)
    with rt.db.transaction() as session:
        report = import_faq(session, seeds, actor=args.actor, now=rt.now())
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(
        f"faq: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(problems)} skipped"
    )
    return 1 if problems else 0


# -- parser ---------------------------------------------------------------------------------------
Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="cityhall", description=__doc__)
    parser.add_argument("--config", help="config file (default $CITYHALL_CONFIG or ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    add("upgrade", cmd_db_upgrade, "create or migrate the database schema", db)

    p = add("serve", cmd_serve, "run the web service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p = add("worker", cmd_worker, "process the inbox and send the outbox")
    p.add_argument("--once", action="store_true", help="drain what is due and exit")
    p = add("demo", cmd_demo, "run the embedded demo (fresh SQLite, sample data)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--keep", action="store_true", help="keep the previous demo database")

    users = sub.add_parser("users", help="secretariat accounts").add_subparsers(
        dest="users_cmd", required=True
    )
    p = add("add", cmd_users_add, "create a secretariat account", users)
    p.add_argument("name")
    p.add_argument("--role", choices=["admin", "reviewer"], required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    apps = sub.add_parser("applications", help="applications").add_subparsers(
        dest="apps_cmd", required=True
    )
    p = add("list", cmd_applications_list, "list applications", apps)
    p.add_argument("--status")
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_applications_show, "show one application", apps)
    p.add_argument("code")
    p.add_argument("--json", action="store_true")
    p = add("approve", cmd_applications_approve, "approve applications", apps)
    p.add_argument("codes", nargs="+", metavar="CODE")
    p.add_argument("--actor", default="cli")
    p.add_argument(
        "--identity-checked",
        action="store_true",
        help="you checked the person yourself: approve even where the email is not proven",
    )
    p.add_argument(
        "--join-request",
        choices=("seen", "not-seen"),
        help="where no join request was matched: whether you saw the person's request in "
        "Facebook (recorded as you say; required for such applications)",
    )
    p = add("reject", cmd_applications_reject, "reject an application", apps)
    p.add_argument("code")
    p.add_argument("--reason", required=True)
    p.add_argument("--notify", action="store_true", help="tell the applicant the reason")
    p.add_argument("--actor", default="cli")

    p = add("sync-forms", cmd_sync_forms, "poll the form once and take in what changed")
    p.add_argument("--dry-run", action="store_true", help="print the counts, write nothing")
    forms = sub.add_parser("forms", help="form intake").add_subparsers(
        dest="forms_cmd", required=True
    )
    p = add("quarantine", cmd_forms_quarantine, "rows that could not be taken in", forms)
    p.add_argument("--all", action="store_true", help="include resolved rows")
    p.add_argument("--json", action="store_true")
    p = add("verify", cmd_verify, "re-run verification")
    p.add_argument("codes", nargs="*", metavar="CODE")
    p.add_argument("--all", action="store_true")

    sections = sub.add_parser("sections", help="the 課 directory").add_subparsers(
        dest="sections_cmd", required=True
    )
    p = add("import", cmd_sections_import, "add or update 課 by name from a TOML file", sections)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--actor", default="cli")

    faq = sub.add_parser("faq", help="the FAQ the bot answers from").add_subparsers(
        dest="faq_cmd", required=True
    )
    p = add("import", cmd_faq_import, "add or update FAQ entries by question from a TOML file", faq)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--actor", default="cli")

    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot import messenger_commands
    from bot.console import commands as console_commands
    from jobs import cli as jobs_commands

    for part in (messenger_commands, console_commands, jobs_commands):
        part.register(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, load settings, run; every failure is one line and non-zero."""
    if hasattr(signal, "SIGPIPE"):  # `cityhall … | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    try:
        settings: Settings = load_settings(args.config)
        check_deployment_secrets(settings)
    except ConfigError as exc:
        print(f"cityhall: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.app.log_level)
    args.settings = settings
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"cityhall: config error: {exc}", file=sys.stderr)
        return 2
    except DatabaseNotReady as exc:
        print(f"cityhall: {exc}", file=sys.stderr)
        return 2
    except _expected_failures() as exc:
        print(f"cityhall: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database that cannot be reached: one line, exit 2
        if not is_connection_failure(exc):
            raise
        print(f"cityhall: {describe_unreachable(exc, settings.app.database_url)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
