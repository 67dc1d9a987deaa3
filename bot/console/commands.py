"""`cityhall join-requests import FILE|-`: the CLI twin of the console's paste box."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.onboarding.join_request_limits import (
    MAX_PASTE_BYTES,
    TooManyJoinRequests,
    check_request_count,
)


class InputError(Exception):
    """Input the command cannot read (printed as one line, exit status 2)."""


def _read(source: str) -> str:
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_PASTE_BYTES + 1)
        else:
            with Path(source).open("rb") as file:
                raw = file.read(MAX_PASTE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(raw) > MAX_PASTE_BYTES:
        raise InputError(
            f"{source}: larger than {MAX_PASTE_BYTES} bytes, the limit of one import "
            "(split the list); nothing was imported"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None


def cmd_join_requests_import(args: argparse.Namespace) -> int:
    """Import join requests, one `<name><TAB><answer>` per line; print what matched."""
    # Imported on use: a command loads only its own modules (all at once: start-up 1.4 s → 2.9 s).
    from bot.bootstrap import build_runtime
    from bot.onboarding.join_request_parsing import (
        JoinRequestFormatError,
        parse_pasted,
        parse_tab_separated,
    )
    from bot.onboarding.join_requests import (
        import_join_requests,
    )

    try:
        text = _read(args.file)
        requests = parse_pasted(text) if args.pasted else parse_tab_separated(text)
        check_request_count(requests)
    except TooManyJoinRequests as exc:
        print(
            f"cityhall: join-requests import: {exc.size} requests, more than the limit of "
            f"{exc.limit} in one import (split the list); nothing was imported",
            file=sys.stderr,
        )
        return 2
    except (InputError, JoinRequestFormatError) as exc:
        print(f"cityhall: join-requests import: {exc}", file=sys.stderr)
        return 2
    if not requests:
        print("cityhall: join-requests import: no join requests in the input", file=sys.stderr)
        return 2
    rt = build_runtime(args.settings)
    rt.db.check_ready()
    with rt.db.transaction() as session:
        result = import_join_requests(session, requests, actor=args.actor, at=rt.now())
    for item in result.items:
        if item.status == "matched":
            print(
                f"matched    {item.application_code}  {item.method:<6} "
                f"{item.confidence:.2f}  {item.name}"
            )
        elif item.status == "unmatched":
            alternatives = ", ".join(c["code"] for c in item.candidates) or "-"
            print(f"unmatched  {item.name}  (candidates: {alternatives})")
    print(
        f"matched {result.matched}, unmatched {result.unmatched}, "
        f"already entered {result.duplicates}"
    )
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `join-requests import` to the `cityhall` parser (bot.cli._EXTENSIONS)."""
    group = sub.add_parser("join-requests", help="Facebook group join requests").add_subparsers(
        dest="join_requests_cmd", required=True
    )
    p = add(
        "import",
        cmd_join_requests_import,
        "match join requests (<name><TAB><answer> per line) to applications",
        group,
    )
    p.add_argument("file", metavar="FILE|-", help="a file, or - for stdin")
    p.add_argument(
        "--pasted",
        action="store_true",
        help="the input is text copied from Facebook's request list",
    )
    p.add_argument("--actor", default="cli")
