"""Benchmark: verify 10,000 applications with the registry loaded once (target ≤ 1 s).

Run: .venv/bin/python bench/bench_verification.py [N] [--baseline REV]

The applications are the labelled set (tests/data/labelled_applications.csv) repeated, each copy
with a distinct e-mail address so nothing can be served from a cache keyed on the address. The
run also prints issue 12's acceptance figures on the labelled set. With --baseline, the same
workload and figures are first measured on the `bot` package of git revision REV (exported with
`git archive` into a temporary directory; the work tree is not touched), so before and after
come from one run on one machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0


def applications(n: int) -> list:  # type: ignore[type-arg]
    """Build n applications from the labelled set."""
    from tests.labelled_set import answers_of, load_rows

    base = [answers_of(r) for r in load_rows()]
    out = []
    for i in range(n):
        a = base[i % len(base)]
        local, _, domain = a.email.partition("@")
        out.append(replace(a, email=f"{local}{i}@{domain}" if domain else a.email))
    return out


def run(n: int, label: str) -> bool:
    """Time n verifications and print them with the acceptance figures; True if on target."""
    from bot.onboarding.registry import load_registry
    from bot.onboarding.verification import verify
    from tests.labelled_set import load_rows, measure

    start = time.perf_counter()  # first, as a process does at start-up
    registry = load_registry()
    load_s = time.perf_counter() - start
    apps = applications(n)

    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for answers in apps:
        verdict = verify(answers, registry)
        statuses[verdict.status] = statuses.get(verdict.status, 0) + 1
    total_s = time.perf_counter() - start

    figures = measure(load_rows(), registry)
    ok = total_s <= TARGET_SECONDS
    print(f"[{label}]")
    print(f"  registry load:        {load_s * 1000:8.1f} ms ({len(registry)} organizations)")
    print(f"  verify {n} apps:    {total_s * 1000:8.1f} ms")
    print(f"  per application:      {total_s / n * 1e6:8.1f} µs")
    print(f"  verdicts:             {statuses}")
    print(f"  target ≤ {TARGET_SECONDS:.0f} s:          {'met' if ok else 'MISSED'}")
    print(f"  labelled set:         {figures.summary()}")
    return ok


def export(rev: str, into: Path) -> None:
    """Write the `bot` package of git revision `rev` under `into` (read-only on the repo)."""
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "bot"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")


def main() -> int:
    """Run the benchmark (and the baseline, when asked) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--baseline", metavar="REV", help="also measure git revision REV first")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # the baseline's bot/
    parser.add_argument("--label", default="this tree", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            export(args.baseline, Path(tmp))
            cmd = [sys.executable, __file__, str(args.n), "--code", tmp]
            subprocess.run([*cmd, "--label", f"baseline {args.baseline}"], check=False)
    sys.path.insert(0, str(ROOT))
    if args.code:
        sys.path.insert(0, str(args.code))
    ok = run(args.n, args.label)
    return 0 if ok or args.code else 1


if __name__ == "__main__":
    sys.exit(main())
