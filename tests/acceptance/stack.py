"""One production set-up of cityhall on loopback: config, fakes, processes, and ways to drive it.

`config.toml` is derived from the repository's `config.example.toml`: only what must differ on a
test machine is overridden (database, addresses of the fakes, the service-account key, a
one-minute form poll, plain cookies over http, the groups of this month); every secret comes
from the environment as CITYHALL_<SECTION>_<KEY>, as in production.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import shlex
import socket
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import requests

from tests.acceptance import toml_writer
from tests.acceptance.fake_google import FakeGoogle, serial
from tests.acceptance.fake_graph import FakeGraph
from tests.acceptance.fake_smtp import FakeSmtp
from tests.acceptance.processes import CliRun, ProcessSet, venv_bin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.toml"
TOKYO = ZoneInfo("Asia/Tokyo")
T = TypeVar("T")


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cohort_key(now: datetime | None = None) -> str:
    """This month's cohort group key (入庁同期), in Asia/Tokyo."""
    return (now or datetime.now(TOKYO)).astimezone(TOKYO).strftime("%Y-%m")


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupSpec:
    """A group as configured ([[groups]]) or added in the console."""

    kind: str
    key: str
    name: str
    invite_url: str
    capacity: int


def default_groups(run_id: str) -> list[GroupSpec]:
    """富山県's chat, the 村 group and this month's cohort chat, each with its own https link."""
    month = cohort_key()
    year, mon = month.split("-")
    return [
        GroupSpec(
            "prefecture",
            "富山県",
            "富山県メッセンジャーグループ",
            f"https://m.me/j/Toyama{run_id}/",
            250,
        ),
        GroupSpec(
            "village",
            "village",
            "村Facebookグループ",
            f"https://www.facebook.com/groups/village.{run_id}",
            100000,
        ),
        GroupSpec(
            "cohort",
            month,
            f"{year}年{int(mon)}月入庁同期",
            f"https://m.me/j/Cohort{run_id}/",
            250,
        ),
    ]


def derive_config(
    example: dict[str, Any],
    *,
    database_url: str,
    base_url: str,
    google: FakeGoogle,
    graph: FakeGraph,
    smtp: FakeSmtp,
    service_account_file: Path,
    groups: list[GroupSpec],
) -> dict[str, Any]:
    """The example configuration with the test machine's differences applied."""
    doc = copy.deepcopy(example)
    for section in ("app", "forms", "google", "messenger", "mail", "jobs"):
        doc.setdefault(section, {})
    production = {
        "forms.source": doc["forms"].get("source"),
        "messenger.transport": doc["messenger"].get("transport"),
        "mail.transport": doc["mail"].get("transport"),
    }
    assert production == {
        "forms.source": "sheets",
        "messenger.transport": "graph",
        "mail.transport": "smtp",
    }, f"config.example.toml no longer shows the production transports: {production}"
    doc["app"]["database_url"] = database_url
    doc["app"]["base_url"] = base_url
    doc["app"]["secure_cookies"] = False  # the console is reached over plain http on loopback
    doc["forms"]["spreadsheet_id"] = google.spreadsheet_id
    doc["forms"]["worksheet"] = google.worksheet
    doc["google"]["service_account_file"] = str(service_account_file)
    # gspread's Sheets URLs are fixed to https://sheets.googleapis.com; [google] api_base
    # replaces that origin (added to cityhall for this purpose).
    doc["google"]["api_base"] = google.base_url
    doc["messenger"]["graph_api_base"] = graph.base_url
    doc["mail"].update(host="127.0.0.1", port=smtp.port, security="none", username="")
    doc["mail"].pop("password", None)
    doc["jobs"]["sync_forms_minutes"] = 1  # the smallest interval the schedule allows
    doc["groups"] = [
        {
            "kind": g.kind,
            "key": g.key,
            "name": g.name,
            "invite_url": g.invite_url,
            "capacity": g.capacity,
        }
        for g in groups
    ]
    return doc


# -- form rows -------------------------------------------------------------------------------------
def form_row(header: list[str], columns: dict[str, str], **answers: Any) -> list[Any]:
    """One sheet row in `header` order from field-name answers (timestamp: a local datetime)."""
    by_field = {
        "timestamp": serial(datetime.now(TOKYO).replace(tzinfo=None) - timedelta(minutes=1)),
        "email": "",
        "full_name": "屋敷 昌範",
        "kana": "やしき まさのり",
        "facebook_name": "Masanori Yashiki",
        "service_type": "地方公務員",
        "organization": "富山市",
        "department": "企画管理部企画調整課",
        "prefecture": "富山県",
        "employment_status": "在職中（正規職員）",
        "interests": "ライティング課, 図解・グラレコ課",
        "consent": "同意します",
        "referrer": "同僚の紹介",
    }
    for name, value in answers.items():
        if name not in by_field:
            raise KeyError(f"unknown form field {name!r}")
        by_field[name] = serial(value) if isinstance(value, datetime) else value
    return [by_field.get(columns.get(title, ""), "") for title in header]


# -- the running set-up ----------------------------------------------------------------------------
class WaitTimeout(AssertionError):
    """A deadline passed while waiting for something to happen."""


@dataclass
class Console:
    """The secretariat's web console, spoken to over HTTP like a browser would."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # loopback only, whatever proxies the shell has

    def _csrf(self, path: str) -> tuple[str, str]:
        page = self.session.get(self.base_url + path, timeout=10)
        assert page.status_code == 200, f"GET {path}: HTTP {page.status_code}\n{page.text[:500]}"
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"GET {path}: no CSRF token in the page\n{page.text[:1000]}"
        return match.group(1), page.text

    def login(self, name: str, password: str) -> None:
        token, _ = self._csrf("/console/login")
        answer = self.session.post(
            self.base_url + "/console/login",
            data={"csrf_token": token, "name": name, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code in (302, 303), (
            f"console login as {name!r}: HTTP {answer.status_code}\n{answer.text[:800]}"
        )

    def approve(self, code: str) -> str:
        """Press 承認する on the application's page; return the page shown afterwards."""
        path = f"/console/applications/{code}"
        token, page = self._csrf(path)
        assert f"{path}/approve" in page and "承認する" in page, (
            f"{path} offers no approve button\n{page[:1500]}"
        )
        answer = self.session.post(
            self.base_url + f"{path}/approve",
            data={"csrf_token": token},
            timeout=15,
        )
        assert answer.status_code == 200, f"approve {code}: HTTP {answer.status_code}"
        assert f"1 件を承認しました: {code}" in answer.text, (
            f"approve {code}: no confirmation on the page\n{_flashes(answer.text)}"
        )
        return answer.text

    def add_group(self, group: GroupSpec) -> str:
        """Add a group with the form of /console/groups; return the page shown afterwards."""
        token, _ = self._csrf("/console/groups")
        answer = self.session.post(
            self.base_url + "/console/groups",
            data={
                "csrf_token": token,
                "kind": group.kind,
                "key": group.key,
                "name": group.name,
                "invite_url": group.invite_url,
                "capacity": str(group.capacity),
                "seats_used": "0",
                "active": "1",
            },
            timeout=15,
        )
        assert answer.status_code == 200, (
            f"add group {group.key}: HTTP {answer.status_code}\n{_flashes(answer.text)}"
        )
        assert f"グループ「{group.name}」を追加しました" in answer.text, (
            f"add group {group.key}: no confirmation\n{_flashes(answer.text)}"
        )
        return answer.text


def _flashes(html: str) -> str:
    found = re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', html, flags=re.S)
    return "flash messages: " + (" | ".join(f.strip() for f in found) or "(none)")


@dataclass
class Stack:
    """Everything one acceptance test runs against."""

    workdir: Path
    google: FakeGoogle
    graph: FakeGraph
    smtp: FakeSmtp
    procs: ProcessSet
    config: dict[str, Any]
    config_path: Path
    secrets: dict[str, str]
    web_url: str
    groups: list[GroupSpec]
    timings: dict[str, float] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # name -> password
    _problem_marks: tuple[int, int] = (0, 0)

    # -- waiting ---------------------------------------------------------------------------------
    def wait_for(
        self,
        what: str,
        check: Callable[[], T],
        *,
        timeout: float = 30,
        interval: float = 0.25,
        describe: Callable[[], str] | None = None,
    ) -> T:
        """Poll `check` until it returns something truthy; fail with context at the deadline."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            result = check()
            if result:
                self.timings[what] = round(time.monotonic() - started, 2)
                return result
            gone = self.procs.exited()
            if gone:
                raise WaitTimeout(f"while waiting for {what}: process(es) ended: {', '.join(gone)}")
            if time.monotonic() >= deadline:
                seen = describe() if describe else repr(result)
                raise WaitTimeout(f"{what}: not within {timeout:.0f} s; last seen: {seen}")
            time.sleep(interval)

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            try:
                answer = requests.get(self.web_url + "/healthz", timeout=2)
            except requests.RequestException:
                return False
            return answer.status_code == 200 and answer.json().get("database") == "ok"

        self.wait_for("GET /healthz answers 200", healthy, timeout=timeout, interval=0.2)

    # -- the outside world's moves -----------------------------------------------------------------
    @property
    def columns(self) -> dict[str, str]:
        return dict(self.config["forms"]["columns"])

    def add_form_row(self, **answers: Any) -> int:
        """A new response lands in the sheet; return its sheet row number."""
        return self.google.add_row(form_row(self.google.header, self.columns, **answers))

    def push_form_row(self, row_number: int) -> requests.Response:
        """What the Apps Script trigger does on submit: POST the row's display values, signed."""
        with self.google.lock:
            cells = list(self.google.rows[row_number - 2])
        named: dict[str, list[str]] = {}
        for title, cell in zip(self.google.header, cells, strict=True):
            named.setdefault(title, []).append(_display(cell))
        body = json.dumps(
            {"namedValues": named, "timestamp": int(time.time())}, ensure_ascii=False
        ).encode("utf-8")
        signature = hmac.new(
            self.secrets["CITYHALL_FORMS_PUSH_SECRET"].encode(), body, hashlib.sha256
        ).hexdigest()
        return requests.post(
            self.web_url + "/webhooks/forms",
            data=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Cityhall-Signature": f"sha256={signature}",
            },
            timeout=15,
        )

    def messenger_webhook(self, items: list[dict[str, Any]]) -> requests.Response:
        """POST a signed Messenger webhook batch (one entry) to gunicorn."""
        page_id = str(self.config["messenger"]["page_id"])
        body = json.dumps(
            {
                "object": "page",
                "entry": [{"id": page_id, "time": _now_ms(), "messaging": items}],
            },
            ensure_ascii=False,
        ).encode("utf-8")
        signature = hmac.new(
            self.secrets["CITYHALL_MESSENGER_APP_SECRET"].encode(), body, hashlib.sha256
        ).hexdigest()
        return requests.post(
            self.web_url + "/webhooks/messenger",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": f"sha256={signature}",
            },
            timeout=10,
        )

    def open_m_me_link(self, psid: str, ref: str, *, new_thread: bool) -> requests.Response:
        """The person opens their m.me link: Get Started with a referral (new thread) or a
        `messaging_referrals` event (existing thread)."""
        page_id = str(self.config["messenger"]["page_id"])
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        item: dict[str, Any] = {
            "sender": {"id": psid},
            "recipient": {"id": page_id},
            "timestamp": _now_ms(),
        }
        if new_thread:
            item["postback"] = {
                "title": "スタート",
                "payload": "GET_STARTED",
                "mid": f"m_pb_{secrets.token_hex(8)}",
                "referral": referral,
            }
        else:
            item["referral"] = referral
        return self.messenger_webhook([item])

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliRun:
        return self.procs.cli(*args, stdin=stdin, timeout=timeout)

    def cli_ok(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliRun:
        run = self.cli(*args, stdin=stdin, timeout=timeout)
        assert run.returncode == 0, run.describe()
        return run

    def show(self, code: str) -> dict[str, Any]:
        """`cityhall applications show CODE --json`."""
        return dict(json.loads(self.cli_ok("applications", "show", code, "--json").stdout))

    def add_user(self, name: str, role: str) -> str:
        """`cityhall users add NAME --role ROLE --password-stdin` (once); return the password."""
        if name not in self.users:
            password = secrets.token_urlsafe(18)
            self.cli_ok(
                "users", "add", name, "--role", role, "--password-stdin", stdin=password + "\n"
            )
            self.users[name] = password
        return self.users[name]

    def console(self, name: str, password: str) -> Console:
        console = Console(self.web_url)
        console.login(name, password)
        return console

    def mail_to(self, address: str) -> list[Any]:
        return self.smtp.mails(to=address)

    def mark_problems(self) -> None:
        """Count only what the fakes object to from now on (the set-up is shared by tests)."""
        self._problem_marks = (len(self.google.problems), len(self.graph.problems))

    def problems(self) -> list[str]:
        """What the fakes saw (since the mark) that the real services would have refused."""
        google, graph = self._problem_marks
        return [f"google: {p}" for p in self.google.problems[google:]] + [
            f"graph: {p}" for p in self.graph.problems[graph:]
        ]


def _display(cell: Any) -> str:
    """A cell as Sheets displays it (getDisplayValues): serial date-times as 2026/11/20 9:30:00."""
    if isinstance(cell, float):
        local = datetime(1899, 12, 30) + timedelta(days=cell)
        local = local.replace(microsecond=0)
        return f"{local.year}/{local.month}/{local.day} {local.hour}:{local:%M:%S}"
    return str(cell)


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- building and starting ---------------------------------------------------------------------
def load_example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def process_env(
    base: dict[str, str], config_path: Path, secret_env: dict[str, str]
) -> dict[str, str]:
    """The environment of every cityhall process: no inherited cityhall settings or proxies.

    HTTPS_PROXY points at a closed loopback port (NO_PROXY exempts loopback): an https request
    to anywhere but the fakes fails at once instead of trying to leave the machine.
    """
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith("CITYHALL_")
        and k.upper() not in {"DATABASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    }
    env.update(secret_env)
    env["CITYHALL_CONFIG"] = str(config_path)
    env["HTTPS_PROXY"] = env["https_proxy"] = f"http://127.0.0.1:{free_port()}"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def secret_environment() -> dict[str, str]:
    return {
        "CITYHALL_APP_SECRET_KEY": secrets.token_urlsafe(32),
        "CITYHALL_MESSENGER_PAGE_TOKEN": "EAAB" + secrets.token_urlsafe(40),
        "CITYHALL_MESSENGER_APP_SECRET": secrets.token_hex(16),
        "CITYHALL_MESSENGER_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "CITYHALL_FORMS_PUSH_SECRET": secrets.token_urlsafe(24),
    }


def build_stack(workdir: Path, database_url: str, base_env: dict[str, str]) -> Stack:
    """Start the fakes and write the configuration (no cityhall process yet)."""
    example = load_example()
    run_id = secrets.token_hex(4)
    secret_env = secret_environment()
    google = FakeGoogle(
        worksheet=str(example.get("forms", {}).get("worksheet") or "フォームの回答 1"),
        header=list(example["forms"]["columns"]),
    )
    google.start()
    graph = FakeGraph(
        version=str(example["messenger"]["graph_api_version"]),
        page_token=secret_env["CITYHALL_MESSENGER_PAGE_TOKEN"],
        app_secret=secret_env["CITYHALL_MESSENGER_APP_SECRET"],
    )
    graph.start()
    smtp = FakeSmtp().start()
    web_url = f"http://127.0.0.1:{free_port()}"
    groups = default_groups(run_id)
    key_file = google.write_service_account(workdir / "service-account.json")
    config = derive_config(
        example,
        database_url=database_url,
        base_url=web_url,
        google=google,
        graph=graph,
        smtp=smtp,
        service_account_file=key_file,
        groups=groups,
    )
    config_path = workdir / "config.toml"
    text = toml_writer.dumps(config)
    for name, value in secret_env.items():
        assert value not in text, f"{name} leaked into config.toml"
    config_path.write_text(text, encoding="utf-8")
    return Stack(
        workdir=workdir,
        google=google,
        graph=graph,
        smtp=smtp,
        procs=ProcessSet(workdir, process_env(base_env, config_path, secret_env)),
        config=config,
        config_path=config_path,
        secrets=secret_env,
        web_url=web_url,
        groups=groups,
    )


def procfile_command(process: str, **env: str) -> list[str]:
    """The Procfile's command line of `process`, its ${VAR:-default}s filled from `env`, with
    the venv's executables (what a platform runs, not a copy of it)."""
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            filled = re.sub(
                r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), command
            )
            words = shlex.split(filled)
            return [venv_bin(words[0]), *words[1:]]
    raise AssertionError(f"no {process!r} process in the Procfile")


def start_processes(stack: Stack) -> None:
    """release (db upgrade), then web (gunicorn as in the Procfile), worker and clock."""
    started = time.monotonic()
    stack.cli_ok("db", "upgrade", timeout=120)
    stack.timings["db upgrade"] = round(time.monotonic() - started, 2)
    port = stack.web_url.rsplit(":", 1)[1]
    stack.procs.start("web", procfile_command("web", PORT=port, WEB_CONCURRENCY="2"))
    stack.procs.start("worker", procfile_command("worker"))
    stack.procs.start("clock", procfile_command("clock"))
    stack.wait_healthy()
    stack.timings["start-up"] = round(time.monotonic() - started, 2)


def stop(stack: Stack) -> None:
    stack.procs.stop_all()
    stack.google.stop()
    stack.graph.stop()
    stack.smtp.stop()
