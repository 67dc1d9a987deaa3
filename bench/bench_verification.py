"""Benchmark: verify 10,000 applications with the registry loaded once (target ≤ 2 s).

Run: .venv/bin/python bench/bench_verification.py [N]
The applications are the labelled set (tests/data/labelled_applications.csv) repeated, each copy
with a distinct e-mail address so nothing can be served from a cache.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.onboarding.answers import FormAnswers  # noqa: E402
from bot.onboarding.registry import load_registry  # noqa: E402
from bot.onboarding.verification import verify  # noqa: E402
from tests.labelled_set import answers_of, load_rows  # noqa: E402

TARGET_SECONDS = 2.0


def applications(n: int) -> list[FormAnswers]:
    """Build n applications from the labelled set."""
    base = [answers_of(r) for r in load_rows()]
    out = []
    for i in range(n):
        a = base[i % len(base)]
        local, _, domain = a.email.partition("@")
        out.append(replace(a, email=f"{local}{i}@{domain}" if domain else a.email))
    return out


def main() -> int:
    """Run the benchmark and print its figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    apps = applications(n)

    start = time.perf_counter()
    registry = load_registry()
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for answers in apps:
        verdict = verify(answers, registry)
        statuses[verdict.status] = statuses.get(verdict.status, 0) + 1
    total_s = time.perf_counter() - start

    print(f"registry load:        {load_s * 1000:8.1f} ms ({len(registry)} organizations)")
    print(f"verify {n} apps:    {total_s * 1000:8.1f} ms")
    print(f"per application:      {total_s / n * 1e6:8.1f} µs")
    print(f"verdicts:             {statuses}")
    ok = total_s <= TARGET_SECONDS
    print(f"target ≤ {TARGET_SECONDS:.0f} s:          {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
