"""The product's processes as real subprocesses: started, watched, always stopped.

Each process writes stdout and stderr to files in the test's folder (never a pipe that could
fill up and block it); `tails()` gives the end of each for a failure report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def venv_bin(name: str) -> str:
    """The path of a console script in the project's virtualenv."""
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make test` once to create the venv")
    return str(path)


@dataclass
class Started:
    """One long-running process."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


@dataclass
class CliRun:
    """One finished CLI command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"`{' '.join(self.argv)}` exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )


@dataclass
class ProcessSet:
    """The processes of one test, with the environment they share."""

    workdir: Path
    env: dict[str, str]
    started: list[Started] = field(default_factory=list)
    cli_runs: list[CliRun] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> Started:
        """Start a long-running process in its own session (so its children stop with it)."""
        out = self.workdir / f"{name}.stdout.log"
        err = self.workdir / f"{name}.stderr.log"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        proc = Started(name, argv, popen, out, err)
        self.started.append(proc)
        return proc

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliRun:
        """Run `cityhall ARGS…` to completion and return what it printed."""
        argv = [venv_bin("cityhall"), *args]
        done = subprocess.run(
            argv,
            cwd=self.workdir,
            env=self.env,
            input=(stdin or "").encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        run = CliRun(
            argv=["cityhall", *args],
            returncode=done.returncode,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=done.stderr.decode("utf-8", "replace"),
        )
        self.cli_runs.append(run)
        return run

    def exited(self) -> list[str]:
        """Long-running processes that are no longer running, with their exit status."""
        return [
            f"{p.name} (exit {p.popen.returncode})"
            for p in self.started
            if p.popen.poll() is not None
        ]

    def stop_all(self, grace: float = 10) -> None:
        """SIGTERM every process (its whole group), wait `grace` seconds, then SIGKILL.

        Groups are only signalled before their leader is reaped, so the group id is still ours.
        """
        for p in self.started:
            if p.popen.poll() is None:
                _signal_group(p.popen, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.started:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.popen, signal.SIGKILL)
                p.popen.wait(timeout=5)

    def mark(self) -> dict[str, int]:
        """Where every log (and the list of CLI runs) stands now, for `tails(since=…)`."""
        marks = {"cli": len(self.cli_runs)}
        for p in self.started:
            for path in (p.stderr, p.stdout):
                marks[str(path)] = path.stat().st_size if path.exists() else 0
        return marks

    def tails(self, lines: int = 40, since: dict[str, int] | None = None) -> str:
        """The last lines of every process's stderr and stdout (written after `since`), and
        the CLI runs that failed."""
        since = since or {}
        parts: list[str] = []
        for p in self.started:
            status = "running" if p.popen.poll() is None else f"exit {p.popen.returncode}"
            for label, path in (("stderr", p.stderr), ("stdout", p.stdout)):
                if not path.exists():
                    continue
                with path.open("rb") as f:
                    f.seek(since.get(str(path), 0))
                    text = f.read().decode("utf-8", "replace")
                if text.strip():
                    tail = "\n".join(text.splitlines()[-lines:])
                    parts.append(f"===== {p.name} ({status}) {label}, last {lines} lines =====")
                    parts.append(tail)
        for run in self.cli_runs[since.get("cli", 0) :]:
            if run.returncode != 0:
                parts.append(f"===== failed CLI run =====\n{run.describe()}")
        return "\n".join(parts)


def _signal_group(popen: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    try:
        os.killpg(popen.pid, signum)  # start_new_session: the group id is the child's pid
    except (ProcessLookupError, PermissionError):
        pass
