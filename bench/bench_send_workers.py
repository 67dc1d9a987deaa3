"""Four worker processes share one Page send rate on PostgreSQL, against a faulty fake Graph.

Issue 13's benchmark. A private PostgreSQL schema holds 10,000 queued Messenger invitations
(URL button), two per person, every person inside the 24-hour window; the text of each carries
its idempotency key (`[[key:…]]`) so the fake can tell which message every call carried. Four
`python -m bench.send_worker` processes (bench/send_worker.py: the production runtime from
parse_settings + build_runtime, the real GraphClient, `Worker.run`) drain it through
bench/fake_graph.py, in its own process, with `[messenger] rate_limit_per_second` = 300 and
`timeout_seconds` = 10, `[worker] backoff_base_seconds` = 0.2, `backoff_max_seconds` = 2,
`max_attempts` = 8, `poll_seconds` = 0.5 (lease and batch size: the defaults, 120 s and 20).

Runs, each on a fresh schema and a fresh fake, in this order:

C. ceiling: no faults, the same workers with the cap lifted to 100,000/s: what this machine sends
   at most; plus one sequential requests loop against the fake alone.
B. no faults, cap 300: throughput ≥ 93% of min(cap, ceiling).
D. no faults, a cap below the ceiling (half of it, at least 100/s; 3,000 messages): where the
   workers could go faster, so the peak shows whether the shared schedule holds the cap, and
   the throughput whether it wastes slots: ≥ 93% of min(cap, ceiling).
A. faults: 0.2% of calls answered after 7 s; 8% HTTP 500 code 2, 6% HTTP 400 code 613, 6% HTTP
   400 code 1200, 8% connection closed after the request was read (no answer: the outcome is
   unknown to the sender), and every person whose PSID is divisible by 50 (2%) answered
   10/2018108 (unreachable) — about 30% of calls fail.

Measured at the fake (arrival times of every call, failed ones included) and in the database:

* peak calls in any 1-second window ≤ the cap (runs A, B, D);
* lost = rows not `sent` or `dead` when the drain ends (deadline per run) = 0;
* per message (idempotency key), the calls that reached the fake and how each was answered. A
  call after the message was already answered 200 is a duplicate caused by a success — slow (the
  200 took 7 s) or fast — and must not happen (0). A message answered 200 after an earlier call
  of it was dropped unanswered may have reached the person twice: a duplicate after an unknown
  outcome, counted and reported (allowed);
* consistency: every `sent` row got a 200 and no `dead` row did; a `dead` row is an unreachable
  person's (no call at all after that person's 10/2018108), or was dropped unanswered twice
  (the worker does not try a third time), or ran out of attempts; a person's messages reach the
  fake in order (the next one's first call only after the previous one's last answer), and
  paced: after a 200, the person's next call comes at least `per_person_interval_seconds` (1 s)
  later;
* throughput (runs B, D) = messages / seconds from the start signal to the last `sent_at`.

Each run also shows how much of the machine's CPU went to this benchmark (workers, fake, this
process, the PostgreSQL backends serving them) and to other processes: throughputs measured
while other work takes more than 20% of the machine do not compare (the output says so).

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/bench_send_workers.py [--messages 10000] [--runs CBDA]

About 4–5 minutes on a quiet 2-core machine (`--messages 3000`: about 2); `--dump DIR` keeps every
call, row and worker log. Without TEST_DATABASE_URL it prints that it was skipped and exits 0
(the shared send schedule lives in PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import func, insert, text  # noqa: E402
from sqlalchemy import select as sql_select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.databases import postgres_schema  # noqa: E402
from bench.fake_graph import ARRIVAL_FIELDS  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.messaging.compose import url_buttons  # noqa: E402
from bot.messaging.outbox import outbound_row  # noqa: E402
from bot.messaging.worker import UNFINISHED  # noqa: E402
from bot.models import MessengerIdentity, OutboundMessage, utcnow  # noqa: E402

APP_NAME = "bench_send_workers"  # PostgreSQL application_name of every connection of a run
CAP = 300.0
CEILING_CAP = 100_000.0
THROUGHPUT_SHARE = 0.93
# Run D's cap is at least this: a 1-second window can hold 97% of the cap + 2 calls (the slot a
# late call makes up, and arrival jitter), so below ~67/s it can hold cap + 1; at 70/s windows
# of exactly 70 were seen.
LOW_CAP_MIN = 100.0
BUSY = 0.2  # other processes' share of the machine above which throughputs are not comparable
UNREACHABLE_EVERY = 50  # PSIDs divisible by this answer 10/2018108 in run A
PSID_BASE = 7_100_000_000_000_000  # divisible by UNREACHABLE_EVERY
SLOW_SECONDS = 7.0
TIMEOUT_SECONDS = 10.0
SLOW_RATE = 0.002  # each 7 s answer holds a worker: 1% would add ~4 minutes to run A
FAULTS = {  # run A's fake (see bench/fake_graph.py)
    "--slow-rate": SLOW_RATE,
    "--slow-seconds": SLOW_SECONDS,
    "--p-500": 0.08,
    "--p-613": 0.06,
    "--p-1200": 0.06,
    "--p-reset": 0.08,
    "--unreachable-every": UNREACHABLE_EVERY,
}
PER_PERSON_INTERVAL = 1.0  # [messenger] per_person_interval_seconds, as config.example.toml
WORKER_SETTINGS = {
    "--timeout": TIMEOUT_SECONDS,
    "--per-person-interval": PER_PERSON_INTERVAL,
    "--backoff-base": 0.2,
    "--backoff-max": 2.0,
    "--max-attempts": 8,
}
KINDS = ("prefecture", "village", "cohort")
URLS = {
    "prefecture": "https://m.me/j/AbToyamaChat/",
    "village": "https://www.facebook.com/groups/online.shiyakusho.village",
    "cohort": "https://m.me/j/AbCohort202611/",
}
LOG_MARKERS = {  # worker log lines worth counting (stderr of the worker processes)
    "lease lost before recording a send": "lease was lost before recording",
    "leased rows handed back": "handed back",
    "unexpected transport errors": "unexpected transport error",
    "drain failures": "drain failed",
    "tracebacks": "Traceback",
}


# -- the queue ------------------------------------------------------------------------------------
def queue_invitations(db: Database, n: int, per_person: int) -> None:
    """n invitations, `per_person` per person (in order), every person inside the window."""
    now = utcnow()
    people = -(-n // per_person)
    identities = [
        {
            "psid": str(PSID_BASE + p),
            "name": "",
            "first_name": "",
            "last_name": "",
            "created_at": now - timedelta(hours=2),
            "last_interaction_at": now - timedelta(hours=1),
            "disclosed_at": now - timedelta(hours=1),
            "unreachable_reason": "",
        }
        for p in range(people)
    ]
    messages = []
    for i in range(n):
        person, kind = divmod(i, per_person)
        kind_name = KINDS[kind % len(KINDS)]
        key = f"invite:OC-W{person:05d}:{kind_name}"
        if kind >= len(KINDS):
            key += f":{kind}"
        text = (
            f"オンライン市役所へようこそ。{kind_name} のグループに参加してください。[[key:{key}]]"
        )
        messages.append(
            outbound_row(
                key=key,
                channel="messenger",
                recipient=str(PSID_BASE + person),
                purpose="invitation",
                payload={
                    "message": url_buttons(text, [("参加する", URLS[kind_name])]),
                    "response": False,
                },
                now=now,
            )
        )
    with db.transaction() as session:
        session.execute(insert(MessengerIdentity), identities)
        for start in range(0, n, 2000):
            session.execute(insert(OutboundMessage), messages[start : start + 2000])


def unfinished(db: Database) -> int:
    """Rows not yet sent or dead."""
    with db.transaction() as session:
        return int(
            session.scalar(
                sql_select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(UNFINISHED))
            )
            or 0
        )


# -- the fake -------------------------------------------------------------------------------------
@contextmanager
def fake_graph(faults: dict[str, float]) -> Iterator[tuple[int, int]]:
    """bench/fake_graph.py in its own process, logging every call; yields its port and pid."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [sys.executable, "-m", "bench.fake_graph", "--port", str(port), "--log-arrivals"]
    for flag, value in faults.items():
        argv += [flag, str(value)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake Graph server did not start") from None
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def fake_get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
        data: dict[str, Any] = json.load(response)
    return data


def raw_loop(port: int, seconds: float = 2.0) -> float:
    """Calls/s of one sequential keep-alive requests client against the fake alone."""
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/v25.0/me/messages"
    body = {"recipient": {"id": "1"}, "messaging_type": "UPDATE", "message": {"text": "x"}}
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.post(url, params={"access_token": "t"}, json=body, timeout=10).raise_for_status()
        count += 1
    rate = count / (time.perf_counter() - started)
    session.post(f"http://127.0.0.1:{port}/reset", timeout=10)
    session.close()
    return rate


# -- one run --------------------------------------------------------------------------------------
@dataclass
class Run:
    """What one drain measured."""

    label: str
    cap: float
    messages: int
    drain_s: float = 0.0
    rate: float = 0.0
    timed_out: bool = False
    statuses: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    peak: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    slow_calls: int = 0
    lost: int = 0
    resent_after_slow_success: int = 0
    resent_after_fast_success: int = 0
    dup_after_unknown: int = 0
    answered_200_twice: int = 0
    sent_without_200: int = 0
    dead_with_200: int = 0
    dead_unreachable: int = 0
    dead_unknown: int = 0
    dead_exhausted: int = 0
    dead_other: int = 0
    calls_after_unreachable: int = 0
    order_violations: int = 0
    interval: float = PER_PERSON_INTERVAL  # per_person_interval_seconds of this run
    pacing_violations: int = 0  # a person's next call sooner than the interval after an answer
    closest_gap: float | None = None  # seconds, the smallest such gap seen
    log_counts: dict[str, int] = field(default_factory=dict)
    cpu_ours: float = 0.0  # share of the machine (all cores) during the drain
    cpu_others: float = 0.0
    examples: list[str] = field(default_factory=list)


def _proc_ticks(pid: int) -> int | None:
    """utime + stime of a process (clock ticks), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])  # guest time is already in user
    return total - values[3] - values[4], total


class CpuMeter:
    """Where the machine's CPU went during a drain: this benchmark's processes (workers, fake,
    this process, the PostgreSQL backends serving them) vs everything else on the machine."""

    def __init__(self, db: Database, pids: list[int]) -> None:
        self.db = db
        self.start: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.machine = _machine_ticks()
        self.own = _own_ticks()
        self.watch(pids)
        self.sample()

    def watch(self, pids: list[int]) -> None:
        for pid in pids:
            ticks = _proc_ticks(pid)
            if ticks is not None and pid not in self.start:
                self.start[pid] = self.last[pid] = ticks

    def sample(self) -> None:
        """Note the CPU of every watched process (and of new backends of this benchmark)."""
        try:
            with self.db.engine.connect() as connection:
                backends = connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": APP_NAME},
                ).scalars()
                self.watch(list(backends))
        except Exception:  # only a measurement: the drain goes on
            pass
        for pid in self.start:
            ticks = _proc_ticks(pid)
            if ticks is not None:
                self.last[pid] = ticks

    def finish(self) -> tuple[float, float]:
        """(ours, others) as shares of the whole machine since the start signal."""
        self.sample()
        busy0, total0 = self.machine
        busy1, total1 = _machine_ticks()
        ours = sum(self.last[pid] - self.start[pid] for pid in self.start)
        ours += _own_ticks() - self.own
        elapsed = max(1, total1 - total0)
        return ours / elapsed, max(0, busy1 - busy0 - ours) / elapsed


def _own_ticks() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round((usage.ru_utime + usage.ru_stime) * os.sysconf("SC_CLK_TCK"))


def start_workers(
    n: int, url: str, port: int, cap: float, logs: Path, extra: dict[str, Any]
) -> list[subprocess.Popen[str]]:
    """Start n worker processes and wait until each has said `ready`."""
    argv = [sys.executable, "-m", "bench.send_worker", "--database-url", url]
    argv += ["--graph-base", f"http://127.0.0.1:{port}", "--cap", str(cap)]
    for flag, value in {**WORKER_SETTINGS, **extra}.items():
        argv += [flag, str(value)]
    procs = []
    for i in range(n):
        err = (logs / f"worker-{i}.log").open("w")
        procs.append(
            subprocess.Popen(
                [*argv, "--name", f"bench-w{i}-{os.getpid()}"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        )
        err.close()
    waiting = {p.stdout: p for p in procs if p.stdout is not None}
    deadline = time.monotonic() + 60
    while waiting:
        ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            stop_workers(procs, grace=0)
            raise RuntimeError("a worker process did not start (see its log)")
        for stream in ready:
            if stream.readline().strip() != "ready":
                stop_workers(procs, grace=0)
                raise RuntimeError("a worker process failed to start (see its log)")
            del waiting[stream]
    return procs


def stop_workers(procs: list[subprocess.Popen[str]], grace: float) -> None:
    """Wait up to `grace` s for the workers to exit, then SIGTERM, then SIGKILL (ours only)."""
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            p.send_signal(sig)
        for p in alive:
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass


def drain(
    label: str,
    *,
    messages: int,
    per_person: int,
    workers: int,
    cap: float,
    faults: dict[str, float],
    deadline_s: float,
    worker_extra: dict[str, Any],
    raw: bool = False,
    dump: Path | None = None,
) -> tuple[Run, float | None]:
    """Queue, drain with `workers` processes against a fresh fake, and analyse one run."""
    run = Run(label, cap, messages)
    run.interval = float(worker_extra.get("--per-person-interval", PER_PERSON_INTERVAL))
    raw_rate = None
    with (
        postgres_schema("bench_sendw") as schema_url,
        fake_graph(faults) as (port, fake_pid),
        tempfile.TemporaryDirectory(prefix="bench-sendw-") as tmp,
    ):
        assert schema_url is not None
        url = (
            make_url(schema_url)
            .update_query_dict({"application_name": APP_NAME})
            .render_as_string(hide_password=False)
        )
        db = Database(url)
        db.upgrade()
        queue_invitations(db, messages, per_person)
        if raw:
            raw_rate = raw_loop(port)
        procs = start_workers(workers, url, port, cap, Path(tmp), worker_extra)
        try:
            meter = CpuMeter(db, [fake_pid, *(p.pid for p in procs)])
            started = time.time()
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            deadline = time.monotonic() + deadline_s
            while unfinished(db) and time.monotonic() < deadline:
                meter.sample()
                time.sleep(0.25)
            run.timed_out = bool(unfinished(db))
            run.cpu_ours, run.cpu_others = meter.finish()
        finally:  # also on Ctrl-C: no worker outlives its schema
            stop_workers(procs, grace=SLOW_SECONDS + TIMEOUT_SECONDS)
        for name, marker in LOG_MARKERS.items():
            run.log_counts[name] = sum(
                (Path(tmp) / f"worker-{i}.log").read_text(errors="replace").count(marker)
                for i in range(workers)
            )
        with db.transaction() as session:
            rows = session.execute(
                sql_select(
                    OutboundMessage.id,
                    OutboundMessage.idempotency_key,
                    OutboundMessage.recipient,
                    OutboundMessage.status,
                    OutboundMessage.attempts,
                    OutboundMessage.last_error,
                    OutboundMessage.sent_at,
                ).order_by(OutboundMessage.id)
            ).all()
        db.dispose()
        stats = fake_get(port, "/stats")
        arrivals = fake_get(port, "/arrivals")["rows"]
        if dump is not None:
            name = label.split(" ", 1)[0]
            dump.mkdir(parents=True, exist_ok=True)
            for i in range(workers):
                (dump / f"{name}-worker-{i}.log").write_bytes(
                    (Path(tmp) / f"worker-{i}.log").read_bytes()
                )
            (dump / f"{name}.json").write_text(
                json.dumps(
                    {
                        "started": started,
                        "arrival_fields": ARRIVAL_FIELDS,
                        "arrivals": arrivals,
                        "rows": [
                            {**r._asdict(), "sent_at": r.sent_at.timestamp() if r.sent_at else None}
                            for r in rows
                        ],
                    }
                )
            )
    sent_times = [r.sent_at.timestamp() for r in rows if r.sent_at is not None]
    run.drain_s = (max(sent_times) - started) if sent_times else 0.0
    run.rate = len(sent_times) / run.drain_s if run.drain_s > 0 else 0.0
    run.calls, run.peak = stats["calls"], stats["peak_calls_per_1s"]
    analyse(run, rows, arrivals, max_attempts=int(WORKER_SETTINGS["--max-attempts"]))
    return run, raw_rate


def analyse(run: Run, rows: list[Any], arrivals: list[list[Any]], *, max_attempts: int) -> None:
    """Fill `run` from the final outbox rows and the fake's calls (see the module docstring)."""
    run.statuses = dict(Counter(r.status for r in rows))
    run.lost = sum(1 for r in rows if r.status not in ("sent", "dead"))
    run.outcomes = dict(Counter(a[4] for a in arrivals))
    run.slow_calls = sum(1 for a in arrivals if a[5])
    calls: dict[str, list[list[Any]]] = defaultdict(list)
    for a in sorted(arrivals, key=lambda a: a[0]):
        calls[a[3]].append(a)
    for key, seen in calls.items():
        oks = [a for a in seen if a[4] == "ok"]
        run.answered_200_twice += len(oks) > 1
        first_ok = next((i for i, a in enumerate(seen) if a[4] == "ok"), None)
        if first_ok is not None and first_ok + 1 < len(seen):
            if seen[first_ok][5]:
                run.resent_after_slow_success += 1
            else:
                run.resent_after_fast_success += 1
            if len(run.examples) < 5:
                trail = ", ".join(
                    f"{a[4]}{' (slow)' if a[5] else ''} at +{a[0] - seen[0][0]:.2f}s"
                    f" answered +{(a[1] or a[0]) - seen[0][0]:.2f}s"
                    for a in seen
                )
                run.examples.append(f"{key}: {trail}")
        if first_ok is not None and any(a[4] == "reset" for a in seen[:first_ok]):
            run.dup_after_unknown += 1
    unreachable_people: dict[str, float] = {}
    for a in sorted(arrivals, key=lambda a: a[0]):
        if a[4] == "unreachable":
            if a[2] in unreachable_people:
                run.calls_after_unreachable += 1
            else:
                unreachable_people[a[2]] = a[1] or a[0]
        elif a[2] in unreachable_people:
            run.calls_after_unreachable += 1
    by_person: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_person[r.recipient].append(r)
        got_200 = any(a[4] == "ok" for a in calls.get(r.idempotency_key, []))
        if r.status == "sent" and not got_200:
            run.sent_without_200 += 1
        if r.status != "dead":
            continue
        run.dead_with_200 += got_200
        resets = sum(1 for a in calls.get(r.idempotency_key, []) if a[4] == "reset")
        if int(r.recipient) % UNREACHABLE_EVERY == 0 and run.outcomes.get("unreachable"):
            run.dead_unreachable += 1
        elif resets >= 2:
            run.dead_unknown += 1
        elif r.attempts >= max_attempts:
            run.dead_exhausted += 1
        else:
            run.dead_other += 1
            if len(run.examples) < 5:
                run.examples.append(f"{r.idempotency_key}: dead, {r.last_error[:120]}")
    for person_rows in by_person.values():
        previous_end = None
        previous_ok = False
        for r in person_rows:  # ordered by id: the order the person must receive them in
            seen = calls.get(r.idempotency_key, [])
            if not seen:
                continue
            if previous_end is not None and seen[0][0] < previous_end:
                run.order_violations += 1
            if previous_end is not None and previous_ok:
                gap = seen[0][0] - previous_end
                run.closest_gap = gap if run.closest_gap is None else min(run.closest_gap, gap)
                if gap < run.interval:
                    run.pacing_violations += 1
            previous_end = max((a[1] or a[0]) for a in seen)
            previous_ok = any(a[4] == "ok" for a in seen)


# -- report ---------------------------------------------------------------------------------------
def print_run(run: Run, checks: list[tuple[str, bool]]) -> None:
    print(f"  run {run.label}: cap {run.cap:.0f}/s, {run.messages} messages")
    row = "    {:<48} {:>12}   {}"
    print(row.format("drain time s (start → last sent_at)", f"{run.drain_s:.2f}", ""))
    print(row.format("messages sent / s", f"{run.rate:.1f}", ""))
    cpu = f"{run.cpu_ours:.0%} / {run.cpu_others:.0%}"
    print(row.format("CPU of the machine: this bench / others", cpu, "during the drain"))
    print(row.format("calls at the fake", run.calls, ""))
    target = f"target ≤ {run.cap:.0f}" if run.cap < CEILING_CAP else "(no cap)"
    print(row.format("peak calls in any 1 s window", run.peak, target))
    if len(run.outcomes) > 1 or run.slow_calls:
        outcomes = " ".join(f"{k}={v}" for k, v in sorted(run.outcomes.items()))
        print(row.format("answers at the fake", "", outcomes))
        print(row.format(f"calls answered after {SLOW_SECONDS:.0f} s", run.slow_calls, ""))
    print(row.format("outbox statuses", "", run.statuses))
    print(row.format("lost (not sent/dead after the drain)", run.lost, "target 0"))
    print(row.format("re-sent after a slow 200 (duplicate)", run.resent_after_slow_success, "0"))
    print(row.format("re-sent after a fast 200 (duplicate)", run.resent_after_fast_success, "0"))
    print(row.format("answered 200 twice or more", run.answered_200_twice, "0"))
    print(
        row.format(
            "duplicates after an unknown outcome",
            run.dup_after_unknown,
            "allowed, reported (dropped call, then a 200)",
        )
    )
    both = f"{run.sent_without_200} / {run.dead_with_200}"
    print(row.format("sent without a 200 / dead after a 200", both, "0 / 0"))
    dead = f"{run.dead_unreachable} / {run.dead_unknown} / {run.dead_exhausted} / {run.dead_other}"
    print(row.format("dead: unreachable / 2 unknown / used up / other", dead, "other 0"))
    print(row.format("calls after a person's 10/2018108", run.calls_after_unreachable, "0"))
    print(row.format("per-person order violations", run.order_violations, "0"))
    closest = "—" if run.closest_gap is None else f"{run.closest_gap:.2f} s"
    print(
        row.format(
            "a person's next call sooner than the interval",
            run.pacing_violations,
            f"0 (interval {run.interval:g} s; closest {closest})",
        )
    )
    logs = " ".join(f"{k.replace(' ', '_')}={v}" for k, v in run.log_counts.items() if v)
    print(row.format("worker log", "", logs or "quiet"))
    for example in run.examples:
        print(f"    e.g. {example}")
    missed = [name for name, ok in checks if not ok]
    print(row.format("result", "OK" if not missed else "MISSED", ", ".join(missed)))


def common_checks(run: Run) -> list[tuple[str, bool]]:
    return [
        ("deadline", not run.timed_out),
        ("lost", run.lost == 0),
        ("re-sent after a slow 200", run.resent_after_slow_success == 0),
        ("re-sent after a fast 200", run.resent_after_fast_success == 0),
        ("sent without a 200", run.sent_without_200 == 0),
        ("dead after a 200", run.dead_with_200 == 0),
        ("dead for another reason", run.dead_other == 0),
        ("calls after 10/2018108", run.calls_after_unreachable == 0),
        ("order", run.order_violations == 0),
        ("per-person pacing", run.pacing_violations == 0),
    ]


def throughput_checks(run: Run, cap: float, c_run: Run | None) -> list[tuple[str, bool]]:
    """Print run B's (or D's) figures; ≥ 93% of min(cap, ceiling) and never above the cap."""
    ceiling = c_run.rate if c_run is not None else None
    reference = min(cap, ceiling) if ceiling is not None else cap
    target = THROUGHPUT_SHARE * reference
    checks = [
        ("peak", run.peak <= cap),
        ("throughput", run.rate >= target),
        *common_checks(run),
    ]
    print_run(run, checks)
    if ceiling is None:
        basis = "of the cap; ceiling not measured (run C)"
    elif ceiling < cap:
        basis = (
            f"of min(cap, ceiling) = the machine's ceiling {ceiling:.1f}/s:"
            " this machine cannot reach the cap"
        )
    else:
        basis = f"of the cap (ceiling {ceiling:.1f}/s is above it)"
    print(
        f"    throughput {run.rate:.1f}/s = {run.rate / cap:.1%} of the cap"
        + (f", {run.rate / ceiling:.1%} of the ceiling" if ceiling else "")
        + f"; target ≥ {target:.1f}/s = {THROUGHPUT_SHARE:.0%} {basis}"
    )
    if run.peak < 0.95 * cap:
        print(f"    the cap did not bind here (peak {run.peak} < 95% of {cap:.0f}): CPU-bound")
    if c_run is not None and max(run.cpu_others, c_run.cpu_others) > BUSY:
        print(
            f"    other processes used {run.cpu_others:.0%} of the machine during this run and"
            f" {c_run.cpu_others:.0%} during C: figures compare badly, rerun on a quiet machine"
        )
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--per-person", type=int, default=2, help="messages per person, in order")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cap", type=float, default=CAP, help="rate_limit_per_second")
    parser.add_argument("--lease-seconds", type=int, default=120, help="[worker] lease_seconds")
    parser.add_argument(
        "--per-person-interval",
        type=float,
        default=PER_PERSON_INTERVAL,
        help="[messenger] per_person_interval_seconds (0: no pacing)",
    )
    parser.add_argument(
        "--slow-rate",
        type=float,
        default=SLOW_RATE,
        help="run A: share of calls answered after 7 s",
    )
    parser.add_argument(
        "--short-messages", type=int, default=3000, help="run D's queue (at most --messages)"
    )
    parser.add_argument("--dump", type=Path, help="write each run's calls, rows and logs here")
    parser.add_argument("--runs", default="CBDA", help="which runs, in this order (default CBDA)")
    args = parser.parse_args()
    if not os.environ.get("TEST_DATABASE_URL"):
        print("send workers: skipped (TEST_DATABASE_URL not set; the shared rate needs PostgreSQL)")
        return 0
    if set(args.runs.upper()) - set("ABCD"):
        parser.error("--runs takes the letters A, B, C and D")

    common = {
        "per_person": args.per_person,
        "workers": args.workers,
        "worker_extra": {
            "--lease-seconds": args.lease_seconds,
            "--per-person-interval": args.per_person_interval,
        },
        "dump": args.dump,
    }
    print(
        f"send workers: {args.workers} worker processes on PostgreSQL, real Worker + GraphClient"
        f" → fake Graph API in its own process; {args.messages} invitations,"
        f" {args.per_person} per person; cap {args.cap:.0f}/s"
    )
    started = time.monotonic()
    failed = False
    ceiling: float | None = None
    c_run: Run | None = None
    for label in args.runs.upper():
        # Deadlines: 1.5× the time the drain needs at the slower of the schedule and the ceiling.
        pace = min(args.cap * 0.97, ceiling or args.cap)
        if label == "C":
            run, raw_rate = drain(
                "C (ceiling: no faults, cap lifted to 100,000/s)",
                messages=args.messages,  # a claim costs more with more rows due: same queue as B
                cap=CEILING_CAP,
                faults={},
                deadline_s=args.messages / 25 + 60,
                raw=True,
                **common,
            )
            checks = common_checks(run)
            print_run(run, checks)
            print(
                f"    {'the fake alone, 1 sequential client, calls/s':<48} {raw_rate or 0:>12.0f}"
            )
            ceiling, c_run = run.rate, run
        elif label == "A":
            calls = 1.45 * args.messages  # 28% of calls fail and are retried
            run, _ = drain(
                "A (faults)",
                messages=args.messages,
                cap=args.cap,
                faults={**FAULTS, "--slow-rate": args.slow_rate},
                deadline_s=1.5
                * (calls / pace + calls * args.slow_rate * SLOW_SECONDS / args.workers)
                + 60,
                **common,
            )
            checks = [("peak", run.peak <= args.cap), *common_checks(run)]
            print_run(run, checks)
        elif label == "B":
            run, _ = drain(
                "B (no faults)",
                messages=args.messages,
                cap=args.cap,
                faults={},
                deadline_s=1.5 * args.messages / pace + 60,
                **common,
            )
            checks = throughput_checks(run, args.cap, c_run)
        else:
            # The cap binds only if the workers could go faster: the same drain under a cap
            # below this machine's ceiling (half of it, in tens; at least LOW_CAP_MIN).
            low = max(LOW_CAP_MIN, 10 * ((0.5 * (ceiling or 0.0)) // 10))
            messages = min(args.messages, args.short_messages)
            run, _ = drain(
                f"D (no faults, cap {low:.0f}/s: half the ceiling, at least {LOW_CAP_MIN:.0f})",
                messages=messages,
                cap=low,
                faults={},
                deadline_s=1.5 * messages / (low * 0.97) + 60,
                **common,
            )
            checks = throughput_checks(run, low, c_run)
        failed = failed or not all(ok for _, ok in checks)
    total = time.monotonic() - started
    print(f"  {'result':<50} {'MISSED' if failed else 'OK':>12}   ({total:.0f} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
