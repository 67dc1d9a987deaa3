"""Demo secrets stay in the demo; a deployment starts only with secrets of its own, and HSTS."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import create_app
from bot.bootstrap import build_runtime
from bot.config import (
    DEMO_APP_SECRET,
    DEMO_VERIFY_TOKEN,
    ConfigError,
    Settings,
    check_deployment_secrets,
    parse_settings,
)
from bot.db import Database
from bot.messenger_commands import simulated_event
from bot.webhooks.signature import sign
from integrations.csv_source import CsvFormSource
from integrations.local import LocalMailer, LocalMessenger

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "8f0c5b1e9a7d4c2e6b3a0f9d8c7b6a5e4d3c2b1a"
# A deployment waiting for App Review: real mail and Sheets, Messenger still on the outbox.
WAITING_FOR_REVIEW = {
    "app": {"secret_key": STRONG_KEY},
    "mail": {"transport": "smtp", "host": "smtp.example.jp"},
    "forms": {"source": "sheets", "spreadsheet_id": "sheet", "push_secret": "push-secret-x"},
    "google": {"service_account_json": "{}"},
}


def deployment(**changes: dict[str, Any]) -> Settings:
    raw = {k: dict(v) for k, v in WAITING_FOR_REVIEW.items()}
    for section, values in changes.items():
        raw.setdefault(section, {}).update(values)
    return parse_settings(raw, env={})


# -- start-up ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("messenger", "app_secret", DEMO_APP_SECRET),
        ("messenger", "verify_token", DEMO_VERIFY_TOKEN),
        ("forms", "push_secret", DEMO_APP_SECRET),
        ("app", "secret_key", DEMO_VERIFY_TOKEN),
    ],
)
def test_deployment_with_a_demo_secret_is_refused_naming_the_key(
    section: str, key: str, value: str
) -> None:
    with pytest.raises(ConfigError) as err:
        check_deployment_secrets(deployment(**{section: {key: value}}))
    message = str(err.value)
    assert message.startswith(f"{section}.{key}: is the embedded demo's public value")
    assert "\n" not in message and value not in message


@pytest.mark.parametrize(
    "weak",
    ["k", "test-secret", "x" * 31, "a" * 64, "change-me", "0123401234012340123401234"],
)
def test_deployment_with_a_weak_secret_key_is_refused(weak: str) -> None:
    with pytest.raises(ConfigError, match=r"^app\.secret_key: too weak for a deployment"):
        check_deployment_secrets(deployment(app={"secret_key": weak}))


def test_deployment_with_strong_secrets_of_its_own_starts() -> None:
    check_deployment_secrets(deployment())


def test_embedded_demo_may_use_the_demo_values_and_a_short_key() -> None:
    settings = parse_settings(
        {"app": {"secret_key": "k"}, "messenger": {"app_secret": DEMO_APP_SECRET}}, env={}
    )
    check_deployment_secrets(settings)  # all transports local: nothing real to protect


def cityhall(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


def test_worker_refuses_a_weak_secret_key_in_one_line_exit_2(tmp_path: Path) -> None:
    config = (
        '[app]\nsecret_key = "short-but-set"\n'
        '[mail]\ntransport = "smtp"\nhost = "smtp.example.jp"\n'
    )
    proc = cityhall(tmp_path, config, "worker", "--once")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cityhall: config error: app.secret_key: too weak for a deployment; use at least 32 "
        "random characters (python -c 'import secrets; print(secrets.token_hex(32))')"
    ]
    assert "short-but-set" not in proc.stderr


def test_example_config_starts_with_strong_secrets(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "app": {"secret_key": STRONG_KEY},
            "messenger": {
                "transport": "graph",
                "page_token": "t",
                "app_secret": "s",
                "verify_token": "v",
                "page_id": "1",
            },
        },
        env={},
    )
    check_deployment_secrets(settings)


def test_web_entry_point_refuses_a_demo_verify_token_and_exits_4(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.app import APP_LOAD_ERROR

    settings = deployment(messenger={"verify_token": DEMO_VERIFY_TOKEN})
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit) as ended:
        create_app(settings)
    assert ended.value.code == APP_LOAD_ERROR
    assert "messenger.verify_token: is the embedded demo's public value" in caplog.text


# -- the webhook ---------------------------------------------------------------------------------
def webhook_client(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    runtime = build_runtime(
        settings,
        db=database,
        messenger=LocalMessenger(),
        mailer=LocalMailer(),
        form_source=CsvFormSource("unused.csv"),
    )
    return create_app(runtime=runtime).test_client()


def signed_event(secret: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(simulated_event("psid-1", page_id="1000", text="hello")).encode()
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret)}


def test_webhook_without_an_app_secret_outside_the_demo_answers_503(database: Database) -> None:
    client = webhook_client(deployment(), database)
    raw, headers = signed_event(DEMO_APP_SECRET)
    answer = client.post("/webhooks/messenger", data=raw, headers=headers)
    assert answer.status_code == 503
    handshake = client.get(
        "/webhooks/messenger",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": DEMO_VERIFY_TOKEN,
            "hub.challenge": "42",
        },
    )
    assert handshake.status_code == 503 and b"42" not in handshake.data


def test_embedded_demo_webhook_takes_the_simulators_demo_signature(
    settings: Settings, database: Database
) -> None:
    demo = settings.replace(
        messenger=dataclasses.replace(settings.messenger, app_secret="", verify_token="")
    )
    client = webhook_client(demo, database)
    raw, headers = signed_event(DEMO_APP_SECRET)
    assert client.post("/webhooks/messenger", data=raw, headers=headers).status_code == 200
    handshake = client.get(
        "/webhooks/messenger",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": DEMO_VERIFY_TOKEN,
            "hub.challenge": "42",
        },
    )
    assert (handshake.status_code, handshake.data) == (200, b"42")


def test_deployment_webhook_takes_only_its_own_secret(database: Database) -> None:
    client = webhook_client(deployment(messenger={"app_secret": "own-secret"}), database)
    raw, headers = signed_event(DEMO_APP_SECRET)
    assert client.post("/webhooks/messenger", data=raw, headers=headers).status_code == 403
    raw, headers = signed_event("own-secret")
    assert client.post("/webhooks/messenger", data=raw, headers=headers).status_code == 200


# -- HSTS ----------------------------------------------------------------------------------------
def test_hsts_header_is_sent_when_cookies_are_secure(database: Database) -> None:
    settings = deployment(app={"secure_cookies": True})
    client = webhook_client(settings, database)
    for path in ("/healthz", "/console/login"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"


def test_no_hsts_header_over_plain_http(settings: Settings, database: Database) -> None:
    client = webhook_client(settings, database)
    assert "Strict-Transport-Security" not in client.get("/console/login").headers
