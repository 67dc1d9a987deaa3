"""Frozen, validated settings from config.toml + environment.

Every key lives in one of the section dataclasses below; the loader walks them, so a key that is
not declared here is an error, and so is a value of the wrong type. Any scalar key can be set from
the environment as ``CITYHALL_<SECTION>_<KEY>``; ``DATABASE_URL`` sets ``[app] database_url``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.form_columns import column_mapping_problems

DEFAULT_CONFIG_PATH = "config.toml"
SECRET = {"secret": True}
# Keys that were once settings: naming one is an error that says why it went (not "unknown").
REMOVED_KEYS = {
    "verification.auto_approve": "it never approved anything; every application is approved "
    "by a reviewer in the console (delete the line)",
}


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming the key."""


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


DEFAULT_COLUMNS: dict[str, str] = {
    "タイムスタンプ": "timestamp",
    "メールアドレス": "email",
    "氏名": "full_name",
    "氏名（ふりがな）": "kana",
    "Facebookでの登録名": "facebook_name",
    "国家公務員・地方公務員の別": "service_type",
    "所属団体名（例：富山市、国土交通省）": "organization",
    "所属部署": "department",
    "勤務地の都道府県": "prefecture",
    "現在の勤務状況": "employment_status",
    "興味のある分野（課）": "interests",
    "参加条件への同意": "consent",
    "オンライン市役所を知ったきっかけ": "referrer",
}


@dataclass(frozen=True)
class AppSettings:
    database_url: str = "sqlite:///var/cityhall.sqlite3"
    secret_key: str = field(default="", metadata=SECRET)
    base_url: str = "http://127.0.0.1:5000"
    timezone: str = "Asia/Tokyo"
    log_level: str = field(default="INFO", metadata=_choices("DEBUG", "INFO", "WARNING", "ERROR"))
    facebook_group_url: str = "https://www.facebook.com/groups/online.shiyakusho"
    secure_cookies: bool = False
    max_webhook_bytes: int = 256 * 1024
    trusted_proxies: int = 0  # reverse proxies in front (X-Forwarded-For/-Proto hops to trust)
    # the networks (CIDR) those proxies connect from: forwarded headers count only from them
    trusted_proxy_networks: tuple[str, ...] = ()
    templates_dir: str = ""  # overrides for the message templates (bot/messaging/texts)


@dataclass(frozen=True)
class FormsSettings:
    source: str = field(default="csv", metadata=_choices("csv", "sheets"))
    spreadsheet_id: str = ""
    worksheet: str = ""
    csv_path: str = "var/form_responses.csv"
    push_secret: str = field(default="", metadata=SECRET)
    columns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))


@dataclass(frozen=True)
class GoogleSettings:
    service_account_file: str = ""
    service_account_json: str = field(default="", metadata=SECRET)
    timeout_seconds: float = 20.0
    api_base: str = "https://sheets.googleapis.com"  # a local stand-in in acceptance tests


@dataclass(frozen=True)
class MessengerSettings:
    transport: str = field(default="outbox", metadata=_choices("outbox", "graph"))
    page_id: str = ""
    page_username: str = "online.shiyakusho"
    page_token: str = field(default="", metadata=SECRET)
    app_secret: str = field(default="", metadata=SECRET)
    verify_token: str = field(default="", metadata=SECRET)
    graph_api_base: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"
    timeout_seconds: float = 10.0
    rate_limit_per_second: float = 50.0
    # At least this long between two sends to the same person (Meta rate-limits an app that
    # sends too many messages to one thread; it publishes no number): 0 turns pacing off.
    per_person_interval_seconds: float = 1.0
    human_agent_enabled: bool = False
    # The Meta app's id: a message echo from another app id (or none) is a person writing from
    # the Page inbox. Empty: only echoes without an app id count as a person's.
    app_id: str = ""
    human_quiet_hours: float = 24.0  # no automatic replies to free text after a human wrote
    link_attempts_per_person: int = 5  # typed 申込番号 + email checks per PSID in 24 hours
    link_attempts_per_code: int = 5  # … and per 申込番号 in 24 hours
    # Outside the 24-hour window, send invitations and orientation reminders as Page utility
    # template messages (messaging_type UTILITY) once their template is APPROVED. Needs the
    # page_utility_messaging permission; templates are created by `cityhall messenger templates
    # sync`. Off: those messages wait for the person to open the thread.
    utility_templates: bool = False


@dataclass(frozen=True)
class MailSettings:
    transport: str = field(default="outbox", metadata=_choices("outbox", "smtp"))
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = field(default="", metadata=SECRET)
    security: str = field(default="starttls", metadata=_choices("starttls", "ssl", "none"))
    sender: str = "オンライン市役所事務局 <noreply@example.jp>"
    secretariat_address: str = ""
    timeout_seconds: float = 20.0
    # Where replies go (the Reply-To header): a mailbox the secretariat reads. Empty: emails
    # do not invite a reply (the sender is usually a noreply@ address).
    reply_to: str = ""


@dataclass(frozen=True)
class VerificationSettings:
    extra_allowed_domains: tuple[str, ...] = ()
    ineligible_email: str = field(default="notice", metadata=_choices("notice", "none"))
    # exact choice text of the employment-status question → "eligible" | "ineligible" | "review"
    status_choices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsoleSettings:
    page_size: int = 50
    session_idle_minutes: int = 120  # a console session ends after this long without a request
    session_max_hours: int = 12  # … and this long after the login, however busy
    # Login throttling: each account and each client network (IPv4 address, IPv6 /64) gets this
    # many attempts at once, then waits login_delay_seconds, doubling per attempt, up to
    # login_max_delay_minutes; a key is forgotten login_ip_window_minutes after its wait ended.
    login_account_free_attempts: int = 5
    login_ip_max_failures: int = 20  # attempts from one client network before it must wait
    login_ip_window_minutes: int = 15
    login_delay_seconds: int = 30
    login_max_delay_minutes: int = 15
    undo_seconds: int = 30  # an approval can be undone this long; nothing it sends leaves before
    claim_minutes: int = 30  # a reviewer's 「対応中」 claim lapses after this long
    rejection_templates: tuple[str, ...] = (
        "公務員であることが確認できませんでした",
        "組織・部署のアカウントでのお申し込みはお受けしていません",
        "退職された方はご参加いただけません",
    )


@dataclass(frozen=True)
class JobsSettings:
    """Schedules, and how late a missed run may still happen.

    A cron job `<name>` has a catch-up grace `<name>_grace_minutes`: a clock that becomes leader
    runs the job's latest missed run if it was due at most that long ago, else skips it. An
    interval job (the forms poll) always runs its latest missed poll.
    """

    sync_forms_minutes: int = 2
    join_request_reminders: str = "0 10 * * *"  # cron, Asia/Tokyo
    messenger_link_reminders: str = "30 10 * * *"
    orientation: str = "0 9 * * *"
    cohort_rollover: str = "0 9 * * *"
    capacity_alerts: str = "0 * * * *"
    secretariat_digest: str = "0 8 * * *"
    retention: str = "30 3 * * *"
    event_reminders_minutes: int = 5  # the Zoom link before an RSVP'd event ([events])
    join_request_reminders_grace_minutes: int = 24 * 60
    messenger_link_reminders_grace_minutes: int = 24 * 60
    orientation_grace_minutes: int = 6 * 60  # the day's session reminders, before the evening
    cohort_rollover_grace_minutes: int = 24 * 60
    capacity_alerts_grace_minutes: int = 60  # hourly: only the latest
    secretariat_digest_grace_minutes: int = 6 * 60  # a morning digest, not an evening one
    retention_grace_minutes: int = 24 * 60
    lease_seconds: int = 60  # only one clock leads; another takes over within this
    misfire_grace_seconds: int = 0  # no longer used (see the *_grace_minutes keys); warned about
    cohort_lead_days: int = 7  # check next month's cohort group this many days ahead
    capacity_alert_percent: int = 90  # alert when a group is this full


@dataclass(frozen=True)
class RemindersSettings:
    join_request_after_days: int = 3
    join_request_max: int = 2
    join_request_spacing_days: int = 4
    expire_after_days: int = 30
    link_after_days: int = 2
    link_max: int = 2
    apply_url: str = ""  # where to apply again (told when an application expires)


@dataclass(frozen=True)
class OrientationSettings:
    skip_holidays: bool = True
    announce_days: int = 14  # members approved in the last N days hear about sessions
    weekly_name: str = "初めましての方へのオンライン市役所説明会"
    weekly_zoom_url: str = "https://zoom.us/j/0000000000"
    weekly_weekday: int = 4  # Monday=0 … Friday=4
    weekly_start: str = "21:00"
    weekly_end: str = "22:00"
    large_name: str = "大説明会"
    large_zoom_url: str = "https://zoom.us/j/0000000001"
    large_week: int = 3  # the n-th weekly_weekday of the month holds the 大説明会
    study_enabled: bool = True
    study_name: str = "勉強会"
    study_zoom_url: str = "https://zoom.us/j/0000000002"
    study_weekday: int = 5
    study_anchor_date: str = "2026-11-07"  # a Saturday the biweekly series falls on
    study_start: str = "21:00"
    study_end: str = "22:00"
    remind_kinds: tuple[str, ...] = ("weekly", "large")  # sessions new members are reminded of


@dataclass(frozen=True)
class RetentionSettings:
    erase_after_days: int = 180
    job_runs_days: int = 30  # JobRun history kept this long (no personal data in it)
    inbound_days: int = 30  # handled webhook events (PSIDs, message text) kept this long
    consultation_days: int = 180  # anonymous consultations and who sent them, from their sending


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 20
    lease_seconds: int = 120
    max_attempts: int = 8
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 1.0


@dataclass(frozen=True)
class StatsSettings:
    cache_seconds: int = 300  # /stats and /stats.json are recomputed at most this often (0: always)


@dataclass(frozen=True)
class EventsSettings:
    reminder_minutes: int = 60  # those who RSVP'd get the Zoom link this long before the start
    schedule_weeks: int = 8  # 「説明会を予定から作成」 creates the sessions of this many weeks
    series_max: int = 52  # at most this many occurrences in one series made in the console


@dataclass(frozen=True)
class GroupSettings:
    kind: str = field(default="", metadata=_choices("prefecture", "village", "cohort"))
    key: str = ""
    name: str = ""
    invite_url: str = ""
    capacity: int = 250


@dataclass(frozen=True)
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    forms: FormsSettings = field(default_factory=FormsSettings)
    google: GoogleSettings = field(default_factory=GoogleSettings)
    messenger: MessengerSettings = field(default_factory=MessengerSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    reminders: RemindersSettings = field(default_factory=RemindersSettings)
    orientation: OrientationSettings = field(default_factory=OrientationSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    groups: tuple[GroupSettings, ...] = ()
    source: str = "built-in defaults"

    @property
    def tz(self) -> ZoneInfo:
        """The time zone for everything people see."""
        return ZoneInfo(self.app.timezone)

    def replace(self, **sections: Any) -> Settings:
        """Return a copy with some sections or keys replaced (for tests and the demo)."""
        return dataclasses.replace(self, **sections)


SECTIONS: dict[str, type] = {
    "app": AppSettings,
    "forms": FormsSettings,
    "google": GoogleSettings,
    "messenger": MessengerSettings,
    "mail": MailSettings,
    "verification": VerificationSettings,
    "worker": WorkerSettings,
    "console": ConsoleSettings,
    "jobs": JobsSettings,
    "reminders": RemindersSettings,
    "orientation": OrientationSettings,
    "retention": RetentionSettings,
    "stats": StatsSettings,
    "events": EventsSettings,
}


def _coerce(key: str, value: Any, annotation: Any, *, from_env: bool) -> Any:
    """Check (and for environment strings, parse) one value against its declared type."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.strip().lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.strip().lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env:
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
        raise ConfigError(f"{key}: expected a table of strings, got {value!r}")
    raise ConfigError(f"{key}: unsupported setting type")  # pragma: no cover - schema bug


def _build(cls: type, section: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Build one section dataclass from its TOML table and the environment."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name in raw:
        if f"{section}.{name}" in REMOVED_KEYS:
            raise ConfigError(f"{section}.{name}: removed: {REMOVED_KEYS[f'{section}.{name}']}")
        if name not in known:
            raise ConfigError(f"{section}.{name}: unknown key")
    for key, why in REMOVED_KEYS.items():
        env_name = "CITYHALL_" + key.replace(".", "_").upper()
        if key.startswith(f"{section}.") and env_name in env:
            raise ConfigError(f"{env_name}: removed: {why}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = f"{section}.{name}"
        env_name = f"CITYHALL_{section.upper()}_{name.upper()}"
        if section == "app" and name == "database_url" and env.get("DATABASE_URL"):
            values[name] = env["DATABASE_URL"]
        elif env_name in env and typing.get_origin(hints[name]) is not dict:
            values[name] = _coerce(env_name, env[env_name], hints[name], from_env=True)
        elif name in raw:
            values[name] = _coerce(key, raw[name], hints[name], from_env=False)
        else:
            continue
        choices = f.metadata.get("choices")
        if choices and values[name] not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {values[name]!r}")
    return cls(**values)


def _require(settings: Settings) -> None:
    """Refuse a real transport whose secrets are missing, and other cross-key mistakes."""
    need: list[tuple[bool, str, str]] = []
    real = False
    if settings.messenger.transport == "graph":
        real = True
        need += [
            (bool(settings.messenger.page_token), "messenger.page_token", "graph transport"),
            (bool(settings.messenger.app_secret), "messenger.app_secret", "graph transport"),
            (bool(settings.messenger.verify_token), "messenger.verify_token", "graph transport"),
            (bool(settings.messenger.page_id), "messenger.page_id", "graph transport"),
        ]
    if settings.mail.transport == "smtp":
        real = True
        need.append((bool(settings.mail.host), "mail.host", "smtp transport"))
        if settings.mail.username:
            need.append((bool(settings.mail.password), "mail.password", "smtp login"))
    if settings.forms.source == "sheets":
        real = True
        need.append((bool(settings.forms.spreadsheet_id), "forms.spreadsheet_id", "sheets source"))
        has_key = bool(settings.google.service_account_file or settings.google.service_account_json)
        need.append(
            (
                has_key,
                "google.service_account_file",
                "sheets source (or env CITYHALL_GOOGLE_SERVICE_ACCOUNT_JSON)",
            )
        )
    if real:
        need.append((bool(settings.app.secret_key), "app.secret_key", "a production set-up"))
    for ok, key, why in need:
        if not ok:
            raise ConfigError(
                f"{key}: required for the {why}; set it in config.toml or "
                f"CITYHALL_{key.replace('.', '_').upper()}"
            )
    for choice, meaning in settings.verification.status_choices.items():
        if meaning not in ("eligible", "ineligible", "review"):
            raise ConfigError(
                f"verification.status_choices.{choice!r}: must be eligible, ineligible or "
                f"review, got {meaning!r}"
            )
    _check_console(settings)
    _check_events(settings)
    m = settings.messenger
    for key in ("human_quiet_hours", "per_person_interval_seconds"):
        if getattr(m, key) < 0:
            raise ConfigError(f"messenger.{key}: must be 0 or more")
    if settings.retention.consultation_days < 1:
        raise ConfigError("retention.consultation_days: must be at least 1")
    if settings.stats.cache_seconds < 0:
        raise ConfigError("stats.cache_seconds: must be 0 or more")
    for key in ("link_attempts_per_person", "link_attempts_per_code"):
        if getattr(m, key) < 1:
            raise ConfigError(f"messenger.{key}: must be at least 1")
    try:
        ZoneInfo(settings.app.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"app.timezone: unknown time zone {settings.app.timezone!r}") from None
    problems = column_mapping_problems(settings.forms.columns)
    if problems:
        raise ConfigError(problems[0])


def _check_events(settings: Settings) -> None:
    """Refuse event settings the reminder job and the console cannot use."""
    e = settings.events
    if not 1 <= e.reminder_minutes <= 24 * 60:
        raise ConfigError("events.reminder_minutes: expected 1 to 1440")
    if not 1 <= e.schedule_weeks <= 26:
        raise ConfigError("events.schedule_weeks: expected 1 to 26")
    if not 1 <= e.series_max <= 200:
        raise ConfigError("events.series_max: expected 1 to 200")


def _check_console(settings: Settings) -> None:
    """Refuse proxy and login settings that would weaken the console without saying so."""
    app, console = settings.app, settings.console
    if app.trusted_proxies < 0:
        raise ConfigError("app.trusted_proxies: must be 0 or more")
    for network in app.trusted_proxy_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"app.trusted_proxy_networks: {network!r} is not a network (e.g. 10.0.0.0/8)"
            ) from None
    if app.trusted_proxies and not app.trusted_proxy_networks:
        raise ConfigError(
            "app.trusted_proxies: X-Forwarded-For is now trusted only from the proxies' own "
            'networks; list them in app.trusted_proxy_networks (e.g. ["10.0.0.0/8"]), or set '
            "trusted_proxies = 0"
        )
    if app.trusted_proxy_networks and not app.trusted_proxies:
        raise ConfigError(
            "app.trusted_proxy_networks: set app.trusted_proxies to the number of proxies in "
            "front (1 behind one router), or remove the networks"
        )
    for key in (
        "session_idle_minutes",
        "session_max_hours",
        "login_account_free_attempts",
        "login_ip_max_failures",
        "login_ip_window_minutes",
        "login_delay_seconds",
        "login_max_delay_minutes",
    ):
        if getattr(console, key) < 1:
            raise ConfigError(f"console.{key}: must be at least 1")
    if console.undo_seconds < 0:
        raise ConfigError("console.undo_seconds: must be 0 or more (0: no undo window)")
    if console.claim_minutes < 1:
        raise ConfigError("console.claim_minutes: must be at least 1")


# The embedded demo's public values: `cityhall messenger simulate` signs with them, so anyone
# can. They stand in for unset secrets only while every transport is local (the embedded demo).
DEMO_APP_SECRET = "cityhall-demo-app-secret"
DEMO_VERIFY_TOKEN = "cityhall-demo-verify-token"
MIN_SECRET_KEY_LENGTH = 32
# Values seen in examples and tutorials: long enough for some, secret for none.
KNOWN_SECRET_KEYS = frozenset(
    {
        DEMO_APP_SECRET,
        DEMO_VERIFY_TOKEN,
        "change-me",
        "changeme",
        "secret",
        "dev",
        "development",
        "test",
        "test-secret",
        "cityhall",
        "your-secret-key",
        "replace-with-a-long-random-string",
    }
)


def is_embedded_demo(settings: Settings) -> bool:
    """Whether the set-up is the embedded demo: Messenger and mail outboxes and a CSV form.

    Such a set-up sends nothing and reads no live form; any real transport makes it a
    deployment, where the demo's public secrets and a weak `secret_key` are refused.
    """
    return (
        settings.messenger.transport == "outbox"
        and settings.mail.transport == "outbox"
        and settings.forms.source == "csv"
    )


def weak_secret_key(key: str) -> bool:
    """Whether a session-signing key is guessable: short, a known example, or one repeated run."""
    if len(key) < MIN_SECRET_KEY_LENGTH or key.strip().lower() in KNOWN_SECRET_KEYS:
        return True
    return len(set(key)) < 8


def check_deployment_secrets(settings: Settings) -> None:
    """Refuse, at a process's start, the demo's public secrets and a weak `secret_key`.

    The embedded demo (see `is_embedded_demo`) may use them; a deployment may not.
    """
    if is_embedded_demo(settings):
        return
    public = {DEMO_APP_SECRET, DEMO_VERIFY_TOKEN}
    for key, value in (
        ("messenger.app_secret", settings.messenger.app_secret),
        ("messenger.verify_token", settings.messenger.verify_token),
        ("forms.push_secret", settings.forms.push_secret),
        ("app.secret_key", settings.app.secret_key),
    ):
        if value in public:
            raise ConfigError(
                f"{key}: is the embedded demo's public value; set a secret of your own "
                f"(CITYHALL_{key.replace('.', '_').upper()})"
            )
    if weak_secret_key(settings.app.secret_key):
        raise ConfigError(
            f"app.secret_key: too weak for a deployment; use at least {MIN_SECRET_KEY_LENGTH} "
            "random characters (python -c 'import secrets; print(secrets.token_hex(32))')"
        )


def parse_settings(
    raw: Mapping[str, Any], env: Mapping[str, str] | None = None, source: str = "built-in defaults"
) -> Settings:
    """Validate a parsed TOML document (plus environment) into Settings."""
    env = os.environ if env is None else env
    for name in raw:
        if name not in SECTIONS and name != "groups":
            raise ConfigError(f"{name}: unknown section")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a table")
        sections[name] = _build(cls, name, table, env)
    groups_raw = raw.get("groups", [])
    if not isinstance(groups_raw, list):
        raise ConfigError("groups: expected an array of tables ([[groups]])")
    groups = []
    for i, g in enumerate(groups_raw):
        if not isinstance(g, dict):
            raise ConfigError(f"groups[{i}]: expected a table")
        group = _build(GroupSettings, f"groups[{i}]", g, {})
        for required in ("kind", "key", "name"):
            if not getattr(group, required):
                raise ConfigError(f"groups[{i}].{required}: required")
        if group.capacity < 1:
            raise ConfigError(f"groups[{i}].capacity: must be at least 1")
        groups.append(group)
    settings = Settings(**sections, groups=tuple(groups), source=source)
    _require(settings)
    return settings


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Load settings from `path`, $CITYHALL_CONFIG or ./config.toml; defaults when absent."""
    env = os.environ if env is None else env
    explicit = path is not None or "CITYHALL_CONFIG" in env
    chosen = Path(path or env.get("CITYHALL_CONFIG") or DEFAULT_CONFIG_PATH)
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"config file {chosen}: not found")
        return parse_settings({}, env)
    try:
        raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {chosen}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {chosen}: cannot read: {exc}") from None
    return parse_settings(raw, env, source=str(chosen))
